"""Start-up problems in the trader's words: what is wrong and what to do, never a traceback.

Whatever stops the desk from starting (a book another desk holds, an unreadable book file, a bad
calendar override, a folder it cannot write, a wrong command-line value) reaches the trader as a
message: on stderr always, and in a dialog when the window was asked for (a desk started from an
icon has no terminal). An error nobody foresaw is saved with its traceback to a crash log, and the
message names that file.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.logs import redact

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox

log = logging.getLogger("dalaldesk.startup")

EXIT_STARTUP_PROBLEM = 2
OFFSCREEN_DIALOG_SECONDS = 0.5
"""On a screen nobody looks at (Qt's offscreen platform) the dialog closes itself."""


class StartupProblem(Exception):
    """A start-up failure already put in the trader's words."""


def explain(error: BaseException) -> str | None:
    """The trader's message for a start-up failure we know, or None for an unforeseen one."""
    from engine.calendar import CalendarError
    from engine.store import StoreError
    from engine.store.book import BookUnreadable
    from engine.store.book_lock import BookInUse
    from engine.store.database import DatabaseNotOpened
    from engine.store.urls import BookUrlRefused

    if isinstance(error, StartupProblem):
        return str(error)
    if isinstance(error, BookInUse | BookUnreadable):
        return str(error)
    if isinstance(error, BookUrlRefused):
        return f"The book was not opened: {error}."
    if isinstance(error, DatabaseNotOpened) and error.backend != "sqlite":
        return (
            f"The book could not be opened: {error}. Check that the database server is running "
            "and can be reached from this machine, that the user name, password and database "
            "name in the URL are right (the database must exist; a password's special "
            "characters percent-encoded) and that its driver is installed (postgresql+psycopg), "
            "or choose another book with --db."
        )
    if isinstance(error, StoreError):
        return (
            f"The book could not be opened: {error}. Check that its folder is writable and that "
            "the file is a DalalDesk book, or choose another book with --db."
        )
    if isinstance(error, CalendarError):
        return (
            f"The market calendar could not be read: {error}. Fix or remove the calendar "
            "override file it names (or import a valid one), then start again."
        )
    if isinstance(error, PermissionError) or (
        isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EROFS, errno.ENOSPC)
    ):
        full = error.errno == errno.ENOSPC
        if error.filename:
            where = f"to {error.filename}"
            remedy = "Free some space on that disk" if full else "Make that folder writable"
        else:  # the system named no file: say what the desk writes at start-up
            where = "its files (the book, its settings and logs)"
            remedy = (
                "Free some space on the disk that holds them"
                if full
                else "Make its data folders writable"
            )
        if error.filename and not _is_book_file(str(error.filename)):
            # Settings, layouts, logs and locks live in the user's folders: --db moves the book
            # only, so it would not help.
            return (
                f"DalalDesk cannot write {where}: {error.strerror or error}. {remedy}: the desk "
                "keeps its settings, layouts and logs there (on Linux XDG_CONFIG_HOME, "
                "XDG_DATA_HOME and XDG_STATE_HOME choose other folders)."
            )
        return (
            f"DalalDesk cannot write {where}: {error.strerror or error}. {remedy}, or keep the "
            "book elsewhere with --db sqlite:////path/to/book.db."
        )
    return None


def _is_book_file(name: str) -> bool:
    """Whether ``name`` is a book or one of the files SQLite and the desk keep beside one."""
    return name.endswith((".db", ".db-wal", ".db-shm", ".db-journal", ".db.lock"))


def crash_report(error: BaseException, directory: Path | None) -> Path | None:
    """Save the traceback of an unforeseen start-up error; the file's path, or None."""
    text = redact("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S-%f")
    for folder in (directory, Path(os.environ.get("TMPDIR", "/tmp"))):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{stamp}.log"
            path.write_text(text, encoding="utf-8")
        except OSError:
            continue
        return path
    return None


def describe_failure(error: BaseException, crash_dir: Path | None) -> str:
    """The message for any start-up failure; an unforeseen one is saved to a crash log."""
    known = explain(error)
    if known is not None:
        log.info("start-up refused: %s", known)  # the trader is told below; no console echo
        return known
    saved = crash_report(error, crash_dir)
    # The traceback is in the crash report; the console shows no traceback.
    log.critical("start-up failed unexpectedly: %s (details in %s)", type(error).__name__, saved)
    where = f" The details were saved to {saved}." if saved else ""
    return (
        f"DalalDesk could not start: {type(error).__name__}: {redact(str(error))}.{where} "
        "Please send that file to support."
    )


def tell(text: str, *, dialog: bool) -> None:
    """Tell the trader: on stderr always, and in a dialog when the desk has a window."""
    print(f"dalaldesk: {text}", file=sys.stderr, flush=True)
    if dialog:
        show_dialog(text)


def show_dialog(text: str) -> None:
    """A start-up error dialog (shown as ``_ask`` shows every start-up box)."""
    try:
        from PySide6.QtWidgets import QApplication, QMessageBox
    except ImportError as exc:  # a broken Qt install: stderr is all there is
        print(f"dalaldesk: no dialog could be shown ({exc})", file=sys.stderr)
        return
    app = QApplication.instance() or QApplication(sys.argv[:1])
    box = QMessageBox(QMessageBox.Icon.Critical, "DalalDesk could not start", text)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    _ask(box)
    del app


def _ask(box: QMessageBox) -> None:
    """Show a start-up box and wait for the trader. No event loop runs yet (or it has ended), so
    a modal ``exec()`` blocks no task; on the offscreen platform nobody can answer, so the box
    closes itself (as Close or Quit would)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    if QApplication.platformName() == "offscreen":
        QTimer.singleShot(int(OFFSCREEN_DIALOG_SECONDS * 1000), box.reject)
    print("dalaldesk: the start-up problem is shown in a dialog", file=sys.stderr, flush=True)
    box.exec()


def offer_backups(book: Path, problem: str) -> bool:
    """The book file is unreadable: say so and offer its newest backup. True when the trader
    restored one (start-up then carries on), False to quit. No event loop runs yet, so the
    modal dialog blocks no task; on the offscreen platform it closes itself (quit)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from engine.store.backup import list_backups, restore_backup
    from engine.store.book import describe_unreadable

    backups = list_backups(book)
    text = describe_unreadable(book, problem, backups)
    print(f"dalaldesk: {text}", file=sys.stderr, flush=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    box = QMessageBox(QMessageBox.Icon.Critical, "DalalDesk — the book cannot be read", text)
    restore = None
    if backups:
        restore = box.addButton("Restore the newest backup", QMessageBox.ButtonRole.AcceptRole)
        box.setDetailedText("\n".join(str(b.path) for b in backups))
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    _ask(box)
    del app
    if restore is None or box.clickedButton() is not restore:
        return False
    aside = restore_backup(backups[0].path, book)
    log.warning("book restored from %s; the unreadable file is kept as %s", backups[0].path, aside)
    return True
