"""The strategy kernel: strategies as engine components on the loop.

A strategy is a class (``Strategy``, with the ``StrategyContext`` it acts through, both in
``engine.strategies.strategy`` and importable from here) the kernel runs: it is given the ticks of
the instruments it watches, the events of its own orders and the timers it set, and it places
orders only through the facade (so through the one risk gate), each carrying its ``StrategyId``.
Whatever it saves goes to the journal with its starts and stops (``StrategyRecord``), so after a
restart the strategies that were running are started again with the state they last saved, and a
strategy the trader starts again goes on from it too.

A strategy that raises is stopped (FAILED, with the error in words, in Messages and the
journal); the other strategies and the engine go on. One whose handlers hold the desk is named
and, if it keeps at it, stopped (``handler_times``); a halt stops every strategy written as a
class (``halts``). The built-in strategies and the trader's own (``engine.strategies.loader``)
are the same kind of class with the same API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from engine.core.bus import EventBus
from engine.core.clock import Clock, SimulatedClock, SimulatedTimer
from engine.domain.events import (
    EngineMessage,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.ids import OrderId
from engine.domain.order_replay import JournalRow
from engine.domain.origin import StrategyId, is_strategy_id
from engine.domain.strategy_records import StrategyRecord, StrategyStatus
from engine.domain.ticks import Tick
from engine.strategies.halts import stop_on_halt
from engine.strategies.handler_times import HandlerTimes
from engine.strategies.ports import StrategyApi
from engine.strategies.saved_state import journalable, snapshot_or_empty
from engine.strategies.strategy import Strategy, StrategyContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    strategy_id: StrategyId
    title: str
    description: str
    origin: str
    """'built in', or the file the trader's strategy came from."""
    status: StrategyStatus
    reason: str
    since_ns: int


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: type[Strategy] | None
    """The class, for a strategy that is one; None for one made by a function."""
    make: Callable[[StrategyContext], Strategy]
    title: str
    description: str
    origin: str


@dataclass(slots=True)
class _Running:
    strategy: Strategy
    since_ns: int
    from_class: bool
    """Written as a class (the trader's, built in), not made by a desk from a spec (a portfolio)."""
    all_ticks: bool = False
    tokens: set[int] = field(default_factory=set)
    timers: list[asyncio.TimerHandle | SimulatedTimer] = field(default_factory=list)


