"""The legs table: adding, copying, deleting and moving a leg touch that leg's row alone (the
other rows' widgets stay as they are, not rebuilt), a file with more legs than a portfolio holds
is refused before a row is built, a leg's actions are built only once switched on, and every
"execute leg N" action still names the leg the trader chose after legs move; one whose leg was
deleted is a problem at its field."""

from __future__ import annotations

from typing import Any

import pytest

from ui.panels.multileg_editor import PortfolioEditor
from ui.panels.multileg_legs import MAX_LEGS, LegsEditor
from ui.panels.schema_fields import OptionalEditor

STOP = {"measure": "percent", "value": "30"}


def leg(offset: int, **more: Any) -> dict[str, Any]:
    return {"side": "SELL", "instrument": "PE", "strike": {"kind": "atm", "offset": offset}, **more}


def open_editor(
    qtbot: Any, context: Any, legs: list[dict[str, Any]]
) -> tuple[PortfolioEditor, LegsEditor]:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    editor.load({"defaults": {"name": "Rows"}, "legs": legs})
    table = editor.sections["legs"]
    assert isinstance(table, LegsEditor)
    return editor, table


def offsets(table: LegsEditor) -> list[int]:
    return [row["strike"]["offset"] for row in table.value()]  # type: ignore[index]


def executes(table: LegsEditor) -> list[int | None]:
    """Each leg's "execute leg N" on its stop (None: no such action, or no leg chosen)."""
    found = []
    for row in table.value():
        assert row is not None
        reaction = row["on_stop"]
        found.append(None if reaction is None else reaction["leg"])
    return found


def test_multileg_legs_when_copied_deleted_or_moved_keep_the_other_rows_as_they_are(
    qtbot, context
) -> None:
    editor, table = open_editor(qtbot, context, [leg(n) for n in range(5)])
    first, second, last = table.rows[0], table.rows[1], table.rows[4]
    widget = first.fields["lots"].widget
    table.table.selectRow(2)
    table.copy_leg()
    assert offsets(table) == [0, 1, 2, 2, 3, 4]
    assert table.rows[0] is first and table.rows[1] is second and table.rows[5] is last
    assert table.rows[0].fields["lots"].widget is widget  # not rebuilt
    assert [row.path for row in table.rows] == [f"legs.{n}" for n in range(6)]
    assert [table.table.item(n, 0).text() for n in range(6)] == ["1", "2", "3", "4", "5", "6"]
    assert table.rows[5].fields["lots"].path == "legs.5.lots"  # renumbered with its row
    table.table.selectRow(1)
    table.delete_leg()
    assert offsets(table) == [0, 2, 2, 3, 4]
    assert table.rows[0] is first and table.rows[4] is last
    assert table.rows[4].fields["strike"].path == "legs.4.strike"
    table.table.selectRow(0)
    table.move_leg(+1)
    assert offsets(table) == [2, 0, 2, 3, 4] and table.current == 1
    assert table.rows[0] is first  # its row shows the other leg's values now
    editor.dirty = False


def test_multileg_legs_when_more_than_a_portfolio_holds_are_refused_before_a_row_is_built(
    qtbot, context
) -> None:
    editor, table = open_editor(qtbot, context, [leg(0), leg(1)])
    rows = list(table.rows)
    with pytest.raises(ValueError, match=f"2000 legs; a portfolio holds at most {MAX_LEGS}"):
        table.set_value([leg(0)] * 2000)
    assert table.rows == rows and table.table.rowCount() == 2
    assert not table.paste_text("||".join(["Strike:ATM|Txn:SELL|Ins:CE|Expiry:CW|Lots:1"] * 11))
    assert table.text_feedback.text() == (
        f"Not pasted: the text writes 11 legs; a portfolio holds at most {MAX_LEGS}"
    )
    assert table.rows == rows
    editor.dirty = False


def test_multileg_legs_actions_are_built_only_once_switched_on(qtbot, context) -> None:
    editor, table = open_editor(qtbot, context, [leg(0, stop=STOP), leg(1)])
    for row in table.rows:
        for name in ("target", "trail", "on_target", "on_stop"):
            field = row.fields[name]
            assert isinstance(field, OptionalEditor) and not field.built, name
    stop = table.rows[0].fields["stop"]
    assert isinstance(stop, OptionalEditor) and stop.built and stop.on
    on_stop = table.rows[0].fields["on_stop"]
    assert isinstance(on_stop, OptionalEditor)
    on_stop.switch.setChecked(True)  # the trader switches it on: built, at its field's path
    assert on_stop.built and on_stop.inner.path == "legs.0.on_stop"
    editor.dirty = False


def test_multileg_legs_when_moved_or_copied_still_execute_the_leg_the_trader_chose(
    qtbot, context
) -> None:
    run_leg3 = {"action": "execute_leg", "leg": 3}
    editor, table = open_editor(
        qtbot,
        context,
        [leg(0, stop=STOP, on_stop=run_leg3), leg(-5, idle=True), leg(5, idle=True)],
    )
    table.table.selectRow(2)
    table.move_leg(-1)  # leg 3 becomes leg 2
    assert offsets(table) == [0, 5, -5] and executes(table) == [2, None, None]
    table.table.selectRow(0)
    table.move_leg(+1)  # the leg with the action becomes leg 2, its target leg 1
    assert offsets(table) == [5, 0, -5] and executes(table) == [None, 1, None]
    table.table.selectRow(0)
    table.copy_leg()  # a copy of leg 1 is leg 2: the legs from it on are numbered one more
    assert offsets(table) == [5, 5, 0, -5] and executes(table) == [None, None, 1, None]
    table.table.selectRow(1)
    table.delete_leg()
    assert offsets(table) == [5, 0, -5] and executes(table) == [None, 1, None]
    spec = editor.check()
    assert spec is not None, editor.problems
    assert spec.legs[1].on_stop is not None and spec.legs[1].on_stop.leg == 1
    editor.dirty = False


def test_multileg_legs_when_the_executed_leg_is_deleted_say_so_at_the_action(
    qtbot, context
) -> None:
    run_leg3 = {"action": "execute_leg", "leg": 3}
    editor, table = open_editor(
        qtbot,
        context,
        [leg(0, stop=STOP, on_stop=run_leg3), leg(-5, idle=True), leg(5, idle=True)],
    )
    table.table.selectRow(2)
    table.delete_leg()
    assert executes(table) == [None, None]  # not leg 3 of what is left: no leg at all
    assert editor.check() is None
    said = "it executed leg 3, which was deleted: choose the idle leg it executes now"
    assert ("legs.0.on_stop.leg", said) in editor.problems
    number = editor.editor("legs.0.on_stop.leg")
    assert number is not None and number.problem == said
    assert all(w.property("problem") is True for w in number.problem_widgets())
    table.table.selectRow(0)
    table.copy_leg()  # the copy's action lost its leg too
    assert editor.check() is None
    assert {p for p, _w in editor.problems if p.endswith(".leg")} == {
        "legs.0.on_stop.leg",
        "legs.1.on_stop.leg",
    }
    table.table.selectRow(1)
    table.delete_leg()
    assert number.set_value(2) is None  # the trader chooses leg 2: the problem goes
    assert editor.check() is not None, editor.problems
    assert editor.problems == []
    editor.dirty = False
