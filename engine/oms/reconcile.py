"""Reconciliation with a live broker: on connect, on every reconnect and at every login.

The broker's orderbook, tradebook, positions and funds are read together (``BrokerBook``), and:

- every order is applied through the broker's adapter (so through the order state table):
  matched by our tag or the broker's order id, adopted when it was placed outside DalalDesk;
- every trade whose id is not booked yet becomes a fill; a trade id already booked is never
  counted again, however many times the same tradebook is read;
- orders whose place got no reply and that the broker still does not show are settled (not
  placed);
- open orders the broker does not know, and net positions that differ from the broker's, are
  reported to the trader as messages: the engine never overwrites a position to make it agree.

Streamed order updates are hints that can be lost while a socket is down; this is the authority.
Requests for a run while one is going on coalesce into one more run. Nothing here is particular
to one broker: an adapter reads its book and applies its reports (``BookKeeper``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from engine.brokers.base import BrokerError, SessionEnded
from engine.core.clock import Clock
from engine.domain.events import EngineMessage, Severity
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import OrderStatus
from engine.domain.positions import Position
from engine.domain.reports import (
    BrokerBook,
    OrderReport,
    PositionReport,
    TradeReport,
    trades_by_order,
)

log = logging.getLogger(__name__)

QUIET_REASONS = ("ticker reconnected", "order socket reconnected", "orders with no reply")
"""Runs the trader does not need a summary of unless they find something."""


@runtime_checkable
class BookKeeper(Protocol):
    """What reconciliation needs from a live broker's adapter."""

    title: str
    """The broker's name as the trader knows it ("Kite")."""

    async def read_book(self) -> BrokerBook:
        """The broker's orders, trades, positions and funds in one read; ``BrokerError`` (or
        ``SessionEnded``) if it cannot be read."""
        ...

    async def apply_report(
        self, report: OrderReport, trades: list[TradeReport] | None = None
    ) -> OrderId | None:
        """Apply one order report (and its trades) as order events; our order id."""
        ...

    def resolve_missing(self, at_broker: set[str]) -> list[OrderId]:
        """Settle orders of unknown outcome the broker does not show (tags and ids)."""
        ...

    def booked(self) -> tuple[int, int]:
        """(fills booked, orders adopted) so far: a run reports what it added."""
        ...

    def book_applied(self, book: BrokerBook) -> None:
        """After a run: what the adapter does with the rest of the read (Kite: its funds)."""
        ...


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    reason: str
    broker_orders: int
    broker_trades: int
    fills_booked: int
    adopted: int
    settled: tuple[OrderId, ...]
    """Orders with no place reply that the broker does not have: marked not placed."""
    missing_at_broker: tuple[OrderId, ...]
    """Open orders (acknowledged by the broker earlier) that its orderbook does not show."""
    position_differences: tuple[str, ...]
    unreadable: int
    available_cash: Decimal | None
    seconds: float


