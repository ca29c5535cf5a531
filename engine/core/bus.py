"""The event bus: typed events in, handlers called in publication order, failures isolated.

Dispatch is by the event's exact type. Events published while another is being dispatched are
queued and delivered after it, so every handler sees events in the order they were published
(a handler that places an order never makes others see the order's events before the tick that
caused it).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}
        self._catch_all: list[Handler] = []
        self._queue: deque[Any] = deque()
        self._dispatching = False
        self.handler_errors = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every event of exactly ``event_type``; returns an unsubscribe."""
        handlers = self._handlers.setdefault(event_type, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def subscribe_all(self, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for every event except ticks (which would swamp a catch-all)."""
        self._catch_all.append(handler)

        def unsubscribe() -> None:
            if handler in self._catch_all:
                self._catch_all.remove(handler)

        return unsubscribe

    def publish(self, event: object) -> None:
        self._queue.append(event)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            queue = self._queue
            while queue:
                self._dispatch(queue.popleft())
        finally:
            self._dispatching = False

    def _dispatch(self, event: object) -> None:
        handlers = self._handlers.get(type(event))
        if handlers:
            for handler in tuple(handlers) if len(handlers) > 1 else handlers:
                try:
                    handler(event)
                except Exception:
                    self.handler_errors += 1
                    log.exception("event handler %r failed on %s", handler, type(event).__name__)
        if self._catch_all and not getattr(event, "is_market_data", False):
            for handler in tuple(self._catch_all):
                try:
                    handler(event)
                except Exception:
                    self.handler_errors += 1
                    log.exception("event handler %r failed on %s", handler, type(event).__name__)
