"""Performance of the desk's live and paper days: per strategy, per symbol, per day, with each
owner's equity, drawdown, trades and metrics, and the HTML report of one of them.

Everything is read from the book's journal (``engine.backtest.performance``), marked at the live
quotes; the capital the returns are measured against is the risk limits' capital. Reading a long
journal takes a moment (a year of a busy desk, 10,000 fills: about two seconds; eight hours of a
strategy denied every tick, 64,000 rows: three): panels ask on demand (a button, a throttled
refresh), never per tick, and through ``read_performance``, which holds the desk's loop only to
read the live state the figures need, and reads the whole journal only once: what it read is
kept (``_Tally``), and each refresh reads only the rows written since.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from engine.api.parts import Service
from engine.backtest.metrics import (
    EquityCurve,
    Metrics,
    TradingSessions,
    daily_pnl,
    drawdown_series,
)
from engine.backtest.performance import (
    DEFAULT_CAPITAL,
    DESK,
    DayRow,
    Performance,
    PnlRow,
    quoted_at,
    track,
)
from engine.backtest.report import (
    NO_DRAWDOWN,
    NO_LOSING_DAYS,
    NO_LOSSES,
    ReportView,
    report_html,
)
from engine.backtest.report_svg import session_positions
from engine.backtest.trades import Trade
from engine.core.memory import collector_paused
from engine.domain.events import (
    ORDER_EVENT_TYPES,
    OrderFilled,
    OrderSubmitted,
    arrival_of,
    order_event_from_journal,
)
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.marks import PnlMarks
from engine.domain.order import Order
from engine.domain.origin import attribution
from engine.store.book import _domain_problem, quarantined, scan_journal
from engine.store.files import write_whole
from engine.store.journal import Journal, JournalEntry, UnreadableRow

__all__ = [
    "DESK",
    "NO_DRAWDOWN",
    "NO_LOSING_DAYS",
    "NO_LOSSES",
    "DayRow",
    "EquityCurve",
    "Metrics",
    "Performance",
    "PerformanceService",
    "PerformanceUnavailable",
    "PnlRow",
    "Trade",
    "daily_pnl",
    "drawdown_series",
    "session_positions",
]

log = logging.getLogger(__name__)

BOOK_CLOSED = "the book was closed while its journal was read"


class PerformanceUnavailable(Exception):
    """The journal could not be read for the figures; the message says why, in words."""


class PerformanceService(Service):
    _tally: _Tally | None = None
    """What ``read_performance`` has read of the journal (made on the first read)."""

    def performance(self, capital: Decimal | None = None) -> Performance:
        """Every owner's figures from the journal, marked at the quotes now. A desk without a
        journal (some tests) has none: an empty ``Performance``."""
        journal = self._parts.journal
        entries: list[JournalEntry] = []
        if journal is not None and not journal.closed:
            # The rows the desk itself restores from: set-aside (quarantined) rows left out.
            entries = scan_journal(journal, record=False).entries
        registry = self.instruments

        def symbol_of(token: InstrumentToken) -> str:
            instrument = registry.find(token)
            return instrument.tradingsymbol if instrument is not None else str(token)

        def last_price(token: InstrumentToken) -> int | None:
            tick = self._quotes.get(token)
            return None if tick is None else tick.ltp

        return track(
            entries,
            symbol_of=symbol_of,
            capital=capital if capital is not None else self.capital(),
            last_prices=last_price,
            now_ns=int(self._parts.now().timestamp() * 1e9),
            calendar=self._parts.calendar,
        )

    async def read_performance(self, capital: Decimal | None = None) -> Performance:
        """As ``performance()``, every figure worked out (``Performance.prepare``), without
        holding the desk's loop: the journal is read and the figures built on worker threads;
        the loop only reads what they need of the live desk (the traded instruments' names and
        last prices, the capital, the time), between the two. ``PerformanceUnavailable`` says in
        words why the journal could not be read (the database gone, the book closed meanwhile).

        The whole journal is read once; later reads take only the rows written since
        (``_Tally``), so a refresh after a burst of fills costs what the burst wrote, and gives
        the figures a whole read would. Cancelled, the worker still finishes its read; what it
        read is kept for the next."""
        capital = capital if capital is not None else self.capital()
        journal = self._parts.journal
        if journal is None or journal.closed:
            return track([], capital=capital, calendar=self._parts.calendar)
        if not _readable_off_the_loop(journal):
            performance = self.performance(capital)
            performance.prepare()
            return performance
        calendar = self._parts.calendar
        tally = self._tally
        if tally is None or tally.journal is not journal or not tally.measures(capital, calendar):
            tally = self._tally = _Tally(journal, capital, calendar)
        tokens = await asyncio.to_thread(tally.catch_up)
        while True:
            # On the loop, in one go: the live state as the journal was read.
            symbols: dict[int, str] = {}
            prices: dict[int, int] = {}
            for token in tokens:
                instrument = self.instruments.find(InstrumentToken(token))
                symbols[token] = instrument.tradingsymbol if instrument is not None else str(token)
                tick = self._quotes.get(InstrumentToken(token))
                if tick is not None:
                    prices[token] = tick.ltp
            now_ns = int(self._parts.now().timestamp() * 1e9)
            figures = await asyncio.to_thread(tally.figures, symbols, prices, now_ns)
            if isinstance(figures, Performance):
                return figures
            tokens = figures  # another read took newer rows meanwhile: their names are wanted

    def capital(self) -> Decimal:
        """The capital returns are measured against: the risk limits' (the default without a
        risk layer)."""
        if self._risk is None:
            return DEFAULT_CAPITAL
        return self._risk.settings.defaults.capital

    def performance_report(
        self, owner: str = DESK, performance: Performance | None = None, title: str = ""
    ) -> str:
        """One owner's report as a self-contained HTML page (``DESK``: the whole desk)."""
        performance = performance or self.performance()
        if owner != DESK and owner not in performance.owners:
            raise ValueError(f"no fills of {owner!r} in the journal")
        view = ReportView.of(performance, owner)
        return report_html(view, title or f"DalalDesk performance — {owner}")

    def export_performance_report(
        self, path: Path | str, owner: str = DESK, performance: Performance | None = None
    ) -> str | None:
        """Write the report to ``path``, in place of a file there (``engine.core.files``: a
        link followed, its permissions kept, the old report whole if the write fails); None when
        written, else why not, in words."""
        try:
            html = self.performance_report(owner, performance)
        except ValueError as problem:
            return str(problem)
        target = Path(path)
        try:
            write_whole(target, html)
        except OSError as problem:
            log.warning("performance report not written to %s: %s", target, problem)
            return f"the report could not be written to {target}: {problem.strerror or problem}"
        return None


