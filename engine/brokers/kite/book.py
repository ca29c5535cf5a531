"""One read of Kite's books for reconciliation: the orderbook, tradebook, net positions and
margins fetched together and turned into the desk's reports (``BrokerBook``). A row that cannot
be read is logged and counted, never guessed at."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from engine.brokers.kite.rest import KiteRest
from engine.brokers.kite.status_map import KiteDataError, parse_order, parse_trade
from engine.domain.ids import InstrumentToken
from engine.domain.reports import BrokerBook, PositionReport

log = logging.getLogger(__name__)

R = TypeVar("R")


async def read_kite_book(rest: KiteRest, as_of: int | None = None) -> BrokerBook:
    """Kite's books now; ``KiteError`` if any part cannot be fetched. ``KiteRest`` already
    refuses an orderbook or tradebook that is not a list (an empty book read from a wrong shape
    would settle orders still at Kite as never placed); a row, or the positions or margins, of
    the wrong shape is counted as unreadable and logged in words. ``as_of``: the reader's change
    mark when the read began, carried by each order report."""
    orders_raw, trades_raw, positions_raw, margins_raw = await asyncio.gather(
        rest.orders(), rest.trades(), rest.positions(), rest.margins()
    )
    unreadable = [0]
    trades = _parsed(trades_raw, parse_trade, "trade", unreadable)
    orders = _parsed(orders_raw, partial(parse_order, as_of=as_of), "order", unreadable)
    positions: list[PositionReport] = []
    for row in _net_positions(positions_raw, unreadable):
        try:
            positions.append(
                PositionReport(
                    InstrumentToken(int(row["instrument_token"])),
                    str(row["product"]),
                    int(row["quantity"]),
                    f"{row.get('exchange')}:{row.get('tradingsymbol')}",
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            unreadable[0] += 1
            log.error("reconciliation: unreadable Kite position %r: %r", row, exc)
    if isinstance(margins_raw, dict):
        margins = margins_raw
    else:
        margins = {}
        unreadable[0] += 1
        log.error("reconciliation: Kite's margins are not an object: %r", margins_raw)
    return BrokerBook(
        orders,
        trades,
        positions,
        unreadable=unreadable[0],
        available_cash=_available_cash(margins),
        extra={"margins": margins},
    )


def _parsed(
    rows: Any, parse: Callable[[dict[str, Any]], R], what: str, unreadable: list[int]
) -> list[R]:
    """The rows ``parse`` reads; a row it cannot read, or that is not an object, is counted."""
    if not isinstance(rows, list):
        unreadable[0] += 1
        log.error("reconciliation: Kite's %ss are not a list: %r", what, rows)
        return []
    out: list[R] = []
    for row in rows:
        if not isinstance(row, dict):
            unreadable[0] += 1
            log.error("reconciliation: a Kite %s that is not an object: %r", what, row)
            continue
        try:
            out.append(parse(row))
        except KiteDataError as exc:
            unreadable[0] += 1
            log.error("reconciliation: %s", exc)
    return out


def _net_positions(positions: Any, unreadable: list[int]) -> list[dict[str, Any]]:
    """The ``net`` positions that are objects; any other shape is counted as unreadable."""
    net = positions.get("net") if isinstance(positions, dict) else None
    if not isinstance(net, list):
        unreadable[0] += 1
        log.error("reconciliation: Kite's positions have no list of net positions: %r", positions)
        return []
    rows = [row for row in net if isinstance(row, dict)]
    if len(rows) != len(net):
        unreadable[0] += len(net) - len(rows)
        log.error("reconciliation: Kite net positions that are not objects: %r", net)
    return rows


def _available_cash(margins: dict[str, Any]) -> Decimal | None:
    try:
        value = margins["equity"]["available"]["live_balance"]
    except (KeyError, TypeError):
        return None
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        return None
