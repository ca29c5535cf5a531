"""Dialogs opened again and again (About, Keyboard shortcuts, Save workspace, New watchlist,
Update market calendar) are deleted once closed: the desk does not grow with every opening."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QDialog, QInputDialog, QWidget

from ui.dialogs import AboutDialog, ShortcutsDialog
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.calendar_update import CalendarUpdateDialog
from ui.panels.market_watch import MarketWatchPanel

OPENINGS = 5


@pytest.fixture
def window(qtbot, engine, tmp_path: Path):
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.stop()


def deleted_later() -> None:
    """Run the deletions closing asked for (``deleteLater``) now."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def live(kind: type[QDialog]) -> list[QDialog]:
    """The dialogs of ``kind`` still in existence, open or not (children of the window too)."""
    found: list[QDialog] = []
    for top in QApplication.topLevelWidgets():  # a dialog with a parent is one, and a child
        for dialog in [top, *top.findChildren(kind)]:
            if isinstance(dialog, kind) and dialog not in found:
                found.append(dialog)
    return found


def open_and_close(qtbot, opened: Callable[[], QDialog], kind: type[QDialog]) -> None:
    for _ in range(OPENINGS):
        dialog = opened()
        qtbot.waitExposed(dialog)
        dialog.close()
        deleted_later()
    assert live(kind) == []


def menu_action(window: MainWindow, text: str):
    actions = [a for a in window.findChildren(type(window.kill_action)) if a.text() == text]
    assert actions, f"no {text!r} action"
    return actions[0]


def opened_input(window: QWidget, title: str) -> QInputDialog:
    [dialog] = [d for d in window.findChildren(QInputDialog) if d.isVisible()]
    assert dialog.windowTitle() == title
    return dialog


def test_about_dialog_when_opened_and_closed_again_and_again_is_deleted_each_time(
    qtbot, window
) -> None:
    about = menu_action(window, "About DalalDesk")

    def opened() -> QDialog:
        about.trigger()
        [dialog] = [d for d in live(AboutDialog) if d.isVisible()]
        return dialog

    open_and_close(qtbot, opened, AboutDialog)


def test_shortcuts_dialog_when_opened_and_closed_again_and_again_is_deleted_each_time(
    qtbot, window
) -> None:
    open_and_close(qtbot, window.show_shortcuts, ShortcutsDialog)


def test_save_workspace_dialog_when_answered_saves_the_workspace_and_is_deleted(
    qtbot, window
) -> None:
    save_as = next(a for a in window.workspace_menu.actions() if a.text() == "Save workspace as…")

    def opened() -> QDialog:
        save_as.trigger()
        return opened_input(window, "Save workspace")

    open_and_close(qtbot, opened, QInputDialog)
    save_as.trigger()
    dialog = opened_input(window, "Save workspace")
    dialog.setTextValue("Expiry day")
    dialog.accept()
    deleted_later()
    assert live(QInputDialog) == []
    assert "Expiry day" in window._layouts.workspaces()


def test_new_watchlist_dialog_when_answered_adds_the_list_and_is_deleted(qtbot, window) -> None:
    watch = window.panels["marketWatch"]
    assert isinstance(watch, MarketWatchPanel)

    def opened() -> QDialog:
        watch._ask_new_watchlist()
        return opened_input(watch, "New watchlist")

    open_and_close(qtbot, opened, QInputDialog)
    watch._ask_new_watchlist()
    dialog = opened_input(watch, "New watchlist")
    dialog.setTextValue("  Banks  ")
    dialog.accept()
    deleted_later()
    assert live(QInputDialog) == []
    assert watch.tabs.tabText(watch.tabs.currentIndex()) == "Banks"


def test_calendar_update_dialog_when_opened_from_the_desk_and_closed_is_deleted_each_time(
    qtbot, engine
) -> None:
    from app.gui import open_calendar_update

    def opened() -> QDialog:
        dialog = open_calendar_update(engine)
        assert isinstance(dialog, CalendarUpdateDialog)
        return dialog

    open_and_close(qtbot, opened, CalendarUpdateDialog)


def test_calendar_update_dialog_when_closed_while_fetching_takes_the_late_answer_quietly(
    qtbot,
) -> None:
    answers: list[Callable[[bool, str], None]] = []
    dialog = CalendarUpdateDialog(
        coverage=lambda: "Holiday lists loaded: 2026.",
        import_file=lambda path: f"{path.name} loaded",
        fetch=lambda year, done: answers.append(done),
        year=2027,
    )
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.fetch_button.click()
    dialog.close()
    deleted_later()
    assert live(CalendarUpdateDialog) == []

    [done] = answers
    done(True, "19 holidays for 2027")  # the fetch ends after the trader closed the window
