"""Alerts under the faults a trading day brings: re-arming beside other rules, the day's P&L
restarting at midnight, a P&L rule set while no other watched, contracts that expire or leave the
listing, many rules firing on one tick, and saved files a hand or a killed desk left odd."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.alerts import book as alert_book
from engine.api import AlertError, AlertFired
from engine.core.clock import IST, TestClock
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, Segment, make_token
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import MONDAY_MORNING
from tests.unit.test_alerts import trade


def build(tmp_path: Path, at: datetime = MONDAY_MORNING, *, always_open: bool = False) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            always_open=always_open,
            market=SimulatedMarketConfig(seed=2, strikes_each_side=2, always_open=always_open),
            alerts_file=tmp_path / "alerts.json",
        ),
        clock=TestClock(at),
    )


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = build(tmp_path)
    yield engine
    engine.close()


def reliance(engine: Engine, exchange: str = "NSE") -> Instrument:
    found = engine.api.instruments.by_symbol(exchange, "RELIANCE")
    assert found is not None
    return found


def fired(engine: Engine) -> list[str]:
    seen: list[str] = []
    engine.bus.subscribe(AlertFired, lambda event: seen.append(event.text))
    return seen


def day_pnl_from(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Decimal]:
    """The day's P&L the heartbeat reads, as the test sets it (``pnl[0]``)."""
    pnl = [Decimal(0)]
    monkeypatch.setattr(engine.api, "day_pnl", lambda: pnl[0])
    return pnl


def beat_with(engine: Engine, pnl: list[Decimal], *values: str) -> None:
    for value in values:
        pnl[0] = Decimal(value)
        engine.housekeeping.beat()
        engine.clock.advance(1)


# -- re-arming -----------------------------------------------------------------------------------


def test_alert_rearmed_leaves_another_armed_alert_on_the_instrument_its_crossing(
    engine: Engine,
) -> None:
    token = int(reliance(engine).token)
    trade(engine, token, "1000")
    engine.api.add_alert("crosses_above", "1010", token=token, note="A")
    below = engine.api.add_alert("crosses_below", "990", token=token, note="B")
    seen = fired(engine)
    trade(engine, token, "989")
    trade(engine, token, "1005")
    engine.api.rearm_alert(below.alert_id)

    trade(engine, token, "1011")  # from 1005 over 1010: the armed rule's cross

    assert seen == [
        "NSE:RELIANCE crossed below ₹990.00 (₹989.00) — B",
        "NSE:RELIANCE crossed above ₹1,010.00 (₹1,011.00) — A",
    ]


def test_alert_rearm_of_an_armed_alert_is_refused_and_keeps_its_starting_price(
    engine: Engine,
) -> None:
    token = int(reliance(engine).token)
    trade(engine, token, "1000")
    move = engine.api.add_alert("moves_pct", "2", token=token)
    seen = fired(engine)
    trade(engine, token, "1015")

    with pytest.raises(AlertError, match=f"alert {move.alert_id} has not fired: it is armed"):
        engine.api.rearm_alert(move.alert_id)
    trade(engine, token, "1021")  # +2.1% from where it was set

    assert [r.reference for r in engine.api.alerts()] == [Decimal(1000)]
    assert seen == ["NSE:RELIANCE moved +2.10% from ₹1,000.00 (₹1,021.00)"]


# -- the day's P&L -------------------------------------------------------------------------------


@pytest.mark.parametrize("first_tick_before_the_beat", [False, True])
def test_alert_on_day_pnl_when_the_day_rolls_at_midnight_does_not_fire_on_the_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_tick_before_the_beat: bool
) -> None:
    engine = build(tmp_path, datetime(2026, 12, 2, 23, 59, 56, tzinfo=IST), always_open=True)
    try:
        token = int(reliance(engine).token)
        trade(engine, token, "1000")
        assert engine.api.place_order(token, "BUY", 1, "MARKET", product="CNC").ok
        pnl = day_pnl_from(engine, monkeypatch)
        engine.api.add_alert("pnl_above", "-100")
        seen = fired(engine)
        beat_with(engine, pnl, "-143", "-150", "-160")
        assert engine.clock.now() == datetime(2026, 12, 3, tzinfo=IST)
        if first_tick_before_the_beat:  # the risk breakers roll the held book's day on it
            engine.on_tick(Tick(InstrumentToken(token), 100010, 100005, 100015, 1, 1, 10, 0, 0))
            assert engine.positions.today == date(2026, 12, 3)
        beat_with(engine, pnl, "0", "-20")  # the new day's P&L starts at 0: no cross
        assert seen == []
        beat_with(engine, pnl, "-120", "-80")  # a cross within the new day
        assert seen == ["Day P&L rose above -₹100.00 (-₹80.00)"]
    finally:
        engine.close()


