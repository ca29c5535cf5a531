"""The order ticket's Advanced section and the Advanced Orders panel (offscreen Qt, a real
engine on the simulated market): a bracket sent from the ticket is listed and cancelled from the
panel; a bracket with its stop-loss on the wrong side is refused in the ticket, in words."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QItemSelectionModel

from engine.api import Side
from ui.context import TicketRequest
from ui.panels.advanced_orders import AdvancedOrdersPanel
from ui.panels.order_ticket import OrderTicket
from ui.panels.ticket_advanced import BRACKET, GTT_SINGLE


def _ticket(qtbot, context, engine):  # type: ignore[no-untyped-def]
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    itc = engine.registry.by_symbol("NSE", "ITC")
    ticket.open_for(TicketRequest(Side.BUY, itc, lots=10))
    ticket.order_type.setCurrentText("LIMIT")
    ticket.product.setCurrentText("MIS")
    return ticket, itc, engine.api.quote(itc.token).ltp


def test_bracket_from_the_ticket_is_listed_in_the_advanced_panel_and_cancelled_there(
    qtbot, engine, context
) -> None:
    ticket, _itc, ltp = _ticket(qtbot, context, engine)
    ticket.price.setValue(float(ltp - 1))
    ticket.advanced.setChecked(True)
    ticket.advanced.kind.setCurrentText(BRACKET)
    ticket.advanced.stop.setValue(float(ltp - 3))
    ticket.advanced.target.setValue(float(ltp + 3))
    outcome = ticket.submit()
    assert outcome is not None and outcome.ok, outcome
    parent = outcome.note
    assert parent.startswith("bracket-") and not ticket.isVisible()

    panel = AdvancedOrdersPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    [row] = panel.model.rows
    assert (row.parent_id, row.kind, row.instrument, row.state) == (
        parent, "Bracket", "ITC", "working",
    )  # fmt: skip
    assert f"entry {ltp - 1:.2f} (0/10 filled)" in row.detail
    index = panel.proxy.mapFromSource(panel.model.index(0, 0))
    panel.view.selectionModel().select(
        index,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    panel.refresh()
    assert panel.cancel_button.isEnabled()
    panel.cancel_button.click()
    assert panel.feedback.text() == f"{parent}: cancelled"
    [row] = panel.model.rows
    assert row.state == "ended" and "cancelled before the entry filled" in row.detail


def test_bracket_with_the_stop_above_a_buy_entry_is_refused_in_the_ticket(
    qtbot, engine, context
) -> None:
    ticket, _itc, ltp = _ticket(qtbot, context, engine)
    ticket.price.setValue(float(ltp))
    ticket.advanced.setChecked(True)
    ticket.advanced.stop.setValue(float(ltp + 2))
    ticket.advanced.target.setValue(float(ltp + 4))
    outcome = ticket.submit()
    assert outcome is not None and not outcome.ok
    assert "stop-loss" in ticket.error_label.text() and "wrong side" in ticket.error_label.text()
    assert ticket.isVisible() and engine.api.advanced_orders() == []


def test_gtt_from_the_ticket_is_kept_by_the_paper_desk(qtbot, engine, context, qloop) -> None:
    ticket, itc, ltp = _ticket(qtbot, context, engine)
    ticket.price.setValue(float(ltp - 5))
    ticket.advanced.setChecked(True)
    ticket.advanced.kind.setCurrentText(GTT_SINGLE)
    ticket.advanced.trigger.setValue(float(ltp - 5))

    async def send_and_list():  # type: ignore[no-untyped-def]
        import asyncio

        outcome = ticket.submit()
        for _ in range(50):
            if await engine.api.gtts():
                break
            await asyncio.sleep(0.01)
        return outcome, await engine.api.gtts()

    outcome, gtts = qloop(send_and_list())
    assert outcome is not None and outcome.ok and outcome.note == "GTT sent"
    [gtt] = gtts
    assert gtt.status.value == "active" and gtt.request.token == itc.token
    assert gtt.request.triggers == (int((ltp - 5) * 100),)
    assert gtt.request.legs[0].price == int((ltp - Decimal(5)) * 100)


def test_algo_and_advanced_ticked_together_are_refused_in_the_ticket(
    qtbot, engine, context
) -> None:
    ticket, _itc, ltp = _ticket(qtbot, context, engine)
    ticket.price.setValue(float(ltp - 1))
    ticket.advanced.setChecked(True)
    ticket.algo.setChecked(True)
    assert ticket.submit() is None
    assert "not both" in ticket.error_label.text()
    assert engine.api.advanced_orders() == [] and engine.api.algos() == []
    ticket.algo.setChecked(False)
    assert ticket.problem() is None
