"""One read of Kite's books for reconciliation: the orderbook, tradebook, net positions and
margins fetched together and turned into the desk's reports (``BrokerBook``). A row that cannot
be read is logged and counted, never guessed at."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from engine.brokers.kite.rest import KiteRest
from engine.brokers.kite.status_map import KiteDataError, parse_order, parse_trade
from engine.domain.ids import InstrumentToken
from engine.domain.reports import BrokerBook, OrderReport, PositionReport, TradeReport

log = logging.getLogger(__name__)


async def read_kite_book(rest: KiteRest) -> BrokerBook:
    """Kite's books now; ``KiteError`` if any part cannot be fetched."""
    orders_raw, trades_raw, positions_raw, margins_raw = await asyncio.gather(
        rest.orders(), rest.trades(), rest.positions(), rest.margins()
    )
    unreadable = 0
    trades: list[TradeReport] = []
    for row in trades_raw:
        try:
            trades.append(parse_trade(row))
        except KiteDataError as exc:
            unreadable += 1
            log.error("reconciliation: %s", exc)
    orders: list[OrderReport] = []
    for row in orders_raw:
        try:
            orders.append(parse_order(row))
        except KiteDataError as exc:
            unreadable += 1
            log.error("reconciliation: %s", exc)
    positions: list[PositionReport] = []
    for row in positions_raw.get("net", []) if isinstance(positions_raw, dict) else []:
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
            unreadable += 1
            log.error("reconciliation: unreadable Kite position %r: %r", row, exc)
    margins = margins_raw if isinstance(margins_raw, dict) else {}
    return BrokerBook(
        orders,
        trades,
        positions,
        unreadable=unreadable,
        available_cash=_available_cash(margins),
        extra={"margins": margins},
    )


def _available_cash(margins: dict[str, Any]) -> Decimal | None:
    try:
        value = margins["equity"]["available"]["live_balance"]
    except (KeyError, TypeError):
        return None
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        return None
