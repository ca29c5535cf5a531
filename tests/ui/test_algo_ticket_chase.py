"""The order ticket's Algo section says, as the trader types, that a chase longer than the algo's
duration is refused, in the engine's own words (the rule is the engine's, not a copy), and the
section says nothing once the chase fits again."""

from __future__ import annotations

from engine.api import Side
from tests.support import atm_call
from ui.context import TicketRequest
from ui.panels.order_ticket import OrderTicket


def algo_ticket(qtbot, context, engine) -> OrderTicket:  # type: ignore[no-untyped-def]
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    ticket.open_for(TicketRequest(Side.BUY, atm_call(engine)))
    ticket.algo.setChecked(True)
    ticket.algo.kind.setCurrentIndex(0)  # TWAP
    return ticket


def test_algo_ticket_chase_longer_than_the_duration_is_shown_as_typed(
    qtbot, context, engine, market
) -> None:
    market(1)
    ticket = algo_ticket(qtbot, context, engine)
    algo = ticket.algo
    algo.duration.setValue(0.5)  # 30 seconds
    assert algo.problem() is None and algo.problem_label.isHidden()
    algo.chase.setValue(45)
    problem = algo.problem()
    assert (
        problem == "Chase after must be 0 or more and at most the duration (30 seconds), got 45.0"
    )
    assert algo.problem_label.text() == problem and not algo.problem_label.isHidden()
    # The ticket cannot be sent as it stands, and says why in the same words.
    assert not ticket.submit_button.isEnabled()
    assert ticket.error_label.text() == f"algo: {problem}"
    assert ticket.submit() is None
    assert engine.api.orders() == [], "nothing sent"
    algo.duration.setValue(1)  # 60 seconds: the 45-second chase fits
    assert algo.problem() is None
    assert algo.problem_label.text() == "" and algo.problem_label.isHidden()
    assert ticket.submit_button.isEnabled() and ticket.error_label.text() == ""


def test_algo_ticket_chase_problem_is_not_shown_for_a_kind_without_a_chase(
    qtbot, context, engine, market
) -> None:
    market(1)
    ticket = algo_ticket(qtbot, context, engine)
    algo = ticket.algo
    algo.duration.setValue(0.5)
    algo.chase.setValue(45)
    assert algo.problem() is not None
    algo.kind.setCurrentIndex(4)  # the slicer sends everything now: no duration, no chase
    assert algo.problem() is None and algo.problem_label.isHidden()
    algo.kind.setCurrentIndex(0)
    assert algo.problem() is not None
    algo.setChecked(False)  # a plain order: the section's settings do not apply
    assert algo.problem() is None and algo.problem_label.isHidden()
