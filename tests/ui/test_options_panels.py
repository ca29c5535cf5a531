"""Option chain analytics columns, the Greeks panel and the payoff panel on the simulated market.

Expected values are worked out here straight from ``engine.options`` (or by hand, for the iron
condor) from the same quotes the panels saw; analytics are as of the newest quote among the
instruments involved, which is the moment used below.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from engine.core.clock import IST
from engine.domain.instruments import Instrument, InstrumentType
from engine.options import analyse_chain, chain_layouts, greeks, years_to_expiry
from ui.panels.greeks import GreeksPanel
from ui.panels.option_chain import ChainModel, OptionChainPanel
from ui.panels.payoff import BUILDER, PayoffPanel
from ui.theme import THEMES

NIFTY_WEEKLY = date(2026, 12, 1)
"""The simulated market's second NIFTY expiry on Monday 23 Nov 2026 (eight days left)."""


def chain_now(engine, layouts) -> datetime:  # type: ignore[no-untyped-def]
    newest = max(
        tick.ts_ns
        for layout in layouts
        for token in (*layout.calls, *layout.puts, layout.future)
        if token is not None and (tick := engine.quotes.get(token)) is not None
    )
    return datetime.fromtimestamp(newest / 1e9, tz=UTC).astimezone(IST)


def layout_of(engine, underlying: str, expiry: date):  # type: ignore[no-untyped-def]
    return next(
        layout
        for layout in chain_layouts(engine.registry)
        if (layout.underlying, layout.expiry) == (underlying, expiry)
    )


def direct_analytics(engine, underlying: str, expiry: date, now: datetime | None = None):  # type: ignore[no-untyped-def]
    layout = layout_of(engine, underlying, expiry)
    now = now or chain_now(engine, [layout])
    snapshot = layout.snapshot(
        engine.quotes.get, years=years_to_expiry(now, expiry), rate=engine.api.option_rate
    )
    return analyse_chain(snapshot)


def spot_of(engine, underlying: str) -> float:  # type: ignore[no-untyped-def]
    index = next(
        i
        for i in engine.registry
        if i.instrument_type is InstrumentType.INDEX and i.underlying == underlying
    )
    return engine.quotes.get(index.token).ltp / 100


def option(engine, underlying: str, expiry: date, strike: float, kind: str) -> Instrument:  # type: ignore[no-untyped-def]
    return next(
        i
        for i in engine.registry
        if i.underlying == underlying
        and i.expiry == expiry
        and i.instrument_type == kind
        and i.strike == round(strike * 100)
    )


def atm_strike(engine, underlying: str, expiry: date) -> float:  # type: ignore[no-untyped-def]
    spot = spot_of(engine, underlying)
    strikes = [k / 100 for k, _c, _p in engine.registry.chain(underlying, expiry)]
    return min(strikes, key=lambda k: abs(k - spot))


def wait_for_refresh(qtbot, counter: list[int]) -> None:  # type: ignore[no-untyped-def]
    seen = counter[0]
    qtbot.waitUntil(lambda: counter[0] > seen, timeout=3000)


# -- option chain ------------------------------------------------------------------------------------


