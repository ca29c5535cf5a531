"""The real `dalaldesk`, started with each bad input a trader's machine can hand it: every one ends
(or carries on) with a message in words, a dialog when there is a window, and never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.test_book_lock import dalaldesk, desk_env

ROOT = Path(__file__).resolve().parents[2]

Setup = Callable[[Path], None]


def book_file(home: Path) -> Path:
    return home / "data" / "dalaldesk" / "dalaldesk.db"


def corrupt_book(home: Path) -> None:
    book = book_file(home)
    book.parent.mkdir(parents=True, exist_ok=True)
    book.write_bytes(b"SQLite format 3\0" + os.urandom(8192))


def empty_book(home: Path) -> None:
    book = book_file(home)
    book.parent.mkdir(parents=True, exist_ok=True)
    book.write_bytes(b"")


def bad_calendar(home: Path) -> None:
    folder = home / "config" / "dalaldesk" / "calendars"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nse-2027.json").write_text('{"exchange": "NSE", "years": {2027: }', "utf-8")


def bad_layout_version(home: Path) -> None:
    layout = home / "config" / "dalaldesk" / "default" / "layout.ini"
    layout.parent.mkdir(parents=True, exist_ok=True)
    layout.write_text("[current]\nversion=abc\n", "utf-8")


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` cannot be written, even by root (a read-only mount), else by permissions."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
        )
        if mounted.returncode != 0:
            pytest.skip("root cannot be kept from writing here without a read-only mount")
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)


# (name, extra arguments, set-up, expected words, whether the desk refuses to start)
CASES: list[tuple[str, list[str], Setup | None, str, bool]] = [
    ("corrupt book", [], corrupt_book, "book", True),
    ("empty book", [], empty_book, "book", True),
    ("bad calendar override", [], bad_calendar, "calendar", True),
    ("--db notaurl", ["--db", "notaurl"], None, "--db takes a database URL", True),
    ("--latency-ms -5", ["--latency-ms", "-5"], None, "--latency-ms", True),
    ("--log-level LOUD", ["--log-level", "LOUD"], None, "log level 'LOUD' is unknown", True),
    ("--duration -1", ["--duration", "-1"], None, "--duration", True),
    ("--broker fyers", ["--broker", "fyers"], None, "invalid choice: 'fyers'", True),
]


def run_desk(home: Path, args: list[str], *, window: bool) -> subprocess.CompletedProcess[str]:
    extra = [] if window else ["--headless", "--duration", "2"]
    # A desk that carries on is closed with SIGTERM after a few seconds, as a logout would.
    process = subprocess.Popen(
        dalaldesk(*extra, *args),
        env=desk_env(home),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if window:
            # A window that opened has done its start-up: it is closed then, not 20 s later.
            wait_for_the_window(process, home, timeout=20)
        out, err = process.communicate(timeout=0.5 if window else 40)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def wait_for_the_window(process: subprocess.Popen[str], home: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if workstation_opened(home):
            return
        time.sleep(0.2)


def desk_log(home: Path) -> Path:
    """The default profile's log file under ``home`` (``desk_env``)."""
    return home / "state" / "dalaldesk" / "log" / "default" / "dalaldesk.log"


def workstation_opened(home: Path) -> bool:
    """Whether the desk's log says its windows are open (``app.gui``)."""
    log = desk_log(home)
    return log.exists() and "workstation open:" in log.read_text(encoding="utf-8")


@pytest.mark.parametrize("window", [False, True], ids=["headless", "gui"])
@pytest.mark.parametrize(
    ("name", "args", "setup", "words", "refused"), CASES, ids=[c[0] for c in CASES]
)
def test_startup_when_given_a_bad_input_says_so_in_words_without_a_traceback(
    tmp_path: Path,
    window: bool,
    name: str,
    args: list[str],
    setup: Setup | None,
    words: str,
    refused: bool,
) -> None:
    if setup is not None:
        setup(tmp_path)
    result = run_desk(tmp_path, args, window=window)
    screen = result.stdout + result.stderr
    assert "Traceback" not in screen, screen
    assert words in result.stderr, result.stderr
    assert result.returncode == 2, screen
    if window:
        assert "shown in a dialog" in result.stderr
    if name in ("corrupt book", "empty book"):
        assert "backup" in result.stderr.lower(), "the message offers the backups"
        assert book_file(tmp_path).stat().st_size == (0 if name == "empty book" else 8208)


def test_startup_headless_on_xts_without_an_account_says_so_in_words(tmp_path: Path) -> None:
    # (The window opens Settings -> Brokers instead, to enter the account.)
    result = run_desk(tmp_path, ["--broker", "xts"], window=False)
    screen = result.stdout + result.stderr
    assert "Traceback" not in screen, screen
    assert result.returncode == 2, screen
    assert "keyring" in result.stderr and "xts" in result.stderr.lower(), result.stderr


def test_startup_when_layout_version_is_garbage_opens_with_the_default_layout(
    tmp_path: Path,
) -> None:
    bad_layout_version(tmp_path)
    result = run_desk(tmp_path, [], window=True)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("window", [False, True], ids=["headless", "gui"])
def test_startup_when_the_data_folder_is_read_only_says_which_folder(
    tmp_path: Path, window: bool
) -> None:
    with read_only(tmp_path / "data"):
        result = run_desk(tmp_path, [], window=window)
    screen = result.stdout + result.stderr
    assert "Traceback" not in screen, screen
    assert result.returncode == 2, screen
    assert "cannot write" in result.stderr or "writable" in result.stderr, result.stderr
    assert str(tmp_path / "data") in result.stderr