class Reconciler:
    def __init__(
        self,
        broker: BookKeeper,
        *,
        orders: Callable[[], Iterable[Order]],
        positions: Callable[[], Iterable[Position]],
        instruments: Callable[[InstrumentToken], Instrument | None],
        publish: Callable[[object], None],
        clock: Clock,
        retry_delays_s: tuple[float, ...] = (1.0, 3.0, 10.0),
    ) -> None:
        self._broker = broker
        self._orders = orders
        self._positions = positions
        self._instruments = instruments
        self._publish = publish
        self._clock = clock
        self._retry_delays = retry_delays_s
        self._lock = asyncio.Lock()
        self._wanted: list[str] = []
        self._runner: asyncio.Task[None] | None = None
        self.runs = 0
        self.failures = 0
        self.last: ReconcileReport | None = None

    # -- running ---------------------------------------------------------------------------------

    def request(self, reason: str) -> None:
        """Reconcile soon; requests made while a run is going on are served by one more run."""
        if reason not in self._wanted:
            self._wanted.append(reason)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._serve(), name="reconcile")

    async def wait_idle(self) -> None:
        while self._runner is not None and not self._runner.done():
            await asyncio.gather(self._runner, return_exceptions=True)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    async def _serve(self) -> None:
        """One run at a time; requests made meanwhile are coalesced into the next run. While
        the broker keeps failing, a new cycle waits the longest retry delay first, so an outage
        costs a handful of attempts, not one a second."""
        while self._wanted:
            reason = " and ".join(self._wanted)
            self._wanted.clear()
            for delay in (*self._retry_delays, None):
                try:
                    await self.reconcile(reason)
                    break
                except SessionEnded:
                    return  # the next login reconciles
                except BrokerError:
                    if delay is None:
                        if self._wanted and self._retry_delays:
                            await asyncio.sleep(self._retry_delays[-1])
                        break
                    await asyncio.sleep(delay)

    async def reconcile(self, reason: str) -> ReconcileReport:
        """One full reconciliation; raises ``BrokerError`` (after telling the trader) if the
        broker could not be read."""
        async with self._lock:
            started = time.perf_counter()
            try:
                book = await self._broker.read_book()
            except BrokerError as exc:
                self.failures += 1
                self._say(
                    Severity.WARNING,
                    f"could not reconcile with {self._broker.title} ({reason}): {exc}",
                )
                raise
            report = await self._apply(reason, book, started)
            self._broker.book_applied(book)
            self.runs += 1
            self.last = report
            self._tell(report)
            return report

    # -- the work --------------------------------------------------------------------------------

    async def _apply(self, reason: str, book: BrokerBook, started: float) -> ReconcileReport:
        broker = self._broker
        by_order = trades_by_order(book.trades)
        reports = sorted(
            book.orders,
            key=lambda r: (r.order_timestamp is None, r.order_timestamp, r.broker_order_id),
        )
        fills_before, adopted_before = broker.booked()
        at_broker: set[str] = set()
        for report in reports:
            at_broker.add(report.broker_order_id)
            if report.tag:
                at_broker.add(report.tag)
            await broker.apply_report(report, by_order.get(report.broker_order_id, []))
        # An order whose placing is in doubt is settled as never placed only on a book read
        # whole: one of the rows that could not be read may be that order, live at the broker.
        settled = [] if book.unreadable else broker.resolve_missing(at_broker)
        missing = tuple(
            order.order_id
            for order in self._orders()
            if order.is_open
            and order.status is not OrderStatus.PENDING_SUBMIT
            and order.broker_order_id is not None
            and order.broker_order_id not in at_broker
        )
        fills_after, adopted_after = broker.booked()
        return ReconcileReport(
            reason=reason,
            broker_orders=len(reports),
            broker_trades=len(book.trades),
            fills_booked=fills_after - fills_before,
            adopted=adopted_after - adopted_before,
            settled=tuple(settled),
            missing_at_broker=missing,
            position_differences=tuple(self._position_differences(book.positions)),
            unreadable=book.unreadable,
            available_cash=book.available_cash,
            seconds=time.perf_counter() - started,
        )

    def _position_differences(self, reported: list[PositionReport]) -> list[str]:
        theirs: dict[tuple[int, str], int] = {}
        names: dict[tuple[int, str], str] = {}
        for row in reported:
            key = (int(row.token), row.product)
            theirs[key] = theirs.get(key, 0) + row.quantity
            names[key] = row.name
        ours: dict[tuple[int, str], int] = {}
        for position in self._positions():
            key = (int(position.token), position.product.value)
            ours[key] = ours.get(key, 0) + position.net_quantity
        title = self._broker.title
        differences = []
        for key in sorted(set(theirs) | set(ours)):
            broker_qty, our_qty = theirs.get(key, 0), ours.get(key, 0)
            if broker_qty != our_qty:
                instrument = self._instruments(InstrumentToken(key[0]))
                name = names.get(key) or (instrument.key if instrument else str(key[0]))
                differences.append(
                    f"{name} {key[1]}: {title} {broker_qty:+d}, DalalDesk {our_qty:+d}"
                )
        return differences

    # -- telling the trader ----------------------------------------------------------------------

    def _tell(self, report: ReconcileReport) -> None:
        title = self._broker.title
        if report.position_differences:
            self._say(
                Severity.WARNING,
                f"positions differ from {title}'s after reconciliation ({report.reason}): "
                + "; ".join(report.position_differences),
            )
        if report.missing_at_broker:
            self._say(
                Severity.WARNING,
                f"open orders {title}'s orderbook does not show: "
                + ", ".join(report.missing_at_broker),
            )
        if report.unreadable:
            self._say(
                Severity.WARNING,
                f"reconciliation skipped {report.unreadable} {title} rows it could not read "
                "(see the log); an order whose placing is in doubt stays in doubt until the "
                "book reads whole",
            )
        changed = report.fills_booked or report.adopted or report.settled
        if changed or report.reason not in QUIET_REASONS:
            cash = (
                f"; available cash ₹{report.available_cash:,.2f}"
                if report.available_cash is not None
                else ""
            )
            self._say(
                Severity.INFO,
                f"reconciled with {title} ({report.reason}): {report.broker_orders} orders, "
                f"{report.fills_booked} new fills, {report.adopted} placed outside DalalDesk"
                f"{cash}",
            )
        else:
            log.info("reconciled with %s (%s): nothing new", title, report.reason)

    def _say(self, severity: Severity, text: str) -> None:
        source = self._broker.title.lower()
        self._publish(EngineMessage(self._clock.time_ns(), severity, text, source))