def test_option_chain_when_quotes_move_shows_iv_and_delta_equal_to_engine_analytics(
    qtbot, context, engine, market
) -> None:
    api = context.api
    calls = [0]
    analyse = api.chain_analytics

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return analyse(*args, **kwargs)

    api.chain_analytics = counted  # type: ignore[method-assign]
    frames = [0]
    context.bridge.frame.connect(lambda: frames.__setitem__(0, frames[0] + 1))
    panel = OptionChainPanel(context)
    qtbot.addWidget(panel)
    panel.select("NIFTY", 1)
    ticks_before = context.bridge.ticks_total
    market(3)
    wait_for_refresh(qtbot, calls)

    model = panel.model
    expected = direct_analytics(engine, "NIFTY", NIFTY_WEEKLY)
    checked = 0
    for row, strike_row in enumerate(model.rows):
        at = int(np.searchsorted(expected.strikes, strike_row.strike / 100))
        for side, iv, unit in (
            ("call", expected.call_iv, expected.call),
            ("put", expected.put_iv, expected.put),
        ):
            iv_column = model.column_of(side, "iv")
            delta_column = model.column_of(side, "delta")
            shown_iv = model.columns[iv_column].value(strike_row)
            if math.isfinite(iv[at]):
                assert shown_iv == pytest.approx(iv[at], rel=1e-12)
                assert model.index(row, iv_column).data() == f"{iv[at] * 100:.2f}"
                checked += 1
            else:
                assert shown_iv is None
                assert model.index(row, iv_column).data() == ""
            delta = unit.delta[at]
            if math.isfinite(delta):
                assert model.columns[delta_column].value(strike_row) == pytest.approx(
                    delta, rel=1e-12
                )
                assert model.index(row, delta_column).data() == f"{delta:.2f}"
    assert checked > 20
    header = panel.stats_label.text()
    assert f"ATM IV {expected.atm_iv * 100:.2f}%" in header
    assert f"PCR {expected.pcr_oi:.2f}" in header
    assert f"Max pain {expected.max_pain:,.0f}" in header
    # One batched call per frame at most, never one per tick.
    ticks = context.bridge.ticks_total - ticks_before
    assert calls[0] <= frames[0] + 2  # + the loads on select
    assert ticks > 10 * calls[0]


def test_option_chain_when_greeks_toggled_shows_gamma_theta_vega_columns(qtbot, context) -> None:
    panel = OptionChainPanel(context)
    qtbot.addWidget(panel)
    panel.select("NIFTY", 1)
    gamma = panel.model.column_of("call", "gamma")
    assert panel.view.isColumnHidden(gamma)
    panel.greek_set.setCurrentText("IV Δ Γ Θ V")
    assert not panel.view.isColumnHidden(gamma)
    row = panel.model.row_of(panel.model.atm_strike)
    assert panel.model.index(row, panel.model.column_of("put", "vega")).data() != ""
    # The quote columns keep their places in the model; calls' Greeks sit left of the strike.
    assert ChainModel.LAYOUT[ChainModel.STRIKE_COLUMN] == ("strike", "")
    header = panel.view.horizontalHeader()
    strike_at = header.visualIndex(ChainModel.STRIKE_COLUMN)
    assert header.visualIndex(panel.model.column_of("call", "delta")) < strike_at
    assert header.visualIndex(panel.model.column_of("put", "delta")) > strike_at


def test_option_chain_when_resized_keeps_strike_in_the_middle_and_fills_when_wide(
    qtbot, context
) -> None:
    panel = OptionChainPanel(context)
    qtbot.addWidget(panel)
    panel.select("NIFTY", 0)
    panel.resize(1200, 500)
    panel.show()
    qtbot.waitExposed(panel)
    model, view = panel.model, panel.view
    header = view.horizontalHeader()
    strike = model.STRIKE_COLUMN
    calls_edge, puts_edge = (
        model.column_of("call", "oi_change"),
        model.column_of("put", "oi_change"),
    )

    def strike_in_the_middle() -> bool:
        middle = header.sectionViewportPosition(strike) + header.sectionSize(strike) / 2
        return abs(middle - view.viewport().width() / 2) <= 1

    # Wide, narrow, wide again, and the Volume columns added while narrow.
    for width, volume in ((1200, False), (700, False), (1300, False), (900, True)):
        panel.volume_box.setChecked(volume)
        panel.resize(width, 500)
        qtbot.waitUntil(strike_in_the_middle, timeout=2000)
        room = view.viewport().width()
        calls_left = header.sectionViewportPosition(calls_edge)
        puts_right = header.sectionViewportPosition(puts_edge) + header.sectionSize(puts_edge)
        if header.length() <= room:  # wide: the columns fill the panel, both captions over data
            assert (calls_left, puts_right) == (0, room), width
        else:  # narrow: both sides lose the same, calls still left of the strike
            assert abs(-calls_left - (puts_right - room)) <= 2, (width, calls_left, puts_right)
        row = model.row_of(model.atm_strike)
        assert 0 <= view.rowViewportPosition(row) < view.viewport().height(), "ATM in view"
    assert not view.isColumnHidden(model.column_of("call", "volume"))


# -- Greeks ----------------------------------------------------------------------------------------------


