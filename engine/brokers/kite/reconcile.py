"""Reconciliation with Kite: on connect, on every reconnect and at every login.

Kite's orderbook, tradebook, positions and margins are fetched together, and:

- every order is applied through the adapter (so through the order state table): matched by our
  tag or Kite's order id, adopted when it was placed outside DalalDesk;
- every trade whose id is not booked yet becomes a fill; a trade id already booked is never
  counted again, however many times the same tradebook is read;
- orders whose place got no reply and that Kite still does not show are settled (not placed);
- open orders Kite does not know, and net positions that differ from Kite's, are reported to
  the trader as messages: the engine never overwrites a position to make it agree.

The ticker's order updates are hints that can be lost while the socket is down; this is the
authority. Requests for a run while one is going on coalesce into one more run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.brokers.kite.adapter import KiteBroker
from engine.brokers.kite.errors import KiteError, SessionExpired
from engine.brokers.kite.funds import funds_changed
from engine.brokers.kite.reports import trades_by_order
from engine.brokers.kite.rest import KiteRest
from engine.brokers.kite.status_map import KiteDataError, parse_order, parse_trade
from engine.core.clock import Clock
from engine.domain.events import EngineMessage, Severity
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import OrderStatus
from engine.domain.positions import Position

log = logging.getLogger(__name__)

QUIET_REASONS = ("ticker reconnected", "orders with no reply")
"""Runs the trader does not need a summary of unless they find something."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    reason: str
    kite_orders: int
    kite_trades: int
    fills_booked: int
    adopted: int
    settled: tuple[OrderId, ...]
    """Orders with no place reply that Kite does not have: marked not placed."""
    missing_at_kite: tuple[OrderId, ...]
    """Open orders (acknowledged by Kite earlier) that Kite's orderbook does not show."""
    position_differences: tuple[str, ...]
    unreadable: int
    available_cash: Decimal | None
    seconds: float


