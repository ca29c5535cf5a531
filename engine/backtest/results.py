"""What a run leaves: its P&L followed from the fills it got (exact paise and rupees), an equity
curve, and a summary kept in the run's own book file beside its journal."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.core.bus import EventBus
from engine.core.clock import IST
from engine.domain.events import OrderDenied, OrderFilled, OrderSubmitted
from engine.domain.strategy_records import StrategyRecord, StrategyStatus
from engine.domain.values import to_rupees
from engine.marketdata.quotes import QuoteCache
from engine.marketdata.replay import BAR_TICKS


@dataclass(frozen=True, slots=True)
class BacktestResult:
    name: str
    strategy: str
    params: dict[str, Any]
    ticks: int
    orders: int
    fills: int
    gross_pnl: Decimal
    """Rupees: realised and marked-to-market at the last prices, before charges."""
    charges: Decimal
    net_pnl: Decimal
    elapsed_s: float
    cancelled: bool
    book: str
    equity: list[tuple[int, Decimal]] = field(default_factory=list)
    """(epoch ns, net P&L in rupees) every ``equity_every_seconds`` of market time."""
    trades: list[tuple[int, int, str, int, int]] = field(default_factory=list)
    """Every fill: (epoch ns, token, side, quantity, price in paise)."""
    denied: int = 0
    """Orders the risk gate refused (they never reached the venue)."""
    first_denial: str = ""
    """Why the first of them was refused ('' when none was)."""
    strategy_failures: tuple[str, ...] = ()
    """The strategy failures of the run, one line each in market time ("2025-01-03 10:41 IST:
    strategy boom failed in on_tick: ZeroDivisionError: division by zero"). A failed strategy
    stops there, so the run's P&L is of the replay up to it, not of the whole."""
    total: int = 0
    """The ticks (bars) in the range asked: a cancelled run replayed ``ticks`` of them (0: not
    told)."""
    bars: bool = False
    """Whether the run replayed 1-minute bars: its ``ticks`` are then the bars' (``BAR_TICKS`` each)."""

    @property
    def replayed(self) -> str:
        """What the run replayed, in words: ``33,000 bars``."""
        return f"{self.ticks // BAR_TICKS:,} bars" if self.bars else f"{self.ticks:,} ticks"

    def row(self) -> dict[str, Any]:
        """The summary as plain values (a sweep's table row)."""
        return {
            "name": self.name,
            **{f"param.{k}": v for k, v in self.params.items()},
            "orders": self.orders,
            "denied": self.denied,
            "fills": self.fills,
            "gross_pnl": str(self.gross_pnl),
            "charges": str(self.charges),
            "net_pnl": str(self.net_pnl),
            "max_drawdown": str(max_drawdown(self.equity)),
            "ticks": self.ticks,
            "seconds": round(self.elapsed_s, 3),
            "cancelled": self.cancelled,
        }


FAILED_PARTWAY = (
    "The strategy failed and stopped trading partway, so these figures are not of its whole run"
)


def cancelled_said(result: BacktestResult) -> str:
    """Where a cancelled run stopped, in market time, and how far into its range."""
    at = ""
    if result.equity:
        at = f" at {datetime.fromtimestamp(result.equity[-1][0] / 1e9, IST):%d %b %Y %H:%M} IST"
    share = f" ({100 * result.ticks / result.total:.0f} % of the range)" if result.total else ""
    return f"Cancelled{at}{share}: these figures are of the part that ran"


def partial_said(result: BacktestResult) -> list[str]:
    """Why a run's figures are not of its whole range, a line each (none when they are): it
    was cancelled, its strategy failed partway (the first failure named)."""
    said = [cancelled_said(result)] if result.cancelled else []
    failures = result.strategy_failures
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        said.append(f"{FAILED_PARTWAY}: {failures[0]}{more}")
    return said


def max_drawdown(equity: list[tuple[int, Decimal]]) -> Decimal:
    peak = worst = Decimal(0)
    for _ts, value in equity:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


class PnlTracker:
    """The run's P&L from the fills the bus carries, marked at the quote cache's last prices."""

    def __init__(self, bus: EventBus, quotes: QuoteCache) -> None:
        self._quotes = quotes
        self._net: dict[int, int] = {}
        self._cash = 0
        self._charges = Decimal(0)
        self.orders = 0
        self.denied = 0
        self.first_denial = ""
        self.trades: list[tuple[int, int, str, int, int]] = []
        self.equity: list[tuple[int, Decimal]] = []
        self.strategy_failures: list[str] = []
        bus.subscribe(OrderFilled, self._on_fill)
        bus.subscribe(OrderSubmitted, self._on_submitted)
        bus.subscribe(OrderDenied, self._on_denied)
        bus.subscribe(StrategyRecord, self._on_strategy_record)

    def _on_submitted(self, _event: OrderSubmitted) -> None:
        self.orders += 1

    def _on_denied(self, event: OrderDenied) -> None:
        # A run whose orders were all refused would otherwise read as a strategy that never
        # traded.
        self.denied += 1
        if not self.first_denial:
            self.first_denial = event.reason

    def _on_strategy_record(self, record: StrategyRecord) -> None:
        # The kernel stops a strategy that raised and journals why; the replay goes on without
        # it, so the run's P&L is not the strategy's whole run.
        if record.status is StrategyStatus.FAILED:
            self.strategy_failures.append(failure_said(record))

    def _on_fill(self, fill: OrderFilled) -> None:
        signed = fill.quantity * fill.side.sign
        self._net[fill.token] = self._net.get(fill.token, 0) + signed
        self._cash -= signed * fill.price
        if fill.charges is not None:
            self._charges += fill.charges.total
        self.trades.append(
            (fill.ts_ns, int(fill.token), fill.side.value, fill.quantity, fill.price)
        )

    def gross_paise(self) -> int:
        held = 0
        for token, net in self._net.items():
            if net:
                held += net * (self._quotes.ltp(token) or 0)  # type: ignore[arg-type]
        return self._cash + held

    def sample(self, ts_ns: int) -> None:
        value = to_rupees(self.gross_paise()) - self._charges
        if self.equity and self.equity[-1][0] == ts_ns:
            self.equity[-1] = (ts_ns, value)
        else:
            self.equity.append((ts_ns, value))

    def result(self, **fields: Any) -> BacktestResult:
        gross = to_rupees(self.gross_paise())
        return BacktestResult(
            orders=self.orders,
            denied=self.denied,
            first_denial=self.first_denial,
            fills=len(self.trades),
            gross_pnl=gross,
            charges=self._charges,
            net_pnl=gross - self._charges,
            equity=list(self.equity),
            trades=list(self.trades),
            strategy_failures=tuple(self.strategy_failures),
            **fields,
        )


_KERNEL_REASON = re.compile(r"(?P<error>\w+) in (?P<where>\w+): (?P<said>.*)", re.DOTALL)
"""The kernel's reason for a failure: ``ZeroDivisionError in on_tick: division by zero``."""


def failure_said(record: StrategyRecord) -> str:
    """A strategy's failure on one line, at its market time: ``2025-01-03 10:41 IST: strategy
    boom failed in on_tick: ZeroDivisionError: division by zero``."""
    when = datetime.fromtimestamp(record.ts_ns / 1e9, IST)
    parts = _KERNEL_REASON.fullmatch(record.reason)
    if parts is None:
        what = f"failed: {record.reason}" if record.reason else "failed"
    else:
        said = f": {parts['said']}" if parts["said"] else ""
        what = f"failed in {parts['where']}: {parts['error']}{said}"
    line = f"{when:%Y-%m-%d %H:%M} IST: strategy {record.strategy} {what}"
    return " ".join(part.strip() for part in line.splitlines())


def write_result(book: Path, result: BacktestResult) -> None:
    """Keep the summary and the equity curve in the run's book file (tables of their own beside
    the journal)."""
    # The curve and the trades are not copied into the summary only to be dropped.
    summary = asdict(replace(result, equity=[], trades=[]))
    summary.pop("equity")
    summary.pop("trades")
    with sqlite3.connect(book) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS backtest_summary (summary TEXT NOT NULL)")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS backtest_equity (ts_ns INTEGER NOT NULL, pnl TEXT NOT NULL)"
        )
        connection.execute("DELETE FROM backtest_summary")
        connection.execute("DELETE FROM backtest_equity")
        connection.execute(
            "INSERT INTO backtest_summary VALUES (?)", (json.dumps(summary, default=str),)
        )
        connection.executemany(
            "INSERT INTO backtest_equity VALUES (?, ?)",
            [(ts, str(value)) for ts, value in result.equity],
        )
    connection.close()


