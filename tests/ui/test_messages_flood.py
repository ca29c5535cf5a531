"""The Messages panel under a flood: repeats of one message are counted on one row, and errors and
risk-state messages (trading HALTED) outlast the routine rows a full log drops."""

from __future__ import annotations

import csv
import time
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt

from engine.api import EngineMessage
from engine.domain.events import Severity
from engine.domain.instruments import Instrument, InstrumentType
from ui.export import at_ist
from ui.models.table import Column
from ui.panels.messages import MAX_MESSAGES, MessageLogModel, MessageRow, MessagesPanel


def nifty_option(engine) -> Instrument:
    calls = [
        i
        for i in engine.registry
        if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.CE
    ]
    spot = engine.api.tick(256265).ltp
    nearest = min(i.expiry for i in calls)
    return min((i for i in calls if i.expiry == nearest), key=lambda i: abs(i.strike - spot))


def halted_rows(panel: MessagesPanel) -> list[MessageRow]:
    return [r for r in panel.model.rows if r.text == "trading HALTED: desk-kill"]


def denial_rows(panel: MessagesPanel) -> list[MessageRow]:
    return [r for r in panel.model.rows if r.source == "risk gate"]


def message_cell(panel: MessagesPanel, row: MessageRow, role: int) -> str:
    shown = panel.proxy.index(panel.visible_rows().index(row), 3)
    return str(shown.data(role))


def test_messages_when_a_script_places_in_a_loop_after_the_kill_switch_keeps_halted_in_view(
    qtbot, engine, market, context
):
    market(1)
    option = nifty_option(engine)
    panel = MessagesPanel(context)
    qtbot.addWidget(panel)
    engine.api.kill_switch(reason="desk-kill")
    qtbot.waitUntil(lambda: bool(halted_rows(panel)), timeout=3000)
    placed = 0
    for _ in range(10):  # a script over the local API retrying on every tick, frame after frame
        for _ in range(200):
            assert not engine.api.place_order(option.token, "BUY", 65, "MARKET", source="api")
            placed += 1
        market(0.25)
        qtbot.wait(25)
    qtbot.waitUntil(lambda: sum(r.count for r in denial_rows(panel)) == placed, timeout=5000)

    [denials] = denial_rows(panel)  # every refusal reads the same: one row counts them all
    assert denials.count == placed
    assert "trading is HALTED (desk-kill)" in denials.text
    assert denials.latest > denials.time
    shown = message_cell(panel, denials, Qt.ItemDataRole.DisplayRole)
    assert f"×2,000 ({denials.time:%H:%M:%S}–{denials.latest:%H:%M:%S})" in shown
    assert len(halted_rows(panel)) == 1
    assert panel.model.rowCount() < 20
    errors = sum(r.count for r in panel.model.rows if r.severity is Severity.ERROR)
    assert errors > placed
    assert panel.counts.text().startswith(f"{errors} errors")  # the repeats are counted too


def test_messages_when_20000_arrive_in_frames_keeps_the_cap_and_the_halted_message(
    qtbot, engine, market, context
) -> None:
    market(1)
    option = nifty_option(engine)
    panel = MessagesPanel(context)
    qtbot.addWidget(panel)
    engine.api.kill_switch(reason="desk-kill")
    qtbot.waitUntil(lambda: bool(halted_rows(panel)), timeout=3000)

    started = time.perf_counter()
    for n in range(10_000):  # a strategy placing while halted, and a chatty feed between
        assert not engine.api.place_order(option.token, "BUY", 65, "MARKET", source="manual")
        now = engine.clock.time_ns()
        engine.bus.publish(EngineMessage(now, Severity.INFO, f"quote {n} stale", "feed"))
        if n % 100 == 99:
            qtbot.wait(1)  # the bridge's frames run while they arrive, as on a desk
    qtbot.waitUntil(lambda: panel.model.row_at(0).text == "quote 9999 stale", timeout=20_000)
    took = time.perf_counter() - started
    print(f"\n20,000 messages placed and shown in {took:.2f} s ({took / 20_000 * 1e6:.0f} µs each)")

    assert panel.model.rowCount() == MAX_MESSAGES
    assert len(halted_rows(panel)) == 1
    assert halted_rows(panel)[0].important
    [denials] = denial_rows(panel)
    assert denials.count == 10_000
    # The routine rows kept are the newest; the older ones went to make room.
    feed = [r.text for r in panel.model.rows if r.source == "feed"]
    assert feed[0] == "quote 9999 stale"
    assert len(feed) == MAX_MESSAGES - 1 - sum(r.important for r in panel.model.rows)


# -- the log model --------------------------------------------------------------------------------


def message(
    sequence: int,
    text: str,
    seconds: float = 0.0,
    severity: Severity = Severity.INFO,
    important: bool = False,
) -> MessageRow:
    when = at_ist(1_795_000_000_000_000_000 + int(seconds * 1e9))
    return MessageRow(sequence, when, severity, "test", text, "", important)