class KiteReconciler:
    def __init__(
        self,
        rest: KiteRest,
        broker: KiteBroker,
        *,
        orders: Callable[[], Iterable[Order]],
        positions: Callable[[], Iterable[Position]],
        instruments: Callable[[InstrumentToken], Instrument | None],
        publish: Callable[[object], None],
        clock: Clock,
        retry_delays_s: tuple[float, ...] = (1.0, 3.0, 10.0),
    ) -> None:
        self._rest = rest
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
        self.last_margins: dict[str, Any] | None = None
        self.funds_read: Callable[[], None] | None = None
        """Told when a run has published Kite's funds (the funds watch then waits its turn)."""

    # -- running ---------------------------------------------------------------------------------

    def request(self, reason: str) -> None:
        """Reconcile soon; requests made while a run is going on are served by one more run."""
        if reason not in self._wanted:
            self._wanted.append(reason)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(
                self._serve(), name="kite-reconcile"
            )

    async def wait_idle(self) -> None:
        while self._runner is not None and not self._runner.done():
            await asyncio.gather(self._runner, return_exceptions=True)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    async def _serve(self) -> None:
        """One run at a time; requests made meanwhile are coalesced into the next run. While
        Kite keeps failing, a new cycle waits the longest retry delay first, so an outage costs
        a handful of attempts, not one a second."""
        while self._wanted:
            reason = " and ".join(self._wanted)
            self._wanted.clear()
            for delay in (*self._retry_delays, None):
                try:
                    await self.reconcile(reason)
                    break
                except SessionExpired:
                    return  # the next login reconciles
                except KiteError:
                    if delay is None:
                        if self._wanted and self._retry_delays:
                            await asyncio.sleep(self._retry_delays[-1])
                        break
                    await asyncio.sleep(delay)

    async def reconcile(self, reason: str) -> ReconcileReport:
        """One full reconciliation; raises ``KiteError`` (after telling the trader) if Kite could
        not be read."""
        async with self._lock:
            started = time.perf_counter()
            try:
                orders_raw, trades_raw, positions_raw, margins_raw = await asyncio.gather(
                    self._rest.orders(),
                    self._rest.trades(),
                    self._rest.positions(),
                    self._rest.margins(),
                )
            except KiteError as exc:
                self.failures += 1
                self._say(
                    Severity.WARNING,
                    f"could not reconcile with Kite ({reason}): {exc}",
                )
                raise
            report = await self._apply(
                reason, orders_raw, trades_raw, positions_raw, margins_raw, started
            )
            equity = margins_raw.get("equity") if isinstance(margins_raw, dict) else None
            funds = funds_changed(equity, self._clock.time_ns()) if equity is not None else None
            if funds is not None:
                self._publish(funds)
                if self.funds_read is not None:
                    self.funds_read()
            self.runs += 1
            self.last = report
            self._tell(report)
            return report

    # -- the work --------------------------------------------------------------------------------

    async def _apply(
        self,
        reason: str,
        orders_raw: list[dict[str, Any]],
        trades_raw: list[dict[str, Any]],
        positions_raw: dict[str, list[dict[str, Any]]],
        margins_raw: dict[str, Any],
        started: float,
    ) -> ReconcileReport:
        broker = self._broker
        unreadable = 0
        trades = []
        for row in trades_raw:
            try:
                trades.append(parse_trade(row))
            except KiteDataError as exc:
                unreadable += 1
                log.error("reconciliation: %s", exc)
        by_order = trades_by_order(trades)
        reports = []
        for row in orders_raw:
            try:
                reports.append(parse_order(row))
            except KiteDataError as exc:
                unreadable += 1
                log.error("reconciliation: %s", exc)
        reports.sort(
            key=lambda r: (r.order_timestamp is None, r.order_timestamp, r.broker_order_id)
        )

        fills_before, adopted_before = broker.stats.fills, broker.stats.adopted
        at_kite: set[str] = set()
        for report in reports:
            at_kite.add(report.broker_order_id)
            if report.tag:
                at_kite.add(report.tag)
            await broker.apply_report(report, by_order.get(report.broker_order_id, []))
        settled = broker.resolve_missing(at_kite)
        missing = tuple(
            order.order_id
            for order in self._orders()
            if order.is_open
            and order.status is not OrderStatus.PENDING_SUBMIT
            and order.broker_order_id is not None
            and order.broker_order_id not in at_kite
        )
        self.last_margins = margins_raw
        return ReconcileReport(
            reason=reason,
            kite_orders=len(reports),
            kite_trades=len(trades),
            fills_booked=broker.stats.fills - fills_before,
            adopted=broker.stats.adopted - adopted_before,
            settled=tuple(settled),
            missing_at_kite=missing,
            position_differences=tuple(self._position_differences(positions_raw)),
            unreadable=unreadable,
            available_cash=_available_cash(margins_raw),
            seconds=time.perf_counter() - started,
        )

    def _position_differences(self, positions_raw: dict[str, list[dict[str, Any]]]) -> list[str]:
        theirs: dict[tuple[int, str], int] = {}
        names: dict[tuple[int, str], str] = {}
        for row in positions_raw.get("net", []):
            try:
                key = (int(row["instrument_token"]), str(row["product"]))
                theirs[key] = theirs.get(key, 0) + int(row["quantity"])
                names[key] = f"{row.get('exchange')}:{row.get('tradingsymbol')}"
            except (KeyError, TypeError, ValueError) as exc:
                log.error("reconciliation: unreadable Kite position %r: %r", row, exc)
        ours: dict[tuple[int, str], int] = {}
        for position in self._positions():
            key = (int(position.token), position.product.value)
            ours[key] = ours.get(key, 0) + position.net_quantity
        differences = []
        for key in sorted(set(theirs) | set(ours)):
            kite_qty, our_qty = theirs.get(key, 0), ours.get(key, 0)
            if kite_qty != our_qty:
                instrument = self._instruments(InstrumentToken(key[0]))
                name = names.get(key) or (instrument.key if instrument else str(key[0]))
                differences.append(f"{name} {key[1]}: Kite {kite_qty:+d}, DalalDesk {our_qty:+d}")
        return differences

    # -- telling the trader ----------------------------------------------------------------------

    def _tell(self, report: ReconcileReport) -> None:
        if report.position_differences:
            self._say(
                Severity.WARNING,
                "positions differ from Kite's after reconciliation ("
                + report.reason
                + "): "
                + "; ".join(report.position_differences),
            )
        if report.missing_at_kite:
            self._say(
                Severity.WARNING,
                "open orders Kite's orderbook does not show: " + ", ".join(report.missing_at_kite),
            )
        if report.unreadable:
            self._say(
                Severity.WARNING,
                f"reconciliation skipped {report.unreadable} Kite rows it could not read "
                "(see the log)",
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
                f"reconciled with Kite ({report.reason}): {report.kite_orders} orders, "
                f"{report.fills_booked} new fills, {report.adopted} placed outside DalalDesk"
                f"{cash}",
            )
        else:
            log.info("reconciled with Kite (%s): nothing new", report.reason)

    def _say(self, severity: Severity, text: str) -> None:
        self._publish(EngineMessage(self._clock.time_ns(), severity, text, "kite"))


def _available_cash(margins: dict[str, Any]) -> Decimal | None:
    try:
        value = margins["equity"]["available"]["live_balance"]
    except (KeyError, TypeError):
        return None
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        return None
