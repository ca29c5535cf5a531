"""A book with rows the desk cannot read still opens: the rows are set aside (kept, never deleted)
and reported, `book check` lists them, and the book file itself is backed up and restorable."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.book_command import main as book
from engine.core.clock import TestClock
from engine.domain.instruments import InstrumentType
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store import book_file_of, open_database
from engine.store.backup import backup_book, list_backups, restore_backup
from engine.store.book import BookUnreadable, inspect_book_file
from engine.store.book_lock import BookInUse, BookLock
from tests.support import MONDAY_MORNING


def url_of(db: Path | str) -> str:
    """A SQLite book file's URL; a URL (``book_url``: SQLite or PostgreSQL) as it is."""
    return db if isinstance(db, str) else f"sqlite:///{db}"


def build(db: Path | str) -> Engine:
    return Engine.build(
        EngineConfig(db_url=url_of(db), market=SimulatedMarketConfig(seed=2)),
        clock=TestClock(MONDAY_MORNING),
    )


def trade_two_orders(db: Path | str) -> list[str]:
    engine = build(db)
    try:
        stock = next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)
        ids = []
        for quantity in (1, 2):
            outcome = engine.api.place_order(stock.token, "BUY", quantity, "MARKET", product="CNC")
            assert outcome.ok, outcome.reason
            ids.append(str(outcome.order_id))
        return ids
    finally:
        engine.close()


def inject(db: Path | str, kind: str, order_id: str | None, payload: str) -> int:
    """A row written past the desk (a defect, a hand edit), with plain SQL."""
    database = create_engine(url_of(db))
    try:
        with database.begin() as connection:
            return int(
                connection.execute(
                    text(
                        "INSERT INTO journal (ts_ns, recorded_ns, kind, order_id, payload) "
                        "VALUES (:ts, :ts, :kind, :order_id, :payload) RETURNING seq"
                    ),
                    {"ts": time.time_ns(), "kind": kind, "order_id": order_id, "payload": payload},
                ).scalar_one()
            )
    finally:
        database.dispose()


