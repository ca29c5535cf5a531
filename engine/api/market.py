"""Market data through the facade: quotes (rupees), the feed's last ticks (the domain's paise, as
tick events carry them), event subscriptions, streaming what panels show."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from engine.api.parts import Service
from engine.domain.ids import InstrumentToken
from engine.domain.requests import (
    InputError,
    token_of,
)
from engine.domain.ticks import Quote, Tick

E = TypeVar("E")


class MarketService(Service):
    def quote(self, token: InstrumentToken | int) -> Quote | None:
        """The instrument's last quote in rupees (None before its first tick, or for a token
        that is not one)."""
        tick = self.tick(token)
        return None if tick is None else Quote.of(tick)

    def tick(self, token: InstrumentToken | int) -> Tick | None:
        """The instrument's last tick as the feed gave it: the domain's ``Tick``, prices in paise
        like every tick event (what panels repaint from, many times a second)."""
        if type(token) is not int:
            try:
                token = token_of(token)
            except InputError:
                return None
        return self._quotes.get(InstrumentToken(token))

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        return self._bus.subscribe(event_type, handler)

    def subscribe_all(self, handler: Callable[[object], None]) -> Callable[[], None]:
        return self._bus.subscribe_all(handler)

    # -- market data subscriptions -------------------------------------------------------------------

    def watch(self, tokens: Iterable[int]) -> None:
        """Stream these instruments (panels call this for what they show)."""
        if self._parts.watcher is not None:
            self._parts.watcher([int(t) for t in tokens], True)

    def unwatch(self, tokens: Iterable[int]) -> None:
        if self._parts.watcher is not None:
            self._parts.watcher([int(t) for t in tokens], False)
