"""Market data through the facade: quotes (rupees), the feed's last ticks (the domain's paise, as
tick events carry them), event subscriptions, streaming what panels show."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from engine.api.parts import EngineParts, Service
from engine.domain.ids import InstrumentToken
from engine.domain.requests import (
    InputError,
    token_of,
)
from engine.domain.strategy_records import StrategyStatus
from engine.domain.ticks import Quote, Tick

E = TypeVar("E")


class MarketService(Service):
    def __init__(self, parts: EngineParts) -> None:
        super().__init__(parts)
        self._watchers: dict[int, int] = {}
        """Token -> how many watches through the facade still hold it (panels, scripts)."""

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
        """Stream these instruments (panels call this for what they show). Each call holds each
        token once until a matching ``unwatch``; the feed is asked only for tokens nobody held."""
        fresh = []
        for token in dict.fromkeys(int(t) for t in tokens):
            held = self._watchers.get(token, 0)
            self._watchers[token] = held + 1
            if held == 0:
                fresh.append(token)
        if fresh and self._parts.watcher is not None:
            self._parts.watcher(fresh, True)

    def unwatch(self, tokens: Iterable[int]) -> None:
        """Let go of one ``watch`` of these instruments. The feed stops a token only when no
        watch holds it any more and nothing else the desk runs needs its prices: a chart, an
        alert, an open order or position, or a running strategy (whose streams the strategy
        kernel asks for directly, so they are not counted here)."""
        released = []
        for token in dict.fromkeys(int(t) for t in tokens):
            held = self._watchers.get(token, 0)
            if held > 1:
                self._watchers[token] = held - 1
            elif held == 1:
                del self._watchers[token]
                released.append(token)
            # held == 0: never asked for through here, so someone else's stream to keep
        if not released or self._parts.watcher is None:
            return
        needed = self._needed_elsewhere(released)
        if needed is None:
            return  # a strategy runs: it may follow any of them
        released = [token for token in released if token not in needed]
        if released:
            self._parts.watcher(released, False)

    def _needed_elsewhere(self, tokens: list[int]) -> set[int] | None:
        """Those of ``tokens`` whose prices the desk needs besides the facade's watches; None
        when that cannot be told (a strategy runs)."""
        parts = self._parts
        if parts.strategies is not None and any(
            info.status is StrategyStatus.RUNNING for info in parts.strategies.strategies()
        ):
            return None
        needed = {int(order.token) for order in parts.orders.open_orders()}
        needed.update(int(position.token) for position in parts.positions.open())
        if parts.alerts is not None:
            needed.update(rule.token for rule in parts.alerts.rules() if rule.token is not None)
        if parts.candles is not None:
            followed = parts.candles.followed
            needed.update(token for token in tokens if token in followed)
        return needed
