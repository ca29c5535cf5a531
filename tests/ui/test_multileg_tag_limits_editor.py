"""The account and strategy tag limits dialog, generated from the limits' schemas: values saved
reach the engine; contradictory ones are refused in words and not saved; a picture is saved (to
``$DALALDESK_SHOTS`` when set)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from ui.panels.multileg_limits import LimitsEditor


def test_multileg_tag_limits_editor_saves_and_refuses_in_words(qtbot, context, tmp_path) -> None:
    api = context.api
    assert api.set_tag_limits("weekly", {"max_loss": "4000"}) is None
    dialog = LimitsEditor(context)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.tag.currentText() == "weekly"
    assert dialog.tag_limits.value()["max_loss"] == "4000.00"
    dialog.account.set_value(
        {
            "max_loss": "20000",
            "square_off": "15:05:00",
            "multiplier": 2,
            "trail_from": "8000",
            "trail_gap": "2500",
        }
    )
    assert dialog.save_account_limits() is None
    saved = api.account_limits()
    assert saved is not None and saved.multiplier == 2 and saved.max_loss == Decimal(20000)
    dialog.tag_limits.set_value({"max_profit": "3000", "trail_from": "5000", "trail_gap": "500"})
    problem = dialog.save_tag_limits()
    assert problem is not None and "it would never trail" in problem
    assert dialog.tag_feedback.text() == problem
    assert api.tag_limits()["weekly"].max_loss == Decimal(4000)  # nothing saved
    folder = Path(os.environ.get("DALALDESK_SHOTS") or tmp_path)
    assert dialog.grab().save(str(folder / "limits_editor_refused.png"))


def test_multileg_tag_limits_open_from_the_multileg_panel(qtbot, context) -> None:
    from ui.panels.multileg import MultilegPanel

    panel = MultilegPanel(context)
    qtbot.addWidget(panel)
    panel.buttons["multileg_limits"].click()
    dialog = panel.limits_dialog
    assert isinstance(dialog, LimitsEditor) and dialog.isVisible()
    panel.limits_action.trigger()
    assert panel.limits_dialog is dialog  # one dialog, raised again
    dialog.close()
