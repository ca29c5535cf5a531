"""A desk running on an event loop of its own thread, with its signals endpoint and local API on
127.0.0.1: for tests whose calls are synchronous (hypothesis, schemathesis)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules


class ThreadedDesk:
    """The engine and its endpoint on a loop of their own thread."""

    def __init__(self, tmp_path: Path, *, passphrase: str = "", token: str = "") -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.engine: Engine | None = None
        self._secrets = (passphrase, token)
        self.thread = threading.Thread(target=self._run, args=(tmp_path,), daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "the desk did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, tmp_path: Path) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start(tmp_path))
        self.loop.run_forever()

    async def _start(self, tmp_path: Path) -> None:
        engine = Engine.build(
            EngineConfig(
                db_url=f"sqlite:///{tmp_path / 'book.db'}",
                market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
                always_open=True,
                var_interval_seconds=0,
                api_port=0,
                signal_rules=SignalRules(default_mode=SignalMode.AUTO),
            )
        )
        passphrase, token = self._secrets
        engine.webhook_passphrase = lambda: passphrase or None
        engine.api_token = lambda: token or None
        engine.start()
        while engine.signal_server is None:
            await asyncio.sleep(0.01)
        self.engine, self.port = engine, engine.signal_server.port
        self.ready.set()

    def run(self, read: Callable[[Engine], object]) -> object:
        """``read(engine)`` on the desk's own loop (its state is that loop's)."""
        assert self.engine is not None
        engine = self.engine

        async def reading() -> object:
            return read(engine)

        return asyncio.run_coroutine_threadsafe(reading(), self.loop).result(10)

    def stop(self) -> None:
        assert self.engine is not None
        asyncio.run_coroutine_threadsafe(self.engine.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
