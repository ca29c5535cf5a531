"""One writer per book: a second desk is refused naming the holder, a killed desk's lock is taken
over, no order fills twice, and no worker process outlives its desk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.runtime import Engine, EngineConfig
from engine.store.book_lock import BookInUse, BookLock, book_holder
from tests.forked import ForkedChild

ROOT = Path(__file__).resolve().parents[2]


def desk_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(ROOT),
    )
    return env


def dalaldesk(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from app.main import main; sys.exit(main())", *args]


def test_book_lock_when_held_refuses_a_second_holder_naming_the_first(tmp_path: Path) -> None:
    book = tmp_path / "book.db"
    with BookLock.acquire(book):
        with pytest.raises(BookInUse) as refused:
            BookLock.acquire(book)
        assert f"process {os.getpid()}" in str(refused.value)
        holder = book_holder(book)
        assert holder is not None and holder.pid == os.getpid()
    assert book_holder(book) is None
    BookLock.acquire(book).release()  # free again once released


def test_book_lock_file_keeps_no_password_of_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://desk:Hunter2SecretPw@db.example/book"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/dalaldesk", "--db", url, f"--db={url}"])
    book = tmp_path / "book.db"
    with BookLock.acquire(book):
        holder = book_holder(book)
        on_disk = "".join(p.read_text() for p in tmp_path.iterdir() if p.name != "book.db")
    assert holder is not None
    masked = "postgresql+psycopg://desk:***@db.example/book"
    assert holder.command == f"dalaldesk --db {masked} --db={masked}"
    assert "Hunter2SecretPw" not in on_disk


def test_book_lock_when_an_engine_has_the_book_a_second_engine_is_refused(tmp_path: Path) -> None:
    config = EngineConfig(db_url=f"sqlite:///{tmp_path / 'book.db'}")
    first = Engine.build(config)
    try:
        with pytest.raises(BookInUse, match="already open in another DalalDesk"):
            Engine.build(config)
    finally:
        first.close()
    Engine.build(config).close()  # the book is free once the first desk closed


def test_book_lock_two_headless_desks_on_one_db_the_second_is_refused(tmp_path: Path) -> None:
    env = desk_env(tmp_path)
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = subprocess.Popen(
        dalaldesk("--headless", "--demo", "--duration", "8", "--db", db),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while book_holder(tmp_path / "shared.db") is None:
            assert time.monotonic() < deadline, "the first desk never took its book"
            assert first.poll() is None, first.communicate()
            time.sleep(0.2)
        second = subprocess.run(
            dalaldesk("--headless", "--duration", "1", "--db", db),
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        _out, err = first.communicate(timeout=60)
    assert second.returncode == 2
    assert f"process {first.pid}" in second.stderr
    assert "already open in another DalalDesk" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert first.returncode == 0, err


def test_book_lock_second_gui_on_a_profile_is_refused_and_the_first_comes_forward(
    tmp_path: Path,
) -> None:
    env = desk_env(tmp_path)
    first = subprocess.Popen(
        dalaldesk(), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = tmp_path / "state" / "dalaldesk" / "log" / "default" / "dalaldesk.log"
    try:
        deadline = time.monotonic() + 60
        while book_holder(tmp_path / "data" / "dalaldesk" / "dalaldesk.db") is None:
            assert time.monotonic() < deadline, "the first desk never opened its book"
            assert first.poll() is None, first.communicate()
            time.sleep(0.2)
        second = subprocess.run(
            dalaldesk(), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 2
        assert f"process {first.pid}" in second.stderr
        assert "brought to the front" in second.stderr
        assert "shown in a dialog" in second.stderr
        assert "Traceback" not in second.stderr
        deadline = time.monotonic() + 10
        while "bringing the window to the front" not in log.read_text():
            assert time.monotonic() < deadline, "the first desk was never asked to come forward"
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 0


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_book_lock_after_ten_sigkills_no_worker_is_left_and_nothing_filled_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    for round_ in range(10):
        with ForkedChild("tests.integration.orphan_child", [str(db)]) as child:
            line = child.stdout.readline()
            assert line.startswith("READY"), (round_, line, child.stderr.read())
            workers = descendants(child.pid)
            assert workers, "the VaR worker (and the resource tracker) run under the desk"
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        deadline = time.monotonic() + 10
        while left := {pid for pid in workers if alive(pid)}:
            assert time.monotonic() < deadline, f"round {round_}: orphans left: {left}"
            time.sleep(0.1)
    engine = Engine.build(EngineConfig(db_url=f"sqlite:///{db}"))
    try:
        orders = engine.api.orders()
        trades = engine.api.trades()
        assert len(orders) == 10
        assert len({t.trade_id for t in trades}) == len(trades)
        assert all(o.filled_quantity <= o.quantity for o in orders)
        assert sum(p.net_quantity for p in engine.api.positions()) == sum(
            o.filled_quantity for o in orders
        )
    finally:
        engine.close()
