"""The lifecycle of one ticker connection, as an explicit state table.

    IDLE ──start──▶ CONNECTING ──handshake ok──▶ OPEN ──dropped / watchdog──▶ BACKOFF ──▶ CONNECTING
                         │                                                       │
                         ├── 401/403 ──▶ AUTH_REJECTED ──new access token──▶ CONNECTING
                         ├── refused / timeout ──▶ BACKOFF ──▶ CONNECTING
                         └── refused / timeout, no try left ──▶ GAVE_UP ──retry / new login──▶ CONNECTING

GAVE_UP is reached from the attempt that used up the tries (CONNECTING), and from any live state
when the connection's task ends on a fault nobody foresaw: either way nothing reconnects by itself,
and the state says so instead of the last one the dead task left behind. Any state may go to
CLOSED (the client was stopped); CLOSED is final. One connection (its socket, tokens and state)
and the client's counters are kept here too.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from enum import StrEnum

from websockets.asyncio.client import ClientConnection


class ConnectionState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    BACKOFF = "backoff"
    """Waiting before the next attempt."""
    AUTH_REJECTED = "auth rejected"
    """The server refused the access token: nothing more is tried until a new login."""
    GAVE_UP = "gave up"
    """Too many consecutive failed attempts, or the connection's task failed: nothing is tried
    until an explicit retry or a new login."""
    CLOSED = "closed"


C = ConnectionState
TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    C.IDLE: frozenset({C.CONNECTING, C.GAVE_UP, C.CLOSED}),
    C.CONNECTING: frozenset({C.OPEN, C.BACKOFF, C.AUTH_REJECTED, C.GAVE_UP, C.CLOSED}),
    C.OPEN: frozenset({C.BACKOFF, C.GAVE_UP, C.CLOSED}),
    C.BACKOFF: frozenset({C.CONNECTING, C.GAVE_UP, C.CLOSED}),
    C.AUTH_REJECTED: frozenset({C.CONNECTING, C.GAVE_UP, C.CLOSED}),
    C.GAVE_UP: frozenset({C.CONNECTING, C.CLOSED}),
    C.CLOSED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A bug: the connection tried a move its state table does not allow."""


def check_transition(current: ConnectionState, new: ConnectionState) -> None:
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"ticker connection cannot go from {current} to {new}")


@dataclass(frozen=True, slots=True)
class ConnectionStateChange:
    connection: int
    """Index of the connection (0 carries order updates even with no instruments)."""
    previous: ConnectionState
    state: ConnectionState
    detail: str = ""
    reconnect: bool = False
    """True on an OPEN that follows an earlier OPEN: subscriptions were re-sent, orders may have
    changed while the socket was down (reconcile)."""


@dataclass
class TickerStats:
    """Counters of everything the client received or did; read by the UI and the tests."""

    frames: int = 0
    heartbeats: int = 0
    ticks: int = 0
    bad_frames: int = 0
    text_messages: int = 0
    bad_text: int = 0
    order_updates: int = 0
    duplicate_order_updates: int = 0
    errors: int = 0
    callback_errors: int = 0
    connects: int = 0
    reconnects: int = 0
    watchdog_trips: int = 0
    auth_rejections: int = 0


class TickerConnection:
    """One WebSocket and the tokens it carries."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.tokens: dict[int, str] = {}
        self.state = ConnectionState.IDLE
        self.ws: ClientConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.last_frame = 0.0
        self.failures = 0
        self.opened_before = False

    async def wait(self, delay: float | None) -> None:
        """Until woken (a retry, a new token, a stop) or, given a ``delay``, until it runs out."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=delay)


HOW_TO_RECONNECT = (
    "use Reconnect prices (Trade menu, or the Health panel's button) or restart DalalDesk to "
    "stream prices again"
)
"""What the trader can do once a connection stopped trying (nothing reconnects by itself)."""


def gave_up_detail(failures: int, last_failure: str) -> str:
    """Why a connection stopped trying after its last allowed attempt, in words to act on."""
    return (
        f"stopped trying after {failures} failed connection attempts in a row (last: "
        f"{last_failure}); {HOW_TO_RECONNECT}"
    )


def failed_detail(fault: BaseException) -> str:
    """Why a connection whose task ended on a fault nobody foresaw stopped, in words to act on."""
    return f"stopped on an internal fault ({type(fault).__name__}: {fault}); {HOW_TO_RECONNECT}"
