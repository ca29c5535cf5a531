"""The trades panel (fills with charges, totals, export) and the messages panel (engine messages and
denials, severity filter, cap, clear) on the simulated market."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from engine.api import EngineMessage, Side
from engine.domain.events import Severity
from engine.domain.instruments import Instrument, InstrumentType
from ui.export import at_ist
from ui.format import rupees
from ui.panels.messages import MessageLogModel, MessageRow, MessagesPanel
from ui.panels.trades import TradesPanel


def nifty_call(engine) -> Instrument:  # type: ignore[no-untyped-def]
    calls = [
        i
        for i in engine.registry
        if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.CE
    ]
    spot = engine.api.tick(256265).ltp
    nearest = min(i.expiry for i in calls)
    return min((i for i in calls if i.expiry == nearest), key=lambda i: abs(i.strike - spot))


def stock(engine, symbol: str = "RELIANCE") -> Instrument:  # type: ignore[no-untyped-def]
    return next(i for i in engine.registry if i.tradingsymbol == symbol)


# -- trades ---------------------------------------------------------------------------------------------


@pytest.fixture
def trades(qtbot, engine, market, context):  # type: ignore[no-untyped-def]
    market(1)
    panel = TradesPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1200, 300)
    option, shares = nifty_call(engine), stock(engine)
    assert engine.api.place_order(option.token, "BUY", 2 * option.lot_size, "MARKET")
    assert engine.api.place_order(shares.token, "SELL", 10, "MARKET", product="MIS")
    qtbot.waitUntil(lambda: len(panel.visible_rows()) >= 2)
    return panel


def test_trades_when_orders_fill_shows_each_fill_with_its_charges(trades, engine) -> None:  # type: ignore[no-untyped-def]
    panel = trades
    fills = {t.trade_id: t for t in engine.api.trades()}
    rows = panel.visible_rows()
    assert {r.trade_id for r in rows} == set(fills)
    for row in rows:
        fill = fills[row.trade_id]
        assert (row.symbol, row.side, row.quantity, row.price) == (
            fill.instrument.tradingsymbol,
            fill.side,
            fill.quantity,
            fill.price,
        )
        assert row.charges == fill.charges > 0
        assert row.time == at_ist(fill.ts_ns)
    titles = [c.title for c in panel.model.columns]
    first = panel.model.row_of(rows[0].trade_id)
    shown = {t: panel.model.index(first, titles.index(t)).data() for t in titles}
    assert shown["Charges"] == rupees(rows[0].charges)
    assert shown["Time"] == rows[0].time.strftime("%H:%M:%S")
    side_colour = panel.model.index(first, titles.index("B/S")).data(Qt.ItemDataRole.ForegroundRole)
    palette = panel._context.theme.palette
    assert side_colour == (palette.buy if rows[0].side is Side.BUY else palette.sell)


def test_trades_totals_when_fills_arrive_add_up_turnover_and_charges(trades, engine) -> None:  # type: ignore[no-untyped-def]
    panel = trades
    fills = engine.api.trades()
    turnover = sum((t.price * t.quantity for t in fills), Decimal(0))
    charges = sum((t.charges for t in fills), Decimal(0))
    totals = panel.totals
    assert totals.count == len(fills)
    assert totals.turnover == turnover
    assert totals.charges == charges
    assert f"Turnover ₹{rupees(turnover)}" in panel.totals_label.text()
    assert f"Charges ₹{rupees(charges)}" in panel.totals_label.text()


def test_trades_totals_when_filtered_count_only_the_trades_shown(trades, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = trades
    qtbot.keyClicks(panel.search, "RELIANCE")
    assert {r.symbol for r in panel.visible_rows()} == {"RELIANCE"}
    assert panel.totals.count == len(panel.visible_rows())
    assert panel.totals.bought == 0
    assert "shown trade" in panel.totals_label.text()


def test_trades_when_a_panel_opens_after_fills_shows_them_at_once(trades, context, qtbot) -> None:  # type: ignore[no-untyped-def]
    late = TradesPanel(context)
    qtbot.addWidget(late)
    assert {r.trade_id for r in late.visible_rows()} == {r.trade_id for r in trades.visible_rows()}


def test_trades_export_csv_when_read_back_has_the_rows_shown(trades, tmp_path) -> None:  # type: ignore[no-untyped-def]
    panel = trades
    path = tmp_path / "trades.csv"
    assert panel.export_to(path) == len(panel.visible_rows())
    with path.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    rows = panel.visible_rows()
    assert [r["Trade ID"] for r in records] == [row.trade_id for row in rows]
    for record, row in zip(records, rows, strict=True):
        assert Decimal(record["Charges"]) == row.charges  # exact, not rounded
        assert Decimal(record["Price"]) == row.price
        assert int(record["Quantity"]) == row.quantity
        assert record["Side"] == row.side.value


def test_trades_export_that_fails_says_why_in_a_line_that_never_widens_the_panel(
    trades, tmp_path, qtbot
) -> None:  # type: ignore[no-untyped-def]
    panel = trades
    panel.show()
    qtbot.wait(10)
    width = panel.minimumSizeHint().width()
    blocked = tmp_path / "a-file-where-the-exports-folder-should-be"
    blocked.write_text("", encoding="utf-8")
    target = blocked / ("a folder with a long name for every export of the day" * 2) / "t.csv"
    panel._export_chosen(str(target))  # what the export dialog calls with the chosen path
    said = panel.feedback.text()
    assert said.startswith("Export failed: ") and str(blocked) in said
    assert panel.fontMetrics().horizontalAdvance(said) > 1200  # longer than the panel is wide
    assert panel.feedback.toolTip() == said
    qtbot.wait(10)  # the layout takes the new line in
    assert panel.minimumSizeHint().width() == width


def test_trades_export_xlsx_when_read_back_has_the_rows_shown(trades, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    panel = trades
    path = tmp_path / "trades.xlsx"
    panel.export_to(path)
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    headers = list(rows[0])
    records = [dict(zip(headers, r, strict=True)) for r in rows[1:]]
    shown = panel.visible_rows()
    assert [r["Trade ID"] for r in records] == [row.trade_id for row in shown]
    for record, row in zip(records, shown, strict=True):
        assert record["Symbol"] == row.symbol
        assert record["Quantity"] == row.quantity
        assert Decimal(str(record["Price"])) == row.price
        assert record["Charges"] == pytest.approx(float(row.charges))
        assert record["Time (IST)"] == row.time.replace(tzinfo=None)


# -- messages -------------------------------------------------------------------------------------------


@pytest.fixture
def messages(qtbot, engine, market, context):  # type: ignore[no-untyped-def]
    market(1)
    panel = MessagesPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1000, 300)
    now = engine.clock.time_ns()
    engine.bus.publish(EngineMessage(now, Severity.INFO, "paper market connected", "feed"))
    engine.bus.publish(EngineMessage(now, Severity.WARNING, "quotes are 3 s old", "feed"))
    denied = engine.api.place_order(nifty_call(engine).token, "BUY", 7, "MARKET", source="manual")
    assert not denied
    qtbot.waitUntil(lambda: len(panel.model.rows) >= 3)
    return panel, denied


def test_messages_when_an_order_is_denied_shows_the_reason_and_the_request(
    messages, engine
) -> None:  # type: ignore[no-untyped-def]
    panel, denied = messages
    [row] = [r for r in panel.visible_rows() if r.order_id == denied.order_id]
    assert row.severity is Severity.ERROR
    assert "not a multiple of the lot size 65" in row.text
    assert f"BUY 7 {nifty_call(engine).tradingsymbol} MARKET" in row.text
    assert "(manual)" in row.text
    # The OMS's one-line echo of the same denial is not listed a second time.
    assert sum("lot size" in r.text for r in panel.visible_rows()) == 1


def test_messages_when_they_arrive_are_listed_newest_first_with_time_and_severity(messages) -> None:  # type: ignore[no-untyped-def]
    panel, _denied = messages
    rows = panel.visible_rows()
    assert [r.sequence for r in rows] == sorted((r.sequence for r in rows), reverse=True)
    top = panel.proxy.index(0, 0)
    assert top.data() == rows[0].time.strftime("%H:%M:%S")
    severity = panel.proxy.index(0, 1)
    assert severity.data() == rows[0].severity.value
    assert severity.data(Qt.ItemDataRole.ForegroundRole) == panel._context.theme.palette.down
    assert "1 error · 1 warning · 1 info" in panel.counts.text()


def test_messages_severity_filter_when_warnings_and_errors_hides_info(messages) -> None:  # type: ignore[no-untyped-def]
    panel, _denied = messages
    assert Severity.INFO in {r.severity for r in panel.visible_rows()}
    panel.set_least_severity("Warnings and errors")
    assert {r.severity for r in panel.visible_rows()} == {Severity.WARNING, Severity.ERROR}
    panel.severity.setCurrentText("Errors")
    assert {r.severity for r in panel.visible_rows()} == {Severity.ERROR}
    panel.set_least_severity("All")
    assert Severity.INFO in {r.severity for r in panel.visible_rows()}
    with pytest.raises(ValueError, match="unknown severity filter"):
        panel.set_least_severity("Debug")


def test_messages_text_filter_when_typed_keeps_matching_rows(messages, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel, _denied = messages
    qtbot.keyClicks(panel.search, "stale")
    assert panel.visible_rows() == []
    panel.search.setText("3 s old")
    assert [r.text for r in panel.visible_rows()] == ["quotes are 3 s old"]


def test_messages_clear_when_pressed_empties_the_log(messages) -> None:  # type: ignore[no-untyped-def]
    panel, _denied = messages
    panel.clear_action.trigger()
    assert panel.visible_rows() == []
    assert panel.counts.text().startswith("0 errors")


def test_messages_export_csv_when_read_back_has_the_rows_shown(messages, tmp_path) -> None:  # type: ignore[no-untyped-def]
    panel, denied = messages
    path = tmp_path / "messages.csv"
    assert panel.export_to(path) == len(panel.visible_rows())
    with path.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    assert [r["Message"] for r in records] == [row.text for row in panel.visible_rows()]
    assert denied.order_id in {r["Order ID"] for r in records}


def _row(sequence: int, severity: Severity = Severity.INFO) -> MessageRow:
    return MessageRow(
        sequence, at_ist(sequence * 1_000_000_000), severity, "test", f"message {sequence}"
    )


def test_message_log_when_over_its_cap_drops_the_oldest(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = MessageLogModel(columns=[], cap=3)
    model.append([_row(1), _row(2)])
    model.append([_row(3), _row(4)])
    assert [r.sequence for r in model.rows] == [4, 3, 2]
    model.append([_row(n) for n in range(5, 12)])
    assert [r.sequence for r in model.rows] == [11, 10, 9]
    assert model.rowCount() == 3


def test_message_log_when_given_a_cap_below_one_refuses_it() -> None:
    with pytest.raises(ValueError, match="cap must be positive"):
        MessageLogModel(columns=[], cap=0)


def test_messages_when_more_than_the_cap_arrive_keeps_the_newest_5000(
    messages, engine, qtbot
) -> None:  # type: ignore[no-untyped-def]
    panel, _denied = messages
    now = engine.clock.time_ns()
    for n in range(5_200):
        engine.bus.publish(EngineMessage(now, Severity.INFO, f"burst {n}", "test"))
    qtbot.waitUntil(lambda: panel.model.rows[0].text == "burst 5199")
    assert panel.model.rowCount() == 5_000
    assert panel.model.rows[-1].text == "burst 200"
