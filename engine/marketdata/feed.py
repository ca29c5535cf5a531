"""The feed port: where the engine's ticks come from. The simulated market, a live broker's link
(Kite's ticker) and a replay of recorded data all have this shape; the runtime runs whichever
the desk trades on and hands every tick to ``Engine.on_tick``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

from engine.domain.ticks import Tick


class Feed(Protocol):
    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        """Deliver ticks to ``on_tick`` until ``stop`` is set."""
        ...


class SelectiveFeed(Feed, Protocol):
    """A feed that streams only the instruments asked for (a live broker's, with a limit on
    subscriptions); the simulated market and a replay stream everything."""

    async def watch(self, tokens: Iterable[int]) -> None: ...

    async def unwatch(self, tokens: Iterable[int]) -> None: ...
