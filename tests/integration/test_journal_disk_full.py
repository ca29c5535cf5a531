"""A full disk under the journal: nothing is told before it is written, and trading resumes by
itself once space returns.

The book lives on a small tmpfs that the test fills to the last byte (a real ENOSPC from SQLite).
Where mounting is not permitted, the journal's writer is made to fail as a full disk does.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.clock import TestClock
from engine.domain.events import EngineMessage, OrderFilled
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import MONDAY_MORNING, quote

ORDERS = 12


class FullDisk:
    """Fills the disk under the book and frees it again."""

    def __init__(self, directory: Path, tmpfs: bool) -> None:
        self.directory = directory
        self.tmpfs = tmpfs
        self.filler = directory / "filler.bin"
        self._patched: list[tuple[object, str, object]] = []

    def fill(self, engine: Engine) -> None:
        if self.tmpfs:
            descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for size in (65536, 4096, 1):  # down to the last free byte
                    with contextlib.suppress(OSError):
                        while os.write(descriptor, b"\0" * size):
                            pass
            finally:
                os.close(descriptor)
            return
        writer = engine.journal._writer  # the injected fault: what SQLite raises on ENOSPC
        assert writer is not None

        def full(*_args: object, **_kwargs: object) -> object:
            raise sqlite3.OperationalError("database or disk is full")

        for name in ("insert_one", "insert_batch"):
            self._patched.append((writer, name, getattr(writer, name)))
            setattr(writer, name, full)

    def free(self) -> None:
        if self.tmpfs:
            self.filler.unlink()
            return
        for owner, name, original in self._patched:
            setattr(owner, name, original)
        self._patched.clear()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[FullDisk]:
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield FullDisk(mount, tmpfs=mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], check=False)


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


def test_journal_disk_full_holds_fills_pauses_and_resumes_by_itself(small_disk: FullDisk) -> None:
    db = small_disk.directory / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    ltp = engine.api.tick(stock.token).ltp
    ids = rest_orders(engine, clock, stock, ltp)
    told: list[OrderFilled] = []
    messages: list[EngineMessage] = []
    engine.api.subscribe(OrderFilled, told.append)
    engine.api.subscribe(EngineMessage, messages.append)

    fill_disk_while_trading(small_disk, engine, clock, stock, ltp)
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

    again = build(db, clock)
    try:
        restored = {t.trade_id for t in again.api.trades()}
        assert {f.trade_id for f in told} <= restored
        assert all(again.api.order(i).status is OrderStatus.COMPLETE for i in ids)
    finally:
        again.close()


def test_journal_disk_full_then_crash_loses_nothing_the_trader_was_told(
    small_disk: FullDisk,
) -> None:
    db = small_disk.directory / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    ltp = engine.api.tick(stock.token).ltp
    ids = rest_orders(engine, clock, stock, ltp)
    told: list[OrderFilled] = []
    engine.api.subscribe(OrderFilled, told.append)
    fill_disk_while_trading(small_disk, engine, clock, stock, ltp)
    in_memory = {f.trade_id for f in engine.orders.fills}
    assert len(in_memory) > len(told), "the held fill exists only in memory, untold"
    engine.close()  # the desk dies with the disk still full
    small_disk.free()

    again = build(db, clock)
    try:
        restored = {t.trade_id for t in again.api.trades()}
        assert {f.trade_id for f in told} == restored, "exactly what was told survives"
        unfilled = [i for i in ids if again.api.order(i).filled_quantity == 0]
        assert all(again.api.order(i).status.is_open for i in unfilled)
        assert len(unfilled) == ORDERS - len(restored)
    finally:
        again.close()
