"""Settings (Ctrl+,): a page per group generated from the schema, checked as typed, applied to
the whole desk at once; the ticket's defaults and confirmation; display preferences."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QTableView

from engine.api import OrderStatus, Side
from engine.settings import Settings, SettingsStore, leaf_paths
from tests.support import atm_call
from ui import format as fmt
from ui.context import TicketRequest
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.schema_fields import OptionalEditor, TextEditor
from ui.theme import apply_font_size


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.yaml")


@pytest.fixture
def window(qtbot, engine, tmp_path, store) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"), settings=store)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.stop()
    # Digit grouping and the application font are the process's: put them back for other tests.
    fmt.set_number_format("indian")
    apply_font_size(None)


def test_settings_dialog_has_a_page_per_group_and_an_editor_for_every_preference(
    window: MainWindow,
) -> None:
    dialog = window.open_settings()
    titles = [dialog.groups.item(i).text() for i in range(dialog.groups.count())]
    assert titles == ["Brokers", "Trading", "Risk", "Notifications", "Signals", "Display"]
    wanted = {p for p in leaf_paths() if p != "version"}
    assert wanted <= set(dialog.editors), wanted - set(dialog.editors)
    assert dialog.editors["display.theme"].tip.startswith("Colours of the whole desk")
    assert not dialog.apply_button.isEnabled(), "nothing to apply yet"
    assert set(dialog.extra_buttons) == {"Risk limits…", "Signals panel…"}, (
        "no broker keys or passphrase window in this desk"
    )
    assert window.open_settings() is dialog, "one window, brought back"


def test_settings_dialog_shows_a_wrong_colour_on_its_field_and_applies_a_good_one(
    window: MainWindow, store: SettingsStore
) -> None:
    dialog = window.open_settings("display")
    colour = dialog.editors["display.up_colour"]
    assert isinstance(colour, OptionalEditor) and isinstance(colour.inner, TextEditor)
    colour.set_on(True)
    colour.inner.set_value("green")
    assert colour.problem == "should be a colour as #RRGGBB"
    assert not dialog.apply_button.isEnabled()
    assert dialog.status.text() == "1 to correct before Apply."
    colour.inner.set_value("#1e88e5")
    assert colour.problem == "" and dialog.apply_button.isEnabled()
    dialog.apply_button.click()
    assert dialog.status.text() == "Applied."
    assert store.current.display.up_colour == "#1e88e5"
    assert window.theme.palette.up.name() == "#1e88e5"
    assert window.theme.palette.flash_up.alpha() < 255
    assert SettingsStore.open(store.path)[0].current == store.current, "saved to the file"


def test_settings_dialog_number_format_density_and_font_apply_to_the_desk_at_once(
    window: MainWindow, store: SettingsStore
) -> None:
    assert fmt.rupees(Decimal("12345678.5")) == "1,23,45,678.50"
    dialog = window.open_settings("display")
    dialog.editors["display.number_format"].set_value("international")
    dialog.editors["display.density"].set_value("comfortable")
    font = dialog.editors["display.font_size"]
    assert isinstance(font, OptionalEditor)
    font.set_value(13)
    assert dialog.apply()
    assert fmt.rupees(Decimal("12345678.5")) == "12,345,678.50"
    assert fmt.quantity(1234567) == "1,234,567"
    watch = window.panels["marketWatch"].findChild(QTableView)
    assert watch is not None and watch.verticalHeader().defaultSectionSize() == 28
    assert QApplication.font().pointSize() == 13
    store.update("display", number_format="indian", density="compact", font_size=None)
    assert fmt.quantity(1234567) == "12,34,567"
    assert watch.verticalHeader().defaultSectionSize() == 22
    assert dialog.editors["display.density"].value() == "compact", "the dialog follows the store"


def test_settings_dialog_says_which_changes_wait_for_the_next_start(window: MainWindow) -> None:
    dialog = window.open_settings("brokers")
    dialog.editors["brokers.start_broker"].set_value("kite")
    dialog.editors["trading.default_lots"].set_value(2)
    assert dialog.apply()
    assert dialog.status.text() == "Applied. At the next start: Broker at start."


def test_settings_dialog_import_of_a_bad_file_changes_nothing_and_a_good_one_shows(
    window: MainWindow, store: SettingsStore, tmp_path: Path
) -> None:
    dialog = window.open_settings()
    bad = tmp_path / "bad.yaml"
    bad.write_text("trading:\n  default_lots: -1\n", "utf-8")
    assert not dialog.import_file(bad)
    assert dialog.status.text().startswith("Not imported, nothing changed: bad.yaml: trading.")
    assert store.current == Settings()
    exported = tmp_path / "mine.yaml"
    other = SettingsStore(None, Settings.model_validate({"trading": {"default_lots": 5}}))
    assert other.export_to(exported) is None
    assert dialog.import_file(exported)
    assert dialog.status.text() == "Imported mine.yaml: 1 changed."
    assert dialog.editors["trading.default_lots"].value() == 5
    assert dialog.export_file(tmp_path / "back.yaml")
    assert (tmp_path / "back.yaml").read_text("utf-8") == exported.read_text("utf-8")


def test_view_theme_menu_changes_the_display_setting(window: MainWindow, store) -> None:
    window.theme_actions["light"].trigger()
    assert store.current.display.theme == "light"
    assert window.theme.palette.name == "light"
    assert window.theme_actions["light"].isChecked()


def test_ticket_opens_with_the_trading_defaults(qtbot, window: MainWindow, engine, store) -> None:
    store.update(
        "trading", default_order_type="MARKET", default_lots=3, default_derivative_product="MIS"
    )
    window.open_ticket(TicketRequest(Side.BUY, atm_call(engine)))
    ticket = window.ticket
    assert ticket.order_type.currentText() == "MARKET"
    assert ticket.lots.value() == 3
    assert ticket.product.currentText() == "MIS"
    ticket.close()
    window.open_ticket(TicketRequest(Side.BUY, atm_call(engine), lots=2))
    assert ticket.lots.value() == 2, "a panel's own quantity wins"


def test_ticket_with_confirm_each_order_asks_first_and_sends_on_yes(
    window: MainWindow, engine, store
) -> None:
    store.update("trading", confirm_orders=True, default_order_type="MARKET")
    asked: list[tuple[str, str]] = []
    answers: list[object] = []
    window.context.confirm = lambda title, text, action: (  # type: ignore[method-assign]
        asked.append((title, text)),
        answers.append(action),
    )
    option = atm_call(engine)
    window.open_ticket(TicketRequest(Side.BUY, option))
    assert window.ticket.submit() is None
    assert engine.api.orders() == [], "nothing sent before the trader says yes"
    [(title, text)] = asked
    assert title == "Buy order"
    assert text == f"Buy {option.lot_size:,} {option} MARKET NRML?"
    [send] = answers
    send()  # type: ignore[operator]
    [order] = engine.api.orders()
    assert order.status is OrderStatus.COMPLETE


def test_desktop_notifications_off_keeps_alerts_out_of_the_notification_centre(
    window: MainWindow, store
) -> None:
    shown: list[str] = []
    window.notices.notify = lambda title, text, urgent=False: shown.append(text)  # type: ignore[method-assign]
    from engine.api import AlertFired

    event = AlertFired(0, "A1", "NIFTY crosses above 25,000")
    window._alerts_fired([event])
    store.update("notifications", desktop=False)
    window._alerts_fired([event])
    assert shown == ["NIFTY crosses above 25,000"]
    assert window.statusBar().currentMessage() == "Alert: NIFTY crosses above 25,000"


def test_a_layout_theme_from_an_earlier_version_moves_into_the_settings(tmp_path: Path) -> None:
    from app.gui import adopt_layout_theme

    layouts = LayoutStore(tmp_path / "layout.ini")
    layouts.set_value("theme", "light")
    store = SettingsStore(tmp_path / "settings.yaml")
    adopt_layout_theme(store, layouts)
    assert store.current.display.theme == "light"
    assert layouts.value("theme") is None
    assert (tmp_path / "settings.yaml").exists()
