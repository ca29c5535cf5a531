"""The lifecycle of one ticker connection, as an explicit state table.

    IDLE ──start──▶ CONNECTING ──handshake ok──▶ OPEN ──dropped / watchdog──▶ BACKOFF ──▶ CONNECTING
                         │                                                       │
                         ├── 401/403 ──▶ AUTH_REJECTED ──new access token──▶ CONNECTING
                         └── refused / timeout ──▶ BACKOFF ── too many tries ──▶ GAVE_UP ──retry──▶ CONNECTING

Any state may go to CLOSED (the client was stopped); CLOSED is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConnectionState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    BACKOFF = "backoff"
    """Waiting before the next attempt."""
    AUTH_REJECTED = "auth rejected"
    """The server refused the access token: nothing more is tried until a new login."""
    GAVE_UP = "gave up"
    """Too many consecutive failed attempts; waits for an explicit retry."""
    CLOSED = "closed"


C = ConnectionState
TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    C.IDLE: frozenset({C.CONNECTING, C.CLOSED}),
    C.CONNECTING: frozenset({C.OPEN, C.BACKOFF, C.AUTH_REJECTED, C.CLOSED}),
    C.OPEN: frozenset({C.BACKOFF, C.CLOSED}),
    C.BACKOFF: frozenset({C.CONNECTING, C.GAVE_UP, C.CLOSED}),
    C.AUTH_REJECTED: frozenset({C.CONNECTING, C.CLOSED}),
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
