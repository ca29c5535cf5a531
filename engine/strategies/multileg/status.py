"""The lifecycles of a multileg portfolio and of its legs, as explicit transition tables.

A portfolio (the ten statuses traders know from Stoxxo, ``multileg_and_panels.md`` §1.0)::

    DISABLED ─enable─▶ STOPPED ─start─▶ PENDING ─window_opens─▶ MONITORING ─enter─▶ UNDER_EXECUTION
                          ▲                │                        │                 │      │
                          └──────stop──────┴────────────────────────┘        entered  │      │ failed
                                                                                      ▼      ▼
    COMPLETED ◀─exited─ UNDER_EXIT ◀─exit─ STARTED ◀──────────────────────────────────┘    FAILED
        │                    │ failed                                                       │
        └─start (next run)   ▼                                           square_off ─▶ UNDER_EXIT
                           FAILED

``refused`` (an order refused before anything filled, no live session) makes it REJECTED;
``window_closes`` without an entry completes the day with nothing traded. Nothing moves a
portfolio but ``portfolio_step``; anything else is refused with the reason in words.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType


class PortfolioStatus(StrEnum):
    DISABLED = "Disabled"
    STOPPED = "Stopped"
    PENDING = "Pending"
    """Started by the trader, waiting for its start time or run day."""
    MONITORING = "Monitoring"
    """In its entry window, waiting for its entry conditions."""
    UNDER_EXECUTION = "UnderExecution"
    """Entry orders are being placed."""
    STARTED = "Started"
    """Its legs are in: targets, stops and exits are watched."""
    UNDER_EXIT = "UnderExit"
    FAILED = "Failed"
    """An entry or exit could not complete: the trader decides (square off, or stop)."""
    REJECTED = "Rejected"
    """Refused before anything filled (the gate, a missing session, an unlisted strike)."""
    COMPLETED = "Completed"


class PortfolioEvent(StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"
    START = "start"
    STOP = "stop"
    WINDOW_OPENS = "window_opens"
    WINDOW_CLOSES = "window_closes"
    ENTER = "enter"
    ENTERED = "entered"
    FAILED = "failed"
    REFUSED = "refused"
    EXIT = "exit"
    EXITED = "exited"
    SQUARE_OFF = "square_off"


S, E = PortfolioStatus, PortfolioEvent

PORTFOLIO_TRANSITIONS = MappingProxyType(
    {
        (S.DISABLED, E.ENABLE): S.STOPPED,
        (S.STOPPED, E.DISABLE): S.DISABLED,
        (S.COMPLETED, E.DISABLE): S.DISABLED,
        (S.REJECTED, E.DISABLE): S.DISABLED,
        (S.STOPPED, E.START): S.PENDING,
        (S.COMPLETED, E.START): S.PENDING,
        (S.REJECTED, E.START): S.PENDING,
        (S.PENDING, E.STOP): S.STOPPED,
        (S.MONITORING, E.STOP): S.STOPPED,
        (S.PENDING, E.WINDOW_OPENS): S.MONITORING,
        (S.MONITORING, E.WINDOW_CLOSES): S.COMPLETED,
        (S.PENDING, E.REFUSED): S.REJECTED,
        (S.MONITORING, E.REFUSED): S.REJECTED,
        (S.UNDER_EXECUTION, E.REFUSED): S.REJECTED,
        (S.MONITORING, E.ENTER): S.UNDER_EXECUTION,
        (S.UNDER_EXECUTION, E.ENTERED): S.STARTED,
        (S.UNDER_EXECUTION, E.FAILED): S.FAILED,
        (S.UNDER_EXECUTION, E.EXIT): S.UNDER_EXIT,
        (S.STARTED, E.FAILED): S.FAILED,
        (S.STARTED, E.EXIT): S.UNDER_EXIT,
        (S.UNDER_EXIT, E.EXITED): S.COMPLETED,
        (S.UNDER_EXIT, E.FAILED): S.FAILED,
        (S.FAILED, E.SQUARE_OFF): S.UNDER_EXIT,
        (S.FAILED, E.STOP): S.STOPPED,
    }
)
"""(status, event) -> the next status; every pair not here is refused."""

ACTIVE = frozenset({S.UNDER_EXECUTION, S.STARTED, S.UNDER_EXIT})
"""Statuses in which the portfolio may have orders working or positions open."""


class IllegalStep(ValueError):
    """An event the portfolio's (or leg's) status does not allow."""


def portfolio_step(status: PortfolioStatus, event: PortfolioEvent) -> PortfolioStatus:
    """The status after ``event``; ``IllegalStep`` saying why it cannot happen."""
    after = PORTFOLIO_TRANSITIONS.get((status, event))
    if after is None:
        allowed = sorted(e.value for (s, e) in PORTFOLIO_TRANSITIONS if s is status)
        raise IllegalStep(
            f"a {status.value} portfolio cannot {event.value.replace('_', ' ')}"
            + (f"; it can: {', '.join(allowed)}" if allowed else "")
        )
    return after


class LegState(StrEnum):
    IDLE = "idle"
    """Defined but not traded until an action executes it."""
    WAITING = "waiting"
    """To enter when its condition (wait-and-trade, the portfolio's entry) holds."""
    ENTERING = "entering"
    ENTERED = "entered"
    EXITING = "exiting"
    EXITED = "exited"
    FAILED = "failed"


class LegEvent(StrEnum):
    ARM = "arm"
    DISARM = "disarm"
    """A waiting leg that will not be sent after all (the portfolio exits, or another leg
    failed): idle again, never entered."""
    SEND = "send"
    FILLED = "filled"
    FAILED = "failed"
    CLOSE = "close"
    CLOSED = "closed"


L, LE = LegState, LegEvent

LEG_TRANSITIONS = MappingProxyType(
    {
        (L.IDLE, LE.ARM): L.WAITING,
        (L.WAITING, LE.DISARM): L.IDLE,
        (L.WAITING, LE.SEND): L.ENTERING,
        (L.ENTERING, LE.FILLED): L.ENTERED,
        (L.ENTERING, LE.FAILED): L.FAILED,
        (L.ENTERING, LE.CLOSE): L.EXITING,
        (L.ENTERED, LE.CLOSE): L.EXITING,
        (L.EXITING, LE.CLOSED): L.EXITED,
        (L.EXITING, LE.FAILED): L.FAILED,
        (L.FAILED, LE.CLOSE): L.EXITING,
    }
)
"""A leg's (state, event) -> next state; a leg is entered once: a re-entry is a new leg."""


def leg_step(state: LegState, event: LegEvent) -> LegState:
    after = LEG_TRANSITIONS.get((state, event))
    if after is None:
        raise IllegalStep(f"a leg that is {state.value} cannot {event.value}")
    return after
