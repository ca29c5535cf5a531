"""The event bus: typed events in, handlers called in publication order, failures isolated.

Dispatch is by the event's exact type. Events published while another is being dispatched are
queued and delivered after it, so every handler sees events in the order they were published
(a handler that places an order never makes others see the order's events before the tick that
caused it).

Ticks go through here hundreds of thousands of times a second, so the handlers of each type are
kept as a tuple that subscribing replaces (dispatch iterates it without copying, and a handler
that subscribes or unsubscribes during dispatch changes the next event's list, not this one's),
and whether a type skips the catch-all is decided once per type. Most tick handlers care for a
few instruments (the paper venue for those with resting orders, the breakers for spots and held
ones): subscribed with ``tokens``, the container they keep of those, they cost every other tick
one membership test instead of a call.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Container
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], None]
Route = tuple[Handler, Container[object] | None]
"""A handler and the tokens it is called for (None: every event of its type)."""


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, tuple[Route, ...]] = {}
        self._catch_all: tuple[Handler, ...] = ()
        self._skips_catch_all: dict[type, bool] = {}
        self._queue: deque[Any] = deque()
        self._dispatching = False
        self.handler_errors = 0

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E], None],
        *,
        tokens: Container[object] | None = None,
    ) -> Callable[[], None]:
        """Call ``handler`` for every event of exactly ``event_type``, or with ``tokens`` only for
        those whose ``token`` is in it (the subscriber's own dict or set, kept current by it);
        returns an unsubscribe."""
        route = (handler, tokens)
        self._handlers[event_type] = (*self._handlers.get(event_type, ()), route)

        def unsubscribe() -> None:
            routes = self._handlers.get(event_type, ())
            self._handlers[event_type] = tuple(r for r in routes if r is not route)

        return unsubscribe

    def subscribe_all(self, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for every event except ticks (which would swamp a catch-all)."""
        self._catch_all = (*self._catch_all, handler)

        def unsubscribe() -> None:
            self._catch_all = _without(self._catch_all, handler)

        return unsubscribe

    def publish(self, event: object) -> None:
        queue = self._queue
        if self._dispatching:
            queue.append(event)
            return
        self._dispatching = True
        try:
            if queue:  # left behind by a dispatch that was interrupted: those go first
                queue.append(event)
            else:
                # The usual case (a tick): its own handlers called right here, without a trip
                # through the queue or a call to _dispatch; what they publish is queued.
                kind = type(event)
                for handler, tokens in self._handlers.get(kind, ()):
                    if tokens is not None and event.token not in tokens:  # type: ignore[attr-defined]
                        continue
                    try:
                        handler(event)
                    except Exception:
                        self._failed(handler, kind)
                if self._catch_all and not self._skips_catch_all.get(kind, False):
                    self._to_catch_all(event, kind)
            while queue:
                self._dispatch(queue.popleft())
        finally:
            self._dispatching = False

    def _dispatch(self, event: object) -> None:
        kind = type(event)
        for handler, tokens in self._handlers.get(kind, ()):
            if tokens is not None and event.token not in tokens:  # type: ignore[attr-defined]
                continue
            try:
                handler(event)
            except Exception:
                self._failed(handler, kind)
        if self._catch_all:
            self._to_catch_all(event, kind)

    def _to_catch_all(self, event: object, kind: type) -> None:
        skips = self._skips_catch_all.get(kind)
        if skips is None:
            skips = self._skips_catch_all[kind] = bool(getattr(kind, "is_market_data", False))
        if skips:
            return
        for handler in self._catch_all:
            try:
                handler(event)
            except Exception:
                self._failed(handler, kind)

    def _failed(self, handler: Handler, kind: type) -> None:
        # Called from an except block: log.exception records the handler's traceback.
        self.handler_errors += 1
        log.exception("event handler %r failed on %s", handler, kind.__name__)


def _without(handlers: tuple[Handler, ...], handler: Handler) -> tuple[Handler, ...]:
    """``handlers`` less the first ``handler`` in it (as ``list.remove`` would), or unchanged."""
    for index, present in enumerate(handlers):
        if present == handler:
            return handlers[:index] + handlers[index + 1 :]
    return handlers