def test_quarantine_when_rows_do_not_decode_the_book_opens_without_them_and_says_so(
    book_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = book_url
    good = trade_two_orders(db)
    bad_json = inject(db, "order_status", good[0], "{not json")
    null_quantity = inject(
        db,
        "order_submitted",
        "D999",
        json.dumps({"request": {"token": 1, "side": "BUY", "quantity": None}}),
    )
    engine = build(db)
    try:
        warnings = [m.text for m in engine.api.startup_messages if "set aside" in m.text]
        assert len(warnings) == 1
        assert f"row {bad_json}" in warnings[0] and f"row {null_quantity}" in warnings[0]
        assert {o.order_id for o in engine.api.orders()} == set(good)
        assert len(engine.api.trades()) == 2
    finally:
        engine.close()
    database = create_engine(db)
    with database.connect() as connection:
        kept = connection.execute(text("SELECT count(*) FROM journal")).scalar_one()
        quarantined = connection.execute(text("SELECT seq FROM quarantine ORDER BY seq")).all()
    database.dispose()
    assert [seq for (seq,) in quarantined] == [bad_json, null_quantity]
    assert kept >= null_quantity, "nothing was deleted from the journal"

    assert book(["check", "--db", db]) == 0  # set aside already: healthy again
    report = capsys.readouterr().out
    assert f"row {bad_json} (order_status of order {good[0]})" in report
    assert f"row {null_quantity} (order_submitted of order D999)" in report

    engine = build(db)  # the next start says nothing more: they are known
    try:
        assert not [m for m in engine.api.startup_messages if "set aside" in m.text]
    finally:
        engine.close()


def test_book_check_lists_unread_rows_and_repair_sets_them_aside(
    book_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = book_url
    trade_two_orders(url)
    bad = inject(url, "order_filled", "D1", '{"trade_id": "X", "quantity": "lots"}')
    assert book(["check", "--db", url]) == 1
    assert f"row {bad} (order_filled of order D1)" in capsys.readouterr().out
    book_file = book_file_of(url)
    if book_file is not None:  # a book file: no repair while a desk holds it
        with BookLock.acquire(book_file), pytest.raises(BookInUse):
            from app.book_command import check

            check(url, repair=True)
    assert book(["repair", "--db", url]) == 0
    assert "1 row(s) set aside" in capsys.readouterr().out
    assert book(["check", "--db", url]) == 0


def test_book_file_when_empty_or_damaged_is_never_opened_as_a_new_book(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    trade_two_orders(db)
    copy = backup_book(db, "manual")
    for content in (b"", b"SQLite format 3\x00" + bytes(range(256)) * 16, b"hello"):
        db.write_bytes(content)
        assert inspect_book_file(db) is not None
        with pytest.raises(BookUnreadable) as refused:
            open_database(f"sqlite:///{db}")
        assert copy.name in str(refused.value)
        assert "book restore" in str(refused.value)
        assert db.read_bytes() == content, "the damaged file is left as it was"
    assert inspect_book_file(tmp_path / "new.db") is None  # a missing file is a new book


def test_book_backup_restore_keeps_the_damaged_file_and_brings_the_orders_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "book.db"
    ids = trade_two_orders(db)
    copy = backup_book(db, "manual")
    db.write_bytes(b"")
    assert book(["backups", "--db", f"sqlite:///{db}"]) == 0
    assert str(copy) in capsys.readouterr().out
    aside = restore_backup(copy, db)
    assert aside is not None and aside.read_bytes() == b""
    engine = build(db)
    try:
        assert {o.order_id for o in engine.api.orders()} == set(ids)
    finally:
        engine.close()


def test_book_backups_at_clean_close_and_each_day_rotate(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    trade_two_orders(db)

    async def open_and_close() -> None:
        engine = build(db)
        engine.start()
        await asyncio.sleep(0)
        await engine.stop()

    for _ in range(12):
        asyncio.run(open_and_close())
    backups = list_backups(db)
    assert len([b for b in backups if b.reason == "daily"]) == 1, "one a day"
    assert len([b for b in backups if b.reason == "close"]) == 10, "the newest ten closes"


def test_book_restore_when_a_desk_holds_the_book_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    trade_two_orders(db)
    copy = backup_book(db, "manual")
    engine = build(db)
    try:
        with pytest.raises(BookInUse):
            restore_backup(copy, db)
    finally:
        engine.close()


def test_book_backup_removes_the_unfinished_copy_a_killed_backup_left(tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    trade_two_orders(db)
    folder = db.parent / "backups"
    folder.mkdir(exist_ok=True)
    leftover = folder / "paper-20261207-101500-000001-close.partial"
    leftover.write_bytes(b"half a copy" * 1000)
    other_book = folder / "paper-2-20261207-101500-000001-close.partial"  # book paper-2.db
    other_book.write_bytes(b"another book's")
    copy = backup_book(db, "manual")
    assert copy.exists() and inspect_book_file(copy) is None
    assert not leftover.exists(), "the killed backup's half copy is gone"
    assert other_book.exists(), "another book's files are not this backup's to remove"
    assert [b.path for b in list_backups(db)] == [copy]


def test_book_check_when_no_book_is_there_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "bokk.db"

    assert book(["check", "--db", f"sqlite:///{missing}"]) == 2

    assert f"there is no book at {missing}" in capsys.readouterr().out
    assert not missing.parent.exists()


def test_book_restore_when_options_come_before_the_file_reads_them_alike(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    ids = trade_two_orders(db)
    copy = backup_book(db, "manual")
    db.write_bytes(b"")

    assert book(["restore", "--db", f"sqlite:///{db}", str(copy)]) == 0

    engine = build(db)
    try:
        assert {o.order_id for o in engine.api.orders()} == set(ids)
    finally:
        engine.close()
