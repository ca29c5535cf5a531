"""The risk layer in the UI: denials in the order ticket, the kill switch from its shortcut, the
risk panel following state changes and breaker trips live, and the risk settings page.

The bad orders are the gate's own table (``tests/unit/test_risk_gate.py``), sent through the order
ticket's widgets on the same desk the gate's test builds (real gate, order manager, paper venue and
SQLite journal). The ticket counts whole lots of an instrument it offers the products of; a row it
cannot express (no instrument, a quantity that is not whole lots, a product the ticket does not
offer for the instrument, a price on a MARKET order, a trigger on a LIMIT order) goes through the
nearest path a trader has, ``api.place`` (as a hotkey, a script or the local API sends it), and
its reason must reach the Messages panel.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from engine.api import (
    EngineApi,
    EngineParts,
    OrderRequest,
    OrderType,
    Product,
    Side,
    TradingState,
)
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.values import to_rupees
from engine.runtime import Engine
from tests.support import atm_call
from tests.unit.test_risk_gate import BAD_ORDERS, CHECKS, RISK_INSTRUMENTS, make_risk_desk
from ui.bridge import EngineBridge
from ui.context import PanelContext, TicketRequest
from ui.kill_switch import (
    KILL_SWITCH_SHORTCUT,
    make_kill_switch_action,
    make_kill_switch_button,
    make_rearm_action,
)
from ui.panels.messages import MessagesPanel
from ui.panels.order_ticket import OrderTicket
from ui.panels.risk import RiskPanel
from ui.panels.risk_settings import RiskSettingsPage, label_of
from ui.theme import THEMES, ThemeHolder

TICKET_OWN_WORDS = {
    "index": "is an index and cannot be traded",
    "no price": "enter a price",
    "off tick": "price must be a multiple of the tick size 0.05",
    "off tick cash": "price must be a multiple of the tick size 0.10",
    "trigger off tick": "trigger must be a multiple of the tick size 0.05",
    "SL no trigger": "enter a trigger",
}
"""Rows the ticket refuses itself, before the engine, in its own words (shown in the same label)."""

_INSTRUMENTS = {i.token: i for i in RISK_INSTRUMENTS}


def why_not_in_ticket(request: OrderRequest) -> str | None:
    """Why the ticket's widgets cannot express ``request`` (None when they can)."""
    instrument = _INSTRUMENTS.get(request.token)
    if instrument is None:
        return f"no instrument {request.token} to pick"
    quantity = request.quantity
    if not isinstance(quantity, int) or quantity <= 0 or quantity % instrument.lot_size:
        return f"quantity {quantity!r} is not a whole number of lots of {instrument.lot_size}"
    offered = (
        (Product.NRML, Product.MIS)
        if instrument.is_derivative
        else (Product.CNC, Product.MIS)
    )  # fmt: skip
    if instrument.instrument_type is not InstrumentType.INDEX and request.product not in offered:
        return f"the ticket offers no {request.product} for {instrument.tradingsymbol}"
    takes_price = request.order_type in (OrderType.LIMIT, OrderType.SL)
    takes_trigger = request.order_type in (OrderType.SL, OrderType.SL_M)
    if request.price is not None and not takes_price:
        return f"a {request.order_type} ticket sends no price"
    if request.trigger_price is not None and not takes_trigger:
        return f"a {request.order_type} ticket sends no trigger"
    return None


