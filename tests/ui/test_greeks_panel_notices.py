"""The Greeks and Payoff panels say in words what the figures rest on: a position at a stand-in
IV is marked ≈ with the reason in its tooltip, positions without Greeks are counted instead of
blanking the totals, a future or forward standing in for an underlying's price is named (and a
stale quote's age given), and a failed recompute clears the old figures. While shown, the Greeks
panel holds one watch of the quotes it computes from and lets go when its dock is closed, not
when the whole desk closes."""

from __future__ import annotations

import math
from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from engine.domain.instruments import Instrument, InstrumentType
from ui.panels.greeks import GreeksPanel
from ui.panels.payoff import PayoffPanel

WEEKLY = date(2026, 12, 1)
"""The simulated market's second NIFTY expiry on Monday 23 Nov 2026."""


def weekly(engine, offset: int, kind: str) -> Instrument:  # type: ignore[no-untyped-def]
    spot = engine.api.underlying_price("NIFTY")
    rows = engine.registry.chain("NIFTY", WEEKLY)
    at = min(range(len(rows)), key=lambda i: abs(rows[i][0] - spot * 100))
    _strike, call, put = rows[at + offset]
    return call if kind == "CE" else put


def hold(engine, instrument: Instrument, side: str) -> None:  # type: ignore[no-untyped-def]
    assert engine.api.place_order(instrument.token, side, instrument.lot_size, "MARKET").ok


def panel_of(qtbot, context) -> GreeksPanel:  # type: ignore[no-untyped-def]
    panel = GreeksPanel(context)
    qtbot.addWidget(panel)
    return panel


def cell(model, row: int, title: str, role=Qt.ItemDataRole.DisplayRole):  # type: ignore[no-untyped-def]
    column = next(i for i, c in enumerate(model.columns) if c.title == title)
    return model.index(row, column).data(role)


def test_greeks_panel_when_a_held_strike_has_no_smile_iv_marks_the_row_and_keeps_the_totals(
    qtbot, context, engine
) -> None:
    itm_call = weekly(engine, -4, "CE")
    hold(engine, itm_call, "BUY")
    hold(engine, weekly(engine, 2, "CE"), "SELL")
    engine.quotes.latest.pop(weekly(engine, -4, "PE").token)  # the smile's side of its strike
    panel = panel_of(qtbot, context)

    row = next(n for n, line in enumerate(panel.model.rows) if line.label == itm_call.tradingsymbol)
    assert cell(panel.model, row, "IV %").startswith("≈")
    assert "put at this strike" in cell(panel.model, row, "IV %", Qt.ItemDataRole.ToolTipRole)
    assert cell(panel.model, row, "Θ ₹/day") != "—"
    [nifty, portfolio] = panel.totals.rows
    assert math.isfinite(nifty.theta) and math.isfinite(portfolio.delta_rupees)
    assert "—" not in panel.summary.text()
    assert "1 at a stand-in IV (≈)" in panel.notice.text()


