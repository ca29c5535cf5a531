"""A full disk under the journal: nothing is told before it is written, and trading resumes by
itself once space returns.

The book lives on a small tmpfs that the test fills to the last byte (a real ENOSPC from SQLite).
Where mounting is not permitted, the journal's writer is made to fail as a full disk does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import TestClock
from engine.domain.events import EngineMessage, OrderFilled
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store import JournalWriteError, NewJournalEntry
from engine.store import database as database_module
from engine.store import journal as journal_module
from tests.full_disk import FullDisk, small_tmpfs
from tests.support import MONDAY_MORNING, quote

ORDERS = 12


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[FullDisk]:
    with small_tmpfs(tmp_path / "disk") as disk:
        yield disk


def build(db: Path, clock: TestClock) -> Engine:
    return Engine.build(
        EngineConfig(db_url=f"sqlite:///{db}", market=SimulatedMarketConfig(seed=3)),
        clock=clock,
    )


def a_stock(engine: Engine) -> Instrument:
    return next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)


def rest_orders(engine: Engine, clock: TestClock, stock: Instrument, ltp: int) -> list[str]:
    ids = []
    for n in range(ORDERS):
        clock.advance(0.2)  # under the order-rate throttle
        outcome = engine.api.place_order(
            stock.token,
            "BUY",
            1,
            "LIMIT",
            product="MIS",
            price=str((ltp - (10 + n) * stock.tick_size) / 100),
        )
        assert outcome.ok, outcome.reason
        ids.append(str(outcome.order_id))
    return ids


def crossing_tick(stock: Instrument, ltp: int):
    low = ltp - 40 * stock.tick_size
    return quote(stock, bid=low - stock.tick_size, ask=low, ltp=low)


def fill_disk_while_trading(
    disk: FullDisk, engine: Engine, clock: TestClock, stock: Instrument, ltp: int
) -> None:
    """Fill the disk, then let the market cross the resting orders until the journal refuses a
    write (SQLite reuses its log's space first, so the first few may still go in)."""
    disk.fill(engine)
    for _ in range(30):
        clock.advance(0.5)
        engine.on_tick(crossing_tick(stock, ltp))
        if engine.orders.journal_waiting:
            return
    raise AssertionError("the full disk never refused a journal write")


@contextlib.contextmanager
def reopened(db: Path, clock: TestClock) -> Iterator[Engine]:
    """The desk started again on its book, closed after."""
    again = build(db, clock)
    try:
        yield again
    finally:
        again.close()


@dataclass
class FullWhileTrading:
    """A desk on a disk that filled as the market crossed its resting orders."""

    db: Path
    clock: TestClock
    engine: Engine
    stock: Instrument
    ltp: int
    ids: list[str]
    """The resting orders."""
    told: list[OrderFilled]
    """The fills the desk told."""
    messages: list[EngineMessage]


def full_while_trading(disk: FullDisk) -> FullWhileTrading:
    db = disk.directory / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    ltp = engine.api.tick(stock.token).ltp
    ids = rest_orders(engine, clock, stock, ltp)
    told: list[OrderFilled] = []
    messages: list[EngineMessage] = []
    engine.api.subscribe(OrderFilled, told.append)
    engine.api.subscribe(EngineMessage, messages.append)
    fill_disk_while_trading(disk, engine, clock, stock, ltp)
    return FullWhileTrading(db, clock, engine, stock, ltp, ids, told, messages)


def test_journal_disk_full_holds_fills_pauses_and_resumes_by_itself(small_disk: FullDisk) -> None:
    full = full_while_trading(small_disk)
    db, clock, engine, stock, ltp = full.db, full.clock, full.engine, full.stock, full.ltp
    ids, told, messages = full.ids, full.told, full.messages
    assert any("journal cannot write" in m.text for m in messages)
    assert engine.venue is not None and engine.venue.paused
    told_while_full = len(told)
    for _ in range(3):  # the market goes on; the paused venue fills nothing, nothing is told
        clock.advance(0.5)
        engine.on_tick(crossing_tick(stock, ltp))
    assert len(told) == told_while_full
    refused = engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="MIS")
    assert not refused.ok and "journal" in refused.reason
    assert not engine.orders.retry_journal()  # still full: still held

    small_disk.free()
    assert engine.orders.retry_journal()
    assert not engine.venue.paused and not engine.orders.halted_reason
    assert any("writes again" in m.text for m in messages)
    clock.advance(0.5)
    engine.on_tick(crossing_tick(stock, ltp))
    assert {f.order_id for f in told} == set(ids), "every resting order filled once trading resumed"
    assert len({f.trade_id for f in told}) == len(told) == ORDERS
    clock.advance(1)
    assert engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="MIS").ok
    engine.close()

    with reopened(db, clock) as again:
        restored = {t.trade_id for t in again.api.trades()}
        assert {f.trade_id for f in told} <= restored
        assert all(again.api.order(i).status is OrderStatus.COMPLETE for i in ids)