def _readable_off_the_loop(journal: Journal) -> bool:
    """Whether a worker thread may read the journal: every checkout of its pool is a connection
    of its own (a SQLite file's pool hands them across threads, as PostgreSQL's does). An
    in-memory SQLite book keeps one connection per thread (a worker would read another, empty
    database) or one for all (the writer's): it is a test's or a scratch book, read on the loop."""
    return not isinstance(journal.engine.pool, SingletonThreadPool | StaticPool)


class _Row(NamedTuple):
    """A fill or marks row, kept until it is settled into the figures (``_Tally``)."""

    ts_ns: int
    seq: int
    fill: tuple[OrderId, TradeId] | None
    marks: dict[int, int | None] | None
    """The marked prices; None, with no fill, for a ``pnl_marks`` row that does not read."""


SETTLE_AFTER_NS = 300 * 10**9
"""How far behind the journal's newest fill or mark a row is settled into the kept figures. The
rows since are applied again at each read, so a live fill heard late (stamped with the
exchange's time, journaled after rows stamped later) sorts among them as a whole read sorts it;
one stamped before the settled rows makes the next read a whole one."""


class _Tally:
    """``track`` of a journal, kept between reads and brought up to date from the rows written
    since, to the same figures: the orders replayed in journal order (``replay_orders``, row
    by row), their fills and the marks valued in time order. Fills and marks settle into
    ``settled`` once newer ones are ``SETTLE_AFTER_NS`` past them; each read works out a copy
    of it (``_fork``) with the rest and the live quotes. A row that would change what is
    settled (a fill or mark stamped before it, a fill accepted that a settled row names, a new
    arrival price of an order with settled fills, a row set aside since, another name for a
    traded instrument, the journal shorter than read) starts the tally again from the first
    row. A lock keeps reads on several threads (a cancelled one finishing) apart."""

    def __init__(
        self, journal: Journal, capital: Decimal, calendar: TradingSessions | None
    ) -> None:
        if not capital.is_finite() or capital <= 0:  # as ``track`` refuses it
            raise ValueError(f"capital must be a positive amount of rupees, not {capital!r}")
        self.journal = journal
        self._capital = capital
        self._calendar = calendar
        self._lock = threading.Lock()
        self._reset()

    def measures(self, capital: Decimal, calendar: TradingSessions | None) -> bool:
        return capital == self._capital and calendar is self._calendar

    def _reset(self) -> None:
        self.last_seq = 0
        self._set_aside: set[int] = set()
        self._orders: dict[OrderId, Order] = {}
        self._arrivals: dict[str, Decimal] = {}
        self._accepted: dict[tuple[OrderId, TradeId], OrderFilled] = {}
        """Fills the orders took that no applied row has taken yet."""
        self._rows: list[_Row] = []
        """Fills and marks not settled, in journal order until sorted."""
        self._tokens: set[int] = set()
        self._latest_ns = 0
        self._settled = Performance(self._capital, self._calendar)
        self._settled_ns = -1
        self._settled_fills: set[tuple[OrderId, TradeId]] = set()
        self._settled_orders: set[str] = set()
        self._names: dict[int, str] = {}

    def catch_up(self, until: int | None = None) -> set[int]:
        """Read the rows after the last read (to ``until``); the instruments filled so far."""
        with self._lock, collector_paused():
            # Rows are let go as they are taken (only orders, fills and marks are kept), so the
            # collector, paused meanwhile, finds few objects to walk after: collections a long
            # read would start stop every thread, the loop's too (95-330 ms each).
            self._catch_up(until)
            return set(self._tokens)

    def _catch_up(self, until: int | None) -> None:
        try:
            if not self._read(until):
                self._reset()
                self._read(until)
        except SQLAlchemyError as problem:
            self._reset()
            if self.journal.closed:
                raise PerformanceUnavailable(BOOK_CLOSED) from problem
            reason = getattr(problem, "orig", None) or problem
            raise PerformanceUnavailable(f"the journal could not be read ({reason})") from problem
        except BaseException:
            self._reset()
            raise
        if self.journal.closed:
            # The desk closed the book as it was read: a page read since opened a connection on
            # the disposed pool, closed here with it. The rows may end short: none is shown.
            self._reset()
            self.journal.engine.dispose()
            raise PerformanceUnavailable(BOOK_CLOSED)

    def _read(self, until: int | None) -> bool:
        """Take the new rows; False when one changes what is settled (the tally starts again)."""
        journal = self.journal
        known = quarantined(journal)
        if any(seq <= self.last_seq for seq in known.keys() - self._set_aside):
            return False
        if self.last_seq and journal.last_seq() < self.last_seq:
            return False
        self._set_aside = set(known)
        for row in _new_rows(journal, self.last_seq):
            if until is not None and row.seq > until:
                break
            self.last_seq = row.seq
            if row.seq in known or isinstance(row, UnreadableRow) or _domain_problem(row):
                continue  # as ``scan_journal`` sets it aside
            if not self._take(row):
                return False
        return True

    def _take(self, row: JournalEntry) -> bool:
        kind, order_id, payload = row.kind, row.order_id, row.payload
        self._latest_ns = max(self._latest_ns, row.ts_ns)
        if kind == OrderSubmitted.kind and order_id is not None:
            arrival = arrival_of(payload)
            if arrival is not None:
                if order_id in self._settled_orders and self._arrivals.get(order_id) != arrival:
                    return False
                self._arrivals[order_id] = arrival
        if not self._replay(row):
            return False
        if kind == PnlMarks.kind:
            if row.ts_ns < self._settled_ns:
                return False
            self._rows.append(_Row(row.ts_ns, row.seq, None, _marks_of(row)))
        elif kind == OrderFilled.kind and order_id is not None:
            fill = (OrderId(order_id), TradeId(str(payload.get("trade_id"))))
            if row.ts_ns < self._settled_ns:
                # Before what is settled: harmless only if no fill waits for its key.
                return fill not in self._accepted
            self._rows.append(_Row(row.ts_ns, row.seq, fill, None))
            if isinstance(payload.get("token"), int):
                self._tokens.add(payload["token"])
        return True

    def _replay(self, row: JournalEntry) -> bool:
        """``replay_orders``, a row at a time; False when it accepts a fill a settled row took."""
        kind, order_id = row.kind, row.order_id
        if order_id is None or kind not in ORDER_EVENT_TYPES:
            return True
        order = self._orders.get(OrderId(order_id))
        if order is None and kind != OrderSubmitted.kind:
            return True  # a row of an order never submitted changes nothing
        event = order_event_from_journal(kind, order_id, row.ts_ns, row.payload)
        if isinstance(event, OrderSubmitted):
            if order is None:
                self._orders[event.order_id] = Order(event)
        elif order is not None and order.apply(event) and isinstance(event, OrderFilled):
            key = (event.order_id, event.trade_id)
            if key in self._settled_fills:
                return False
            self._accepted[key] = event
        return True

    def figures(
        self, symbols: Mapping[int, str], prices: Mapping[int, int], now_ns: int
    ) -> Performance | set[int]:
        """Every figure at the live ``prices``; the instruments filled, when ``symbols`` lacks
        some (a read on another thread took newer rows meanwhile)."""
        with self._lock:
            if not self._tokens <= symbols.keys():
                return set(self._tokens)
            if any(symbols[token] != name for token, name in self._names.items()):
                until = self.last_seq  # an instrument renamed: every row again, under its name
                self._reset()
                self._catch_up(until)
            try:
                with collector_paused():
                    return self._figures(symbols, prices, now_ns)
            except BaseException:
                self._reset()
                raise

    def _figures(
        self, symbols: Mapping[int, str], prices: Mapping[int, int], now_ns: int
    ) -> Performance:
        self._rows.sort()
        if self._rows:
            cutoff = self._rows[-1].ts_ns - SETTLE_AFTER_NS
            settle = bisect.bisect_right(self._rows, cutoff, key=lambda row: row.ts_ns)
            for row in self._rows[:settle]:
                self._apply(self._settled, self._accepted, row, symbols, self._names)
                self._settled_ns = row.ts_ns
                if row.fill is not None:
                    self._settled_fills.add(row.fill)
                    self._settled_orders.add(row.fill[0])
            del self._rows[:settle]
        performance = _fork(self._settled)
        accepted, names = dict(self._accepted), dict(self._names)
        for row in self._rows:
            self._apply(performance, accepted, row, symbols, names)
        if names:  # as ``track`` marks what is held at the live quotes
            quoted = quoted_at(now_ns, self._calendar)
            at = self._latest_ns if quoted is None else max(quoted, self._latest_ns)
            held = performance.held_tokens()
            performance.add_marks(at, {t: prices[t] for t in held if t in prices})
        performance.finish()
        performance.prepare()
        return performance

    def _apply(
        self,
        performance: Performance,
        accepted: dict[tuple[OrderId, TradeId], OrderFilled],
        row: _Row,
        symbols: Mapping[int, str],
        names: dict[int, str],
    ) -> None:
        if row.fill is not None:
            fill = accepted.pop(row.fill, None)
            if fill is None:
                return  # a fill its order refused (a duplicate, an overfill)
            order = self._orders.get(fill.order_id)
            owner = attribution(order.source, order.strategy) if order else "unknown"
            token = int(fill.token)
            name = names.setdefault(token, symbols.get(token, str(token)))
            performance.add_fill(owner, fill, name, self._arrivals.get(fill.order_id))
        elif row.marks is not None:
            performance.add_marks(row.ts_ns, row.marks)
        else:
            performance.skipped_marks += 1


