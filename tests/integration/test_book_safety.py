"""The book stays one book, whole, at its path: a SQLite URI is locked like a path, a restore
killed at any moment leaves the old book or the new one, a missing book is never started afresh
over an earlier book's traces, a book deleted under a running desk pauses order entry, and a full
disk at start-up names the file it could not write."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from app.startup import explain
from engine.core.clock import TestClock
from engine.domain.events import EngineMessage
from engine.domain.instruments import Instrument, InstrumentType
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store import book_file_of, open_database
from engine.store.backup import backup_book, list_backups, restore_backup
from engine.store.book import BookMissing, inspect_book_file
from engine.store.book_lock import BookInUse, book_holder, lock_book
from engine.store.urls import BookUrlRefused
from tests.full_disk import small_tmpfs
from tests.integration.test_book_lock import dalaldesk, desk_env
from tests.integration.test_book_quarantine import trade_two_orders
from tests.support import MONDAY_MORNING

ROOT = Path(__file__).resolve().parents[2]


def journal_rows(db: Path) -> int:
    with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as connection:
        return int(connection.execute("SELECT count(*) FROM journal").fetchone()[0])


def run(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dalaldesk(*args),
        env=desk_env(home),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- 1. a SQLite URI names a file, and that file is locked -----------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////books/paper.db", "/books/paper.db"),
        ("sqlite:///file:/books/paper.db?uri=true", "/books/paper.db"),
        ("sqlite:///file:/books/paper.db?mode=rw&uri=true", "/books/paper.db"),
        ("sqlite:///file:///books/paper.db?uri=true", "/books/paper.db"),
        ("sqlite:///file://localhost/books/paper.db?uri=true", "/books/paper.db"),
        ("sqlite:///file:/books/my%20book.db?uri=true", "/books/my book.db"),
        ("sqlite:///file:paper.db?uri=true", "paper.db"),
        # Without uri=true SQLAlchemy hands SQLite a plain file name, "file:" and all.
        ("sqlite:///file:/books/paper.db", "file:/books/paper.db"),
    ],
)
def test_book_safety_book_file_of_a_sqlite_uri_is_the_file_sqlite_opens(
    url: str, expected: str
) -> None:
    assert book_file_of(url) == Path(expected)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///file:book?mode=memory&cache=shared&uri=true",
        "sqlite:///file::memory:?uri=true",
        "sqlite:///file://server/books/paper.db?uri=true",
    ],
)
def test_book_safety_book_file_of_a_sqlite_uri_naming_no_local_file_is_refused(url: str) -> None:
    with pytest.raises(BookUrlRefused, match=r"sqlite:////path/to/book\.db"):
        book_file_of(url)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql://desk@host/book"])
def test_book_safety_book_file_of_memory_or_server_books_is_none(url: str) -> None:
    assert book_file_of(url) is None


def test_book_safety_uri_book_is_locked_as_its_path_is(tmp_path: Path) -> None:
    db = tmp_path / "uri book.db"
    url = f"sqlite:///file:{tmp_path}/uri%20book.db?uri=true"
    lock = lock_book(url)
    try:
        assert lock is not None, "a book named by a SQLite URI took no lock"
        with pytest.raises(BookInUse):
            lock_book(f"sqlite:///{db}")  # the same file, named plainly
    finally:
        if lock is not None:
            lock.release()
    trade_two_orders(url)
    assert db.exists() and journal_rows(db) > 0, "the URI's file is the one written"


def test_book_safety_uri_two_headless_desks_the_second_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    url = f"sqlite:///file:{db}?uri=true"
    first = subprocess.Popen(
        dalaldesk("--headless", "--demo", "--duration", "8", "--db", url),
        env=desk_env(tmp_path),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while book_holder(db) is None:
            assert time.monotonic() < deadline, "the first desk never took the book's lock"
            assert first.poll() is None, first.communicate()
            time.sleep(0.2)
        second = run("--headless", "--duration", "1", "--db", url, home=tmp_path)
    finally:
        _out, err = first.communicate(timeout=60)
    assert second.returncode == 2, second.stderr
    assert "already open in another DalalDesk" in second.stderr
    assert f"process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert first.returncode == 0, err


def test_book_safety_uri_in_memory_is_refused_in_words(tmp_path: Path) -> None:
    result = run(
        "--headless",
        "--duration",
        "1",
        "--db",
        "sqlite:///file:book?mode=memory&cache=shared&uri=true",
        home=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "in-memory database" in result.stderr
    assert "sqlite:////path/to/book.db" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_book_safety_plain_in_memory_book_is_refused_in_words(tmp_path: Path, url: str) -> None:
    result = run("--headless", "--duration", "1", "--db", url, home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "in-memory database" in result.stderr
    assert "sqlite:////path/to/book.db" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_book_safety_url_with_an_unescaped_at_in_its_password_is_refused_unechoed(
    tmp_path: Path,
) -> None:
    url = "postgresql://desk:Hunter2Secret@Pw@127.0.0.1:1/book1"
    result = run("--headless", "--duration", "1", "--db", url, home=tmp_path)
    screen = result.stdout + result.stderr
    assert result.returncode == 2, screen
    assert "%40" in result.stderr, result.stderr
    assert "Hunter2" not in screen and "Pw@" not in screen, screen
    assert "Traceback" not in screen


# -- 2. restore: never no book; a missing book is not started afresh over its traces ---------------


def padded_backup(db: Path, megabytes: int) -> Path:
    """A backup of ``db`` made big enough that copying it takes a while."""
    copy = backup_book(db, "manual")
    payload = '{"pad": "' + "x" * 60_000 + '"}'
    with closing(sqlite3.connect(copy)) as connection:
        connection.executemany(
            "INSERT INTO journal (ts_ns, recorded_ns, kind, order_id, payload) "
            "VALUES (1, 1, 'padding', NULL, ?)",
            [(payload,)] * (megabytes * 1_000_000 // 60_000),
        )
        connection.commit()
    return copy


def test_book_safety_restore_killed_at_any_moment_leaves_the_old_or_the_new_book(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    trade_two_orders(db)
    old_rows = journal_rows(db)
    backup = padded_backup(db, 60)
    new_rows = journal_rows(backup)
    restoring = db.with_name(db.name + ".restoring")
    command = dalaldesk("book", "restore", str(backup), "--db", f"sqlite:///{db}")
    # Killed as soon as the copying shows (the book moved aside, or the copy begun), then later.
    for delay in (None, None, 0.05, 0.15, 0.3, 0.6):
        process = subprocess.Popen(
            command, env=desk_env(tmp_path), cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if not db.exists() or restoring.exists():
                break
            time.sleep(0.001)
        if delay is not None:
            time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert db.exists(), f"a restore killed {delay} s into its copy left no book"
        assert inspect_book_file(db) is None
        assert journal_rows(db) in (old_rows, new_rows)
    finished = run("book", "restore", str(backup), "--db", f"sqlite:///{db}", home=tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert journal_rows(db) == new_rows
    assert not restoring.exists()


def killed_writer(db: Path) -> None:
    """``db`` with rows only in its write-ahead log, as a desk killed mid-session leaves it."""
    script = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA wal_autocheckpoint=0')\n"
        "c.execute('PRAGMA journal_mode=WAL')\n"
        'c.execute("INSERT INTO journal (ts_ns, recorded_ns, kind, order_id, payload) '
        "VALUES (1, 1, 'in_the_log', NULL, '{}')\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(db)], check=True)
    assert db.with_name(db.name + "-wal").exists()


def test_book_safety_restore_over_a_killed_desks_book_keeps_its_log_with_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    trade_two_orders(db)
    backup = backup_book(db, "manual")
    before = journal_rows(backup)
    killed_writer(db)
    aside = restore_backup(backup, db)
    assert aside is not None
    for suffix in ("-wal", "-shm"):
        assert not db.with_name(db.name + suffix).exists(), "the old log is kept off the new book"
    assert journal_rows(db) == before
    with closing(sqlite3.connect(aside)) as connection:  # the file set aside is whole by itself
        kinds = [k for (k,) in connection.execute("SELECT kind FROM journal")]
    assert "in_the_log" in kinds


@pytest.mark.parametrize("leftover", ["-wal", ".damaged-20260101-000000", ".restoring"])
def test_book_safety_missing_book_with_a_leftover_is_not_started_afresh(
    tmp_path: Path, leftover: str
) -> None:
    db = tmp_path / "book.db"
    trace = db.with_name(db.name + leftover)
    trace.write_bytes(b"left by an earlier book")
    with pytest.raises(BookMissing) as refused:
        open_database(f"sqlite:///{db}")
    assert str(trace) in str(refused.value)
    assert "To start a new, empty book on purpose" in str(refused.value)
    assert not db.exists(), "no empty book was started"
    open_database(f"sqlite:///{tmp_path / 'other.db'}").close()  # nothing beside it: a new book


def test_book_safety_missing_book_with_backups_refuses_to_start_and_restore_brings_it_back(
    tmp_path: Path,
) -> None:
    first = run("--headless", "--demo", "--duration", "6", "--profile", "missing", home=tmp_path)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "data" / "dalaldesk" / "missing" / "paper.db"
    backups = list_backups(db)
    assert backups, "a clean close takes a backup"
    rows = journal_rows(backups[0].path)
    for path in db.parent.glob("paper.db*"):
        if not path.name.endswith(".lock"):
            path.unlink()

    for _ in range(3):  # however often it is tried, no empty book rotates the backups away
        again = run("--headless", "--duration", "2", "--profile", "missing", home=tmp_path)
        assert again.returncode == 2, again.stdout + again.stderr
        assert "is missing" in again.stderr
        assert f"dalaldesk book restore {backups[0].path}" in again.stderr
        assert "Traceback" not in again.stderr + again.stdout
        assert not db.exists()
    assert [b.path for b in list_backups(db)] == [b.path for b in backups]

    restored = run("book", "restore", str(backups[0].path), "--profile", "missing", home=tmp_path)
    assert restored.returncode == 0, restored.stderr
    back = run("--headless", "--duration", "2", "--profile", "missing", home=tmp_path)
    assert back.returncode == 0, back.stderr
    assert journal_rows(db) >= rows


# -- 3. the book file deleted or replaced under a running desk ------------------------------------


def build(db: Path) -> Engine:
    return Engine.build(
        EngineConfig(db_url=f"sqlite:///{db}", market=SimulatedMarketConfig(seed=5)),
        clock=TestClock(MONDAY_MORNING),
    )


def a_stock(engine: Engine) -> Instrument:
    return next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)


@pytest.fixture
def desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, list[EngineMessage]]]:
    # Every heartbeat of the test checks the book file (a desk checks once a wall second).
    monkeypatch.setattr("engine.store.database.BOOK_CHECK_SECONDS", 0.0)
    engine = build(tmp_path / "book.db")
    messages: list[EngineMessage] = []
    engine.api.subscribe(EngineMessage, messages.append)
    try:
        yield engine, messages
    finally:
        engine.close()


def place(engine: Engine) -> tuple[bool, str]:
    """A new order each time (a repeat within seconds is refused as a duplicate)."""
    quantity = len(engine.orders.orders) + 1
    outcome = engine.api.place_order(
        a_stock(engine).token, "BUY", quantity, "MARKET", product="MIS"
    )
    return outcome.ok, outcome.reason or ""


def about_the_book(messages: list[EngineMessage]) -> list[str]:
    return [m.text for m in messages if "The book file" in m.text]


@pytest.mark.parametrize("how", ["delete", "replace"])
def test_book_safety_book_file_gone_under_a_running_desk_pauses_order_entry_and_says_so_once(
    desk: tuple[Engine, list[EngineMessage]], how: str
) -> None:
    engine, messages = desk
    db = engine.book_file
    assert db is not None
    assert place(engine)[0]
    if how == "delete":
        db.unlink()
    else:  # what a sync tool or a restore by hand does: a copy renamed over it
        shutil.copy(db, db.with_name("copy.db"))
        os.replace(db.with_name("copy.db"), db)
    engine._beat()
    [told] = about_the_book(messages)
    assert "deleted or moved away" in told if how == "delete" else "replaced" in told
    assert "order entry" in told and "paused" in told
    ok, reason = place(engine)
    assert not ok, "an order was acknowledged into a book no longer at its path"
    assert "book file" in reason
    paused = [m.text for m in messages if m.text.startswith("The journal cannot write")]
    assert paused and all("put the book file back" in text for text in paused)
    assert not any("free disk space" in text for text in paused), "not the full disk's remedy"
    for _ in range(3):
        engine._beat()
        assert not place(engine)[0]
    assert len(about_the_book(messages)) == 1, "said once"
    [rescued] = db.parent.glob("book.db.rescued-*")
    assert rescued.name in told
    assert journal_rows(rescued) > 0, "what the desk recorded before is saved"


def test_book_safety_book_replaced_under_a_running_desk_leaves_no_log_to_replay_onto_it(
    desk: tuple[Engine, list[EngineMessage]], tmp_path: Path
) -> None:
    """The write-ahead log beside the path is the open book's: a kill would leave it there, and
    the next start would replay the old book's pages onto the file now at the path."""
    engine, _messages = desk
    db = engine.book_file
    assert db is not None
    for _ in range(5):
        assert place(engine)[0]
    replacement = tmp_path / "replacement.db"
    with closing(sqlite3.connect(replacement)) as connection:
        connection.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, kind TEXT)")
        connection.execute("INSERT INTO journal (kind) VALUES ('the replacement')")
        connection.commit()
    replacement.replace(db)
    engine._beat()
    # What a kill leaves on disk now: the files as they are, copied where nothing holds them.
    after_kill = tmp_path / "after-kill"
    after_kill.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if db.with_name(db.name + suffix).exists():
            shutil.copy(db.with_name(db.name + suffix), after_kill / f"book.db{suffix}")
    with closing(sqlite3.connect(after_kill / "book.db")) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        kinds = [k for (k,) in connection.execute("SELECT kind FROM journal")]
    assert kinds == ["the replacement"], "the old book's log was replayed onto the replacement"
    [rescued] = db.parent.glob("book.db.rescued-*")
    assert journal_rows(rescued) > 5, "what the desk recorded is in the rescued copy"


