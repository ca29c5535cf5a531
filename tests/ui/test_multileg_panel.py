"""The Multileg panel and its editor on the paper market: an iron condor built from its template
through the editor's widgets, saved, started from the keyboard, filled, followed leg by leg
(entry, LTP, P&L, IV and Greeks, stop) and in its orders, squared off and Completed; a bad value
shown at its field path and nothing saved; a portfolio exported and imported under a new name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QTime
from PySide6.QtWidgets import QCheckBox, QMessageBox

from engine.api import PortfolioStatus, Side, StrategyLeg
from ui import format as fmt
from ui.panels.multileg import MultilegPanel, status_brush
from ui.panels.multileg_editor import PortfolioEditor
from ui.panels.schema_fields import OptionalEditor
from ui.panels.schema_form import UnionEditor

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
DISPLAY = Qt.ItemDataRole.DisplayRole


def cell(model: Any, key: Any, title: str, role: Qt.ItemDataRole = DISPLAY) -> Any:
    row = model.row_of(key)
    assert row is not None, f"{key!r} is not in the grid"
    column = [c.title for c in model.columns].index(title)
    return model.index(row, column).data(role)


def column(model: Any, title: str) -> list[str]:
    at = [c.title for c in model.columns].index(title)
    return [model.index(row, at).data(DISPLAY) for row in range(model.rowCount())]


@pytest.fixture
def panel(qtbot, context):  # type: ignore[no-untyped-def]
    panel = MultilegPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1500, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def focus_grid(qtbot, panel: MultilegPanel) -> None:  # type: ignore[no-untyped-def]
    """Keys reach the panel's shortcuts in its active window with its grid focused."""
    panel.activateWindow()
    panel.view.setFocus()
    qtbot.waitUntil(panel.view.hasFocus)


def new_editor(qtbot, panel: MultilegPanel) -> PortfolioEditor:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(panel.buttons["multileg_new"], Qt.MouseButton.LeftButton)
    editor = panel.editors[-1]
    qtbot.waitExposed(editor)
    return editor


def from_template(qtbot, editor: PortfolioEditor, key: str) -> None:  # type: ignore[no-untyped-def]
    editor.template_combo.setCurrentIndex(editor.template_combo.findData(key))
    qtbot.mouseClick(editor.template_button, Qt.MouseButton.LeftButton)


def type_name(qtbot, editor: PortfolioEditor, name: str) -> None:  # type: ignore[no-untyped-def]
    field = editor.editor("defaults.name")
    assert field is not None
    field.widget.setFocus()
    field.widget.selectAll()
    qtbot.keyClicks(field.widget, name)