class StrategyKernel:
    def __init__(
        self, *, bus: EventBus, clock: Clock, record: Callable[[StrategyRecord], None]
    ) -> None:
        self.bus = bus
        self.clock = clock
        self._record = record
        self._api: StrategyApi | None = None
        self._watch_feed: Callable[[list[int]], None] | None = None
        self._catalogue: dict[StrategyId, _Entry] = {}
        self._running: dict[StrategyId, _Running] = {}
        self._last: dict[StrategyId, StrategyRecord] = {}
        self._to_resume: dict[StrategyId, dict[str, Any]] = {}
        self._order_owner: dict[OrderId, StrategyId] = {}
        self._by_token: dict[int, list[_Running]] = {}
        self._all_ticks: list[_Running] = []
        self.problems: list[str] = []
        """The trader's strategy files that could not be loaded (where and why)."""
        # The kernel listens only while it has someone to tell: a desk running no strategy pays
        # nothing per tick or per order event.
        self._tick_listener: Callable[[], None] | None = None
        self._order_listeners: list[Callable[[], None]] = []
        self.handler_times = HandlerTimes(self.say, watching=not isinstance(clock, SimulatedClock))
        stop_on_halt(bus, self.stop_written)

    def bind(self, api: StrategyApi, watch_feed: Callable[[list[int]], None] | None) -> None:
        """The facade strategies trade through, and the live feed's streaming (if any)."""
        self._api, self._watch_feed = api, watch_feed

    @property
    def api(self) -> StrategyApi:
        if self._api is None:
            raise RuntimeError("the strategy kernel has no facade yet")
        return self._api

    # -- the catalogue -----------------------------------------------------------------------------

    def add(self, strategy: type[Strategy], origin: str = "built in") -> None:
        name = strategy.strategy_id
        if not isinstance(name, str) or not is_strategy_id(name):
            raise ValueError(
                f"{strategy.__name__} needs a strategy_id of letters, digits or '-_.' (got "
                f"{name!r})"
            )
        known = self._catalogue.get(StrategyId(name))
        if known is not None and known.kind is not strategy:
            raise ValueError(f"two strategies are named {name!r}: {known.origin} and {origin}")
        self._catalogue[StrategyId(name)] = _Entry(
            strategy, strategy, strategy.title or name, strategy.description, origin
        )

    def add_instance(
        self,
        strategy_id: str,
        make: Callable[[StrategyContext], Strategy],
        *,
        title: str,
        description: str = "",
        origin: str = "built in",
    ) -> None:
        """A strategy made by ``make`` rather than a class of its own (each multileg portfolio is
        one); adding it again under its id replaces the maker (the portfolio was edited)."""
        if not is_strategy_id(strategy_id):
            raise ValueError(f"a strategy id is letters, digits or '-_.' (got {strategy_id!r})")
        key = StrategyId(strategy_id)
        known = self._catalogue.get(key)
        if known is not None and known.kind is not None:
            raise ValueError(f"{strategy_id!r} is already a strategy from {known.origin}")
        self._catalogue[key] = _Entry(None, make, title, description, origin)

    def remove(self, strategy_id: str) -> str | None:
        """Take a stopped strategy off the catalogue; None, or why not."""
        key = StrategyId(strategy_id)
        if key in self._running:
            return f"{strategy_id} is running; stop it first"
        if self._catalogue.pop(key, None) is None:
            return f"no strategy named {strategy_id!r}"
        return None

    def strategy_class(self, strategy_id: str) -> tuple[type[Strategy], str] | None:
        """The class of a catalogue strategy and where it came from (None for one made by a
        function, a multileg portfolio, or one not listed)."""
        entry = self._catalogue.get(StrategyId(strategy_id))
        if entry is None or entry.kind is None:
            return None
        return entry.kind, entry.origin

    def last_state(self, strategy_id: str) -> StrategyRecord | None:
        """The journal's last record of a strategy (its status, reason and saved state)."""
        return self._last.get(StrategyId(strategy_id))

    def records(self) -> list[StrategyRecord]:
        """The journal's last record of every strategy it names (running or not)."""
        return list(self._last.values())

    def strategies(self) -> list[StrategyInfo]:
        out = []
        for strategy_id, entry in sorted(self._catalogue.items()):
            running = self._running.get(strategy_id)
            last = self._last.get(strategy_id)
            status = StrategyStatus.RUNNING if running else StrategyStatus.STOPPED
            if running is None and last is not None and last.status is StrategyStatus.FAILED:
                status = StrategyStatus.FAILED
            since = running.since_ns if running else (0 if last is None else last.ts_ns)
            reason = "" if last is None else last.reason
            about = (entry.title, entry.description, entry.origin)
            out.append(StrategyInfo(strategy_id, *about, status, reason, since))
        return out

    def instance(self, strategy_id: str) -> Strategy | None:
        running = self._running.get(StrategyId(strategy_id))
        return None if running is None else running.strategy

    # -- starting and stopping ---------------------------------------------------------------------

    def start(self, strategy_id: str, state: dict[str, Any] | None = None) -> str | None:
        """Start a strategy with ``state``; None, or why it did not start. Without ``state`` a
        strategy written as a class goes on from the state it last saved (whether it stopped or
        failed; nothing the first time), and one a desk makes from a spec (a portfolio, an
        algo) starts fresh; ``{}`` starts either fresh."""
        key = StrategyId(strategy_id)
        entry = self._catalogue.get(key)
        if entry is None:
            return f"no strategy named {strategy_id!r}"
        if key in self._running:
            return f"{strategy_id} is already running"
        if state is None and entry.kind is not None and key in self._last:
            state = self._last[key].state
        try:
            strategy = entry.make(StrategyContext(self, key))
        except Exception as exc:  # the trader's class: its __init__ is theirs
            self._fail(key, exc, "its constructor", kept=state)
            return self._last[key].reason
        running = _Running(strategy, self.clock.time_ns(), entry.kind is not None)
        self._running[key] = running
        if not self._order_listeners:
            self._order_listeners = [
                self.bus.subscribe(kind, self._on_order_event)
                for kind in (OrderSubmitted, OrderStatusChanged, OrderFilled, OrderDenied)
            ]
        try:
            running.strategy.on_start(dict(state or {}))
            if self._running.get(key) is not running:
                return None  # it finished its work as it started (and said so)
            self._journal(key, StrategyStatus.RUNNING, "started", running.strategy)
        except Exception as exc:
            self._fail(key, exc, "on_start")
            return self._last[key].reason
        return None

    def stop(
        self, strategy_id: str, reason: str = "stopped by the trader", *, force: bool = False
    ) -> str | None:
        key = StrategyId(strategy_id)
        running = self._running.get(key)
        if running is None:
            return f"{strategy_id} is not running"
        if not force:
            refusal = running.strategy.stop_refusal()
            if refusal is not None:
                return refusal
        try:
            running.strategy.on_stop()
            self._journal(key, StrategyStatus.STOPPED, reason, running.strategy)
        except Exception as exc:
            self._fail(key, exc, "on_stop")
            return None
        self._forget(key, reason)
        return None

    def stop_written(self, reason: str) -> None:
        """Stop every running strategy written as a class (not the desks' portfolios, algos and
        orders), journaled and told with ``reason`` (``engine.strategies.halts``)."""
        for strategy_id, running in list(self._running.items()):
            if running.from_class and self.stop(strategy_id, reason, force=True) is None:
                self.say(strategy_id, Severity.WARNING, f"strategy {strategy_id} {reason}")

    def stop_all(self, reason: str) -> None:
        """The desk is closing: stop every strategy, except that one which ``keeps_running`` is
        journaled as running, to start again with the desk."""
        for strategy_id, running in list(self._running.items()):
            if running.strategy.keeps_running():
                try:
                    self._journal(
                        strategy_id,
                        StrategyStatus.RUNNING,
                        f"{reason}; starts again with the desk",
                        running.strategy,
                    )
                except Exception as exc:
                    self._fail(strategy_id, exc, "snapshot")
                    continue
                self._forget(strategy_id, reason)
            else:
                self.stop(strategy_id, reason, force=True)

    def save(self, strategy_id: StrategyId) -> None:
        running = self._running.get(strategy_id)
        if running is not None:
            self._journal(strategy_id, StrategyStatus.RUNNING, "saved", running.strategy)

    # -- restart -------------------------------------------------------------------------------------

    def restore(self, entries: Iterable[JournalRow], owners: Mapping[OrderId, StrategyId]) -> None:
        """Read the strategies' records from the journal: those running when the engine stopped
        are started again by ``resume`` with the state they last saved. ``owners`` are the
        restored orders' strategies, so a resumed strategy hears its own orders' events."""
        self._order_owner.update(owners)
        for kind, _order_id, ts_ns, payload in entries:
            if kind == StrategyRecord.kind:
                record = StrategyRecord.from_payload(ts_ns, payload)
                self._last[record.strategy] = record
        self._to_resume = {
            key: record.state
            for key, record in self._last.items()
            if record.status is StrategyStatus.RUNNING
        }

    def hold_back_resume(self, why: str) -> list[StrategyId]:
        """Resume none of what the book says was running, and tell the trader so with ``why``
        (another desk open on a shared book may be running them); returns which."""
        held, self._to_resume = sorted(self._to_resume), {}
        for strategy_id in held:
            self.say(strategy_id, Severity.WARNING, f"not resumed: {why}")
        return held

    def will_resume(self, strategy_id: str) -> bool:
        """Whether the strategy was running when the desk stopped and starts again with it
        (``resume``, as the engine starts)."""
        return StrategyId(strategy_id) in self._to_resume

    def resume(self) -> None:
        """Start again what was running (the engine is starting)."""
        waiting, self._to_resume = self._to_resume, {}
        for strategy_id, state in waiting.items():
            problem = self.start(strategy_id, state)
            if problem is None:
                self.say(strategy_id, Severity.INFO, "resumed where it was before the restart")
            elif strategy_id not in self._catalogue:
                self._last[strategy_id] = StrategyRecord(  # its state kept for its return
                    self.clock.time_ns(), strategy_id, StrategyStatus.FAILED, problem, state
                )
                self._record(self._last[strategy_id])
                self.say(strategy_id, Severity.WARNING, f"not resumed: {problem}")

    # -- what the kernel routes ----------------------------------------------------------------------

    def watch(self, strategy_id: StrategyId, tokens: Iterable[int] | None) -> None:
        running = self._running.get(strategy_id)
        if running is None:
            return
        if self._tick_listener is None:
            self._tick_listener = self.bus.subscribe(Tick, self._on_tick)
        if tokens is None:
            if not running.all_ticks:
                running.all_ticks = True
                self._all_ticks = [*self._all_ticks, running]
            return
        wanted = [int(t) for t in tokens if int(t) not in running.tokens]
        for token in wanted:
            running.tokens.add(token)
            self._by_token[token] = [*self._by_token.get(token, ()), running]
        if wanted and self._watch_feed is not None:
            self._watch_feed(wanted)

    def timer(self, strategy_id: StrategyId, seconds: float, name: str, *, repeat: bool) -> None:
        running = self._running.get(strategy_id)
        if running is None:
            return
        if not seconds > 0:
            raise ValueError(f"a timer needs a positive number of seconds, not {seconds!r}")
        clock = self.clock
        simulated = isinstance(clock, SimulatedClock)
        current: list[asyncio.TimerHandle | SimulatedTimer] = []

        def fire() -> None:
            if self._running.get(strategy_id) is not running:
                return
            if not (repeat and simulated):
                # A fired handle leaves the list and a repeating timer's next one takes its
                # place: the list holds only the timers still pending, however often they fire.
                running.timers.remove(current.pop())
                if repeat:
                    current.append(loop.call_later(seconds, fire))
                    running.timers.append(current[0])
            self._call(strategy_id, running, lambda: running.strategy.on_timer(name), "on_timer")

        if isinstance(clock, SimulatedClock):
            # A backtest: timers follow the replayed time, and a repeating one fires once after a
            # jump (a night between two recorded days), not once for every second skipped.
            handle = clock.every(seconds, fire) if repeat else clock.call_later(seconds, fire)
            current.append(handle)
            running.timers.append(handle)
            return
        loop = asyncio.get_running_loop()
        current.append(loop.call_later(seconds, fire))
        running.timers.append(current[0])

    def say(self, strategy_id: str, severity: Severity, text: str) -> None:
        self.bus.publish(EngineMessage(self.clock.time_ns(), severity, text, strategy_id))

    def _on_tick(self, tick: Tick) -> None:
        if self._all_ticks:
            self._tick_to(self._all_ticks, tick)
        listeners = self._by_token.get(tick.token)
        if listeners is not None:
            self._tick_to(listeners, tick)

    def _tick_to(self, listeners: list[_Running], tick: Tick) -> None:
        # The hot path: one tick can reach a hundred portfolios, so each is called here
        # directly, without a helper call per strategy (but one to time it).
        slow = self.handler_times.slow_s
        for running in listeners:
            began = perf_counter()
            try:
                running.strategy.on_tick(tick)
            except Exception as exc:
                self._tick_failed(running, exc)
                continue
            took = perf_counter() - began
            if took > slow:
                self._overran(running, took, "on_tick")

    def _tick_failed(self, running: _Running, error: Exception) -> None:
        strategy_id = running.strategy.ctx.strategy_id
        if self._running.get(strategy_id) is running:
            self._fail(strategy_id, error, "on_tick")

    def _on_order_event(self, event: OrderEvent) -> None:
        if isinstance(event, OrderDenied):
            # A denied order has no later events: its owner is told and nothing is kept (a
            # strategy denied all day would otherwise fill the map).
            owner = None if event.request is None else event.request.strategy
        else:
            if isinstance(event, OrderSubmitted) and event.request.strategy is not None:
                self._order_owner[event.order_id] = event.request.strategy
            owner = self._order_owner.get(event.order_id)
        running = None if owner is None else self._running.get(owner)
        if running is not None and owner is not None:
            self._call(owner, running, lambda: running.strategy.on_order(event), "on_order")

    def _call(
        self, strategy_id: StrategyId, running: _Running, handler: Callable[[], None], name: str
    ) -> None:
        began = perf_counter()
        try:
            handler()
        except Exception as exc:
            if self._running.get(strategy_id) is running:
                self._fail(strategy_id, exc, name)
            return
        took = perf_counter() - began
        if took > self.handler_times.slow_s:
            self._overran(running, took, name)

    def _overran(self, running: _Running, took: float, handler: str) -> None:
        """A handler call held the desk ``took`` seconds: the trader is told (once a burst), and
        a strategy written as a class that keeps doing it is stopped."""
        strategy_id = running.strategy.ctx.strategy_id
        stop = self.handler_times.overran(strategy_id, took, handler, running.from_class)
        if stop is not None and self._running.get(strategy_id) is running:
            self.stop(strategy_id, stop, force=True)

    # -- internals -------------------------------------------------------------------------------------

    def _fail(
        self, strategy_id: StrategyId, error: Exception, where: str, *, kept: Any = None
    ) -> None:
        """Stop a strategy that raised; ``kept``, the state it was to start from (it never ran:
        that state stays its own for the next start)."""
        log.error("strategy %s failed in %s", strategy_id, where, exc_info=error)
        running = self._running.get(strategy_id)
        reason = f"{type(error).__name__} in {where}: {error}"
        self._forget(strategy_id, reason)
        state = snapshot_or_empty(running.strategy) if running else dict(kept or {})
        self._last[strategy_id] = StrategyRecord(
            self.clock.time_ns(), strategy_id, StrategyStatus.FAILED, reason, state
        )
        self._record(self._last[strategy_id])
        left = "its open orders and positions are left as they are"
        self.say(strategy_id, Severity.ERROR, f"strategy {strategy_id} stopped: {reason}; {left}")

    def _forget(self, strategy_id: StrategyId, why: str) -> None:
        running = self._running.pop(strategy_id, None)
        if running is None:
            return
        running.strategy.ctx.end(why)
        self.handler_times.forget(strategy_id)
        for handle in running.timers:
            handle.cancel()
        # New lists, never changed in place: ticks being delivered go on over the old ones.
        self._all_ticks = [r for r in self._all_ticks if r is not running]
        for token in running.tokens:
            listeners = [r for r in self._by_token.get(token, ()) if r is not running]
            if listeners:
                self._by_token[token] = listeners
            else:
                self._by_token.pop(token, None)
        if not self._all_ticks and not self._by_token and self._tick_listener is not None:
            self._tick_listener()
            self._tick_listener = None
        if not self._running:
            for stop_listening in self._order_listeners:
                stop_listening()
            self._order_listeners = []

    def _journal(
        self, strategy_id: StrategyId, status: StrategyStatus, reason: str, strategy: Strategy
    ) -> None:
        state = journalable(strategy.snapshot())
        record = StrategyRecord(self.clock.time_ns(), strategy_id, status, reason, state)
        self._last[strategy_id] = record
        self._record(record)
