"""Settings (Ctrl+,): a number typed into a field is read as the trader meant it, whatever the
system's locale (the decimal point is ".", a comma only groups digits, Indian or international,
and there is no exponent), or it is refused in words on the field and nothing is applied: 1,5 is
never 15 nor 1e3 13."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractSpinBox
from pytestqt.qtbot import QtBot

from engine.settings import SettingsStore
from ui.panels.settings_dialog import SettingsDialog

REFUSED = None
"""The store keeps the value it had."""

TYPED = [
    # (field, typed, what the store has after Apply, words on the field)
    ("brokers.paper_latency_ms", "1.5", 1.5, ""),
    ("brokers.paper_latency_ms", "1,5", REFUSED, "write 1.5, not 1,5"),
    ("brokers.paper_latency_ms", "1e3", REFUSED, "write 1000, not 1e3"),
    ("brokers.paper_latency_ms", "1,000", 1000.0, ""),
    ("brokers.paper_latency_ms", "2.5005", REFUSED, "at most 3 decimal places"),
    ("risk.var_interval_seconds", "1,5", REFUSED, "write 1.5, not 1,5"),
    ("risk.var_interval_seconds", "12.25", 12.25, ""),
    ("risk.var_paths", "1,00,000", 100000, ""),
    ("risk.var_paths", "12,345", 12345, ""),
    ("risk.var_paths", "1,00,00", REFUSED, "a comma only groups digits"),
    ("signals.max_age_seconds", "1,5", REFUSED, "write 1.5, not 1,5"),
    ("signals.max_age_seconds", "7.5", 7.5, ""),
    ("signals.approval_seconds", "1e2", REFUSED, "write 100, not 1e2"),
    ("signals.approval_seconds", "90", 90.0, ""),
    ("trading.default_lots", "1,5", REFUSED, "write 1.5, not 1,5"),
    ("trading.default_lots", "1.5", REFUSED, "enter a whole number, not '1.5'"),
    ("trading.default_lots", "1e3", REFUSED, "write 1000, not 1e3"),
    ("trading.default_lots", "1,000", 1000, ""),
    ("trading.default_lots", "-5", REFUSED, "enter at least 1, not -5"),
    ("trading.default_lots", "99999", REFUSED, "enter at most 10000, not 99999"),
    ("signals.lots_multiplier", "1,5", REFUSED, "write 1.5, not 1,5"),
]


@pytest.fixture(params=["C", "en_IN"])
def dialog(
    request: pytest.FixtureRequest, qtbot: QtBot, tmp_path: Path
) -> Iterator[SettingsDialog]:
    before = QLocale()
    QLocale.setDefault(QLocale(request.param))
    dialog = SettingsDialog(SettingsStore(tmp_path / "settings.yaml"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    yield dialog
    QLocale.setDefault(before)


def stored(store: SettingsStore, path: str) -> Any:
    group, name = path.split(".")
    return getattr(getattr(store.current, group), name)


def type_into(dialog: SettingsDialog, path: str, text: str) -> QAbstractSpinBox:
    dialog.show_group(path.split(".")[0])
    box = dialog.editors[path].widget
    assert isinstance(box, QAbstractSpinBox)
    box.setFocus()
    box.lineEdit().selectAll()
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Delete)
    QTest.keyClicks(box.lineEdit(), text)
    return box


@pytest.mark.parametrize(("path", "typed", "applied", "words"), TYPED)
def test_settings_dialog_number_typed_then_applied_is_read_as_meant_or_refused_in_words(
    qtbot: QtBot, dialog: SettingsDialog, path: str, typed: str, applied: Any, words: str
) -> None:
    before = stored(dialog.store, path)
    box = type_into(dialog, path, typed)
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Tab)
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)

    editor = dialog.editors[path]
    if applied is REFUSED:
        assert stored(dialog.store, path) == before, f"{typed!r} applied"
        assert box.lineEdit().text() == typed, "the text stays as typed, to be corrected"
        assert words in editor.problem
        assert box.property("problem") is True, "the field is outlined"
        assert not dialog.apply_button.isEnabled()
        assert dialog.status.text() == "1 to correct before Apply."
    else:
        assert stored(dialog.store, path) == applied
        assert type(stored(dialog.store, path)) is type(applied)
        assert editor.problem == ""


def test_settings_dialog_enter_on_a_refused_number_keeps_the_window_and_applies_nothing(
    dialog: SettingsDialog,
) -> None:
    box = type_into(dialog, "signals.max_age_seconds", "1,5")
    QTest.keyClick(box.lineEdit(), Qt.Key.Key_Return)  # the dialog's OK button is its default

    assert dialog.isVisible()
    assert dialog.store.current.signals.max_age_seconds == 60.0
    assert box.lineEdit().text() == "1,5"
    assert "write 1.5, not 1,5" in dialog.editors["signals.max_age_seconds"].problem


def test_settings_dialog_refused_number_corrected_applies_and_clears_the_words(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    box = type_into(dialog, "trading.default_lots", "1,5")
    box.lineEdit().selectAll()
    QTest.keyClicks(box.lineEdit(), "3")
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)

    assert dialog.store.current.trading.default_lots == 3
    assert dialog.editors["trading.default_lots"].problem == ""
    assert box.property("problem") is False
