"""The order ticket's Algo section and the Algos panel: a TWAP sent from the ticket runs as a
parent, the panel follows its progress (filled and working against the target, the schedule's
mark), and Pause, Resume and Cancel act on the selected parent."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel

from engine.api import AlgoStatus, Side
from tests.support import atm_call
from ui.context import TicketRequest
from ui.panels.algos import AlgosPanel
from ui.panels.order_ticket import OrderTicket


def select(panel: AlgosPanel, parent_id: str) -> None:
    row = panel.model.row_of(parent_id)
    assert row is not None
    index = panel.proxy.mapFromSource(panel.model.index(row, 0))
    panel.view.selectionModel().select(
        index,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )


def test_algo_ticket_sends_a_twap_the_algos_panel_follows_and_controls(
    qtbot, context, engine, market
) -> None:
    market(1)
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    option = atm_call(engine)
    ticket.open_for(TicketRequest(Side.BUY, option))
    ticket.lots.setValue(20)
    assert not ticket.algo.isChecked() and not ticket.algo.duration.isVisible()
    ticket.algo.setChecked(True)
    ticket.algo.kind.setCurrentIndex(0)  # TWAP
    ticket.algo.duration.setValue(2)
    ticket.algo.slices.setValue(8)
    assert ticket.algo.slices.isVisible() and not ticket.algo.participation.isVisible()
    ticket.algo.kind.setCurrentIndex(2)  # POV shows its share, hides the slices
    assert ticket.algo.participation.isVisible() and not ticket.algo.slices.isVisible()
    ticket.algo.kind.setCurrentIndex(0)
    ticket.order_type.setCurrentText("LIMIT")
    ticket.price.setValue(float(engine.api.quote(option.token).ask + 5))  # the cap
    outcome = ticket.submit()
    assert outcome is not None and outcome, outcome
    parent_id = outcome.note
    assert parent_id == "algo-twap-0001"
    [view] = engine.api.algos()
    assert (view.kind, view.target, view.owner) == ("twap", 20 * option.lot_size, "ticket")

    panel = AlgosPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    market(40)
    panel.refresh()
    row = panel.model.row_at(panel.model.row_of(parent_id))
    assert row.view.status is AlgoStatus.WORKING
    assert 0 < row.view.filled < row.view.target
    assert row.view.scheduled is not None and row.view.scheduled >= row.view.filled
    assert panel.view.grab().width() > 0  # the progress delegate paints
    select(panel, parent_id)
    assert panel.pause_button.isEnabled() and not panel.resume_button.isEnabled()
    panel.pause_button.click()
    assert panel.feedback.text() == f"{parent_id} paused"
    assert panel.resume_button.isEnabled()
    panel.resume_button.click()
    assert engine.api.algos()[0].status is AlgoStatus.WORKING
    panel.cancel_button.click()
    assert panel.feedback.text() == f"{parent_id} cancelled"
    assert engine.api.algos()[0].status is AlgoStatus.CANCELLED
    assert not panel.cancel_button.isEnabled()