def test_alert_on_day_pnl_set_when_the_pnl_is_past_its_level_waits_for_a_cross_whatever_came_before(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pnl = day_pnl_from(engine, monkeypatch)
    engine.api.add_alert("pnl_above", "3000", note="target")
    seen = fired(engine)
    beat_with(engine, pnl, "0", "1000", "3500")  # the target fires; no P&L rule is left armed
    beat_with(engine, pnl, "-2000", "-6000", "-8000")

    engine.api.add_alert("pnl_below", "-5000", note="set at -8,000")
    beat_with(engine, pnl, "-8000", "-8100")
    assert seen == ["Day P&L rose above ₹3,000.00 (₹3,500.00) — target"]
    beat_with(engine, pnl, "-4000", "-6000")
    assert seen[1:] == ["Day P&L fell below -₹5,000.00 (-₹6,000.00) — set at -8,000"]


def test_alert_on_day_pnl_speaks_in_indian_digit_grouping(engine: Engine) -> None:
    engine.api.add_alert("pnl_below", "-500000")
    seen = fired(engine)
    engine.alerts.check_pnl(Decimal("-1200"))
    engine.alerts.check_pnl(Decimal("-1234567.891"))
    assert seen == ["Day P&L fell below -₹5,00,000.00 (-₹12,34,567.89)"]


# -- what a price alert says -----------------------------------------------------------------------


def test_alert_fired_names_the_exchange_and_says_rupees_in_indian_grouping(
    engine: Engine,
) -> None:
    nse = reliance(engine)
    bse = dataclasses.replace(
        nse,
        token=make_token(500325, Segment.BSE),
        exchange=Exchange.BSE,
        segment=Segment.BSE,
        exchange_token=500325,
    )
    engine.registry.add_all([bse])
    seen = fired(engine)
    for instrument in (nse, bse):
        trade(engine, int(instrument.token), "123456.00")
        rule = engine.api.add_alert("crosses_above", "123456.50", token=int(instrument.token))
        assert rule.describe() == f"{instrument.exchange}:RELIANCE crosses above ₹1,23,456.50"
        trade(engine, int(instrument.token), "123457.05")

    assert seen == [
        "NSE:RELIANCE crossed above ₹1,23,456.50 (₹1,23,457.05)",
        "BSE:RELIANCE crossed above ₹1,23,456.50 (₹1,23,457.05)",
    ]


@pytest.mark.parametrize("note", [None, 123])
def test_alert_with_a_note_that_is_not_text_is_refused_in_words(
    engine: Engine, note: object
) -> None:
    with pytest.raises(AlertError, match=f"an alert's note is text, not {note}"):
        engine.api.add_alert("pnl_below", "-1", note=note)  # type: ignore[arg-type]
    assert engine.api.alerts() == []


# -- contracts that expire or leave the listing ------------------------------------------------------


def test_alert_on_a_contract_past_its_expiry_close_is_refused_and_not_rearmed(
    tmp_path: Path,
) -> None:
    expiry = date(2026, 12, 1)
    engine = build(tmp_path, datetime(2026, 12, 1, 15, 0, tzinfo=IST))
    try:
        option = engine.registry.chain("NIFTY", expiry)[0][1]
        trade(engine, int(option.token), "100")
        before = engine.api.add_alert("crosses_above", "100.50", token=int(option.token))
        trade(engine, int(option.token), "101")
        close = engine.calendar.expiry_close(expiry)
        engine.clock.advance((close - engine.clock.now()).total_seconds())

        with pytest.raises(AlertError) as refused:
            engine.api.add_alert("crosses_above", "120", token=int(option.token))
        assert str(refused.value) == (
            f"{option.tradingsymbol} expired at {close:%H:%M} on 1 Dec 2026: "
            "an alert on it would never fire"
        )
        with pytest.raises(AlertError, match="expired at"):
            engine.api.rearm_alert(before.alert_id)
        assert [(r.alert_id, r.armed) for r in engine.api.alerts()] == [(before.alert_id, False)]
    finally:
        engine.close()


def test_alert_saved_on_an_instrument_no_longer_listed_is_told_at_start_and_kept(
    tmp_path: Path,
) -> None:
    gone = {"alert_id": "A1", "condition": "crosses_above", "value": "10", "token": 987654321}
    gone["title"] = "NFO:NIFTY25NOV24000CE"
    kept = {"alert_id": "A2", "condition": "pnl_below", "value": "-5000"}
    (tmp_path / "alerts.json").write_text(json.dumps({"alerts": [gone, kept]}))

    engine = build(tmp_path)
    try:
        told = [m.text for m in engine.api.startup_messages if m.source == "alerts"]
        assert told == [
            "Alerts: alert A1 cannot fire: NFO:NIFTY25NOV24000CE is no longer listed; "
            "remove it in the Alerts panel"
        ]
        assert [(r.alert_id, r.armed) for r in engine.api.alerts()] == [("A1", True), ("A2", True)]
    finally:
        engine.close()


# -- many rules, one tick ------------------------------------------------------------------------------


def test_alert_many_firing_on_one_tick_are_saved_once_and_saved_before_told(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = int(reliance(engine).token)
    trade(engine, token, "1000")
    for level in range(1001, 1031):
        engine.api.add_alert("crosses_above", str(level), token=token)
    writes: list[Path] = []
    write_json = alert_book.write_json

    def counted(path: Path, data: object) -> str | None:
        writes.append(path)
        return write_json(path, data)

    monkeypatch.setattr(alert_book, "write_json", counted)
    saved_fired_when_told: list[int] = []

    def told(_event: AlertFired) -> None:
        saved = json.loads((tmp_path / "alerts.json").read_text())["alerts"]
        saved_fired_when_told.append(sum(a["fired_ns"] is not None for a in saved))

    engine.bus.subscribe(AlertFired, told)

    trade(engine, token, "1031")

    assert writes == [tmp_path / "alerts.json"]
    assert saved_fired_when_told == [30] * 30


def test_alert_fired_beyond_the_kept_number_drops_the_oldest_fired_never_an_armed_one(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_book, "KEEP_FIRED", 3)
    token = int(reliance(engine).token)
    trade(engine, token, "1000")
    waiting = engine.api.add_alert("crosses_above", "2000", token=token)
    spent = [engine.api.add_alert("crosses_above", str(1001 + i), token=token) for i in range(5)]
    for i in range(5):
        trade(engine, token, str(1001 + i))  # one fires on each tick

    kept = [spent[2].alert_id, spent[3].alert_id, spent[4].alert_id, waiting.alert_id]
    assert sorted(r.alert_id for r in engine.api.alerts()) == sorted(kept)
    saved = json.loads((tmp_path / "alerts.json").read_text())["alerts"]
    assert sorted(a["alert_id"] for a in saved) == sorted(kept)


# -- odd saved files -----------------------------------------------------------------------------------


def test_alert_file_nested_too_deeply_is_set_aside_and_the_desk_starts(tmp_path: Path) -> None:
    text = '{"alerts": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "alerts.json").write_text(text)
    engine = build(tmp_path)
    try:
        assert engine.api.alerts() == []
        assert engine.alerts.problem == (
            "the saved alerts could not be read (the file is nested too deeply to be read); "
            "the file is kept as alerts.json.bad"
        )
        assert (tmp_path / "alerts.json.bad").read_text() == text
        assert engine.api.add_alert("pnl_above", "100").alert_id == "A1"
    finally:
        engine.close()


def test_alert_saved_twice_under_one_id_sets_the_second_aside_and_keeps_the_first(
    tmp_path: Path,
) -> None:
    first = {"alert_id": "A1", "condition": "pnl_above", "value": "100", "note": "first"}
    second = {"alert_id": "A1", "condition": "pnl_below", "value": "-5000", "note": "second"}
    text = json.dumps({"alerts": [first, second]})
    (tmp_path / "alerts.json").write_text(text)
    engine = build(tmp_path)
    try:
        assert [(r.alert_id, r.note) for r in engine.api.alerts()] == [("A1", "first")]
        problem = engine.alerts.problem
        assert problem is not None and (
            "alert number 2 ('A1'): an earlier saved alert has the same id" in problem
        )
        assert (tmp_path / "alerts.json.bad").read_text() == text
    finally:
        engine.close()


@pytest.mark.parametrize("odd_id", ["A²", "A" + "7" * 5000, "A٣"])
def test_alert_saved_under_an_id_not_of_ascii_digits_lets_new_alerts_be_set(
    tmp_path: Path, odd_id: str
) -> None:
    saved = {"alert_id": odd_id, "condition": "pnl_below", "value": "-5000"}
    (tmp_path / "alerts.json").write_text(json.dumps({"alerts": [saved]}))
    engine = build(tmp_path)
    try:
        added = [engine.api.add_alert("pnl_above", str(100 * n)).alert_id for n in (1, 2)]
        assert added == ["A1", "A2"]
        assert len(engine.api.alerts()) == 3
    finally:
        engine.close()


def test_alert_file_leftover_temporaries_of_a_killed_write_are_removed_at_start(
    tmp_path: Path,
) -> None:
    (tmp_path / "alerts.json").write_text(json.dumps({"alerts": []}))
    old = tmp_path / ".dalaldesk-0badf00d.part"
    old.write_text('{"alerts": [')
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    writing = tmp_path / ".dalaldesk-1234abcd.part"  # another desk's write, under way
    writing.write_text('{"al')
    mine = tmp_path / "notes.part"
    mine.write_text("the trader's own")

    build(tmp_path).close()

    assert not old.exists()
    assert writing.exists() and mine.exists()