def has_result(book: Path) -> bool:
    """Whether the book keeps a run's result (a run that ended, or was cancelled)."""
    try:
        with sqlite3.connect(f"{book.resolve().as_uri()}?mode=ro", uri=True) as connection:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'backtest_summary'"
            ).fetchone()
            kept = (
                found is not None
                and connection.execute("SELECT 1 FROM backtest_summary").fetchone() is not None
            )
        connection.close()
    except sqlite3.Error:
        return False  # not a book it can read: no result to keep either
    return kept


_MONEY = ("gross_pnl", "charges", "net_pnl")


def load_result(book: Path) -> BacktestResult:
    """A kept run's result as the run returned it, less its trades (the journal keeps those).
    A result kept before a field was added loads with that field's default; a field this
    version does not know is left out."""
    summary, equity = read_result(book)
    known = {f.name for f in fields(BacktestResult)} - {"equity", "trades"}
    values = {k: v for k, v in summary.items() if k in known}
    values.update({k: Decimal(str(values[k])) for k in _MONEY if k in values})
    values["strategy_failures"] = tuple(values.get("strategy_failures", ()))
    return BacktestResult(**values, equity=equity)


def read_result(book: Path) -> tuple[dict[str, Any], list[tuple[int, Decimal]]]:
    """A kept run's summary and equity curve."""
    with sqlite3.connect(book) as connection:
        [(text,)] = connection.execute("SELECT summary FROM backtest_summary").fetchall()
        rows = connection.execute("SELECT ts_ns, pnl FROM backtest_equity ORDER BY rowid")
        equity = [(int(ts), Decimal(pnl)) for ts, pnl in rows]
    connection.close()
    return json.loads(text), equity
