"""The multileg portfolio and leg lifecycles, row by row: every allowed step, and every other
step refused in words."""

from __future__ import annotations

import itertools

import pytest

from engine.strategies.multileg.status import (
    LEG_TRANSITIONS,
    PORTFOLIO_TRANSITIONS,
    IllegalStep,
    LegEvent,
    LegState,
    PortfolioEvent,
    PortfolioStatus,
    leg_step,
    portfolio_step,
)

S, E = PortfolioStatus, PortfolioEvent


@pytest.mark.parametrize(("pair", "after"), list(PORTFOLIO_TRANSITIONS.items()))
def test_multileg_portfolio_when_an_allowed_event_comes_moves_as_the_table_says(
    pair: tuple[PortfolioStatus, PortfolioEvent], after: PortfolioStatus
) -> None:
    assert portfolio_step(*pair) is after


def test_multileg_portfolio_when_any_other_event_comes_refuses_it_in_words() -> None:
    refused = [
        (status, event)
        for status, event in itertools.product(PortfolioStatus, PortfolioEvent)
        if (status, event) not in PORTFOLIO_TRANSITIONS
    ]
    assert len(refused) == len(PortfolioStatus) * len(PortfolioEvent) - len(PORTFOLIO_TRANSITIONS)
    for status, event in refused:
        with pytest.raises(IllegalStep, match=f"a {status.value} portfolio cannot"):
            portfolio_step(status, event)
    with pytest.raises(IllegalStep, match="Started portfolio cannot stop; it can: exit"):
        portfolio_step(S.STARTED, E.STOP)


def test_multileg_portfolio_when_a_day_runs_goes_through_every_state_of_a_trade() -> None:
    status = S.DISABLED
    for event, expected in [
        (E.ENABLE, S.STOPPED),
        (E.START, S.PENDING),
        (E.WINDOW_OPENS, S.MONITORING),
        (E.ENTER, S.UNDER_EXECUTION),
        (E.ENTERED, S.STARTED),
        (E.EXIT, S.UNDER_EXIT),
        (E.FAILED, S.FAILED),
        (E.SQUARE_OFF, S.UNDER_EXIT),
        (E.EXITED, S.COMPLETED),
        (E.START, S.PENDING),
        (E.REFUSED, S.REJECTED),
        (E.DISABLE, S.DISABLED),
    ]:
        status = portfolio_step(status, event)
        assert status is expected


@pytest.mark.parametrize(("pair", "after"), list(LEG_TRANSITIONS.items()))
def test_multileg_leg_when_an_allowed_event_comes_moves_as_the_table_says(
    pair: tuple[LegState, LegEvent], after: LegState
) -> None:
    assert leg_step(*pair) is after


def test_multileg_leg_when_entered_once_is_never_entered_again() -> None:
    for state in LegState:
        if state is not LegState.WAITING:
            with pytest.raises(IllegalStep, match=f"a leg that is {state.value} cannot send"):
                leg_step(state, LegEvent.SEND)
