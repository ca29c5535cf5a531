"""Performance of the desk's live and paper days: per strategy, per symbol, per day, with each
owner's equity, drawdown, trades and metrics, and the HTML report of one of them.

Everything is read from the book's journal (``engine.backtest.performance``), marked at the live
quotes; the capital the returns are measured against is the risk limits' capital. Reading a long
journal takes a moment (a year of a busy desk, 10,000 fills: about two seconds): panels ask on
demand (a button, a throttled refresh), never per tick, and through ``read_performance``, which
holds the desk's loop only to read the live state the figures need.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

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
    let_go,
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
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken
from engine.store.book import scan_journal
from engine.store.files import write_whole
from engine.store.journal import Journal, JournalEntry

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

        Cancelled, the worker still finishes the page it reads (a thread cannot be stopped);
        what it read is dropped."""
        capital = capital if capital is not None else self.capital()
        journal = self._parts.journal
        if journal is None or journal.closed:
            return track([], capital=capital, calendar=self._parts.calendar)
        if not _readable_off_the_loop(journal):
            performance = self.performance(capital)
            performance.prepare()
            return performance
        entries, tokens = await asyncio.to_thread(_read_journal, journal)
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
        calendar = self._parts.calendar
        return await asyncio.to_thread(
            _figures, entries, symbols, prices, capital, now_ns, calendar
        )

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


def _read_journal(journal: Journal) -> tuple[list[JournalEntry], set[int]]:
    """The rows the desk restores from and the instruments they filled; on a worker thread,
    through the pool's connections (never the writer's)."""
    try:
        with collector_paused():  # see _figures
            entries = scan_journal(journal, record=False).entries
    except SQLAlchemyError as problem:
        if journal.closed:
            raise PerformanceUnavailable(BOOK_CLOSED) from problem
        reason = getattr(problem, "orig", None) or problem
        raise PerformanceUnavailable(f"the journal could not be read ({reason})") from problem
    if journal.closed:
        # The desk closed the book as it was read: a page read since opened a connection on the
        # disposed pool, closed here with it. The rows may end short: none is shown.
        journal.engine.dispose()
        raise PerformanceUnavailable(BOOK_CLOSED)
    return entries, _filled_tokens(entries)


def _filled_tokens(entries: Iterable[JournalEntry]) -> set[int]:
    tokens = set()
    for entry in entries:
        if entry.kind == OrderFilled.kind and isinstance(entry.payload.get("token"), int):
            tokens.add(entry.payload["token"])
    return tokens


def _figures(
    entries: list[JournalEntry],
    symbols: dict[int, str],
    prices: dict[int, int],
    capital: Decimal,
    now_ns: int,
    calendar: TradingSessions | None,
) -> Performance:
    """Every owner's figures, worked out (a worker thread's job: it reads only its arguments).
    ``entries`` is emptied here, in pieces (``let_go``), not dropped at once on the loop.

    The cyclic collector is paused meanwhile (``collector_paused``): the hundreds of thousands of
    objects a long journal makes would start full collections, which stop every thread, the
    loop's too (95-270 ms each at 10,000 fills); reference counting frees the rows as they go."""
    with collector_paused():
        performance = track(
            entries,
            symbol_of=lambda token: symbols.get(int(token), str(token)),
            capital=capital,
            last_prices=lambda token: prices.get(int(token)),
            now_ns=now_ns,
            calendar=calendar,
        )
        let_go(entries)
        performance.prepare()
    return performance
