"""What a test desk on a live broker's fake server offers, whichever broker (``tests.kite_desk``,
``tests.xts_desk``): the broker adapter, the messages and connection events the desk published,
and a wait on a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from engine.domain.events import ConnectionChanged, EngineMessage
from engine.runtime import Engine


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not met within {timeout}s: {what or condition}")
        await asyncio.sleep(0.01)


class LiveDesk:
    """Mixed into a desk dataclass with ``link``, ``engine`` and ``events``."""

    link: Any
    engine: Engine
    events: list[object]

    @property
    def broker(self) -> Any:
        assert self.link.broker is not None
        return self.link.broker

    def messages(self, contains: str = "") -> list[EngineMessage]:
        return [e for e in self.events if isinstance(e, EngineMessage) and contains in e.text]

    def connection(self, component: str, state: str) -> list[ConnectionChanged]:
        return [
            e
            for e in self.events
            if isinstance(e, ConnectionChanged) and e.component == component and e.state == state
        ]

    async def stop(self) -> None:
        await self.engine.stop()