def test_greeks_panel_when_a_position_has_no_greeks_counts_it_instead_of_blanking_the_totals(
    qtbot, context, engine
) -> None:
    api = context.api
    hold(engine, weekly(engine, 1, "CE"), "SELL")
    expiry = min(e for u, e in api.option_chains() if u == "BANKNIFTY")
    rows = engine.registry.chain("BANKNIFTY", expiry)
    _strike, _call, bank = rows[len(rows) // 2]
    hold(engine, bank, "SELL")
    layout = api.options_service.chain_layout("BANKNIFTY", expiry)
    for token in (*layout.calls, *layout.puts, layout.future):
        if token is not None and token != bank.token:
            engine.quotes.latest.pop(token, None)  # no forward for its chain
    panel = panel_of(qtbot, context)

    portfolio = panel.totals.rows[-1]
    assert portfolio.label == "Portfolio" and math.isfinite(portfolio.theta)
    assert "Θ —" not in panel.summary.text()
    assert "1 position without Greeks (left out of the totals)" in panel.notice.text()
    line = next(x for x in panel.model.rows if x.label == bank.tradingsymbol)
    assert "left out of the totals" in line.note


def test_greeks_panel_when_the_index_has_no_quote_names_what_stands_in_for_the_spot(
    qtbot, context, engine
) -> None:
    future = min(
        (
            i
            for i in engine.registry
            if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.FUT
        ),
        key=lambda i: i.expiry,
    )
    hold(engine, future, "SELL")
    hold(engine, weekly(engine, -2, "PE"), "SELL")
    engine.quotes.latest.pop(engine.registry.spot_tokens()["NIFTY"])
    panel = panel_of(qtbot, context)

    [nifty, portfolio] = panel.totals.rows
    assert cell(panel.totals, 0, "Spot").endswith(" fut")
    assert "future's price stands in" in cell(panel.totals, 0, "Spot", Qt.ItemDataRole.ToolTipRole)
    assert math.isfinite(nifty.delta_rupees) and math.isfinite(portfolio.delta_rupees)
    assert "NIFTY has no quote: a future's price stands in for its spot" in panel.notice.text()


def test_greeks_and_payoff_panels_when_the_index_quote_is_stale_say_so_and_use_the_forward(
    qtbot, context, engine
) -> None:
    hold(engine, weekly(engine, -2, "PE"), "SELL")
    token = engine.registry.spot_tokens()["NIFTY"]
    fresh = engine.quotes.get(token)
    engine.quotes.latest[token] = fresh._replace(
        ltp=int(fresh.ltp * 0.97), ts_ns=fresh.ts_ns - 2 * 3600 * 10**9
    )
    greeks = panel_of(qtbot, context)
    payoff = PayoffPanel(context)
    qtbot.addWidget(payoff)

    forward = context.api.chain_analytics("NIFTY", WEEKLY).forward
    assert cell(greeks.totals, 0, "Spot").endswith(" fwd")
    assert greeks.totals.rows[0].spot == forward
    assert (
        "NIFTY quote is stale (2 h 0 min behind its derivatives' quotes): the option chain's "
        "forward stands in for its spot" in greeks.notice.text()
    )
    assert payoff.strategy is not None and payoff.strategy.spot == forward
    assert payoff.spot_notice.text() == (
        "NIFTY quote is stale (2 h 0 min behind its derivatives' quotes): the nearest forward "
        "stands in for its spot"
    )
    engine.quotes.latest[token] = fresh
    greeks.refresh()
    payoff.refresh()
    assert greeks.notice.text() == "" and payoff.spot_notice.text() == ""
    assert greeks.totals.rows[0].spot == fresh.ltp / 100


def test_greeks_panel_when_the_recompute_fails_clears_the_old_figures_and_says_why(
    qtbot, context, engine
) -> None:
    hold(engine, weekly(engine, 0, "CE"), "SELL")
    panel = panel_of(qtbot, context)
    assert panel.model.rows and panel.totals.rows
    engine.quotes.latest.clear()  # a new session's cache before its first ticks
    panel.refresh()
    assert panel.model.rows == [] and panel.totals.rows == [] and panel.report is None
    assert panel.notice.text() == "Greeks not available: no quotes yet for the open positions"


def test_greeks_panel_in_a_dock_watches_while_shown_and_lets_go_when_closed_not_at_desk_close(
    qtbot, context, engine, monkeypatch
) -> None:
    api = context.api
    held: dict[int, int] = {}

    def watch(tokens) -> None:  # type: ignore[no-untyped-def]
        for token in tokens:
            held[token] = held.get(token, 0) + 1

    def unwatch(tokens) -> None:  # type: ignore[no-untyped-def]
        for token in tokens:
            held[token] -= 1

    monkeypatch.setattr(api, "watch", watch)
    monkeypatch.setattr(api, "unwatch", unwatch)
    call = weekly(engine, 1, "CE")
    hold(engine, call, "SELL")
    layout = api.options_service.chain_layout("NIFTY", WEEKLY)
    chain = {int(t) for t in (*layout.calls, *layout.puts) if t is not None}
    desk = QMainWindow()
    qtbot.addWidget(desk)
    desk.setCentralWidget(QWidget())
    dock = QDockWidget("Greeks", desk)
    panel = GreeksPanel(context)
    dock.setWidget(panel)
    desk.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    assert held == {}, "nothing streams for a panel not on screen"

    desk.show()
    watched = {t for t, n in held.items() if n}
    assert chain | {call.token, engine.registry.spot_tokens()["NIFTY"]} <= watched
    assert set(held.values()) == {1}, "one watch each"

    bank_expiry = min(e for u, e in api.option_chains() if u == "BANKNIFTY")
    rows = engine.registry.chain("BANKNIFTY", bank_expiry)
    _strike, bank, _put = rows[len(rows) // 2]
    hold(engine, bank, "BUY")
    panel.refresh()  # a new position: its chain is added, the rest stays held once
    assert held[bank.token] == 1 and set(held.values()) == {1}

    dock.close()  # the trader closes the panel: everything it asked for is let go
    assert set(held.values()) == {0}
    dock.show()
    assert held[call.token] == 1 and held[bank.token] == 1
    desk.close()  # the desk closing takes the feed with it: no unsubscribe storm on the way out
    assert held[call.token] == 1