def test_journal_disk_full_then_crash_loses_nothing_the_trader_was_told(
    small_disk: FullDisk,
) -> None:
    full = full_while_trading(small_disk)
    db, clock, engine, ids, told = full.db, full.clock, full.engine, full.ids, full.told
    in_memory = {f.trade_id for f in engine.orders.fills}
    assert len(in_memory) > len(told), "the held fill exists only in memory, untold"
    engine.close()  # the desk dies with the disk still full
    small_disk.free()

    with reopened(db, clock) as again:
        restored = {t.trade_id for t in again.api.trades()}
        assert {f.trade_id for f in told} == restored, "exactly what was told survives"
        unfilled = [i for i in ids if again.api.order(i).filled_quantity == 0]
        assert all(again.api.order(i).status.is_open for i in unfilled)
        assert len(unfilled) == ORDERS - len(restored)


def test_journal_disk_full_desk_closing_says_what_it_could_not_write_and_writes_nothing_after(
    small_disk: FullDisk, caplog: pytest.LogCaptureFixture
) -> None:
    full = full_while_trading(small_disk)
    db, clock, engine, told = full.db, full.clock, full.engine, full.told
    waiting = engine.orders.journal_waiting
    assert engine.positions.all(), "a position the closing marks would price"

    with caplog.at_level(logging.WARNING):
        asyncio.run(engine.stop())  # the trader closes the desk with the disk still full
    said = [r.getMessage() for r in caplog.records]
    assert f"the desk closes with {waiting} journal entries it could not write" in "\n".join(said)
    assert not any("were not journaled" in text for text in said), "no marks behind held rows"
    small_disk.free()

    with reopened(db, clock) as again:
        assert {t.trade_id for t in again.api.trades()} == {f.trade_id for f in told}


def test_journal_disk_full_freed_just_before_closing_writes_what_was_held(
    small_disk: FullDisk,
) -> None:
    full = full_while_trading(small_disk)
    db, clock, engine = full.db, full.clock, full.engine
    in_memory = {f.trade_id for f in engine.orders.fills}
    small_disk.free()  # after the last retry: the close tries once more

    asyncio.run(engine.stop())
    with reopened(db, clock) as again:
        assert in_memory <= {t.trade_id for t in again.api.trades()}


def test_journal_disk_full_retries_cost_the_write_alone(
    small_disk: FullDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows held are encoded once, however many seconds the disk stays full, and are kept
    with the time they were written."""
    db = small_disk.directory / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    try:
        stock = a_stock(engine)
        ltp = engine.api.tick(stock.token).ltp
        rest_orders(engine, clock, stock, ltp)
        written = max(entry.seq for entry in engine.journal.read())
        fill_disk_while_trading(small_disk, engine, clock, stock, ltp)
        held = engine.orders.journal_waiting
        encoded: list[object] = []
        real = journal_module.encode_payload

        def counted(payload: Any) -> str:
            encoded.append(payload)
            return real(payload)

        monkeypatch.setattr(journal_module, "encode_payload", counted)
        for _ in range(5):
            assert not engine.orders.retry_journal()
        assert encoded == [] and engine.orders.journal_waiting == held

        small_disk.free()
        freed_ns = time.time_ns()
        assert engine.orders.retry_journal()
        late = [entry for entry in engine.journal.read(written)][:held]
        assert len(late) == held
        assert all(entry.recorded_ns >= freed_ns for entry in late)
    finally:
        engine.close()


def test_journal_disk_full_checkpoint_failure_is_said_once_and_its_return(
    small_disk: FullDisk, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The write-ahead log cannot be copied into a book on a full disk: the log says so once,
    not every second, and says when it works again."""
    if not small_disk.tmpfs:
        pytest.skip("needs a tmpfs to fill (mounting is not permitted here)")
    monkeypatch.setattr(database_module, "CHECKPOINT_SECONDS", 0.05)
    database = database_module.open_database(f"sqlite:///{small_disk.directory / 'book.db'}")
    caplog.set_level(logging.INFO, logger="engine.store.database")
    try:
        for attempt in range(5):  # a checkpoint may copy the last rows in before the disk fills
            for i in range(200):
                row = {"i": i, "pad": "x" * 200}
                database.journal.append("note", row, order_id=None, ts_ns=attempt * 1000 + i)
            small_disk.fill()
            time.sleep(0.6)  # a dozen checkpoints
            if _said(caplog, "checkpoint failed"):
                break
            small_disk.free()
        assert len(_said(caplog, "checkpoint failed")) == 1
        small_disk.free()
        deadline = time.monotonic() + 5
        while not _said(caplog, "work again") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_said(caplog, "work again")) == 1
        assert len(_said(caplog, "checkpoint failed")) == 1
    finally:
        database.close()


def _said(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if words in r.getMessage()]


def test_journal_disk_full_batch_refused_whole_without_a_second_error(
    small_disk: FullDisk, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch of more than a hundred entries (its own transaction) on a full disk: SQLite ends
    the transaction itself, the batch is refused whole, and the journal's rollback that finds
    nothing to undo is not reported as a second failure."""
    if not small_disk.tmpfs:
        pytest.skip("needs a tmpfs to fill (mounting is not permitted here)")
    database = database_module.open_database(f"sqlite:///{small_disk.directory / 'book.db'}")
    try:
        journal = database.journal
        journal.append("note", {"i": 0}, order_id=None, ts_ns=1)
        small_disk.fill()
        entries = [NewJournalEntry("note", {"i": i, "pad": "x" * 500}, None, i) for i in range(150)]
        with pytest.raises(JournalWriteError, match="150 entries failed, none written"):
            journal.append_many(entries)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        small_disk.free()
        assert len(journal.append_many(entries)) == 150
        assert journal.count() == 151
    finally:
        database.close()