def test_startup_gui_on_sigterm_closes_as_close_does_and_saves_the_layout(tmp_path: Path) -> None:
    env = desk_env(tmp_path)
    layout = tmp_path / "config" / "dalaldesk" / "default" / "layout.ini"
    desk = subprocess.Popen(
        dalaldesk(), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = desk_log(tmp_path)
    deadline = time.monotonic() + 120
    while not workstation_opened(tmp_path):
        assert time.monotonic() < deadline and desk.poll() is None, desk.communicate()
        time.sleep(0.2)
    desk.send_signal(signal.SIGTERM)
    out, err = desk.communicate(timeout=60)
    assert desk.returncode == 0, err
    assert "Traceback" not in out + err
    assert "SIGTERM received" in log.read_text()
    assert "closed cleanly" in log.read_text()
    assert "[current]" in layout.read_text() and "state=" in layout.read_text()


def test_startup_gui_layout_change_survives_a_sigkill_ten_seconds_later(
    tmp_path: Path, qapp: object
) -> None:
    """The window saves its layout soon after a change (two seconds), not only at a clean close:
    a SIGKILL ten seconds after the change finds it saved."""
    env = desk_env(tmp_path)
    layout = tmp_path / "config" / "dalaldesk" / "default" / "layout.ini"
    script = (
        "import sys, asyncio\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "import app.gui as gui\n"
        "original = gui._run_desk\n"
        "async def run_desk(app, engine, **kw):\n"
        "    def change():\n"
        "        for w in QApplication.topLevelWidgets():\n"
        "            if w.objectName() == 'mainWindow' and w._watching_layout:\n"
        # Inside the offscreen screen (800 x 600) and above the window's least height (~524).
        "                w.resize(781, 571)\n"
        "                print('CHANGED', w.width(), w.height(), flush=True)\n"
        "                return\n"
        "        QTimer.singleShot(200, change)  # the window is not up yet: try again\n"
        "    QTimer.singleShot(200, change)\n"
        "    return await original(app, engine, **kw)\n"
        "gui._run_desk = run_desk\n"
        "from app.main import main\n"
        "sys.exit(main())\n"
    )
    desk = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert desk.stdout is not None
        line = desk.stdout.readline()
        assert line.startswith("CHANGED"), (line, desk.stderr.read() if desk.stderr else "")
        time.sleep(10)
    finally:
        desk.kill()
        desk.communicate(timeout=30)
    from PySide6.QtCore import QSettings

    saved = QSettings(str(layout), QSettings.Format.IniFormat)
    geometry = saved.value("current/geometry")
    assert geometry is not None, layout.read_text() if layout.exists() else "no layout file"
    from PySide6.QtWidgets import QMainWindow

    probe = QMainWindow()
    probe.restoreGeometry(geometry)
    assert probe.height() == 571 == int(line.split()[2]), "the changed height came back"


def settings_path(home: Path) -> Path:
    return home / "config" / "dalaldesk" / "default" / "settings.yaml"


BAD_SETTINGS = {
    "not YAML": ("display:\n  theme: [dark\n", "not readable at line"),
    "hand-edited wrong values": (
        "display:\n  theme: pink\n  up_colour: green\ntrading:\n  default_lots: 0\nfonts: big\n",
        "display.theme",
    ),
    "not text": ("\udcff", "could not be read"),
}


@pytest.mark.parametrize(
    ("case", "window"),
    [("not YAML", False), ("hand-edited wrong values", True), ("not text", False)],
    ids=["not YAML-headless", "hand-edited-gui", "not text-headless"],
)
def test_startup_when_the_settings_file_is_bad_starts_on_defaults_and_keeps_it_aside(
    tmp_path: Path, window: bool, case: str
) -> None:
    text, words = BAD_SETTINGS[case]
    path = settings_path(tmp_path)
    path.parent.mkdir(parents=True)
    written = text.encode("utf-8", "surrogateescape")
    path.write_bytes(written)
    result = run_desk(tmp_path, [], window=window)
    screen = result.stdout + result.stderr
    assert "Traceback" not in screen, screen
    assert result.returncode in (0, -signal.SIGTERM), screen
    assert words in result.stderr, result.stderr
    assert "started with the default settings" in result.stderr
    kept = list(path.parent.glob("settings.yaml.bad-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == written, "the trader's file is kept whole"
    assert str(kept[0]) in result.stderr
    if case == "not YAML":
        again = run_desk(tmp_path, [], window=window)
        assert "settings" not in again.stderr, "the next start is clean"


@pytest.mark.parametrize("case", ["no such database", "no server on the port"])
def test_startup_postgres_book_that_will_not_open_gets_advice_for_a_server(
    postgres_server,  # type: ignore[no-untyped-def]
    case: str,
) -> None:
    from app.startup import explain
    from engine.store import StoreError, open_database

    if case == "no such database":
        url = postgres_server.url("no_such_book")
    else:
        url = "postgresql+psycopg://desk:s3cr3t@127.0.0.1:1/book"
    with pytest.raises(StoreError) as refused:
        open_database(url)
    text = explain(refused.value)
    assert text is not None
    assert "database server is running" in text, text
    assert "folder is writable" not in text
    assert "s3cr3t" not in text


def test_startup_sqlite_book_that_will_not_open_keeps_the_advice_for_a_file() -> None:
    from app.startup import explain
    from engine.store import StoreError

    text = explain(StoreError("cannot open database sqlite:////books/paper.db: disk I/O error"))
    assert text is not None and "folder is writable" in text