def tick(qtbot, box: QCheckBox) -> None:  # type: ignore[no-untyped-def]
    """Click a check box on its box (a box without text has nothing else to click)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(7, box.height() // 2))


def set_time(editor: PortfolioEditor, path: str, hour: int, minute: int) -> None:
    field = editor.editor(path)
    assert isinstance(field, OptionalEditor) and field.on
    field.inner.widget.setTime(QTime(hour, minute, 0))


def test_multileg_iron_condor_from_its_template_fills_moves_and_squares_off_to_completed(
    qtbot, engine, context, panel, market
) -> None:
    asked: list[str] = []
    followed: list[Sequence[StrategyLeg]] = []
    greeks_for: list[str] = []

    def confirm(title: str, text: str, action: Any) -> None:
        asked.append(text)
        action()

    context.confirm = confirm
    context.payoff_legs = lambda legs, show: followed.append(legs)
    context.greeks_for = lambda strategy, show: greeks_for.append(strategy)
    assert panel.model.rowCount() == 0

    # -- built in the editor, as a trader would --------------------------------------------------
    editor = new_editor(qtbot, panel)
    from_template(qtbot, editor, "iron_condor")
    type_name(qtbot, editor, "Condor 1")
    set_time(editor, "execution.start", 10, 1)  # the desk's clock says 10:00
    set_time(editor, "execution.square_off", 11, 0)
    editor.pages.setCurrentRow(list(editor.titles).index("legs"))
    legs = editor.sections["legs"]
    stop = legs.rows[0].fields["stop"]
    assert isinstance(stop, OptionalEditor) and not stop.on
    tick(qtbot, stop.switch)  # leg 1: a 30 % stop
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert editor.feedback.text().startswith("Saved Condor 1"), editor.feedback.text()
    assert not editor.problem_list.isVisible()
    spec = engine.api.portfolio("Condor 1")
    assert spec is not None
    assert [(leg.side.value, leg.instrument.value, leg.hedge) for leg in spec.legs] == [
        ("SELL", "CE", False),
        ("SELL", "PE", False),
        ("BUY", "CE", True),
        ("BUY", "PE", True),
    ]
    assert [leg.strike.offset for leg in spec.legs] == [2, -2, 5, -5]  # type: ignore[union-attr]
    assert f"{spec.execution.start:%H:%M}" == "10:01"
    assert spec.legs[0].stop is not None and spec.legs[0].stop.value == Decimal(30)
    qtbot.mouseClick(editor.close_button, Qt.MouseButton.LeftButton)  # saved: no question
    qtbot.waitUntil(lambda: not panel.editors)

    # -- the grid has it; started from the keyboard ----------------------------------------------
    qtbot.waitUntil(lambda: panel.model.row_of("Condor 1") is not None)
    assert cell(panel.model, "Condor 1", "Status") == "Stopped"
    assert cell(panel.model, "Condor 1", "Legs") == "4"
    assert column(panel.legs_model, "Status") == ["idle"] * 4
    panel.select("Condor 1")
    focus_grid(qtbot, panel)
    qtbot.keyClick(panel.view, Qt.Key.Key_S, CTRL_SHIFT)
    assert panel.feedback.text() == "Condor 1 started"
    qtbot.waitUntil(lambda: cell(panel.model, "Condor 1", "Status") == "Pending")
    assert panel.enter_action.isEnabled() and not panel.square_off_action.isEnabled()

    # -- its window opens at 10:01: the legs fill on the paper market ----------------------------
    market(61)
    qtbot.waitUntil(lambda: cell(panel.model, "Condor 1", "Status") == "Started", timeout=3000)
    status_colour = cell(panel.model, "Condor 1", "Status", Qt.ItemDataRole.ForegroundRole)
    assert status_colour == status_brush(PortfolioStatus.STARTED, context.theme.palette)
    qtbot.waitUntil(lambda: column(panel.legs_model, "Status") == ["entered"] * 4)
    rows = panel.legs_model.rows
    assert [r.leg.side for r in rows] == ["SELL", "SELL", "BUY", "BUY"]
    assert column(panel.legs_model, "B/S") == ["SELL", "SELL", "BUY H", "BUY H"]
    strikes = {(r.leg.side, r.leg.instrument): r.leg.strike for r in rows}
    assert strikes[("BUY", "PE")] < strikes[("SELL", "PE")] < strikes[("SELL", "CE")]
    assert strikes[("SELL", "CE")] < strikes[("BUY", "CE")]
    for row in rows:
        assert row.leg.symbol.startswith("NIFTY") and row.leg.entry and row.leg.ltp
        assert cell(panel.legs_model, row.key, "Entry") == fmt.rupees(row.leg.entry)
        assert cell(panel.legs_model, row.key, "IV %"), f"leg {row.key} has no IV"
    deltas = [r.greek("delta") for r in rows]
    assert all(d is not None for d in deltas)
    # Per leg × its signed quantity: the sold call and the bought put are short delta.
    assert deltas[0] < 0 < deltas[1] and deltas[2] > 0 > deltas[3]  # type: ignore[operator]
    assert all((r.greek("theta") or 0) < 0 for r in rows[2:])  # bought legs lose time value
    first = rows[0].leg
    assert first.stop == first.entry * Decimal("1.3")  # type: ignore[operator]
    assert cell(panel.legs_model, 1, "SL") == fmt.rupees(first.stop)
    assert "Δ" in panel.summary.text() and "Condor 1" in panel.summary.text()
    # Its orders: one entry per leg, filled, the hedges bought first.
    qtbot.waitUntil(lambda: panel.orders_model.rowCount() >= 4)
    orders = panel.orders_model.rows
    assert {o.status.value for o in orders} == {"COMPLETE"}
    assert sorted(column(panel.orders_model, "Leg")) == [f"{n} entry #1" for n in (1, 2, 3, 4)]
    assert panel.tabs.tabText(1) == f"Orders ({len(orders)})"
    # Payoff and Greeks follow the selected portfolio.
    assert followed and [leg.quantity > 0 for leg in followed[-1]] == [False, False, True, True]
    assert greeks_for[-1] == "ml.Condor_1"

    # -- the MTM moves with the market, and is the sum of its legs -------------------------------
    before = cell(panel.model, "Condor 1", "MTM ₹")
    for _ in range(40):
        market(5)
        qtbot.wait(250)  # the panel repaints on its own timer
        if cell(panel.model, "Condor 1", "MTM ₹") != before:
            break
    after = cell(panel.model, "Condor 1", "MTM ₹")
    assert after != before, "the MTM never moved"
    [view] = engine.api.portfolios()
    assert after == fmt.signed_rupees(view.mtm)
    assert view.mtm == sum((r.leg.pnl for r in panel.legs_model.rows), Decimal(0))

    # -- squared off from the keyboard (asked first), then Completed ------------------------------
    focus_grid(qtbot, panel)
    qtbot.keyClick(panel.view, Qt.Key.Key_F, CTRL_SHIFT)
    assert asked == ["Square off Condor 1: exit all its legs now (sold legs first)?"]
    for _ in range(20):
        if engine.api.portfolios()[0].status is PortfolioStatus.COMPLETED:
            break
        market(1)
    qtbot.waitUntil(lambda: cell(panel.model, "Condor 1", "Status") == "Completed")
    assert cell(panel.model, "Condor 1", "Reason") == "squared off by the trader"
    qtbot.waitUntil(lambda: column(panel.legs_model, "Status") == ["exited"] * 4)
    assert all(r.leg.exit is not None for r in panel.legs_model.rows)
    assert set(column(panel.legs_model, "Remark")) == {"squared off by the trader"}
    qtbot.waitUntil(lambda: panel.orders_model.rowCount() >= 8)
    assert not panel.square_off_action.isEnabled() and panel.start_action.isEnabled()
    [done] = engine.api.portfolios()
    assert cell(panel.model, "Condor 1", "MTM ₹") == fmt.signed_rupees(done.mtm)
    [pnl] = [p for p in engine.api.strategy_pnl() if p.strategy == "ml.Condor_1"]
    assert pnl.open_positions == 0 and pnl.realised == done.mtm


def test_multileg_editor_when_values_are_bad_shows_each_at_its_field_path_and_saves_nothing(
    qtbot, engine, panel
) -> None:
    editor = new_editor(qtbot, panel)
    from_template(qtbot, editor, "short_straddle")
    type_name(qtbot, editor, "bad|name")
    set_time(editor, "execution.end", 9, 0)  # before its 09:20 start
    legs = editor.sections["legs"]
    tick(qtbot, legs.rows[0].fields["hedge"].widget)  # a sold leg made a hedge
    strike = legs.rows[1].fields["strike"]
    assert isinstance(strike, UnionEditor)
    strike.kind.widget.setCurrentIndex(strike.kind.widget.findData("premium"))
    rule = strike.kinds["premium"].fields["rule"].widget
    rule.setCurrentIndex(rule.findData("between"))  # a premium range without its upper bound
    qtbot.waitUntil(lambda: len(editor.problems) == 4)
    paths = {path for path, _what in editor.problems}
    assert paths == {"defaults.name", "execution", "legs.0", "legs.1.strike.premium"}
    premium = strike.kinds["premium"]
    assert premium.problem.startswith("a premium range needs an upper bound")
    assert all(w.property("problem") is True for w in premium.problem_widgets())
    listed = [editor.problem_list.item(i).text() for i in range(editor.problem_list.count())]
    assert "legs.0 (leg 1): a hedge leg is bought" in listed
    assert "execution: the entry window ends before it starts" in listed
    name = editor.editor("defaults.name")
    assert name is not None and name.problem_label is not None
    assert (
        name.problem_label.isVisibleTo(editor) and "a name is 1 to 40" in name.problem_label.text()
    )
    assert name.widget.property("problem") is True
    execution = editor.sections["execution"]
    assert execution.problem_label is not None
    assert execution.problem_label.text() == "the entry window ends before it starts"
    assert legs.rows[0].item.text() == "1 ⚠"
    assert editor.pages.item(0).text() == "Portfolio  ⚠ 1"

    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert editor.feedback.text() == "Not saved: 4 problems to fix (listed below)."
    assert engine.api.portfolios() == []

    # Put right, it saves; the marks go.
    type_name(qtbot, editor, "Straddle")
    set_time(editor, "execution.end", 15, 0)
    tick(qtbot, legs.rows[0].fields["hedge"].widget)
    strike.kind.widget.setCurrentIndex(strike.kind.widget.findData("atm"))
    qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert editor.problems == [] and not name.problem_label.isVisibleTo(editor)
    assert legs.rows[0].item.text() == "1"
    assert [v.name for v in engine.api.portfolios()] == ["Straddle"]

    # An unsaved change is asked about before the editor closes.
    qtbot.mouseClick(legs.add_button, Qt.MouseButton.LeftButton)
    assert len(legs.rows) == 3 and editor.dirty
    qtbot.mouseClick(editor.close_button, Qt.MouseButton.LeftButton)
    box = editor._question
    assert box is not None and editor.isVisible()
    box.button(QMessageBox.StandardButton.Discard).click()
    qtbot.waitUntil(lambda: not panel.editors)
    assert len(engine.api.portfolio("Straddle").legs) == 2  # type: ignore[union-attr]


def test_multileg_export_and_import_when_the_name_is_taken_asks_for_another(
    qtbot, engine, panel, tmp_path: Path
) -> None:
    editor = new_editor(qtbot, panel)
    from_template(qtbot, editor, "bull_put_spread")
    type_name(qtbot, editor, "Spread")
    assert editor.save()
    file = tmp_path / "spread.json"
    assert editor.export_file(str(file)) and file.is_file()
    editor.close()
    qtbot.waitUntil(lambda: not panel.editors)
    assert panel.import_file(str(file)) == "a portfolio named 'Spread' exists already"
    dialog = panel.name_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.setTextValue("Spread copy")
    dialog.accept()
    qtbot.waitUntil(lambda: panel.model.row_of("Spread copy") is not None)
    assert panel.feedback.text() == "Imported spread.json"
    copy = engine.api.portfolio("Spread copy")
    assert copy is not None
    assert copy.legs == engine.api.portfolio("Spread").legs  # type: ignore[union-attr]
    # The editor loads a file without saving it.
    again = new_editor(qtbot, panel)
    assert again.import_file(str(file))
    assert again.editor("defaults.name").value() == "Spread"  # type: ignore[union-attr]
    assert [p for p, _ in again.problems] == ["defaults.name"]  # the name is taken
    assert len(engine.api.portfolios()) == 2
    assert Side.SELL.value in [leg["side"] for leg in again.value()["legs"]]


def test_multileg_editor_import_of_values_that_do_not_fit_says_where_and_keeps_the_form(
    qtbot, panel, tmp_path: Path
) -> None:
    editor = new_editor(qtbot, panel)
    from_template(qtbot, editor, "bull_put_spread")
    type_name(qtbot, editor, "Kept")
    before = editor.value()
    leg = {"side": "SELL", "instrument": "PE"}
    files = {
        "lots.json": {"defaults": {"name": "A"}, "legs": [{**leg, "lots": "many"}]},
        "huge.json": {"defaults": {"name": "A"}, "legs": [{**leg, "lots": 10**30}]},
        "fraction.json": {"defaults": {"name": "A"}, "legs": [{**leg, "lots": 1.5}]},
        "strike.json": {"defaults": {"name": "A"}, "legs": [{**leg, "strike": {"kind": "zzz"}}]},
        "start.json": {"defaults": {"name": "A"}, "legs": [leg], "execution": {"start": 5}},
        "month.json": {"defaults": {"name": "A"}, "legs": [{**leg, "expiry": "2026-13-01"}]},
        "target.json": {"defaults": {"name": "A"}, "legs": [leg], "target": {"lock_at": "x"}},
    }
    for name, body in files.items():
        path = tmp_path / name
        path.write_text(json.dumps({"portfolio": body}))
        assert not editor.import_file(str(path)), name
        said = editor.feedback.text()
        assert said.startswith(f"{name} cannot be opened here: "), said
        assert editor.value() == before, name  # the form is as it was
    assert "execution.start: is a time of day in IST" in editor_said(editor, tmp_path, "start")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert not editor.import_file(str(tmp_path / "deep.json"))
    assert editor.feedback.text() == "deep.json cannot be read: nested too deeply"
    (tmp_path / "digits.json").write_text('{"legs": ' + "9" * 5000 + "}")
    assert not editor.import_file(str(tmp_path / "digits.json"))
    assert editor.feedback.text().startswith("digits.json cannot be read: Exceeds the limit")


def editor_said(editor: PortfolioEditor, folder: Path, name: str) -> str:
    assert not editor.import_file(str(folder / f"{name}.json"))
    return editor.feedback.text()


def test_multileg_editor_gives_back_every_template_exactly_as_it_was_loaded(
    qtbot, engine, context
) -> None:
    editor = PortfolioEditor(context)
    qtbot.addWidget(editor)
    for template in engine.api.portfolio_templates():
        editor.load_template(template.key)
        assert editor.problems == [], template.key
        assert engine.api.check_portfolio(editor.value()) == template.spec, template.key
    # Every kind of strike rule and a dated expiry survive the same way.
    data = engine.api.portfolio_templates()[0].spec.model_dump(mode="json")
    strikes = [
        {"kind": "fixed", "strike": "26000.00"},
        {"kind": "premium", "rule": "between", "value": "40.00", "upper": "60.00", "depth": 8},
        {"kind": "delta", "delta": 0.25},
        {"kind": "straddle_width", "multiple": "-1.50"},
    ]
    data["legs"] = [{**data["legs"][0], "strike": strike} for strike in strikes]
    data["legs"][0]["expiry"] = "2026-11-30"
    data["legs"][1]["stop"] = {"measure": "premium", "value": "75.50"}
    data["legs"][1]["trail"] = {"every": "4.00", "by": "2.00"}
    data["target"]["combined"] = {"value": "2500.00", "percent": False}
    expected = engine.api.check_portfolio(data)
    editor.load(data)
    assert editor.problems == []
    assert engine.api.check_portfolio(editor.value()) == expected
    editor.dirty = False
    editor.close()


def test_multileg_selected_portfolio_is_followed_by_the_payoff_and_greeks_panels(
    qtbot, engine, market, tmp_path: Path
) -> None:
    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow
    from ui.panels.greeks import GreeksPanel
    from ui.panels.payoff import BUILDER, PayoffPanel

    api = engine.api
    [condor] = [t for t in api.portfolio_templates() if t.key == "iron_condor"]
    assert api.save_portfolio(condor.spec) is None
    assert api.start_portfolio(condor.spec.name) is None
    market(2)
    assert api.portfolios()[0].status is PortfolioStatus.STARTED
    window = MainWindow(api, layouts=LayoutStore(tmp_path / "layout.ini"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)
        panel = window.panels["multileg"]
        assert isinstance(panel, MultilegPanel)
        qtbot.waitUntil(lambda: window.docks["multileg"].isVisible())
        qtbot.waitUntil(lambda: len(panel.legs_model.rows) == 4)
        payoff, greeks = window.panels["payoff"], window.panels["greeks"]
        assert isinstance(payoff, PayoffPanel) and isinstance(greeks, GreeksPanel)
        qtbot.waitUntil(lambda: payoff.mode == BUILDER and payoff.legs.rowCount() == 4)
        symbols = {row.leg.instrument.tradingsymbol for row in payoff.legs.rows}
        assert symbols == {row.leg.symbol for row in panel.legs_model.rows}
        assert greeks.group_by.currentText() == "Strategy"
        [selected] = greeks.view.selectionModel().selectedRows()
        assert greeks.model.row_at(selected.row()).key == ("group", "ml.Iron_condor")
    finally:
        window.stop()


def test_multileg_start_when_the_portfolio_trades_live_asks_first(
    qtbot, engine, context, panel
) -> None:
    asked: list[tuple[str, Any]] = []
    context.confirm = lambda title, text, action: asked.append((text, action))
    [straddle] = [t for t in engine.api.portfolio_templates() if t.key == "short_straddle"]
    data = straddle.spec.model_dump(mode="json")
    data["defaults"]["mode"] = "live"
    assert engine.api.save_portfolio(data) is None
    panel.refresh()
    assert panel.select("Short straddle")
    assert cell(panel.model, "Short straddle", "Mode") == "live"
    qtbot.mouseClick(panel.buttons["multileg_start"], Qt.MouseButton.LeftButton)
    [(text, action)] = asked
    assert text == "Start Short straddle live: it will place real orders with the broker?"
    assert engine.api.portfolios()[0].status is PortfolioStatus.STOPPED  # not until yes
    action()  # yes: on the paper desk the engine refuses, and the trader reads why
    assert panel.feedback.text() == (
        "Short straddle trades live and the desk is on the paper market; live trading needs a "
        "broker login"
    )
    assert not engine.api.portfolios()[0].running


def test_multileg_keys_edit_stop_start_enter_now_and_delete_the_selected_portfolio(
    qtbot, engine, context, panel, market
) -> None:
    asked: list[str] = []

    def confirm(title: str, text: str, action: Any) -> None:
        asked.append(text)
        action()

    context.confirm = confirm
    [straddle] = [t for t in engine.api.portfolio_templates() if t.key == "short_straddle"]
    data = straddle.spec.model_dump(mode="json")
    data["execution"]["start"] = "10:30:00"  # the clock says 10:00: it waits
    assert engine.api.save_portfolio(data) is None
    panel.refresh()
    assert panel.select("Short straddle")

    def status() -> str:
        panel.refresh()
        return str(cell(panel.model, "Short straddle", "Status"))

    focus_grid(qtbot, panel)
    qtbot.keyClick(panel.view, Qt.Key.Key_Return)
    [editor] = panel.editors
    assert editor.original == "Short straddle"
    editor.close()
    qtbot.waitUntil(lambda: not panel.editors)
    for key, expected in (
        (Qt.Key.Key_S, "Pending"),
        (Qt.Key.Key_T, "Stopped"),
        (Qt.Key.Key_S, "Pending"),
        (Qt.Key.Key_E, "UnderExecution"),
    ):
        focus_grid(qtbot, panel)
        qtbot.keyClick(panel.view, key, CTRL_SHIFT)
        if expected == "UnderExecution":
            market(1)
            expected = "Started"  # the paper market fills it at once
        assert status() == expected, panel.feedback.text()
    assert panel.feedback.text() == "Short straddle entering now"
    qtbot.mouseClick(panel.buttons["multileg_square_off"], Qt.MouseButton.LeftButton)
    market(1)
    qtbot.waitUntil(lambda: status() == "Completed")
    focus_grid(qtbot, panel)
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert asked[-1] == "Delete the portfolio Short straddle?"
    assert engine.api.portfolios() == [] and panel.model.rowCount() == 0
    assert panel.feedback.text() == "Short straddle deleted"