def test_greeks_panel_when_positions_held_shows_unit_greeks_times_quantity_and_totals(
    qtbot, context, engine, market
) -> None:
    api = context.api
    atm = atm_strike(engine, "NIFTY", NIFTY_WEEKLY)
    trades = [
        (option(engine, "NIFTY", NIFTY_WEEKLY, atm + 100, "CE"), "BUY", 2),
        (option(engine, "NIFTY", NIFTY_WEEKLY, atm - 100, "PE"), "SELL", 3),
        (option(engine, "NIFTY", NIFTY_WEEKLY, atm, "CE"), "SELL", 1),
    ]
    for instrument, side, lots in trades:
        assert api.place_order(instrument.token, side, lots * instrument.lot_size, "MARKET").ok
    panel = GreeksPanel(context)
    qtbot.addWidget(panel)
    refreshes = [0]
    refresh = panel.refresh

    def counted() -> None:
        refresh()
        refreshes[0] += 1

    panel.refresh = counted  # type: ignore[method-assign]
    market(2)
    wait_for_refresh(qtbot, refreshes)

    expected = direct_analytics(engine, "NIFTY", NIFTY_WEEKLY)
    spot = spot_of(engine, "NIFTY")
    lines = {line.label: line for line in panel.model.rows if line.kind == "position"}
    assert len(lines) == 3
    sums = dict.fromkeys(("delta", "gamma", "theta", "vega"), 0.0)
    for instrument, side, lots in trades:
        at = int(np.searchsorted(expected.strikes, instrument.strike / 100))
        quantity = (1 if side == "BUY" else -1) * lots * instrument.lot_size
        unit = greeks(
            expected.forward,
            instrument.strike / 100,
            expected.years,
            expected.rate,
            expected.smile_iv[at],
            instrument.instrument_type is InstrumentType.CE,
        )
        line = lines[instrument.tradingsymbol]
        assert line.quantity == quantity
        assert line.lots == (1 if side == "BUY" else -1) * lots
        assert line.iv == pytest.approx(expected.smile_iv[at], rel=1e-12)
        for name in sums:
            value = float(unit[name]) * quantity
            assert getattr(line, name) == pytest.approx(value, rel=1e-9, abs=1e-12)
            sums[name] += value
        assert line.delta_rupees == pytest.approx(float(unit.delta) * quantity * spot, rel=1e-9)
    [nifty] = [t for t in panel.totals.rows if t.label == "NIFTY"]
    for name, value in sums.items():
        assert getattr(nifty, name) == pytest.approx(value, rel=1e-9)
    assert nifty.delta_rupees == pytest.approx(sums["delta"] * spot, rel=1e-9)
    group = panel.model.rows[0]
    assert group.kind == "group" and group.label == "▾ NIFTY"
    assert group.theta == pytest.approx(sums["theta"], rel=1e-9)


def test_greeks_panel_when_grouped_by_strategy_splits_by_order_source_and_blanks_mixed_delta(
    qtbot, context, engine
) -> None:
    api = context.api
    nifty = option(engine, "NIFTY", NIFTY_WEEKLY, atm_strike(engine, "NIFTY", NIFTY_WEEKLY), "CE")
    bank_expiry = min(e for u, e in api.option_chains() if u == "BANKNIFTY")
    bank = option(
        engine, "BANKNIFTY", bank_expiry, atm_strike(engine, "BANKNIFTY", bank_expiry), "PE"
    )
    api.place_order(
        nifty.token, "BUY", 2 * nifty.lot_size, "MARKET", source="strategy", strategy="straddle"
    )
    api.place_order(
        nifty.token, "SELL", nifty.lot_size, "MARKET", source="strategy", strategy="hedge"
    )
    api.place_order(
        bank.token, "SELL", bank.lot_size, "MARKET", source="strategy", strategy="hedge"
    )
    panel = GreeksPanel(context)
    qtbot.addWidget(panel)
    panel.group_by.setCurrentText("Strategy")
    groups = [line for line in panel.model.rows if line.kind == "group"]
    assert [g.label for g in groups] == ["▾ hedge", "▾ straddle"]
    hedge, straddle = groups
    assert math.isnan(hedge.delta) and math.isnan(hedge.gamma)  # NIFTY and BANKNIFTY
    assert math.isfinite(hedge.delta_rupees) and math.isfinite(hedge.theta)
    assert math.isfinite(straddle.delta)
    rows = {(line.key[1], line.label): line for line in panel.model.rows if line.kind == "position"}
    assert rows[("straddle", nifty.tradingsymbol)].quantity == 2 * nifty.lot_size
    assert rows[("hedge", nifty.tradingsymbol)].quantity == -nifty.lot_size
    # The split nets back to the unsplit totals.
    panel.group_by.setCurrentText("Underlying")
    by_underlying = {t.label: t for t in panel.totals.rows}
    assert by_underlying["NIFTY"].delta == pytest.approx(
        rows[("straddle", nifty.tradingsymbol)].delta + rows[("hedge", nifty.tradingsymbol)].delta
    )


