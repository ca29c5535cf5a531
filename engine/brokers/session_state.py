"""A live broker's login session as a state table, with listeners (Kite, XTS):

    LOGGED_OUT ──login──▶ LOGGED_IN ──token refused / expiry / logged in elsewhere──▶ EXPIRED
         ▲                    ▲                                                       │
         └────── logout ──────┴──────────────────── login ◀───────────────────────────┘

Listeners hear every change: the adapter pauses order flow on EXPIRED and resumes it on
LOGGED_IN, the feed takes the new token. A failing listener is logged, never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from engine.core.clock import Clock

log = logging.getLogger(__name__)


class SessionState(StrEnum):
    LOGGED_OUT = "logged out"
    LOGGED_IN = "logged in"
    EXPIRED = "expired"
    """The token was refused or ran out: order flow waits for a new login."""


TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.LOGGED_OUT: frozenset({SessionState.LOGGED_IN}),
    SessionState.LOGGED_IN: frozenset(
        {SessionState.LOGGED_IN, SessionState.EXPIRED, SessionState.LOGGED_OUT}
    ),
    SessionState.EXPIRED: frozenset({SessionState.LOGGED_IN, SessionState.LOGGED_OUT}),
}


@dataclass(frozen=True, slots=True)
class SessionChange:
    previous: SessionState
    state: SessionState
    reason: str


SessionListener = Callable[[SessionChange], None]


class SessionStates:
    """The state, its listeners and the token's expiry (the base of a broker's session).

    A session says how to forget its dead token (``_forget_token``: the keyring entry, the REST
    client's copy); expiring, by the clock or on the broker's word, is the same for every broker.
    """

    title: str

    def __init__(self, clock: Clock) -> None:
        self.state = SessionState.LOGGED_OUT
        self._listeners: list[SessionListener] = []
        self._clock = clock
        self.expires_at: datetime | None = None
        self._logged_in = asyncio.Event()

    def check_expiry(self) -> bool:
        """Expire the session when its expiry has passed; True if it did now."""
        if self.logged_in and self.expires_at is not None and self._clock.now() >= self.expires_at:
            self.expire(f"the day's {self.title} session ended at {self.expires_at:%H:%M} IST")
            return True
        return False

    def expire(self, reason: str) -> None:
        """The token is dead (refused by the broker, taken over elsewhere, or run out)."""
        if self.state is not SessionState.LOGGED_IN:
            return
        self._logged_in.clear()
        self._forget_token()
        self._move(SessionState.EXPIRED, reason)

    async def wait_logged_in(self) -> None:
        await self._logged_in.wait()

    def _forget_token(self) -> None:
        raise NotImplementedError

    @property
    def logged_in(self) -> bool:
        return self.state is SessionState.LOGGED_IN

    def listen(self, listener: SessionListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _move(self, state: SessionState, reason: str) -> None:
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"{self.title} session cannot go from {self.state} to {state}")
        change = SessionChange(self.state, state, reason)
        self.state = state
        log.info("%s session %s -> %s: %s", self.title, change.previous, state, reason)
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("%s session listener %r failed", self.title, listener)