def _new_rows(journal: Journal, after_seq: int) -> Iterator[JournalEntry | UnreadableRow]:
    """The journal's rows after ``after_seq``, page by page, on a worker thread through the
    pool's connections (never the writer's)."""
    yield from journal.read_tolerant(after_seq)


def _marks_of(row: JournalEntry) -> dict[int, int | None] | None:
    try:
        marks = PnlMarks.from_payload(row.ts_ns, row.payload)
    except (KeyError, TypeError, ValueError) as problem:
        log.warning("pnl_marks row %s does not read (%s); passed over", row.seq, problem)
        return None
    return {int(m.token): m.ltp for m in marks.marks}


def _fork(settled: Performance) -> Performance:
    """A copy of ``settled`` that can be marked, finished and handed out while ``settled`` goes
    on growing: every container copied, the positions in them too (fills, points and trades
    are immutable and shared)."""
    performance = copy.copy(settled)
    for name, value in vars(settled).items():
        if isinstance(value, dict | list | set):
            setattr(performance, name, copy.copy(value))
    performance._holders = {token: set(held) for token, held in settled._holders.items()}
    performance._owners = {}
    for name, owner in settled._owners.items():
        mine = performance._owners[name] = copy.copy(owner)
        for field in fields(owner):
            value = getattr(owner, field.name)
            if isinstance(value, dict | list | set):
                setattr(mine, field.name, copy.copy(value))
        mine.positions = {key: copy.copy(p) for key, p in owner.positions.items()}
    return performance