def test_book_safety_book_file_moved_back_resumes_order_entry(
    desk: tuple[Engine, list[EngineMessage]],
) -> None:
    engine, messages = desk
    db = engine.book_file
    assert db is not None
    moved = db.with_name("elsewhere.db")
    db.rename(moved)
    engine._beat()
    assert not place(engine)[0]
    moved.rename(db)
    engine._beat()
    assert any("back at its path" in text for text in about_the_book(messages))
    assert any("order entry resumed" in m.text for m in messages)
    assert place(engine)[0]


async def test_book_safety_heartbeat_notices_a_deleted_book_within_seconds(
    tmp_path: Path,
) -> None:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}", close_backup=False, always_open=True
        )
    )
    messages: list[EngineMessage] = []
    engine.api.subscribe(EngineMessage, messages.append)
    engine.start()
    try:
        ok, reason = place(engine)
        assert ok, reason
        (tmp_path / "book.db").unlink()
        deadline = time.monotonic() + 5
        while not about_the_book(messages):
            assert time.monotonic() < deadline, "the heartbeat never noticed"
            await asyncio.sleep(0.05)
        assert not place(engine)[0]
    finally:
        await engine.stop()


# -- 4. a full disk at start-up names the file ----------------------------------------------------


def test_book_safety_full_disk_at_start_names_the_file_it_could_not_write(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "disk", size="600k") as disk:
        if not disk.tmpfs:
            pytest.skip("no tmpfs can be mounted here")
        disk.fill()
        result = run(
            "--headless",
            "--duration",
            "2",
            "--db",
            f"sqlite:///{disk.directory / 'new.db'}",
            home=tmp_path,
        )
    assert result.returncode == 2, result.stderr
    assert "No space left on device" in result.stderr
    assert str(disk.directory / "new.db") in result.stderr, "the file is named"
    assert "to:" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_book_safety_full_disk_without_a_file_name_is_worded_whole() -> None:
    text = explain(OSError(errno.ENOSPC, "No space left on device"))
    assert text is not None
    assert "to:" not in text and "cannot write its files" in text
    named = explain(OSError(errno.ENOSPC, "No space left on device", "/books/paper.db.lock"))
    assert named is not None and "cannot write to /books/paper.db.lock:" in named


def test_book_safety_unwritable_folder_that_holds_no_book_does_not_suggest_db() -> None:
    """--db moves the book only: for a settings or log folder it would not help."""
    config = explain(PermissionError(errno.EACCES, "Permission denied", "/home/t/.config/x"))
    assert config is not None and "--db" not in config and "XDG_CONFIG_HOME" in config
    book = explain(PermissionError(errno.EACCES, "Permission denied", "/books/paper.db-wal"))
    assert book is not None and "--db sqlite:" in book
