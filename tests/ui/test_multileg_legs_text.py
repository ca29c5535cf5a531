"""The portfolio editor's legs as one line of leg text: copied to the clipboard as Stoxxo writes
them, pasted in place of the legs and saved as pasted; text that cannot be read, or legs
that are not valid, change nothing and say why."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ui.panels.multileg_editor import PortfolioEditor
from ui.panels.multileg_legs import LegsEditor

PASTED = (
    "Strike:ATM+1|Txn:SELL|Ins:CE|Expiry:CW|Lots:2|SL:Premium:30%"
    "||Strike:Premium~40|Scan:OTM|Txn:SELL|Ins:PE|Expiry:W1|Lots:2|SL:AbsolutePremium:90.50"
    "||Strike:ATM+6|Txn:BUY|Ins:CE|Expiry:CW|Lots:2|Hedge:YES"
)


def open_editor(qtbot: Any, context: Any) -> tuple[PortfolioEditor, LegsEditor]:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    legs = editor.sections["legs"]
    assert isinstance(legs, LegsEditor)
    return editor, legs


def test_multileg_legs_when_copied_as_text_are_on_the_clipboard_as_stoxxo_writes_them(
    qtbot, context
) -> None:
    editor, legs = open_editor(qtbot, context)
    editor.load_template("iron_condor")
    QApplication.clipboard().clear()
    qtbot.mouseClick(legs.copy_text_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == (
        "Strike:ATM+2|Txn:SELL|Ins:CE|Expiry:CW|Lots:1"
        "||Strike:ATM-2|Txn:SELL|Ins:PE|Expiry:CW|Lots:1"
        "||Strike:ATM+5|Txn:BUY|Ins:CE|Expiry:CW|Lots:1|Hedge:YES"
        "||Strike:ATM-5|Txn:BUY|Ins:PE|Expiry:CW|Lots:1|Hedge:YES"
    )
    assert legs.text_feedback.text() == "Copied 4 legs as text."
    editor.dirty = False


def test_multileg_legs_when_pasted_replace_the_legs_and_save_as_pasted(
    qtbot, engine, context
) -> None:
    editor, legs = open_editor(qtbot, context)
    editor.load_template("iron_condor")
    QApplication.clipboard().setText(PASTED)
    qtbot.mouseClick(legs.paste_text_button, Qt.MouseButton.LeftButton)
    assert legs.table.rowCount() == 3
    assert legs.text_feedback.text() == "Pasted 3 legs: check them, then Save."
    name = editor.editor("defaults.name")
    assert name is not None
    name.set_value("Pasted condor")
    assert editor.save()
    # Equal in value: the editor's rupee fields show two places, so 30 comes back as 30.00.
    saved = engine.api.portfolio("Pasted condor")
    assert saved is not None and saved.legs == engine.api.legs_from_text(PASTED)


def test_multileg_legs_when_pasted_text_is_malformed_keep_the_legs_and_say_where(
    qtbot, context
) -> None:
    editor, legs = open_editor(qtbot, context)
    editor.load_template("short_straddle")
    before = legs.value()
    QApplication.clipboard().setText("Strike:ATM|Txn:SELL|Ins:CE|Expiry:CW|Lots:two")
    qtbot.mouseClick(legs.paste_text_button, Qt.MouseButton.LeftButton)
    assert legs.text_feedback.text() == (
        "Not pasted: leg 1, at column 43: Lots must be a whole number ≥ 1, got 'two'"
    )
    assert legs.value() == before
    editor.dirty = False


def test_multileg_legs_when_a_leg_is_not_valid_are_not_copied_and_say_which(qtbot, context) -> None:
    editor, legs = open_editor(qtbot, context)
    legs.set_value([{"side": "BUY"}, {"side": "SELL", "hedge": True}])
    QApplication.clipboard().setText("unchanged")
    assert legs.copy_as_text() is None
    assert legs.text_feedback.text() == "Not copied: legs.1: a hedge leg is bought"
    assert QApplication.clipboard().text() == "unchanged"
    editor.dirty = False


def test_multileg_legs_when_pasted_values_have_more_decimals_than_the_editor_holds_say_so(
    qtbot, context
) -> None:
    editor, legs = open_editor(qtbot, context)
    assert legs.paste_text("Strike:Delta~0.12345678|Txn:SELL|Ins:PE|Expiry:CW|Lots:2")
    assert legs.text_feedback.text() == (
        "Pasted 1 leg, some values rounded to the 6 decimal places the editor holds: check "
        "them, then Save."
    )
    assert legs.value()[0]["strike"] == {"kind": "delta", "delta": 0.123457}
    # A delta of three places is held as it is: nothing is rounded, nothing said.
    assert legs.paste_text("Strike:Delta~0.123|Txn:SELL|Ins:PE|Expiry:CW|Lots:2")
    assert legs.text_feedback.text() == "Pasted 1 leg: check them, then Save."
    assert legs.value()[0]["strike"] == {"kind": "delta", "delta": 0.123}
    editor.dirty = False
