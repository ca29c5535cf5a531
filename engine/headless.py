"""`dalaldesk --headless`: the engine on the simulated market without Qt, with a summary at the end.

The P&L of the summary is worked out at the marks the engine journaled as it stopped
(``marks_seq`` names the row), so every figure it prints can be rebuilt from the book alone
(``engine.store.pnl_rebuild``). When the journal could not take them (the book's database away
as the desk closes), the P&L is stated at the prices the desk holds in memory, the summary says
so (``marks_journaled``, ``journal_unwritten``) and the trader is told in words.

Ctrl+C (SIGINT) and SIGTERM end a session the way its ``--duration`` does: the engine stops, the
closing marks and backup are written and the summary prints, naming what stopped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType, TracebackType
from typing import Any

from engine.alerts.delivery import (
    DeliveryKeys,
    DeliverySettings,
    ReportMailer,
    attach_deliveries,
)
from engine.core.memory import freeze_startup_objects
from engine.domain.marks import SESSION_END, book_pnl
from engine.runtime import Engine, EngineConfig
from engine.strategies.demo import DemoStrategy

log = logging.getLogger(__name__)

_SIGNAL_WORDS = {signal.SIGINT: "Ctrl+C", signal.SIGTERM: "SIGTERM"}
if sys.platform == "win32":
    # Windows never delivers SIGTERM from outside (TerminateProcess cannot be caught); Ctrl+Break
    # arrives as SIGBREAK.
    _SIGNAL_WORDS[signal.SIGBREAK] = "Ctrl+Break"
QUIT_AT_ONCE_AFTER = 3
"""Requests after which the desk quits without waiting for its close (a hung broker)."""


class StopRequests:
    """SIGINT / SIGTERM (Ctrl+Break on Windows) as a request to end a session the normal way.

    Installed while a session runs (``with StopRequests() as stop``); ``stopped_by`` names the
    first request. A second request while the desk closes is answered in words; a third quits
    at once without the closing marks and backup (SQLite's own journal keeps the book whole, and
    the book lock dies with the process). Off the main thread no handler can be installed and
    nothing changes: asyncio.run's own Ctrl+C handling stays.

    These are plain ``signal.signal`` handlers that wake the loop with ``call_soon_threadsafe``
    (as asyncio.Runner's own Ctrl+C handler does), on every platform, not
    ``loop.add_signal_handler``: Windows' loop has none, and on POSIX the loop reads a signal
    only when it next polls, so one sent while the close runs without returning to the loop
    (marks, backup, summary) was lost, and the loop's close put back the handler that raises
    KeyboardInterrupt.
    """

    def __init__(self) -> None:
        self.stopped_by: str | None = None
        self._requests = 0
        self._requested = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set from the main thread
        self._loop = asyncio.get_running_loop()
        for number in _SIGNAL_WORDS:
            self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        # Once a stop was asked for, the process is ending: the handlers stay, so a request in
        # asyncio.run's teardown is answered as during the close, never with a traceback.
        if self.stopped_by is None:
            for number, previous in self._previous.items():
                if previous is not None:  # None: a handler not set from Python, left as it is
                    signal.signal(number, previous)  # asyncio.Runner's own Ctrl+C handler, say
        self._previous.clear()

    async def wait(self, seconds: float) -> None:
        """Until ``seconds`` have passed or a stop is requested, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._requested.wait(), seconds)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Runs in the main thread between two bytecodes, loop running or not."""
        self._requests += 1
        words = _SIGNAL_WORDS.get(signal.Signals(signum), f"signal {signum}")
        if self._requests == 1:
            self.stopped_by = words
            how = "by Ctrl+C" if words == "Ctrl+C" else f"({words})"
            _tell(f"stopped {how}; closing the book (closing marks, backup, summary)")
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._requested.set)
        elif self._requests < QUIT_AT_ONCE_AFTER:
            _tell(f"already stopping; {words} once more quits at once, without the closing backup")
        else:
            _tell("quitting at once: no closing marks or backup; the book itself is whole")
            os._exit(128 + signum)


def _tell(text: str) -> None:
    # Said from a signal handler, which may land inside another write to stderr.
    with contextlib.suppress(RuntimeError):
        print(f"dalaldesk: {text}", file=sys.stderr, flush=True)


async def run_session(
    config: EngineConfig,
    duration: float,
    *,
    demo: bool,
    deliveries: DeliverySettings | None = None,
    keys: DeliveryKeys | None = None,
    stop: StopRequests | None = None,
) -> dict[str, object]:
    """``deliveries`` and ``keys`` (the profile's keyring): alerts also go by Telegram / e-mail.
    ``stop``: the stop requests the caller installed (the session installs its own otherwise)."""
    if stop is None:
        with StopRequests() as own:
            return await run_session(
                config, duration, demo=demo, deliveries=deliveries, keys=keys, stop=own
            )
    started = time.monotonic()
    engine = Engine.build(config)
    freeze_startup_objects()
    delivery = None if keys is None else attach_deliveries(engine.api, deliveries, keys)
    if keys is not None and engine.schedule is not None:
        email = (deliveries or DeliverySettings()).email
        engine.schedule.report_mailer = ReportMailer(email, keys)
    engine.start()  # strategies running when the desk last stopped resume here
    if demo and engine.strategies.instance("demo") is None:
        problem = engine.strategies.start("demo")
        if problem is not None:
            log.warning("the demo strategy did not start: %s", problem)
    strategy = engine.strategies.instance("demo")
    assert strategy is None or isinstance(strategy, DemoStrategy)
    try:
        await stop.wait(duration)
    finally:
        await engine.stop()
        if delivery is not None:
            await delivery.close(flush=5.0)
    orders = engine.api.orders()
    # Not journaled (no positions, or a journal that did not take them): the marks at the prices
    # held now, journaled nowhere (empty when nothing is held: the P&L is zero).
    marks = engine.closing_marks or engine.day_marks.now(SESSION_END)
    book = book_pnl(engine.positions.all(), marks)
    unwritten = engine.orders.journal_waiting
    marks_journaled = engine.closing_marks_seq is not None or not marks.marks
    if unwritten or not marks_journaled:
        _tell(_not_written_text(unwritten, marks_journaled))
    return {
        "seconds": duration if stop.stopped_by is None else round(time.monotonic() - started, 1),
        "stopped_by": stop.stopped_by,
        "ticks": engine.ticks_seen,
        "orders": len(orders),
        "open_orders": sum(1 for o in orders if o.status.is_open),
        "fills": len(engine.api.trades()),
        "positions_open": sum(1 for p in book.positions if p.net_quantity),
        **book.totals(),
        "marks_seq": engine.closing_marks_seq,
        "marks_journaled": marks_journaled,
        "journal_unwritten": unwritten,
        "positions": [p.to_json() for p in book.positions],
        "demo_orders_placed": strategy.orders_placed if strategy else 0,
        "demo_denied": strategy.denials if strategy else 0,
        "demo_denied_by_check": strategy.denial_reasons if strategy else {},
    }


def _not_written_text(unwritten: int, marks_journaled: bool) -> str:
    said = []
    if unwritten:
        said.append(
            f"{unwritten} journal row(s) could not be written to the book as the desk closed: "
            "what they recorded was never shown and is not in the book (a broker's fills among "
            "them come back at the next start's reconciliation)"
        )
    if not marks_journaled:
        said.append(
            "the closing prices were not written to the book either, so the P&L below is "
            "worked out at the prices this desk held in memory and cannot be rebuilt from the book"
        )
    return "; ".join(said) + "."


def main(
    config: EngineConfig,
    duration: float,
    *,
    demo: bool,
    deliveries: DeliverySettings | None = None,
    keys: DeliveryKeys | None = None,
) -> int:
    asyncio.run(_session_with_summary(config, duration, demo, deliveries, keys))
    return 0  # a stop the trader asked for (Ctrl+C, SIGTERM) is a clean end too


async def _session_with_summary(
    config: EngineConfig,
    duration: float,
    demo: bool,
    deliveries: DeliverySettings | None,
    keys: DeliveryKeys | None,
) -> None:
    # The summary prints while the stop requests are still caught: a Ctrl+C pressed twice
    # never cuts it short.
    with StopRequests() as stop:
        summary = await run_session(
            config, duration, demo=demo, deliveries=deliveries, keys=keys, stop=stop
        )
        print_summary(summary)


def print_summary(summary: dict[str, object]) -> None:
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if key == "positions" and isinstance(value, list):
            for line in value:
                print(f"{'position':<{width}}  {_position_line(line)}")
            continue
        if key == "stopped_by" and value is None:
            continue  # ran its --duration: the JSON line says null
        print(f"{key:<{width}}  {value}")
    print(json.dumps(summary), flush=True)


def _position_line(p: dict[str, Any]) -> str:
    name = p["symbol"] or p["token"]
    at = "no price" if p["ltp"] is None else p["ltp"]
    return (
        f"{name} {p['product']} {p['net_quantity']:+} at {at}: realised {p['realised']}, "
        f"unrealised {p['unrealised']}, charges {p['charges']}, net {p['net_pnl']}"
    )