def fill_ticket(ticket: OrderTicket, instrument: Instrument, request: OrderRequest) -> None:
    ticket.open_for(
        TicketRequest(request.side, instrument, lots=request.quantity // instrument.lot_size)
    )
    ticket.order_type.setCurrentText(request.order_type.value)
    if ticket.product.findText(request.product.value) >= 0:
        ticket.product.setCurrentText(request.product.value)
    ticket.price.setValue(float(to_rupees(request.price)) if request.price is not None else 0.0)
    ticket.trigger.setValue(
        float(to_rupees(request.trigger_price)) if request.trigger_price is not None else 0.0
    )


def desk_context(tmp_path: Path) -> tuple[Any, EngineApi, PanelContext]:
    desk = make_risk_desk(tmp_path / "book.db")
    desk.market()
    api = EngineApi(
        EngineParts(
            bus=desk.bus,
            orders=desk.oms,
            positions=desk.positions,
            quotes=desk.quotes,
            registry=desk.registry,
            risk=desk.risk,
        )
    )
    bridge = EngineBridge(api, frame_ms=20)
    return desk, api, PanelContext(api=api, bridge=bridge, theme=ThemeHolder("dark"))


@pytest.fixture
def desk_ui(qtbot, tmp_path):  # type: ignore[no-untyped-def]
    desk, api, context = desk_context(tmp_path)
    yield desk, api, context
    context.bridge.stop()
    desk.database.close()


# -- bad orders through the ticket ---------------------------------------------------------------


def test_bad_order_table_when_sent_through_the_ticket_covers_40_orders_and_every_check() -> None:
    through_ticket = [row for row in BAD_ORDERS if why_not_in_ticket(row[2]) is None]
    assert len(through_ticket) >= 40
    assert {row[3] for row in BAD_ORDERS} == CHECKS  # the rest cover every check too
    assert set(TICKET_OWN_WORDS) <= {row[0] for row in through_ticket}


@pytest.mark.parametrize(
    ("name", "setup", "request_", "check", "reason"),
    BAD_ORDERS,
    ids=[row[0] for row in BAD_ORDERS],
)
def test_bad_order_when_submitted_from_the_ticket_shows_the_reason_and_reaches_no_broker(
    qtbot, desk_ui, name, setup, request_, check, reason
) -> None:
    desk, api, context = desk_ui
    setup(desk)
    sent_before = len(desk.venue.submitted)
    cannot = why_not_in_ticket(request_)
    if cannot is None:
        ticket = OrderTicket(context)
        qtbot.addWidget(ticket)
        fill_ticket(ticket, _INSTRUMENTS[request_.token], request_)
        outcome = ticket.submit()
        shown = ticket.error_label.text()
        if name in TICKET_OWN_WORDS:
            assert outcome is None, "the ticket should refuse this before the engine"
            assert TICKET_OWN_WORDS[name] in shown
        else:
            assert outcome is not None and not outcome
            assert outcome.check == check, outcome.reason
            assert shown == f"Denied: {outcome.reason}"
            assert reason in shown
        assert ticket.isVisible()  # a denied ticket stays open for the trader to fix
    else:
        # The nearest path: the same request as a hotkey, script or the local API sends it; the
        # trader reads the reason in the Messages panel.
        messages = MessagesPanel(context)
        qtbot.addWidget(messages)
        outcome = api.place(request_)
        assert not outcome and outcome.check == check and reason in outcome.reason, cannot
        qtbot.waitUntil(
            lambda: any(outcome.reason in row.text for row in messages.visible_rows()),
            timeout=2000,
        )
    assert len(desk.venue.submitted) == sent_before


# -- the kill switch -----------------------------------------------------------------------------


def answer(context: PanelContext, yes: bool) -> list[str]:
    asked: list[str] = []

    def confirm(title: str, text: str, action: Any) -> None:
        asked.append(title)
        if yes:
            action()

    context.confirm = confirm
    return asked


def rest_below_bid(engine: Any, option: Instrument, count: int) -> list[str]:
    bid = engine.api.tick(option.token).bid
    ids = []
    for n in range(count):
        price = Decimal(bid - 200 - 5 * n) / 100
        outcome = engine.api.place_order(option.token, "BUY", 65, "LIMIT", price=price)
        assert outcome, outcome.reason
        ids.append(outcome.order_id)
    return ids


def open_orders(engine: Any) -> list:
    return [o for o in engine.api.orders() if o.status.is_open]


@pytest.fixture
def desk_window(qtbot, context):  # type: ignore[no-untyped-def]
    """A window holding the kill switch (shortcut) and the risk panel, shown and active."""
    window = QMainWindow()
    qtbot.addWidget(window)
    kill = make_kill_switch_action(context, window)
    window.addAction(kill)
    rearm = make_rearm_action(context, window)
    toolbar = window.addToolBar("Trading")
    button = make_kill_switch_button(context, kill, rearm, toolbar)
    toolbar.addWidget(button)
    panel = RiskPanel(context)
    window.setCentralWidget(panel)
    window.resize(900, 700)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    panel.setFocus()
    return window, panel, button, rearm


def test_kill_switch_shortcut_when_pressed_leaves_no_open_order_within_a_second_and_refuses_new_orders_until_rearmed_from_the_panel(
    qtbot, engine, context, desk_window
) -> None:
    window, panel, button, rearm = desk_window
    asked = answer(context, yes=True)
    option = atm_call(engine)
    assert engine.api.place_order(option.token, "BUY", 130, "MARKET")  # a position to flatten
    rest_below_bid(engine, option, 5)
    assert len(open_orders(engine)) == 5

    pressed = time.monotonic()
    qtbot.keyClick(
        window,
        Qt.Key.Key_K,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: not open_orders(engine), timeout=1000)
    assert time.monotonic() - pressed < 1.0
    assert engine.api.trading_state().state is TradingState.HALTED
    assert asked == ["Kill switch — square off?"]
    assert all(p.net_quantity == 0 for p in engine.api.positions())  # squared off on "yes"

    # Risk-increasing orders are refused, from the API and from the ticket, until re-armed.
    refused = engine.api.place_order(option.token, "BUY", 65, "MARKET")
    assert not refused and refused.check == "trading_state"
    ticket = OrderTicket(context)
    qtbot.addWidget(ticket)
    ticket.open_for(TicketRequest(Side.SELL, option, lots=1))
    ticket.order_type.setCurrentText("MARKET")
    assert ticket.submit() is not None
    assert ticket.error_label.text().startswith("Denied: trading is HALTED")
    qtbot.waitUntil(lambda: panel.state_label.text() == "Trading HALTED", timeout=2000)
    qtbot.waitUntil(lambda: "HALTED" in button.text() and rearm.isEnabled(), timeout=2000)
    assert context.theme.palette.down.name() in button.styleSheet()
    assert panel.history_model.rows[0].event == "Kill switch"

    qtbot.mouseClick(panel.rearm_button, Qt.MouseButton.LeftButton)
    assert asked[-1] == "Re-arm trading"
    assert engine.api.trading_state().state is TradingState.ACTIVE
    assert engine.api.place_order(option.token, "BUY", 65, "MARKET")
    qtbot.waitUntil(lambda: panel.state_label.text() == "Trading ACTIVE", timeout=2000)
    qtbot.waitUntil(lambda: "ACTIVE" in button.text() and not rearm.isEnabled(), timeout=2000)
    assert [r.event for r in panel.history_model.rows][:2] == ["Re-armed", "Kill switch"]


def test_kill_switch_when_square_off_declined_halts_and_keeps_the_positions(
    qtbot, engine, context, desk_window
) -> None:
    window, _panel, _button, _rearm = desk_window
    asked = answer(context, yes=False)
    option = atm_call(engine)
    assert engine.api.place_order(option.token, "BUY", 65, "MARKET")
    rest_below_bid(engine, option, 2)
    window.findChild(QAction, "killSwitchAction").trigger()
    assert not open_orders(engine)
    assert asked == ["Kill switch — square off?"]
    assert engine.api.trading_state().state is TradingState.HALTED
    assert [p.net_quantity for p in engine.api.positions()] == [65]


def test_kill_switch_when_rearm_declined_stays_halted(qtbot, engine, context, desk_window) -> None:
    _window, panel, _button, _rearm = desk_window
    engine.api.kill_switch()
    answer(context, yes=False)
    qtbot.waitUntil(lambda: panel.rearm_button.isEnabled(), timeout=2000)
    qtbot.mouseClick(panel.rearm_button, Qt.MouseButton.LeftButton)
    assert engine.api.trading_state().state is TradingState.HALTED


def test_kill_switch_action_when_given_another_shortcut_uses_it(context) -> None:
    window = QMainWindow()
    try:
        assert make_kill_switch_action(context, window).shortcut().toString() == (
            KILL_SWITCH_SHORTCUT
        )
        assert make_kill_switch_action(context, window, "F12").shortcut().toString() == "F12"
        assert make_kill_switch_action(context, window, "").shortcut().isEmpty()
    finally:
        window.deleteLater()


# -- the risk panel ------------------------------------------------------------------------------


def test_risk_panel_when_daily_loss_breaker_trips_shows_halted_the_trip_and_the_used_limit(
    qtbot, engine, context
) -> None:
    panel = RiskPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.state_label.text() == "Trading ACTIVE"
    assert panel.history_empty.isVisible()
    engine.api.set_risk_limits({"defaults": {"daily_loss_limit": "1"}}, "test")
    option = atm_call(engine)

    # Buying at the ask pays the spread and charges: the day's MTM falls below −₹1 at the fill.
    assert engine.api.place_order(option.token, "BUY", 65, "MARKET")

    qtbot.waitUntil(lambda: panel.state_label.text() == "Trading HALTED", timeout=2000)
    assert "daily loss limit" in panel.state_detail.text()
    qtbot.waitUntil(lambda: bool(panel.history_model.rows), timeout=2000)
    [trip] = panel.history_model.rows
    assert (trip.event, trip.outcome) == ("Breaker: daily loss", "HALTED + square-off")
    assert trip.value.startswith("−₹")
    assert not panel.history_empty.isVisible()
    assert panel.rearm_button.isEnabled() and not panel.reduce_button.isEnabled()
    assert all(p.net_quantity == 0 for p in engine.api.positions())  # square-off by default
    qtbot.waitUntil(
        lambda: any(
            r.name == "daily_loss_limit" and (r.fraction or 0) >= 1 for r in panel.usage_model.rows
        ),
        timeout=2000,
    )
    row = panel.usage_model.row_of("daily_loss_limit")
    assert row is not None
    used = panel.usage_model.index(row, 1)
    assert used.data(Qt.ItemDataRole.ForegroundRole) == context.theme.palette.down


def test_risk_panel_when_trader_sets_reduce_only_shows_reducing_and_cancels_buys(
    qtbot, engine, context
) -> None:
    panel = RiskPanel(context)
    qtbot.addWidget(panel)
    answer(context, yes=True)
    option = atm_call(engine)
    rest_below_bid(engine, option, 2)
    qtbot.mouseClick(panel.reduce_button, Qt.MouseButton.LeftButton)
    assert engine.api.trading_state().state is TradingState.REDUCING
    assert not open_orders(engine)
    qtbot.waitUntil(lambda: panel.state_label.text() == "Trading REDUCING", timeout=2000)
    assert context.theme.palette.warning.name() in panel.banner.styleSheet()


def test_risk_panel_usage_when_orders_rest_fills_the_open_orders_bar(
    qtbot, engine, context
) -> None:
    engine.api.set_risk_limits({"defaults": {"max_open_orders": 4}})
    panel = RiskPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    rest_below_bid(engine, atm_call(engine), 3)

    def open_orders_row() -> Any:
        return next(r for r in panel.usage_model.rows if r.name == "max_open_orders")

    qtbot.waitUntil(lambda: open_orders_row().used == 3, timeout=2000)
    row = open_orders_row()
    assert (row.label, row.fraction) == ("Open orders", 0.75)
    position = panel.usage_model.row_of("max_open_orders")
    assert panel.usage_model.index(position, 2).data() == "4 orders"
    assert "₹" in panel.margin_label.text() and "available" in panel.margin_label.text()


async def test_risk_panel_when_var_is_computed_shows_var_and_es_with_the_time(
    qtbot, engine, context
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    panel = RiskPanel(context)
    qtbot.addWidget(panel)
    assert panel.var_cells[("historical", "var_99")].text() == "—"
    assert "Not computed yet" in panel.var_status.text()
    assert engine.api.place_order(atm_call(engine).token, "BUY", 130, "MARKET")
    with ThreadPoolExecutor(1) as pool:
        report = await engine.update_var(pool)
    assert report is not None and report.historical_var_99 is not None
    qtbot.waitUntil(lambda: "computed 10:00:00 IST" in panel.var_status.text(), timeout=2000)
    for method in ("historical", "mc"):
        for figure in ("var_95", "es_95", "var_99", "es_99"):
            assert panel.var_cells[(method, figure)].text().startswith("₹")
    assert "1 position" in panel.var_status.text()


# -- the settings page ---------------------------------------------------------------------------


def test_settings_page_when_opened_has_one_editor_per_limit_with_its_description(
    qtbot, context
) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    schema = context.api.risk_limit_schema()
    assert set(page.account_form.editors) == {f.name for f in schema}
    for field in schema:
        editor = page.account_form.editors[field.name]
        assert field.description in editor.toolTip()
    assert set(page.underlying_schema) == {f for f in schema if f.per_underlying}
    assert not page.apply_button.isEnabled()  # nothing edited yet


def test_settings_page_when_values_are_bad_shows_each_problem_under_its_limit(
    qtbot, context
) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    editors = page.account_form.editors
    editors["capital"].line.setText("0")
    editors["max_open_orders"].line.setText("ten")
    editors["profit_lock_at"].enabled_box.setChecked(True)
    editors["profit_lock_at"].line.setText("5000")
    editors["profit_lock_keep"].line.setText("6000")
    assert editors["capital"].error.text() == "Capital must be above 0"
    assert editors["max_open_orders"].error.text() == "enter a whole number, not 'ten'"
    assert editors["profit_lock_keep"].error.text() == (
        f"{label_of('profit_lock_keep')} must be below {label_of('profit_lock_at')}"
    )
    assert not page.apply_button.isEnabled()
    assert "3 limits need attention" in page.message.text()
    editors["capital"].line.setText("5,00,000")
    editors["max_open_orders"].line.setText("10")
    editors["profit_lock_keep"].line.setText("1000")
    assert not any(e.error.text() for e in editors.values())
    assert page.apply_button.isEnabled()


def test_settings_page_when_applied_changes_the_limits_the_gate_uses(
    qtbot, engine, context
) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    editors = page.account_form.editors
    editors["daily_loss_limit"].enabled_box.setChecked(False)
    editors["max_open_orders"].line.setText("1")
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    limits = engine.api.risk_limits().defaults
    assert limits.daily_loss_limit is None and limits.max_open_orders == 1
    assert page.message.text().startswith("Applied at")
    assert not page.apply_button.isEnabled()
    option = atm_call(engine)
    rest_below_bid(engine, option, 1)
    bid = Decimal(engine.api.tick(option.token).bid) / 100
    refused = engine.api.place_order(option.token, "BUY", 65, "LIMIT", price=bid - 1)
    assert not refused and refused.check == "max_open_orders"


def test_settings_page_when_applied_survives_a_restart_and_the_messages_say_so(
    qtbot, engine, context
) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    page.account_form.editors["max_open_orders"].line.setText("3")
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    assert page.message.text().startswith("Applied at")
    config, clock = engine.config, engine.clock
    engine.close()

    again = Engine.build(config, clock=clock)
    bridge = EngineBridge(again.api, frame_ms=20)
    try:
        restarted = PanelContext(api=again.api, bridge=bridge, theme=ThemeHolder("dark"))
        assert again.api.risk_limits().defaults.max_open_orders == 3
        reopened = RiskSettingsPage(restarted)
        qtbot.addWidget(reopened)
        reopened.open_page()
        assert reopened.account_form.editors["max_open_orders"].line.text() == "3"
        messages = MessagesPanel(restarted)
        qtbot.addWidget(messages)
        texts = [
            messages.model.data(messages.model.index(r, 3))
            for r in range(messages.model.rowCount())
        ]
        assert any("risk limits as saved" in str(text) for text in texts), texts
    finally:
        bridge.stop()
        again.close()


def test_settings_page_when_underlying_overridden_applies_only_to_that_underlying(
    qtbot, engine, context
) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    form = page.add_underlying("nifty")
    assert form is not None and page.underlying_list.count() == 1
    quantity = form.editors["max_order_quantity"]
    assert not quantity.line.isEnabled()  # follows the account until overridden
    quantity.override.setChecked(True)
    quantity.line.setText("65")
    assert page.underlying_list.item(0).text().startswith("NIFTY  (1 override)")
    assert page.apply()
    assert engine.api.risk_limits().underlyings == {"NIFTY": {"max_order_quantity": 65}}
    refused = engine.api.place_order(atm_call(engine).token, "BUY", 130, "MARKET")
    assert not refused and refused.check == "max_order_quantity"
    page.remove_selected_underlying()
    assert page.apply()
    assert engine.api.risk_limits().underlyings == {}


def test_settings_page_when_an_underlying_override_is_bad_says_so_under_it(qtbot, context) -> None:
    page = RiskSettingsPage(context)
    qtbot.addWidget(page)
    form = page.add_underlying("BANKNIFTY")
    assert form is not None
    fat_finger = form.editors["fat_finger_pct"]
    fat_finger.override.setChecked(True)
    fat_finger.line.setText("-3")
    assert fat_finger.error.text().startswith("Fat-finger distance must be a non-negative")
    assert page.underlying_list.item(0).text().endswith("⚠")
    assert not page.apply_button.isEnabled()


def test_settings_page_when_opened_from_the_panel_is_not_modal(qtbot, context) -> None:
    panel = RiskPanel(context)
    qtbot.addWidget(panel)
    qtbot.mouseClick(panel.limits_button, Qt.MouseButton.LeftButton)
    page = panel.open_settings()
    assert isinstance(page, RiskSettingsPage)
    assert page.isVisible() and not page.isModal()


def test_kill_switch_button_when_theme_changes_recolours_the_state(
    qtbot, engine, context, desk_window
) -> None:
    _window, panel, button, _rearm = desk_window
    engine.api.kill_switch()
    qtbot.waitUntil(lambda: "HALTED" in button.text(), timeout=2000)
    context.theme.palette = THEMES["light"]
    qtbot.waitUntil(lambda: THEMES["light"].down.name() in button.styleSheet(), timeout=2000)
    assert THEMES["light"].down.name() in panel.banner.styleSheet()


def test_risk_limit_schema_when_read_gives_each_limit_its_editor_kind(context) -> None:
    schema = {f.name: f for f in context.api.risk_limit_schema()}
    assert [f.name for f in context.api.risk_limit_schema()] == [
        name for name, *_ in context.api.risk_limit_fields()
    ]
    assert (schema["check_session"].kind, schema["check_session"].optional) == ("bool", False)
    assert (schema["capital"].kind, schema["capital"].unit) == ("amount", "₹")
    assert (schema["max_open_orders"].kind, schema["max_open_orders"].optional) == (
        "integer",
        True,
    )
    assert schema["duplicate_window_seconds"].kind == "number"
    assert schema["throttle_mode"].choices == ("queue", "deny")
    assert schema["daily_loss_action"].choices == ("REDUCING", "HALTED")
    assert schema["fat_finger_pct"].per_underlying and not schema["capital"].per_underlying