def test_message_log_when_a_message_repeats_counts_it_on_its_row_in_place(qtbot) -> None:
    model = MessageLogModel(columns=[Column("Message", lambda r: r.shown_text)], cap=10)
    model.append([message(1, "halted", 0.0), message(2, "denied", 1.0)])
    inserted: list[int] = []
    changed: list[int] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append(last - first + 1))
    model.dataChanged.connect(lambda top, _bottom: changed.append(top.row()))

    model.append([message(3, "denied", 2.0), message(4, "other", 2.5), message(5, "denied", 3.0)])
    model.append([message(6, "denied", 4.0)])

    assert [(r.text, r.count) for r in model.rows] == [("other", 1), ("denied", 4), ("halted", 1)]
    denied = model.rows[1]
    assert denied.sequence == 2 and denied.time == message(2, "", 1.0).time
    assert denied.latest == message(6, "", 4.0).time
    assert denied.shown_text.startswith("denied  ×4 (")
    assert inserted == [1]  # only "other" took a row
    assert changed == [0, 1]  # repainted once per frame where it stood (under "other" later)
    assert model.occurrences[Severity.INFO] == 6


def test_message_log_when_a_message_comes_back_after_the_window_starts_a_new_row(qtbot) -> None:
    model = MessageLogModel(columns=[], cap=10, repeat_window=timedelta(seconds=60))
    model.append([message(1, "denied", 0.0), message(2, "denied", 59.0)])
    model.append([message(3, "denied", 120.0)])
    assert [(r.sequence, r.count) for r in model.rows] == [(3, 1), (1, 2)]


def test_message_log_when_other_severity_or_source_does_not_count_them_together(qtbot) -> None:
    model = MessageLogModel(columns=[], cap=10)
    model.append([message(1, "same"), message(2, "same", severity=Severity.WARNING)])
    elsewhere = MessageRow(3, message(3, "").time, Severity.INFO, "feed", "same")
    model.append([elsewhere])
    assert [r.count for r in model.rows] == [1, 1, 1]


def test_message_log_when_full_drops_routine_rows_before_important_ones(qtbot) -> None:
    model = MessageLogModel(columns=[], cap=4)
    model.append([message(1, "old note"), message(2, "HALTED", important=True)])
    model.append([message(n, f"note {n}", n) for n in range(3, 9)])
    assert [r.text for r in model.rows] == ["note 8", "note 7", "note 6", "HALTED"]
    assert model.rowCount() == 4
    # The row counting a repeat is found again after rows below and above it went.
    model.append([message(9, "HALTED", 9.0, important=True)])
    assert [(r.text, r.count) for r in model.rows][-1] == ("HALTED", 2)


def test_message_log_when_full_keeps_a_row_that_is_still_repeating(qtbot) -> None:
    model = MessageLogModel(columns=[], cap=3)
    model.append([message(1, "denied", 0.0)])
    for n in range(2, 12, 2):  # a new note, and the flood goes on
        model.append([message(n, f"note {n}", n), message(n + 1, "denied", n)])
    assert [(r.text, r.count) for r in model.rows] == [("note 10", 1), ("note 8", 1), ("denied", 6)]


def test_message_log_when_important_rows_pass_half_the_cap_drops_the_oldest_of_them(qtbot) -> None:
    model = MessageLogModel(columns=[], cap=4)
    model.append([message(n, f"error {n}", n, Severity.ERROR, True) for n in range(1, 5)])
    model.append([message(5, "note", 5.0)])
    assert [r.text for r in model.rows] == ["note", "error 4", "error 3", "error 2"]
    model.append([message(6, "note 6", 6.0), message(7, "note 7", 7.0)])
    assert [r.text for r in model.rows] == ["note 7", "note 6", "error 4", "error 3"]
    assert model.occurrences == {Severity.INFO: 2, Severity.WARNING: 0, Severity.ERROR: 2}


def test_message_log_when_a_row_is_not_newer_than_the_log_refuses_it(qtbot) -> None:
    model = MessageLogModel(columns=[], cap=4)
    model.append([message(2, "a")])
    with pytest.raises(ValueError, match="not newer"):
        model.append([message(1, "b")])


def test_messages_export_when_a_row_counts_repeats_writes_the_count_and_last_time(
    qtbot, engine, market, context, tmp_path
) -> None:
    market(1)
    panel = MessagesPanel(context)
    qtbot.addWidget(panel)
    option = nifty_option(engine)
    for _ in range(3):
        assert not engine.api.place_order(option.token, "BUY", 7, "MARKET", source="manual")
        market(1)
    qtbot.waitUntil(lambda: sum(r.count for r in denial_rows(panel)) == 3)
    [row] = denial_rows(panel)
    assert "3 times from" in message_cell(panel, row, Qt.ItemDataRole.ToolTipRole)
    path = tmp_path / "messages.csv"
    panel.export_to(path)
    with path.open(newline="", encoding="utf-8") as f:
        [record] = [r for r in csv.DictReader(f) if r["Source"] == "risk gate"]
    assert record["Count"] == "3"
    assert record["Message"] == row.text
    assert record["Order ID"] == row.order_id


def test_messages_when_input_that_is_no_order_repeats_counts_it_on_one_row(
    qtbot, engine, market, context
) -> None:
    market(1)
    panel = MessagesPanel(context)
    qtbot.addWidget(panel)
    refused = [engine.api.place_order("abc", "BUY", 65, "MARKET") for _ in range(2)]
    assert not any(refused)
    qtbot.waitUntil(lambda: sum(r.count for r in denial_rows(panel)) == 2)
    [row] = denial_rows(panel)
    assert row.text == f"Denied: {refused[0].reason}"  # the order id is in its own column
    assert row.order_id == refused[0].order_id
