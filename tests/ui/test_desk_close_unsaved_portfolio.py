"""Closing the desk while a portfolio editor holds unsaved changes asks first: Save saves and
closes, Discard closes without saving, Cancel keeps the desk (and the editor) open. With nothing
unsaved the desk closes without a question."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.multileg import MultilegPanel
from ui.panels.multileg_editor import PortfolioEditor

Button = QMessageBox.StandardButton


@pytest.fixture
def closed() -> list[bool]:
    """One entry each time the window told the desk it closed."""
    return []


@pytest.fixture
def window(qtbot, engine, tmp_path: Path, closed: list[bool]):
    window = MainWindow(
        engine.api,
        layouts=LayoutStore(tmp_path / "layout.ini"),
        on_close=lambda: closed.append(True),
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    for editor in multileg(window).editors:  # a desk a test left open goes without asking
        editor.dirty = False
    window.stop()


def multileg(window: MainWindow) -> MultilegPanel:
    panel = window.panels["multileg"]
    assert isinstance(panel, MultilegPanel)
    return panel


def edited(qtbot, window: MainWindow, name: str) -> PortfolioEditor:
    """A new portfolio from a template, named: unsaved changes."""
    editor = multileg(window).new_portfolio()
    qtbot.waitExposed(editor)
    editor.load_template("short_straddle")
    field = editor.editor("defaults.name")
    assert field is not None
    field.widget.setText(name)  # type: ignore[attr-defined]
    assert editor.dirty
    return editor


def question(window: MainWindow) -> QMessageBox:
    box = window.findChild(QMessageBox, "unsavedPortfolios")
    assert box is not None and box.isVisible(), "the desk closed without asking"
    return box


def test_desk_when_closed_with_unsaved_portfolio_changes_asks_and_cancel_keeps_it_open(
    qtbot, window, closed
) -> None:
    editor = edited(qtbot, window, "Straddle")

    assert not window.close()

    box = question(window)
    assert "Straddle" in box.text()
    assert box.defaultButton() is box.button(Button.Cancel)
    box.button(Button.Cancel).click()
    assert window.isVisible() and editor.isVisible() and editor.dirty
    assert closed == []


def test_desk_when_closed_with_unsaved_portfolio_changes_and_discarded_closes_without_saving(
    qtbot, window, engine, closed
) -> None:
    edited(qtbot, window, "Straddle")

    window.close()
    question(window).button(Button.Discard).click()

    qtbot.waitUntil(lambda: not window.isVisible())
    assert closed == [True]
    assert multileg(window).editors == []
    assert engine.api.portfolios() == []


def test_desk_when_closed_with_unsaved_portfolio_changes_and_saved_saves_then_closes(
    qtbot, window, engine, closed
) -> None:
    edited(qtbot, window, "Straddle")

    window.close()
    question(window).button(Button.Save).click()

    qtbot.waitUntil(lambda: not window.isVisible())
    assert closed == [True] and multileg(window).editors == []
    assert [view.name for view in engine.api.portfolios()] == ["Straddle"]


def test_desk_when_an_unsaved_portfolio_cannot_be_saved_stays_open_on_its_editor(
    qtbot, window, engine, closed
) -> None:
    editor = edited(qtbot, window, "")  # a portfolio needs a name

    window.close()
    question(window).button(Button.Save).click()

    assert window.isVisible() and editor.isVisible() and editor.dirty
    assert editor.feedback.text().startswith("Not saved:")
    assert "not closed" in window.statusBar().currentMessage()
    assert closed == [] and engine.api.portfolios() == []


def test_desk_when_closed_with_editors_holding_nothing_unsaved_closes_without_asking(
    qtbot, window, closed
) -> None:
    editor = multileg(window).new_portfolio()
    qtbot.waitExposed(editor)
    assert not editor.dirty

    assert window.close()

    assert window.findChild(QMessageBox, "unsavedPortfolios") is None
    assert not window.isVisible() and closed == [True]
    assert not editor.isVisible() and multileg(window).editors == []


def test_desk_when_terminated_with_unsaved_changes_closes_without_asking_and_logs_them(
    qtbot, window, closed, caplog
) -> None:
    edited(qtbot, window, "Straddle")
    assert not window.close()  # the trader was being asked when the logout came
    question(window)

    window.close_for_termination()  # what SIGTERM and SIGINT call

    assert closed == [True] and not window.isVisible()
    assert not question_visible(window)
    assert "unsaved changes to the new portfolio Straddle not kept" in caplog.text


def question_visible(window: MainWindow) -> bool:
    box = window.findChild(QMessageBox, "unsavedPortfolios")
    return box is not None and box.isVisible()
