"""The portfolio editor gives back what it was given: a delta of 0.255, a premium of 50.125, a
1 ms interval and a start at 09:20:00.5 survive open and Save unrounded, and a value with more
places than it holds is said to be rounded; a premium rule's "to ₹" is there only for the rule
that reads it, and after Save the form shows what was saved; a square-off after the F&O close is
noted at its field (Save goes ahead) and a portfolio with no run day is refused at its field."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QTime

from ui.panels.multileg_editor import PortfolioEditor
from ui.panels.schema_fields import OptionalEditor
from ui.panels.schema_form import UnionEditor

PRECISE: dict[str, Any] = {
    "defaults": {"name": "Precise", "strike_step": "0.125"},
    "legs": [
        {"side": "SELL", "instrument": "PE", "strike": {"kind": "delta", "delta": 0.255}},
        {
            "side": "SELL",
            "instrument": "CE",
            "strike": {"kind": "premium", "value": "50.125"},
            "stop": {"measure": "percent", "value": "12.345"},
        },
    ],
    "execution": {"start": "09:20:00.500000", "delay_between_legs": 0.125},
    "monitoring": {"interval_seconds": 0.001},
    "at_broker": {"catastrophe_pct": "150.555"},
}


def test_multileg_editor_when_a_portfolio_is_opened_and_saved_keeps_every_value_unrounded(
    qtbot, engine, context
) -> None:
    assert engine.api.save_portfolio(PRECISE) is None
    saved = engine.api.portfolio("Precise")
    editor = PortfolioEditor(context, "Precise")
    qtbot.addWidget(editor)
    assert editor.feedback.text() == ""  # nothing rounded on the way in
    assert engine.api.check_portfolio(editor.value()) == saved
    assert editor.save(), editor.feedback.text()
    assert engine.api.portfolio("Precise") == saved
    legs = editor.sections["legs"]
    delta = legs.rows[0].fields["strike"]
    assert isinstance(delta, UnionEditor)
    assert delta.value() == {"kind": "delta", "delta": 0.255}
    start = editor.editor("execution.start")
    assert isinstance(start, OptionalEditor) and start.inner.widget.text() == "09:20:00.500"


def test_multileg_editor_when_a_value_has_more_places_than_it_holds_says_what_it_rounded(
    qtbot, context
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    data = copy.deepcopy(PRECISE)
    data["legs"][0]["strike"]["delta"] = 0.12345678
    said = editor.load(data)
    assert said == (
        "values rounded to the places the editor holds (legs.0.strike.delta 0.12345678 → 0.123457)"
    )
    editor.dirty = False


def test_multileg_editor_premium_upper_bound_shows_only_for_a_range_and_save_shows_the_saved(
    qtbot, engine, context
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    editor.show()
    editor.editor("defaults.name").set_value("Premium rule")  # type: ignore[union-attr]
    editor.pages.setCurrentRow(list(editor.titles).index("legs"))
    strike = editor.sections["legs"].rows[0].fields["strike"]
    assert isinstance(strike, UnionEditor)
    strike.kind.widget.setCurrentIndex(strike.kind.widget.findData("premium"))
    premium = strike.kinds["premium"]
    rule, upper = premium.fields["rule"], premium.fields["upper"]
    assert isinstance(upper, OptionalEditor)
    rule.widget.setCurrentIndex(rule.widget.findData("between"))
    assert upper.widget.isVisible()
    upper.set_value("80")
    assert strike.value()["upper"] == "80.00"
    rule.widget.setCurrentIndex(rule.widget.findData("at_most"))
    assert not upper.widget.isVisible()  # "at most" has no upper bound: nothing to type in
    assert strike.value()["upper"] is None  # nor one given to the engine to drop
    assert editor.save(), editor.feedback.text()
    saved = engine.api.portfolio("Premium rule")
    assert saved is not None and saved.legs[0].strike.upper is None  # type: ignore[union-attr]
    shown = editor.sections["legs"].rows[0].fields["strike"].value()
    assert shown == saved.legs[0].strike.model_dump(mode="json")  # the form shows the saved
    assert not upper.on
    rule.widget.setCurrentIndex(rule.widget.findData("between"))
    assert upper.widget.isVisible() and not upper.on


def test_multileg_editor_square_off_after_the_close_is_noted_at_its_field_and_saves(
    qtbot, engine, context
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    editor.editor("defaults.name").set_value("Late exit")  # type: ignore[union-attr]
    square_off = editor.editor("execution.square_off")
    assert isinstance(square_off, OptionalEditor)
    square_off.inner.widget.setTime(QTime(15, 45))
    assert editor.check() is not None  # a note, not a problem
    note = (
        "an exit at 15:45:00 cannot trade: NSE's F&O market is open 09:15–15:40 on 23 Nov 2026 "
        "by the packaged calendar"
    )
    assert editor.notes == [("execution.square_off", note)]
    assert square_off.note == note and square_off.problem == ""
    assert square_off.problem_label is not None
    assert square_off.problem_label.text() == f"Note: {note}"
    listed = [editor.problem_list.item(i).text() for i in range(editor.problem_list.count())]
    assert listed == [f"note: execution.square_off: {note}"]
    assert editor.save()
    assert "1 note on its times (listed below)" in editor.feedback.text()
    square_off.inner.widget.setTime(QTime(15, 15))
    assert editor.check() is not None and editor.notes == []
    assert square_off.problem_label.text() == "" and square_off.note == ""
    editor.dirty = False


def test_multileg_editor_with_no_run_day_is_refused_at_the_field(qtbot, context) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    editor.editor("defaults.name").set_value("Never")  # type: ignore[union-attr]
    days = editor.editor("defaults.run_on")
    assert days is not None
    days.set_value([])
    assert editor.check() is None
    said = "choose at least one weekday to run on: with none it never enters"
    assert editor.problems == [("defaults.run_on", said)]
    assert days.problem == said
    assert not editor.save()
    editor.dirty = False
