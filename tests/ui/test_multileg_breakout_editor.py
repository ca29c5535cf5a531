"""The portfolio editor's Range breakout and Extra conditions pages: generated from their
schemas, loaded and given back as they were, a contradiction refused in words on its page and
nothing saved until it is put right."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from tests.multileg_support import template_spec
from ui.panels.multileg_editor import PortfolioEditor


def test_breakout_multileg_editor_pages_refuse_contradictions_in_words(
    qtbot, engine, context
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    titles = [editor.pages.item(i).text() for i in range(editor.pages.count())]
    # The breakout's pages, then the re-entry and hedge pages merged after them.
    assert titles[-4:] == ["Range breakout", "Extra conditions", "Re-entry", "Dynamic hedge"]
    data: dict[str, Any] = template_spec(
        engine,
        "short_straddle",
        "ORB",
        execution={"start": "09:15:00"},
        range_breakout={
            "enabled": True,
            "range_start": "09:15:00",
            "range_end": "09:30:00",
            "entry_at": "CE on high, PE on low",
            "cancel_other_side": False,
        },
        conditions={"leg_wait": {"legs": ["Leg 2"], "move": "10", "force_after_seconds": 30}},
    )
    editor.load(data)
    qtbot.waitUntil(lambda: bool(editor.problems))
    [(path, what)] = editor.problems
    assert path == "range_breakout"
    assert what.startswith("the range's other side cannot be both the stop of the first side")
    assert editor.pages.item(8).text() == "Range breakout  ⚠ 1"
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert engine.api.portfolios() == []

    cancel = editor.editor("range_breakout.cancel_other_side")
    assert cancel is not None
    cancel.widget.setChecked(True)
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert editor.problems == []
    saved = engine.api.portfolio("ORB")
    assert saved is not None and saved.range_breakout.cancel_other_side
    assert [leg.value for leg in saved.conditions.leg_wait.legs] == ["Leg 2"]  # type: ignore[union-attr]
