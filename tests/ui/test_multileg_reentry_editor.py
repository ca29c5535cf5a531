"""The portfolio editor's pages for the legs' target and stop actions, the re-entry guards and the
dynamic hedge, generated from their schemas: a portfolio with them loads and gives back exactly
what it was; contradictory settings are refused in words at their field; a picture of each page
is saved (to ``$DALALDESK_SHOTS`` when set, for a person to look at)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from ui.panels.multileg_editor import PortfolioEditor

PORTFOLIO: dict[str, Any] = {
    "defaults": {"name": "Straddle again", "tag": "weekly"},
    "legs": [
        {
            "side": "SELL",
            "instrument": "CE",
            "stop": {"measure": "percent", "value": "30"},
            "on_stop": {"action": "re_execute", "count": 2, "after_fill": True},
        },
        {
            "side": "SELL",
            "instrument": "PE",
            "stop": {"measure": "percent", "value": "30"},
            "on_stop": {"action": "re_entry_at_cost", "count": 1},
        },
    ],
    "reentry": {"leg_safety_seconds": 3, "max_per_portfolio": 4},
    "hedge": {"enabled": True, "min_distance": 8, "max_distance": 16, "max_premium": "12"},
}


def shoot(editor: PortfolioEditor, page: str, tmp_path: Path, name: str) -> Path:
    row = next(
        r for r in range(editor.pages.count()) if editor.pages.item(r).text().startswith(page)
    )
    editor.pages.setCurrentRow(row)
    folder = Path(os.environ.get("DALALDESK_SHOTS") or tmp_path)
    path = folder / name
    assert editor.grab().save(str(path))
    return path


def test_multileg_reentry_editor_pages_round_trip_and_refuse_contradictions_in_words(
    qtbot, context, tmp_path
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    editor.show()
    editor.load(PORTFOLIO)
    assert editor.check() is not None, editor.problems
    again = context.api.check_portfolio(editor.value())
    assert again == context.api.check_portfolio(PORTFOLIO)  # nothing lost on the way
    titles = [editor.pages.item(r).text() for r in range(editor.pages.count())]
    assert titles[-2:] == ["Re-entry", "Dynamic hedge"]
    table = editor.sections["legs"].table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[-2:] == ["On target", "On stop"], headers
    shots = [
        shoot(editor, "Re-entry", tmp_path, "editor_reentry.png"),
        shoot(editor, "Dynamic hedge", tmp_path, "editor_hedge.png"),
        shoot(editor, "Legs", tmp_path, "editor_legs.png"),
    ]
    bar = table.horizontalScrollBar()
    bar.setValue(bar.maximum())  # the legs' actions: the last columns
    shots.append(shoot(editor, "Legs", tmp_path, "editor_legs_actions.png"))
    assert all(shot.stat().st_size > 10_000 for shot in shots)

    # Contradictions: keep the leg running while re-entering it; an empty premium band.
    bad = {
        **PORTFOLIO,
        "legs": [
            {
                **PORTFOLIO["legs"][0],
                "on_stop": {"action": "re_entry_at_cost", "keep_leg_running": True},
            },
            PORTFOLIO["legs"][1],
        ],
        "hedge": {"enabled": True, "min_premium": "20", "max_premium": "5"},
    }
    editor.load(bad)
    assert editor.check() is None
    listed = [editor.problem_list.item(i).text() for i in range(editor.problem_list.count())]
    assert any(
        "keep leg running cannot go with re entry at cost: that action closes the leg" in line
        for line in listed
    ), listed
    assert any("the hedge premium band ₹20.00–₹5.00 is empty" in line for line in listed), listed
    rows = min(len(listed), 5)  # each problem in view, however tall the window
    assert editor.problem_list.height() >= rows * editor.problem_list.sizeHintForRow(0)
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert context.api.portfolios() == []
    shoot(editor, "Dynamic hedge", tmp_path, "editor_hedge_refused.png")
    bar.setValue(bar.maximum())
    shoot(editor, "Legs", tmp_path, "editor_legs_refused.png")


def test_multileg_combined_reexecute_editor_page_refuses_a_count_above_the_action_cap(
    qtbot, context, tmp_path
) -> None:
    combined = {
        **PORTFOLIO,
        "target": {"combined": {"value": "3000", "re_execute": 2}},
        "stop_loss": {"combined": {"value": "2000", "re_execute": 1}},
        "reentry": {"leg_safety_seconds": 3, "max_per_portfolio": 4},
    }
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    editor.show()
    editor.load(combined)
    assert editor.check() is not None, editor.problems
    assert context.api.check_portfolio(editor.value()) == context.api.check_portfolio(combined)
    shot = shoot(editor, "Target", tmp_path, "editor_combined_reexecute.png")
    assert shot.stat().st_size > 10_000

    editor.load({**combined, "reentry": {"leg_safety_seconds": 3, "max_per_portfolio": 1}})
    assert editor.check() is None
    listed = [editor.problem_list.item(i).text() for i in range(editor.problem_list.count())]
    assert any(
        "the combined target re-executes up to 2 times but the portfolio's action cap is 1: "
        "lower one or raise the cap" in line
        for line in listed
    ), listed
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert context.api.portfolios() == []
    shoot(editor, "Target", tmp_path, "editor_combined_reexecute_refused.png")
