"""The one subscriber between the engine bus and the widgets.

Engine handlers only record what changed (a token into a set, an event into a list): O(1) work on
the engine's hot path. A named timer then tells the Qt models, at most ~20 times a second however
fast ticks arrive, which quotes changed and which events happened since the last frame.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from engine.api import (
    AlertFired,
    EngineApi,
    EngineMessage,
    OrderDenied,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    PositionChanged,
    Tick,
)

QUEUED = Qt.ConnectionType.QueuedConnection
"""How panels connect to the bridge: each panel's update runs as its own event, so one frame's work
is spread over several event-loop turns and timers and input get in between, instead of every
panel repainting inside one long call. Panels connect their own methods, never a lambda: Qt drops a
method's connection when its panel is deleted, while a lambda would still be called, on a panel
that is gone, by an update queued just before."""

FRAME_MS = 100
"""Ten frames a second: prices read as live, and a core is left for the engine at 10k ticks/s."""


class EngineBridge(QObject):
    quotes_changed = Signal(object)
    """set of instrument tokens whose quote changed since the last frame"""
    orders_changed = Signal(object)
    """list of order events (submitted, status, fills, denials) since the last frame"""
    positions_changed = Signal(object)
    """list of PositionChanged events"""
    messages = Signal(object)
    """list of EngineMessage and OrderDenied, in order"""
    alerts = Signal(object)
    """list of AlertFired since the last frame"""
    frame = Signal()
    """once per frame, after the others (for status bars and clocks)"""

    def __init__(
        self, api: EngineApi, parent: QObject | None = None, frame_ms: int = FRAME_MS
    ) -> None:
        super().__init__(parent)
        self._api = api
        self._dirty_tokens: set[int] = set()
        self._order_events: list[object] = []
        self._position_events: list[object] = []
        self._messages: list[object] = []
        self._alerts: list[AlertFired] = []
        self.ticks_total = 0
        self._ticks_at_last_rate = 0
        self._rate_at = time.monotonic()
        self.tick_rate = 0.0
        self._unsubscribe: list[Callable[[], None]] = [
            api.subscribe(Tick, self._on_tick),
            api.subscribe_all(self._on_event),
        ]
        self._timer = QTimer(self, objectName="bridge-frame")
        self._timer.setInterval(frame_ms)
        self._timer.timeout.connect(self.flush)
        self._timer.start()

    # -- engine side (called on the loop, must stay cheap) ---------------------------------------------

    def _on_tick(self, tick: Tick) -> None:
        self._dirty_tokens.add(tick.token)
        self.ticks_total += 1

    def _on_event(self, event: object) -> None:
        if isinstance(event, OrderSubmitted | OrderStatusChanged | OrderFilled):
            self._order_events.append(event)
        elif isinstance(event, PositionChanged):
            self._position_events.append(event)
        elif isinstance(event, OrderDenied):
            self._order_events.append(event)
            self._messages.append(event)
        elif isinstance(event, EngineMessage):
            self._messages.append(event)
        elif isinstance(event, AlertFired):
            self._alerts.append(event)

    # -- Qt side -----------------------------------------------------------------------------------------

    def flush(self) -> None:
        now = time.monotonic()
        if now - self._rate_at >= 1.0:
            self.tick_rate = (self.ticks_total - self._ticks_at_last_rate) / (now - self._rate_at)
            self._ticks_at_last_rate, self._rate_at = self.ticks_total, now
        if self._dirty_tokens:
            tokens, self._dirty_tokens = self._dirty_tokens, set()
            self.quotes_changed.emit(tokens)
        if self._order_events:
            events, self._order_events = self._order_events, []
            self.orders_changed.emit(events)
        if self._position_events:
            events, self._position_events = self._position_events, []
            self.positions_changed.emit(events)
        if self._messages:
            events, self._messages = self._messages, []
            self.messages.emit(events)
        if self._alerts:
            fired, self._alerts = self._alerts, []
            self.alerts.emit(fired)
        self.frame.emit()

    def stop(self) -> None:
        self._timer.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()


class OnFrames(QObject):
    """Quote-driven work too heavy for every frame (an IV solve over chains, a payoff repricing):
    quotes mark it due, and it runs on a bridge frame once ``interval_ms`` has passed since it
    last ran. Running on a frame, not on a timer of its own, puts its repaint into the frame's
    paint with the price updates instead of a paint of its own in between.

    A child of its panel, so its frame connection goes with the panel.
    """

    def __init__(
        self, bridge: EngineBridge, interval_ms: int, work: Callable[[], None], parent: QObject
    ) -> None:
        super().__init__(parent)
        self._work = work
        self._interval = interval_ms / 1000
        self._due = False
        self._last = -math.inf
        bridge.frame.connect(self._on_frame, QUEUED)

    def mark(self) -> None:
        """The inputs moved: run at the first frame the interval allows."""
        self._due = True

    def _on_frame(self) -> None:
        if not self._due:
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._due = False
            self._last = now
            self._work()
