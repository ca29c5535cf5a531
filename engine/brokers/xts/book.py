"""One read of XTS's books for reconciliation: the orderbook, tradebook, net positions and (for a
retail login) the balance, fetched together and turned into the desk's reports (``BrokerBook``).
A row that cannot be read is logged and counted, never guessed at. A busy day's books run to
thousands of rows (parsing 3,000 orders and 9,000 trades takes about half a second), so the rows
are parsed in a worker thread, off the desk's loop.

The balance (kite_xts_apis.md §C.4, ``BalanceList[].limitObject.RMSSubLimits``) gives the margin
available for new orders (``netMarginAvailable``) and the margin in use (``marginUtilized``);
they go to the risk gate as ``FundsChanged``, as Kite's margins do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from engine.brokers.xts.errors import XtsDataError
from engine.brokers.xts.rest import XtsRest
from engine.brokers.xts.status_map import decimal, parse_order, parse_position, parse_trade
from engine.domain.events import FundsChanged
from engine.domain.reports import BrokerBook

log = logging.getLogger(__name__)

T = TypeVar("T")


async def read_xts_book(rest: XtsRest, as_of: int | None = None) -> BrokerBook:
    """XTS's books now; ``XtsError`` if any part cannot be fetched. ``as_of``: the reader's
    change mark when the read began, carried by each order report."""
    reads: list[Any] = [rest.orders(), rest.trades(), rest.positions("NetWise")]
    retail = rest.client_id is None
    if retail:
        reads.append(rest.balance())  # a dealer login has no balance of its own
    answers = await asyncio.gather(*reads)
    orders_raw, trades_raw, positions_raw = answers[:3]
    unreadable = [0]
    orders, trades, positions = await asyncio.to_thread(
        lambda: (
            _parsed(orders_raw, partial(parse_order, as_of=as_of), unreadable),
            _parsed(trades_raw, parse_trade, unreadable),
            _parsed(positions_raw, parse_position, unreadable),
        )
    )
    limits = rms_limits(answers[3]) if retail else None
    available = limits.get("netMarginAvailable") if limits else None
    return BrokerBook(
        orders,
        trades,
        positions,
        unreadable=unreadable[0],
        available_cash=_amount(available),
        extra={"limits": limits},
    )


def rms_limits(balance: Any) -> dict[str, Any] | None:
    """``RMSSubLimits`` of the first account of a balance answer, or None (logged)."""
    try:
        limits = balance["BalanceList"][0]["limitObject"]["RMSSubLimits"]
    except (KeyError, IndexError, TypeError):
        log.error("XTS balance without BalanceList[0].limitObject.RMSSubLimits: %r", balance)
        return None
    return limits if isinstance(limits, dict) else None


def funds_changed(limits: dict[str, Any], ts_ns: int) -> FundsChanged | None:
    available = _amount(limits.get("netMarginAvailable"))
    used = _amount(limits.get("marginUtilized"))
    if available is None or used is None:
        log.error("XTS limits without netMarginAvailable / marginUtilized: %r", limits)
        return None
    return FundsChanged(ts_ns, available, used, "xts")


def _amount(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return decimal(value, "amount").quantize(Decimal("0.01"))
    except XtsDataError as exc:
        log.error("XTS amount %r unreadable: %s", value, exc)
        return None


def _parsed(
    rows: list[dict[str, Any]], parse: Callable[[dict[str, Any]], T], unreadable: list[int]
) -> list[T]:
    out = []
    for row in rows:
        try:
            out.append(parse(row))
        except XtsDataError as exc:
            unreadable[0] += 1
            log.error("reconciliation: %s", exc)
    return out
