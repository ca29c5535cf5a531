"""Settings (Ctrl+,): what is not applied is discarded when the window is closed, however it is
closed, so it never comes back on reopen nor rides along with a later OK; an import the disk
will not keep says what changed and that it is not saved."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from engine.settings import Settings, SettingsStore, settings_yaml
from ui.panels.settings_dialog import SettingsDialog


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    store = SettingsStore(tmp_path / "settings.yaml")
    assert store.update("trading", default_lots=2) is None
    return store


@pytest.fixture
def dialog(qtbot: QtBot, store: SettingsStore) -> Iterator[SettingsDialog]:
    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    yield dialog


def close_button(qtbot: QtBot, dialog: SettingsDialog) -> None:
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)


def escape(qtbot: QtBot, dialog: SettingsDialog) -> None:
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)


def window_close(qtbot: QtBot, dialog: SettingsDialog) -> None:
    dialog.close()  # the window's own close button sends the same close event


@pytest.mark.parametrize("closing", [close_button, escape, window_close])
def test_settings_dialog_when_closed_unapplied_shows_the_stored_values_on_reopen(
    qtbot: QtBot,
    dialog: SettingsDialog,
    store: SettingsStore,
    closing: Callable[[QtBot, SettingsDialog], None],
) -> None:
    dialog.editors["trading.default_lots"].set_value(9)
    dialog.editors["display.theme"].set_value("light")
    assert dialog.apply_button.isEnabled()

    closing(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert store.current.trading.default_lots == 2 and store.current.display.theme == "dark"

    dialog.show()  # what the desk does when Settings is asked for again
    assert dialog.editors["trading.default_lots"].value() == 2
    assert dialog.editors["display.theme"].value() == "dark"
    assert not dialog.apply_button.isEnabled(), "nothing to apply"

    dialog.editors["display.number_format"].set_value("international")
    dialog.ok_button.click()
    assert store.current.display.number_format == "international"
    assert store.current.trading.default_lots == 2, "the discarded edit is not applied"
    assert store.current.display.theme == "dark"


def test_settings_dialog_when_ok_closes_it_reopens_on_what_was_applied(
    qtbot, dialog: SettingsDialog, store: SettingsStore
) -> None:
    dialog.editors["trading.default_lots"].set_value(5)
    dialog.ok_button.click()
    assert not dialog.isVisible() and store.current.trading.default_lots == 5
    dialog.show()
    assert dialog.editors["trading.default_lots"].value() == 5
    assert not dialog.apply_button.isEnabled()


def test_settings_dialog_import_when_the_file_cannot_be_written_says_what_changed_and_why(
    tmp_path: Path, qtbot
) -> None:
    target = tmp_path / "profile" / "settings.yaml"
    target.mkdir(parents=True)  # a folder where the file should be: the write is refused
    store = SettingsStore(target)
    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        settings_yaml(Settings.model_validate({"trading": {"default_lots": 5}})), "utf-8"
    )

    assert dialog.import_file(mine)

    assert store.current.trading.default_lots == 5
    assert dialog.editors["trading.default_lots"].value() == 5
    text = dialog.status.text()
    assert text.startswith("Imported mine.yaml: 1 changed. Not saved to disk: settings.yaml "), text
    assert text.endswith("; they apply until the desk closes."), text
    assert "nothing changed" not in text
