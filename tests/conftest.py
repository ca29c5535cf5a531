"""Test set-up shared by every test: Qt offscreen, and no test touching the user's real files."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from pathlib import Path

import pytest

# Qt reads these when the first QApplication is made, so they are set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox --disable-gpu")
os.environ.setdefault("QT_API", "pyside6")

# platformdirs resolves the user data/config/log dirs from these: point them at a throwaway tree.
_sandbox = Path(tempfile.mkdtemp(prefix="dalaldesk-tests-"))
for variable, sub in (
    ("XDG_DATA_HOME", "data"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_STATE_HOME", "state"),
    ("XDG_CACHE_HOME", "cache"),
):
    os.environ[variable] = str(_sandbox / sub)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Chart pages (QtWebEngine) need their set-up before pytest-qt makes the QApplication.
from ui.charts.page import prepare_web_engine  # noqa: E402

prepare_web_engine()


# -- workers ---------------------------------------------------------------------------------------


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core this process may run on, at most four (each worker starts
    its own Qt, desks and PostgreSQL cluster; more would wait on each other's disks)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


# -- Qt: nothing a test made outlives it ----------------------------------------------------------


@pytest.fixture(autouse=True)
def _qt_widgets_deleted():  # type: ignore[no-untyped-def]
    """After each test that ran Qt, the widgets it closed are deleted now, not never.

    pytest-qt closes a test's widgets and asks Qt to delete them later, but "later" is a return
    to the event loop that a test run never makes (``processEvents`` leaves deferred deletes
    alone): every window a test built stayed alive, and each new window's application-wide style
    sheet restyled all of them (a whole desk is ~1,700 widgets; the thirtieth test of a file
    restyled thirty desks). Runs last, after the test's own fixtures stopped their windows.
    """
    yield
    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        return
    _release_held_modifiers()
    if not QApplication.topLevelWidgets():
        return
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # Chart menus (pyqtgraph's, made without a parent) go with the last reference to them, which
    # the deleted window's Python side held in reference cycles.
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _release_held_modifiers() -> None:
    """A key click whose widget went away before the release (a shortcut that closed it) leaves
    Qt holding the modifier down for the whole process: the next test's ``selectRow`` would then
    extend (Shift) or toggle (Ctrl) a selection instead of making one."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget

    if not isinstance(QApplication.instance(), QApplication):
        return  # a core application: no keyboard
    held = QGuiApplication.keyboardModifiers()
    if held == Qt.KeyboardModifier.NoModifier:
        return
    receiver = QWidget()
    receiver.show()
    for modifier, key in (
        (Qt.KeyboardModifier.ShiftModifier, Qt.Key.Key_Shift),
        (Qt.KeyboardModifier.ControlModifier, Qt.Key.Key_Control),
        (Qt.KeyboardModifier.AltModifier, Qt.Key.Key_Alt),
        (Qt.KeyboardModifier.MetaModifier, Qt.Key.Key_Meta),
    ):
        if held & modifier:
            QTest.keyRelease(receiver, key)
    receiver.close()
    receiver.deleteLater()


# -- a real PostgreSQL server (tests/pg.py) ------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server():  # type: ignore[no-untyped-def]
    """One throwaway PostgreSQL cluster for the session; skipped where no server is installed,
    except in CI (``DALALDESK_REQUIRE_POSTGRES=1``), where that is a failure."""
    from tests.pg import PostgresServer, server_binaries

    binaries = server_binaries()
    if binaries is None:
        if os.environ.get("DALALDESK_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "PostgreSQL is required here (DALALDESK_REQUIRE_POSTGRES=1) and is not installed"
            )
        pytest.skip("no PostgreSQL server is installed (CI installs one)")
    server = PostgresServer(binaries)
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def book_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new empty book on each backend the desk supports: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'book.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.fresh_url())
