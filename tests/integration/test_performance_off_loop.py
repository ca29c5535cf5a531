"""The desk's performance figures read without holding its loop: the journal is read and the
figures worked out on worker threads, the loop reading only the live state they need; a book
closed meanwhile is said in words; an in-memory book (one connection per thread) is read on the
loop. And a look at the figures when the market is shut adds no day of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import engine.api.performance as performance_api
from engine.api.performance import DESK, PerformanceUnavailable
from engine.core.clock import TestClock
from engine.runtime import Engine, EngineConfig
from engine.store.book import JournalScan
from engine.store.journal import Journal, JournalEntry, UnreadableRow
from tests.performance_desk import FIRST_DAY, run_market, stock, traded_desk


def _reads_on(monkeypatch: pytest.MonkeyPatch, then=None) -> list[int]:  # type: ignore[no-untyped-def]
    """The threads the journal is read on, whole (``scan_journal``) or from a row on
    (``_new_rows``), and ``then(journal)`` after each read."""
    real_scan, real_rows = performance_api.scan_journal, performance_api._new_rows
    threads: list[int] = []

    def scan(journal: Journal, *, record: bool) -> JournalScan:
        threads.append(threading.get_ident())
        found = real_scan(journal, record=record)
        if then is not None:
            then(journal)
        return found

    def rows(journal: Journal, after_seq: int) -> Iterator[JournalEntry | UnreadableRow]:
        threads.append(threading.get_ident())
        yield from real_rows(journal, after_seq)
        if then is not None:
            then(journal)

    monkeypatch.setattr(performance_api, "scan_journal", scan)
    monkeypatch.setattr(performance_api, "_new_rows", rows)
    return threads


def test_performance_read_when_the_journal_is_read_the_loop_goes_on_and_the_figures_are_the_desks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _clock = traded_desk(tmp_path / "book.db", days=2, step=60.0)
    try:
        loop_ran = threading.Event()
        threads = _reads_on(monkeypatch, then=lambda _journal: loop_ran.wait(10))

        async def scenario():  # type: ignore[no-untyped-def]
            reading = asyncio.ensure_future(engine.api.performance_service.read_performance())
            while not threads:
                await asyncio.sleep(0.001)
            loop_ran.set()  # the loop runs on while the worker holds the read open
            return await reading, threading.get_ident()

        performance, loop_thread = asyncio.run(scenario())

        assert loop_ran.is_set() and threads and threads[0] != loop_thread
        monkeypatch.undo()
        expected = engine.api.performance()
        assert performance.owners == expected.owners == ["manual", "meanrev", "trend"]
        assert performance.strategies() == expected.strategies()
        assert performance.symbols() == expected.symbols()
        for owner in [*expected.owners, DESK]:
            assert list(performance.curve(owner).ts_ns) == list(expected.curve(owner).ts_ns)
            assert performance.curve(owner).values == expected.curve(owner).values
            assert performance.metrics(owner) == expected.metrics(owner)
            assert performance.days(owner) == expected.days(owner)
    finally:
        engine.close()


def test_performance_read_when_the_book_closes_meanwhile_says_so_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _clock = traded_desk(tmp_path / "book.db", days=1, step=60.0)
    try:
        _reads_on(monkeypatch, then=lambda journal: journal.close())  # the desk shutting down

        with pytest.raises(PerformanceUnavailable, match="the book was closed while its journal"):
            asyncio.run(engine.api.performance_service.read_performance())

        assert engine.journal.closed
    finally:
        engine.close()


def test_performance_read_when_the_book_is_in_memory_reads_it_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = TestClock(FIRST_DAY)
    engine = Engine.build(EngineConfig(db_url="sqlite://"), clock=clock)
    try:
        share = stock(engine, "RELIANCE")
        run_market(engine, clock, 5)
        placed = engine.api.place_order(
            share.token, "BUY", 10, "MARKET", product="CNC", source="manual"
        )
        assert placed.ok, placed
        run_market(engine, clock, 5)
        threads = _reads_on(monkeypatch)

        async def scenario():  # type: ignore[no-untyped-def]
            return await engine.api.performance_service.read_performance(), threading.get_ident()

        performance, loop_thread = asyncio.run(scenario())

        # A worker thread would have been handed another, empty in-memory database.
        assert threads == [loop_thread]
        assert performance.owners == ["manual"]
        assert performance.strategies()[0].fills == 1
    finally:
        engine.close()


def test_performance_when_looked_at_on_a_sunday_adds_no_day_and_marks_only_what_is_held(
    tmp_path: Path,
) -> None:
    engine, clock = traded_desk(tmp_path / "book.db", days=4, step=60.0)
    try:
        weekday = engine.api.performance()
        days = [d.day for d in weekday.days()]
        assert days[-1] == clock.now().date() and clock.now().weekday() == 4  # Friday, 17:00
        manual = weekday.curve("manual")  # the trader's scalps: flat at every close

        while clock.now().weekday() != 6:
            clock.advance(24 * 3600)
        clock.set(clock.now().replace(hour=18) + timedelta(minutes=5))
        sunday = engine.api.performance()

        assert [d.day for d in sunday.days()] == days
        for owner in [*sunday.owners, DESK]:
            assert [d.day for d in sunday.days(owner)] == [d.day for d in weekday.days(owner)]
            assert sunday.metrics(owner).days == weekday.metrics(owner).days
            assert sunday.metrics(owner).sharpe == weekday.metrics(owner).sharpe
        # The flat owner gets no point from the live quotes, however often it is looked at.
        assert list(sunday.curve("manual").ts_ns) == list(manual.ts_ns)
        assert sunday.curve().ts_ns[-1] <= weekday.curve().ts_ns[-1]
    finally:
        engine.close()
