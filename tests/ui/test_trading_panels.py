"""Market watch, option chain, order ticket and positions on a real engine (offscreen Qt)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt

from engine.api import OrderStatus, Side
from engine.domain.instruments import InstrumentType
from tests.support import atm_call
from ui import format as fmt
from ui.context import TicketRequest
from ui.panels.advanced_orders import AdvancedOrdersPanel
from ui.panels.algos import AlgosPanel
from ui.panels.execution import ExecutionPanel
from ui.panels.greeks import GreeksPanel
from ui.panels.market_watch import MarketWatchPanel
from ui.panels.option_chain import OptionChainPanel
from ui.panels.order_ticket import OrderTicket
from ui.panels.payoff import PayoffPanel
from ui.panels.performance import PerformancePanel
from ui.panels.positions import PositionsPanel
from ui.panels.strategies import StrategiesPanel


def test_market_watch_when_prices_move_repaints_rows_and_flashes(qtbot, context, market) -> None:
    panel = MarketWatchPanel(context)
    qtbot.addWidget(panel)
    model = panel.current_view().quotes
    assert [i.tradingsymbol for i in model.rows][:3] == [
        "NIFTY 50",
        "NIFTY BANK",
        "NIFTY FIN SERVICE",
    ]
    assert len(model.rows) == 16  # indices, their near futures and ten stocks
    changed = []
    model.dataChanged.connect(lambda *a: changed.append(a))
    market(2)
    qtbot.waitUntil(lambda: bool(changed), timeout=2000)
    from engine.domain.values import format_rupees

    assert model.index(0, 1).data() == format_rupees(context.api.tick(256265).ltp)
    assert model.index(0, 1).data(Qt.ItemDataRole.BackgroundRole) is not None  # it just moved


def test_market_watch_when_instrument_searched_and_picked_adds_it(qtbot, context) -> None:
    panel = MarketWatchPanel(context)
    qtbot.addWidget(panel)
    hits = panel.picker.search("RELIANCE")
    assert hits[0].tradingsymbol == "RELIANCE"
    panel.tabs.setCurrentIndex(1)
    panel.add_instrument(hits[0])
    assert "NSE:RELIANCE" in panel.watchlists()["Indices & F&O"]
    view = panel.current_view()
    view.selectRow(len(view.quotes.rows) - 1)
    panel.remove_selected()
    assert "NSE:RELIANCE" not in panel.watchlists()["Indices & F&O"]


def test_option_chain_when_loaded_highlights_atm_and_click_on_ask_opens_buy_ticket(
    qtbot, context, engine
) -> None:
    requests: list[TicketRequest] = []
    context.open_ticket = requests.append
    panel = OptionChainPanel(context)
    qtbot.addWidget(panel)
    panel.select("NIFTY", 0)
    model = panel.model
    assert model.rowCount() == 21  # ±10 strikes around the money in the test market
    atm = atm_call(engine)
    assert model.atm_strike == atm.strike
    row = model.row_of(atm.strike)
    assert model.index(row, 6).data(Qt.ItemDataRole.BackgroundRole) == context.theme.palette.atm
    ask_column = 5
    panel.on_cell_clicked(model.index(row, ask_column))
    [request] = requests
    assert request.side is Side.BUY and request.instrument == atm
    assert request.price == Decimal(engine.api.tick(atm.token).ask) / 100


def test_order_ticket_when_quantity_typed_shows_units_and_submits_with_enter(
    qtbot, context, engine
) -> None:
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    option = atm_call(engine)
    ticket.open_for(TicketRequest(Side.BUY, option))
    ticket.lots.setValue(3)
    assert ticket.units_label.text().startswith("= 195 units")
    ticket.order_type.setCurrentText("MARKET")
    with qtbot.waitSignal(ticket.submitted) as result:
        qtbot.keyClick(ticket, Qt.Key.Key_Return)
    outcome = result.args[0]
    assert outcome, outcome.reason
    assert engine.api.order(outcome.order_id).status is OrderStatus.COMPLETE
    assert not ticket.isVisible()


def test_order_ticket_when_price_is_off_tick_says_so_and_will_not_submit(
    qtbot, context, engine
) -> None:
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    ticket.open_for(TicketRequest(Side.BUY, atm_call(engine)))
    ticket.price.setValue(100.02)
    assert ticket.error_label.text() == "price must be a multiple of the tick size 0.05"
    assert not ticket.submit_button.isEnabled()
    assert ticket.submit() is None
    assert engine.api.orders() == []


def test_order_ticket_when_engine_denies_shows_the_reason(qtbot, context, engine) -> None:
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    option = atm_call(engine)
    ticket.open_for(TicketRequest(Side.SELL, option))
    ticket.lots.setValue(28)  # 1,820 units: above NIFTY's freeze quantity of 1,800
    outcome = ticket.submit()
    assert outcome is not None and not outcome
    assert ticket.error_label.text().startswith(
        "Denied: quantity 1820 is above the freeze quantity 1800"
    )
    assert ticket.isVisible()


def test_order_ticket_margin_line_when_lots_and_side_change_follows_the_risk_estimate(
    qtbot, context, engine
) -> None:
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    option = atm_call(engine)
    ticket.open_for(TicketRequest(Side.BUY, option))
    premium = Decimal(engine.api.tick(option.token).ltp) / 100 * option.lot_size
    bought = engine.api.order_margin(option.token, Side.BUY, option.lot_size, "NRML")
    assert bought is not None and bought.source == "capital"
    assert bought.needed == pytest.approx(premium, rel=Decimal("1e-6"))  # a long option: premium
    assert bought.free == Decimal(1_000_000)  # the default capital, nothing held yet
    assert ticket.margin_label.text() == f"≈ ₹{fmt.rupees(bought.needed)}  ·  ₹10,00,000.00 free"
    ticket.set_side(Side.SELL)
    sold = engine.api.order_margin(option.token, Side.SELL, option.lot_size, "NRML")
    assert sold is not None and sold.needed > 5 * bought.needed  # SPAN + ELM on a short
    assert ticket.margin_label.text().startswith(f"≈ ₹{fmt.rupees(sold.needed)}")
    assert ticket.margin_label.objectName() == "ticketInfo"
    ticket.lots.setValue(27)  # 1,755 units short: more than ₹10 lakh of margin
    assert ticket.margin_label.text().endswith("— not enough")
    assert ticket.margin_label.objectName() == "ticketError"
    outcome = ticket.submit()
    assert outcome is not None and outcome.check == "margin"


def test_order_ticket_when_esc_pressed_closes(qtbot, context, engine) -> None:
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    ticket.open_for(TicketRequest(Side.BUY, atm_call(engine)))
    assert ticket.isVisible()
    qtbot.keyClick(ticket, Qt.Key.Key_Escape)
    assert not ticket.isVisible()


def test_positions_when_market_moves_pnl_follows_and_totals_add_up(
    qtbot, context, engine, market
) -> None:
    panel = PositionsPanel(context)
    qtbot.addWidget(panel)
    option = atm_call(engine)
    stock = engine.registry.by_symbol("NSE", "RELIANCE")
    context.api.place_order(option.token, "BUY", 130, "MARKET")
    context.api.place_order(stock.token, "SELL", 20, "MARKET", product="MIS")
    qtbot.waitUntil(
        lambda: len([r for r in panel.model.rows if r.kind == "position"]) == 2, timeout=2000
    )
    first = {r.label: r.pnl for r in panel.model.rows}
    market(20)
    qtbot.waitUntil(lambda: {r.label: r.pnl for r in panel.model.rows} != first, timeout=3000)
    rows = panel.model.rows
    total = rows[-1]
    assert total.kind == "total"
    positions = [r for r in rows if r.kind == "position"]
    assert total.pnl == sum(r.pnl for r in positions)
    assert total.net_pnl == sum(r.net_pnl for r in positions)
    snapshot = {p.instrument.tradingsymbol: p for p in engine.api.positions()}
    for row in positions:
        assert row.pnl == snapshot[row.label].pnl
        assert row.ltp == snapshot[row.label].ltp


def test_positions_when_grouped_by_underlying_adds_group_subtotals(qtbot, context, engine) -> None:
    panel = PositionsPanel(context)
    qtbot.addWidget(panel)
    option = atm_call(engine)
    future = next(
        i
        for i in engine.registry
        if i.instrument_type is InstrumentType.FUT and i.underlying == "NIFTY"
    )
    context.api.place_order(option.token, "BUY", 65, "MARKET")
    context.api.place_order(future.token, "SELL", 65, "MARKET")
    panel.group_by.setCurrentText("Underlying")
    labels = [r.label for r in panel.model.rows]
    assert labels[0] == "▾ NIFTY"
    group = panel.model.rows[0]
    assert group.pnl == sum(r.pnl for r in panel.model.rows if r.kind == "position")
    panel.group_by.setCurrentText("Strategy")
    assert panel.model.rows[0].label == "▾ api"


def test_positions_when_square_off_all_confirmed_closes_everything(qtbot, context, engine) -> None:
    asked: list[str] = []

    def confirm(title, text, action):  # type: ignore[no-untyped-def]
        asked.append(text)
        action()

    context.confirm = confirm
    panel = PositionsPanel(context)
    qtbot.addWidget(panel)
    option = atm_call(engine)
    context.api.place_order(option.token, "BUY", 130, "MARKET")
    context.api.place_order(option.token, "SELL", 65, "MARKET", product="MIS")
    panel.refresh()
    panel.square_off_all()
    assert asked == ["Square off all 2 open position(s) at market?"]
    assert all(p.net_quantity == 0 for p in engine.api.positions())
    qtbot.waitUntil(lambda: panel.summary.text() == "0 open", timeout=2000)


def test_panels_when_deleted_with_an_update_queued_are_not_called(qtbot, context) -> None:
    """The bridge's updates are queued: one sent just before a panel is deleted is not
    delivered to it (pytest-qt fails the test on any exception in the event loop)."""
    kinds = (
        AdvancedOrdersPanel,
        AlgosPanel,
        ExecutionPanel,
        GreeksPanel,
        PayoffPanel,
        PerformancePanel,
        PositionsPanel,
        StrategiesPanel,
    )
    panels = [kind(context) for kind in kinds]
    context.bridge.orders_changed.emit([])
    context.bridge.positions_changed.emit([])
    for panel in panels:
        panel.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