# -- payoff ----------------------------------------------------------------------------------------------


def test_payoff_panel_when_iron_condor_built_shows_analytic_breakevens_and_extremes(
    qtbot, context, engine
) -> None:
    panel = PayoffPanel(context)
    qtbot.addWidget(panel)
    atm = atm_strike(engine, "NIFTY", NIFTY_WEEKLY)
    long_put, short_put = atm - 200, atm - 100
    short_call, long_call = atm + 100, atm + 200
    for strike, kind, side in (
        (long_put, "PE", "BUY"),
        (short_put, "PE", "SELL"),
        (short_call, "CE", "SELL"),
        (long_call, "CE", "BUY"),
    ):
        assert panel.add_leg(option(engine, "NIFTY", NIFTY_WEEKLY, strike, kind), side) is not None
    assert panel.mode == BUILDER
    legs = [row.leg for row in panel.legs.rows]
    assert [leg.quantity for leg in legs] == [65, -65, -65, 65]
    for leg in legs:  # entered where they would fill: buys at the ask, sells at the bid
        tick = engine.quotes.get(leg.instrument.token)
        assert leg.price == Decimal(tick.ask if leg.quantity > 0 else tick.bid) / 100

    # By hand: the net credit per unit, and the condor's textbook extremes and breakevens.
    credit = legs[1].price + legs[2].price - legs[0].price - legs[3].price
    width = Decimal(str(short_put - long_put))
    lot = 65
    assert credit > 0
    profile = panel.profile
    assert profile is not None
    assert profile.net_premium == pytest.approx(float(credit * lot), abs=1e-9)
    assert profile.max_profit == pytest.approx(float(credit * lot), abs=1e-6)
    assert profile.max_loss == pytest.approx(-float((width - credit) * lot), abs=1e-6)
    assert profile.breakevens == pytest.approx(
        (float(Decimal(str(short_put)) - credit), float(Decimal(str(short_call)) + credit)),
        abs=1e-9,
    )
    assert not profile.unlimited_profit and not profile.unlimited_loss
    # What the trader sees: labels, breakeven markers, the spot marker.
    assert panel.max_profit_label.text() == f"Max profit ₹ +{credit * lot:,.2f}"
    assert panel.max_loss_label.text() == f"Max loss ₹ -{(width - credit) * lot:,.2f}"
    assert panel.premium_label.text() == f"Net credit ₹ {credit * lot:,.2f}"
    assert panel.breakeven_label.text() == (
        f"Breakevens {Decimal(str(short_put)) - credit:,.2f}, "
        f"{Decimal(str(short_call)) + credit:,.2f}"
    )
    markers_x, markers_y = panel.breakeven_markers.getData()
    assert list(markers_x) == pytest.approx(list(profile.breakevens))
    assert list(markers_y) == [0.0, 0.0]
    assert panel.spot_line.value() == pytest.approx(spot_of(engine, "NIFTY"))
    # The curve at expiry is flat at the extremes between and beyond the strikes.
    x, y = panel.expiry_curve.getData()
    assert y[(x > short_put) & (x < short_call)] == pytest.approx(float(credit * lot))
    assert y[x < long_put] == pytest.approx(-float((width - credit) * lot))


