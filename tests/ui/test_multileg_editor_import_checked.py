"""The portfolio editor's Import asks the engine first: a file the engine refuses is not turned
into another portfolio that passes the check (a -5 stop clamped to 0.01, NaN to 100,000,000, a
Stoxxo key dropped, leg text read as one default leg), it is not loaded and each problem is said
with its field. Each field's editor refuses a value it cannot show rather than clamping it; a
file saved with a byte-order mark (Notepad's UTF-8) is read."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDoubleSpinBox

from engine.strategies.multileg.spec import Defaults, DeltaStrike, Execution, Leg, LegLevel
from ui.panels.multileg_editor import PortfolioEditor
from ui.panels.schema_fields import NumberEditor, SetEditor, TimeEditor
from ui.panels.schema_form import FORM, ModelEditor, build_editor

LEG = {"side": "SELL", "instrument": "CE", "expiry": "CW"}


def portfolio(**changes: Any) -> dict[str, Any]:
    legs = [dict(LEG, **changes.pop("leg", {}))]
    return {"defaults": {"name": "Refused", **changes.pop("defaults", {})}, "legs": legs, **changes}


REFUSED = {
    "negative_stop.json": (
        portfolio(leg={"stop": {"measure": "points", "value": "-5"}}),
        "legs.0.stop.value (leg 1): Input should be greater than 0",
    ),
    "nan_stop.json": (
        portfolio(leg={"stop": {"measure": "points", "value": "NaN"}}),
        "legs.0.stop.value (leg 1): Input should be a finite number",
    ),
    "delta.json": (
        portfolio(leg={"strike": {"kind": "delta", "delta": 1.5}}),
        "legs.0.strike.delta.delta (leg 1): Input should be less than 1",
    ),
    "buffer.json": (
        portfolio(execution={"limit_buffer_pct": "25"}),
        "execution.limit_buffer_pct: Input should be less than or equal to 20",
    ),
    "stoxxo.json": (
        portfolio(leg={"wait_trade": "-5%"}),
        "legs.0.wait_trade (leg 1): Extra inputs are not permitted",
    ),
    "positional.json": (
        portfolio(positional={"sqoff_day": 0}),
        "positional: Extra inputs are not permitted",
    ),
    "leg_text.json": (
        {"defaults": {"name": "Refused"}, "legs": ["Strike:ATM+2|Txn:BUY|Ins:PE|Lots:3"]},
        "legs.0 (leg 1): Input should be a valid dictionary",
    ),
    "run_days.json": (
        portfolio(defaults={"run_on": "Mon"}),
        "defaults.run_on: Input should be a valid frozenset",
    ),
    "many_legs.json": (
        {"defaults": {"name": "Refused"}, "legs": [LEG] * 300},
        "legs: List should have at most 10 items after validation, not 300",
    ),
}


def test_multileg_editor_import_when_the_engine_refuses_the_file_loads_nothing_and_says_where(
    qtbot, context, tmp_path: Path
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    editor.load_template("short_straddle")
    before = editor.value()
    for name, (body, said) in REFUSED.items():
        path = tmp_path / name
        path.write_text(json.dumps({"portfolio": body}))
        assert context.api.import_portfolio(path) is not None, name  # the panel's Import refuses
        assert not editor.import_file(str(path)), name
        assert editor.feedback.text().startswith(f"{name} cannot be opened here: "), name
        assert said in editor.feedback.text(), (name, editor.feedback.text())
        assert editor.value() == before, name  # the form is as it was: nothing else was made
        assert len(editor.sections["legs"].rows) == 2, name
    editor.dirty = False


def test_multileg_editor_import_when_the_file_has_a_byte_order_mark_loads_it(
    qtbot, context, tmp_path: Path
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    body = portfolio(defaults={"name": "Notepad"}, leg={"lots": 3})
    path = tmp_path / "notepad.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"portfolio": body}).encode())
    assert editor.import_file(str(path)), editor.feedback.text()
    assert editor.feedback.text() == "Loaded notepad.json: check it, then Save to add it."
    spec = editor.check()
    assert spec is not None and spec.name == "Notepad" and spec.legs[0].lots == 3
    editor.dirty = False


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("stop", "-5", "legs.0.stop.value: -5 is not above 0"),
        ("stop", "NaN", "legs.0.stop.value: NaN is not a finite number"),
        ("stop", "Infinity", "legs.0.stop.value: Infinity is not a finite number"),
        ("stop", "abc", "legs.0.stop.value: 'abc' is not a number"),
        ("stop", True, "legs.0.stop.value: True is not a number"),
        ("stop", [5], "legs.0.stop.value: [5] is not a number"),
        ("delta", 1.5, "legs.0.strike.delta.delta: 1.5 is not below 1"),
        ("delta", 0, "legs.0.strike.delta.delta: 0 is not above 0"),
        ("buffer", "25", "execution.limit_buffer_pct: 25 is not at most 20"),
        ("buffer", 10**9, f"execution.limit_buffer_pct: {10**9} is not at most 20"),
    ],
)
def test_multileg_number_field_when_given_a_value_it_cannot_hold_refuses_it_unclamped(
    qtbot, field: str, value: Any, said: str
) -> None:
    schema, path, name = {
        "stop": (LegLevel, "legs.0.stop", "value"),
        "delta": (DeltaStrike, "legs.0.strike.delta", "delta"),
        "buffer": (Execution, "execution", "limit_buffer_pct"),
    }[field]
    form = ModelEditor(schema, path, "")  # holds the field's widget
    number = form.fields[name]
    assert isinstance(number, NumberEditor)
    shown = number.value()
    with pytest.raises(ValueError) as refused:
        number.set_value(value)
    assert str(refused.value) == said
    assert number.value() == shown  # not clamped into the nearest value it can hold
    number.set_value("0.5")  # a value within bounds is taken as it is
    assert Decimal(str(number.value())) == Decimal("0.5")


def test_multileg_editor_fields_when_given_the_wrong_kind_of_value_refuse_it(qtbot) -> None:
    defaults = ModelEditor(Defaults, "defaults", "Portfolio")
    days = defaults.fields["run_on"]
    assert isinstance(days, SetEditor)
    with pytest.raises(ValueError, match=r"defaults\.run_on: 'Mon' is not a list"):
        days.set_value("Mon")  # not the letters M, o, n
    with pytest.raises(ValueError, match=r"defaults\.run_on: 'Sun' is not one of Mon, Tue"):
        days.set_value(["Mon", "Sun"])
    days.set_value(["Mon", "Wed"])
    assert sorted(days.value()) == ["Mon", "Wed"]
    start = build_editor(Execution.model_fields["start"].annotation, None, "execution.start", "")
    with pytest.raises(ValueError, match=r"execution\.start: 33300 is not a time of day"):
        start.set_value(33300)
    name = defaults.fields["name"]
    with pytest.raises(ValueError, match=r"defaults\.name: 123 is not text"):
        name.set_value(123)
    leg = ModelEditor(Leg, "legs.0", "Leg 1", layout=FORM)
    with pytest.raises(ValueError, match=r"legs\.0\.wait_trade: not a setting here"):
        leg.set_value({**LEG, "wait_trade": "-5%"})
    with pytest.raises(ValueError, match=r"legs\.0: the text 'Strike:ATM' is not a group"):
        leg.set_value("Strike:ATM")
    with pytest.raises(ValueError, match=r"legs\.0\.lots: True is not a whole number"):
        leg.set_value({**LEG, "lots": True})
    with pytest.raises(ValueError, match=r"legs\.0\.strike: 'iv' is not one of the kinds"):
        leg.set_value({**LEG, "strike": {"kind": "iv"}})


def test_multileg_time_field_when_given_milliseconds_keeps_them(qtbot) -> None:
    start = TimeEditor("execution.start", "Start", "")
    start.set_value("09:20:00.500000")
    assert start.value() == "09:20:00.500"
    start.set_value("09:20:30")
    assert start.value() == "09:20:30"


def test_multileg_number_field_when_given_more_places_than_it_shows_widens_to_hold_them(
    qtbot,
) -> None:
    strike = ModelEditor(DeltaStrike, "legs.0.strike.delta", "Δ")
    delta = strike.fields["delta"]
    assert isinstance(delta, NumberEditor) and isinstance(delta.widget, QDoubleSpinBox)
    delta.set_value(0.004)  # above its bound of 0, below its two places
    assert delta.value() == 0.004 and delta.widget.decimals() >= 3
    level = ModelEditor(LegLevel, "legs.0.stop", "Stop")
    stop = level.fields["value"]
    stop.set_value("50.125")
    assert stop.value() == "50.125"
