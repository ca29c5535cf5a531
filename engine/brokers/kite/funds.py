"""Kite's figure of the margin available for new orders, for the risk gate.

The equity segment of ``GET /user/margins`` (kite_xts_apis.md §A.11): ``net`` is what new orders
may still block, after what positions and open orders hold; ``utilised.debits`` is what is
blocked. Read at every reconciliation, every ``FUNDS_SECONDS`` while logged in, and shortly after
new fills (``FundsWatch``), and published as ``FundsChanged``: the gate's margin check then uses
the broker's figure instead of the configured capital.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.brokers.kite.errors import KiteError
from engine.brokers.kite.rest import KiteRest
from engine.domain.events import FundsChanged

log = logging.getLogger(__name__)

FUNDS_SECONDS = 30.0
"""How often the funds are read while logged in."""
AFTER_FILL_SECONDS = 2.0
"""How soon after new fills they are read again (Kite re-blocks margin as fills book)."""


def funds_changed(segment: Mapping[str, Any], ts_ns: int) -> FundsChanged | None:
    """The event for one segment's margins, or None (logged) when Kite's row cannot be read."""
    try:
        available = _rupees(segment["net"])
        used = _rupees(segment["utilised"]["debits"])
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        log.error("Kite margins without a readable net / utilised.debits: %r (%s)", segment, exc)
        return None
    return FundsChanged(ts_ns, available, used, "kite")


def _rupees(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not an amount: {value!r}")
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return amount.quantize(Decimal("0.01"))


class FundsWatch:
    """Reads the equity margins when due; ``poll`` is called once a second by the link."""

    def __init__(
        self,
        rest: KiteRest,
        *,
        fills: Callable[[], int],
        publish: Callable[[object], None],
        now_ns: Callable[[], int],
    ) -> None:
        self._rest = rest
        self._fills = fills
        self._publish = publish
        self._now_ns = now_ns
        self._read_at = -float("inf")
        self._fills_seen = 0
        self._task: asyncio.Task[None] | None = None

    def poll(self) -> None:
        if self._task is not None and not self._task.done():
            return
        since = time.monotonic() - self._read_at
        filled = self._fills() != self._fills_seen
        if since >= FUNDS_SECONDS or (filled and since >= AFTER_FILL_SECONDS):
            self._task = asyncio.create_task(self.read(), name="kite-funds")

    def seen(self) -> None:
        """A reconciliation has just read the funds: the next read can wait."""
        self._read_at = time.monotonic()
        self._fills_seen = self._fills()

    async def read(self) -> None:
        self.seen()
        try:
            segment = await self._rest.margins("equity")
        except KiteError as exc:
            log.warning("Kite funds not read (the gate keeps the last figure): %s", exc)
            return
        event = funds_changed(segment, self._now_ns())
        if event is not None:
            self._publish(event)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