def test_payoff_panel_when_theme_switches_recolours_the_plot(qtbot, context, engine) -> None:
    panel = PayoffPanel(context)
    qtbot.addWidget(panel)
    atm = atm_strike(engine, "NIFTY", NIFTY_WEEKLY)
    assert panel.add_leg(option(engine, "NIFTY", NIFTY_WEEKLY, atm, "CE"), "BUY") is not None
    dark = THEMES["dark"]
    assert panel.expiry_curve.opts["pen"].color().name() == dark.buy.name()
    assert panel.plot.backgroundBrush().color().name() == "#101318"
    context.theme.palette = THEMES["light"]
    panel.redraw()
    light = THEMES["light"]
    assert panel.expiry_curve.opts["pen"].color().name() == light.buy.name()
    assert panel.target_curve.opts["pen"].color().name() == light.warning.name()
    assert panel.profit_fill.opts["fillBrush"].color().rgb() == light.up.rgb()
    assert panel.plot.backgroundBrush().color().name() == "#ffffff"


def test_payoff_panel_when_sliders_move_target_curve_follows_and_expiry_curve_stays(
    qtbot, context, engine
) -> None:
    panel = PayoffPanel(context)
    qtbot.addWidget(panel)
    atm = atm_strike(engine, "NIFTY", NIFTY_WEEKLY)
    panel.add_leg(option(engine, "NIFTY", NIFTY_WEEKLY, atm, "CE"), "BUY")
    panel.add_leg(option(engine, "NIFTY", NIFTY_WEEKLY, atm, "PE"), "BUY")
    _, expiry_before = panel.expiry_curve.getData()
    spots, today = panel.target_curve.getData()
    near = np.abs(spots - atm) < 300
    panel.set_days_forward(3)
    _, later = panel.target_curve.getData()
    assert panel.profile.days_forward == 3
    assert np.all(later[near] < today[near])  # a long straddle loses time value near the money
    panel.set_iv_shift(5)
    _, richer = panel.target_curve.getData()
    assert np.all(richer[near] > later[near])  # and gains with vol
    _, expiry_after = panel.expiry_curve.getData()
    assert expiry_after == pytest.approx(expiry_before)
    panel.set_spot_shift(2)
    assert panel.profile.target_spot == pytest.approx(spot_of(engine, "NIFTY") * 1.02)
    assert panel.target_line.isVisible()
    grid = panel.grid
    assert grid is not None and grid.pnl.shape == (len(panel.iv_shifts), len(panel.spot_shifts))
    zero_row = list(grid.iv_shifts).index(5.0) if 5.0 in grid.iv_shifts else None
    assert zero_row is not None
    centre = list(grid.spot_shifts).index(0.0)
    assert grid.pnl[zero_row, centre] == pytest.approx(
        float(panel.strategy.pnl(panel.profile.spot, years_forward=3 / 365, iv_shift=5.0))
    )


def test_payoff_panel_when_positions_open_prices_them_and_leaves_out_unchecked_legs(
    qtbot, context, engine
) -> None:
    from PySide6.QtCore import Qt

    api = context.api
    atm = atm_strike(engine, "NIFTY", NIFTY_WEEKLY)
    call = option(engine, "NIFTY", NIFTY_WEEKLY, atm, "CE")
    put = option(engine, "NIFTY", NIFTY_WEEKLY, atm, "PE")
    api.place_order(call.token, "SELL", 65, "MARKET")
    api.place_order(put.token, "SELL", 65, "MARKET")
    panel = PayoffPanel(context)
    qtbot.addWidget(panel)
    assert panel.mode == "Positions"
    assert [row.leg.instrument for row in panel.legs.rows] == [call, put]
    assert panel.profile.unlimited_loss  # a short straddle
    average = {p.instrument.token: p.average_price for p in api.positions()}
    assert panel.profile.net_premium == pytest.approx(
        float((average[call.token] + average[put.token]) * 65)
    )
    put_row = next(i for i, r in enumerate(panel.legs.rows) if r.leg.instrument == put)
    panel.legs.setData(
        panel.legs.index(put_row, 0), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole
    )
    assert [leg.label for leg in panel.strategy.legs] == [call.tradingsymbol]
    assert panel.profile.net_premium == pytest.approx(float(average[call.token] * 65))
