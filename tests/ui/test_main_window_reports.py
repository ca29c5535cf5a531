"""What the main window says in its status bar on the trader's behalf: what became of a signal
decided in the Signals panel, and a workspace or layout the disk would not take (said once per
problem, not at every save)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.api import SignalResult, SignalStep
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.signals import SignalsPanel


@pytest.fixture
def window(qtbot, engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    yield window
    window.stop()


def test_main_window_when_a_signal_is_decided_says_what_became_of_it(window) -> None:  # type: ignore[no-untyped-def]
    panel = window.panels["signals"]
    assert isinstance(panel, SignalsPanel)
    panel.decided.emit(SignalResult("LATE", SignalStep.EXPIRED, "approval timed out"))
    assert window.statusBar().currentMessage() == ("Signal LATE: not placed: not approved in time")


def test_main_window_when_the_layout_file_cannot_be_written_says_so_once_per_problem(
    window, tmp_path: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "layout.ini"
    window.save_layout()
    path.unlink()
    path.mkdir()  # a folder where the file should be: no write can replace it
    caplog.set_level(logging.WARNING, logger="ui.main_window")

    window.save_workspace("Expiry day")
    assert window.statusBar().currentMessage() == (
        f"Workspace Expiry day not saved: cannot write {path}; it lasts until the desk closes"
    )
    window.statusBar().clearMessage()
    window.save_layout()
    window.save_layout()
    assert window.statusBar().currentMessage() == f"Layout not saved: cannot write {path}"
    assert caplog.text.count("the layout was not saved") == 1

    path.rmdir()
    window.save_layout()
    assert path.is_file(), "written again once the disk takes it"
