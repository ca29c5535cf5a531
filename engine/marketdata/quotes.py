"""The quote cache: the latest tick of every instrument, read by the venue, the gate and the UI."""

from __future__ import annotations

from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick, previous_close

__all__ = ["QuoteCache", "previous_close"]


class QuoteCache:
    __slots__ = ("latest",)

    def __init__(self) -> None:
        self.latest: dict[int, Tick] = {}
        """The store itself, by token: the engine's feed entry point writes to it directly (one
        call less per tick than ``update``); everyone else reads through the methods."""

    def update(self, tick: Tick) -> None:
        self.latest[tick.token] = tick

    def get(self, token: InstrumentToken) -> Tick | None:
        return self.latest.get(token)

    def ltp(self, token: InstrumentToken) -> int | None:
        tick = self.latest.get(token)
        return None if tick is None else tick.ltp

    def ticks(self) -> list[Tick]:
        """The latest tick of every instrument (what the desk starts a recording from)."""
        return list(self.latest.values())

    def __len__(self) -> int:
        return len(self.latest)

    def __contains__(self, token: object) -> bool:
        return token in self.latest
