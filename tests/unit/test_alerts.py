"""Alerts: a rule fires exactly once, on the tick that makes it true, is saved as fired before it
is told, and comes back after a restart neither lost nor fired again."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import AlertError, AlertFired, AlertRule, Condition, EngineMessage
from engine.core.clock import TestClock
from engine.domain.events import Severity
from engine.domain.ids import InstrumentToken
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import MONDAY_MORNING


def build(tmp_path: Path) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=2, strikes_each_side=2),
            alerts_file=tmp_path / "alerts.json",
        ),
        clock=TestClock(MONDAY_MORNING),
    )


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = build(tmp_path)
    yield engine
    engine.close()


def reliance(engine: Engine) -> int:
    found = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert found is not None
    return int(found.token)


def trade(engine: Engine, token: int, rupees: str) -> None:
    paise = int(Decimal(rupees) * 100)
    engine.on_tick(
        Tick(
            InstrumentToken(token),
            paise,
            paise - 5,
            paise + 5,
            100,
            100,
            1000,
            0,
            engine.clock.time_ns(),
        )
    )
    engine.clock.advance(1)


def fired(engine: Engine) -> list[AlertFired]:
    seen: list[AlertFired] = []
    engine.bus.subscribe(AlertFired, seen.append)
    return seen


def test_alert_crosses_above_fires_once_on_the_crossing_tick(engine: Engine) -> None:
    token = reliance(engine)
    trade(engine, token, "1549.00")
    rule = engine.api.add_alert("crosses_above", "1550", token=token, note="add on strength")
    seen = fired(engine)
    messages: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, messages.append)

    trade(engine, token, "1549.95")
    assert seen == []
    trade(engine, token, "1550.00")  # the crossing tick
    assert [e.text for e in seen] == [
        "NSE:RELIANCE crossed above ₹1,550.00 (₹1,550.00) — add on strength"
    ]
    for price in ("1551.00", "1549.00", "1552.00"):  # above, back under, over again: spent
        trade(engine, token, price)
    assert len(seen) == 1
    assert [m.text for m in messages] == [f"Alert: {seen[0].text}"]
    (after,) = engine.api.alerts()
    assert after.alert_id == rule.alert_id and not after.armed


def test_alert_crosses_below_starting_below_waits_for_a_real_cross(engine: Engine) -> None:
    token = reliance(engine)
    trade(engine, token, "1500.00")  # already below the level when the rule is set
    engine.api.add_alert("crosses_below", "1510", token=token)
    seen = fired(engine)

    trade(engine, token, "1505.00")
    assert seen == []
    trade(engine, token, "1512.00")
    trade(engine, token, "1509.95")
    assert len(seen) == 1 and "NSE:RELIANCE crossed below ₹1,510.00 (₹1,509.95)" in seen[0].text


def test_alert_moves_pct_measures_from_where_the_price_was_set(engine: Engine) -> None:
    token = reliance(engine)
    trade(engine, token, "1000.00")
    engine.api.add_alert("moves_pct", "2", token=token)
    seen = fired(engine)

    trade(engine, token, "1019.95")
    trade(engine, token, "981.00")
    assert seen == []
    trade(engine, token, "980.00")
    assert [e.text for e in seen] == ["NSE:RELIANCE moved -2.00% from ₹1,000.00 (₹980.00)"]


def test_alert_rearmed_starts_again_from_the_current_price(engine: Engine) -> None:
    token = reliance(engine)
    trade(engine, token, "100.00")
    rule = engine.api.add_alert("crosses_above", "101", token=token)
    seen = fired(engine)
    trade(engine, token, "101.50")
    rearmed = engine.api.rearm_alert(rule.alert_id)
    assert rearmed is not None and rearmed.armed
    trade(engine, token, "102.00")  # still above: no new cross
    trade(engine, token, "100.50")
    trade(engine, token, "101.00")
    assert len(seen) == 2


def test_alert_on_day_pnl_fires_when_the_pnl_crosses(engine: Engine) -> None:
    engine.api.add_alert("pnl_below", "-5000")
    seen = fired(engine)
    for pnl in ("-1200", "-4999.99", "-5000.01", "-7000", "-4000", "-6000"):
        engine.alerts.check_pnl(Decimal(pnl))
    assert [e.text for e in seen] == ["Day P&L fell below -₹5,000.00 (-₹5,000.01)"]


def test_alert_after_a_restart_is_kept_and_a_fired_one_does_not_fire_again(tmp_path: Path) -> None:
    first = build(tmp_path)
    token = reliance(first)
    trade(first, token, "200.00")
    spent = first.api.add_alert("crosses_above", "201", token=token)
    waiting = first.api.add_alert("crosses_above", "250", token=token)
    trade(first, token, "201.00")
    first.close()

    again = build(tmp_path)
    try:
        seen = fired(again)
        rules = {r.alert_id: r for r in again.api.alerts()}
        assert not rules[spent.alert_id].armed and rules[spent.alert_id].fired_text.startswith(
            "NSE:RELIANCE crossed above ₹201.00 (₹201.00)"
        )
        assert rules[waiting.alert_id].armed
        for price in ("200.00", "202.00", "249.00", "250.00"):
            trade(again, token, price)
        assert [e.alert_id for e in seen] == [waiting.alert_id]
    finally:
        again.close()


@pytest.mark.parametrize(
    ("condition", "value", "token", "why"),
    [
        ("crosses_sideways", "1", True, "an alert's condition is one of crosses_above"),
        ("crosses_above", "abc", True, "an alert's value is a number, not 'abc'"),
        ("crosses_above", "NaN", True, "must be a finite number"),
        ("crosses_above", "-3", True, "a price level must be above zero"),
        ("moves_pct", "0", True, "a move is 0.01-100 percent"),
        ("crosses_above", "100", False, "a price alert needs an instrument"),
        ("pnl_below", "-100", True, "a P&L alert watches the whole desk"),
        ("crosses_above", "1e999999", True, "an alert's level is at most ₹10,00,00,00,000.00"),
        ("pnl_above", "1e9999999", False, "an alert's level is at most ₹10,00,00,00,000.00"),
        ("pnl_below", "-1e9999999", False, "an alert's level is at most ₹10,00,00,00,000.00"),
    ],
)
def test_alert_that_cannot_be_set_is_refused_in_words(
    engine: Engine, condition: str, value: str, token: bool, why: str
) -> None:
    with pytest.raises(AlertError, match=why):
        engine.api.add_alert(condition, value, token=reliance(engine) if token else None)
    assert engine.api.alerts() == []


def test_alert_file_that_cannot_be_read_is_set_aside_and_the_desk_starts_without(
    tmp_path: Path,
) -> None:
    (tmp_path / "alerts.json").write_text(
        '{"alerts": [{"alert_id": "A1", "condition": "crosses_above"}]}'
    )
    engine = build(tmp_path)
    try:
        assert engine.api.alerts() == []
        assert (
            engine.alerts.problem is not None and "an alert has no value" in engine.alerts.problem
        )
        assert (tmp_path / "alerts.json.bad").exists()
    finally:
        engine.close()


def test_alert_file_that_cannot_be_read_at_two_starts_keeps_both_copies_aside(
    tmp_path: Path,
) -> None:
    texts = ['{"FIRST corrupt copy, the alert rules": [', '{"SECOND corrupt copy": [']
    problems = []
    for text in texts:
        (tmp_path / "alerts.json").write_text(text)
        engine = build(tmp_path)
        problems.append(engine.alerts.problem)
        engine.close()

    kept = {path.name: path.read_text() for path in tmp_path.glob("alerts.json*.bad")}
    assert sorted(kept.values()) == sorted(texts)  # the first is not overwritten
    for problem, text in zip(problems, texts, strict=True):
        name = next(name for name, held in kept.items() if held == text)
        assert problem is not None and f"kept as {name}" in problem


def test_alert_rule_set_aside_after_an_unreadable_file_keeps_both_copies(tmp_path: Path) -> None:
    first = build(tmp_path)
    token = reliance(first)
    first.close()
    (tmp_path / "alerts.json").write_text("not json")
    build(tmp_path).close()
    as_it_was = saved_with(tmp_path, token, {"alert_id": "A1", "condition": "crosses_above"})

    engine = build(tmp_path)
    try:
        assert [r.alert_id for r in engine.api.alerts()] == ["A2"]
    finally:
        engine.close()

    kept = sorted(path.read_text() for path in tmp_path.glob("alerts.json*.bad"))
    assert kept == sorted(["not json", as_it_was])


def test_alert_file_that_cannot_be_read_nor_set_aside_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("engine.alerts.book.os.replace", refuse)
    (tmp_path / "alerts.json").write_text("not json")
    engine = build(tmp_path)
    try:
        problem = engine.alerts.problem
        assert problem is not None and "left where it is" in problem and "kept as" not in problem
        engine.api.add_alert("pnl_above", "10000")
    finally:
        engine.close()

    assert (tmp_path / "alerts.json").read_text() == "not json"


def test_alert_saved_file_is_plain_json_with_every_rule(engine: Engine, tmp_path: Path) -> None:
    token = reliance(engine)
    engine.api.add_alert("crosses_above", "1600.5", token=token, note="breakout")
    engine.api.add_alert("pnl_above", "10000")
    saved = json.loads((tmp_path / "alerts.json").read_text())
    assert [(a["alert_id"], a["condition"], a["value"], a["token"]) for a in saved["alerts"]] == [
        ("A1", "crosses_above", "1600.5", token),
        ("A2", "pnl_above", "10000", None),
    ]


def saved_with(tmp_path: Path, token: int, first: dict[str, object]) -> str:
    """An alerts.json holding ``first`` (a rule as a hand edit or an old backup may leave it) and
    a good breakout rule after it; returns the file's text."""
    breakout = {"alert_id": "A2", "condition": "crosses_above", "value": "201", "token": token}
    text = json.dumps({"alerts": [first, {**breakout, "title": "RELIANCE"}]})
    (tmp_path / "alerts.json").write_text(text)
    return text


@pytest.mark.parametrize(
    ("odd", "why"),
    [
        ({"condition": "moves_pct", "value": "1", "reference": "0"}, "starting price"),
        ({"condition": "moves_pct", "value": "1", "reference": "NaN"}, "starting price"),
        ({"condition": "moves_pct", "value": "1", "reference": "-5"}, "starting price"),
        ({"condition": "crosses_above", "value": "1e999999"}, "level is at most"),
        ({"condition": "crosses_above", "value": "300", "created_ns": 10**22}, "created_ns"),
        ({"condition": "crosses_above", "value": "300", "created_ns": "soon"}, "created_ns"),
        ({"condition": "crosses_above", "value": "300", "fired_ns": -1}, "fired_ns"),
    ],
)
def test_alert_saved_rule_that_cannot_be_read_is_set_aside_and_the_others_still_fire(
    tmp_path: Path, odd: dict[str, object], why: str
) -> None:
    first = build(tmp_path)
    token = reliance(first)
    first.close()
    as_it_was = saved_with(tmp_path, token, {"alert_id": "A1", "token": token, **odd})

    engine = build(tmp_path)
    try:
        seen = fired(engine)
        assert [r.alert_id for r in engine.api.alerts()] == ["A2"]
        problem = engine.alerts.problem
        assert problem is not None and "alert 'A1'" in problem and why in problem
        assert (tmp_path / "alerts.json.bad").read_text() == as_it_was  # nothing lost
        for price in ("200.00", "202.00", "205.00"):
            trade(engine, token, price)
        assert [e.alert_id for e in seen] == ["A2"]
    finally:
        engine.close()

    again = build(tmp_path)  # the readable rule was kept; the odd one is not refused again
    try:
        assert [(r.alert_id, r.armed) for r in again.api.alerts()] == [("A2", False)]
        assert again.alerts.problem is None
    finally:
        again.close()


def test_alert_whose_check_fails_is_told_once_and_the_others_still_fire(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    token = reliance(engine)
    trade(engine, token, "200.00")
    engine.api.add_alert("crosses_above", "201", token=token, note="breakout")
    # No checked way in makes a rule like this any more; it stands for a fault not foreseen.
    broken = AlertRule(
        "A9", Condition.MOVES_PCT, Decimal(1), token, "RELIANCE", reference=Decimal(0)
    )
    engine.alerts._rules[broken.alert_id] = broken
    engine.alerts._index()
    seen = fired(engine)
    messages: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, messages.append)

    for price in ("200.50", "202.00", "203.00"):
        trade(engine, token, price)

    assert [e.alert_id for e in seen] == ["A1"]
    assert engine.bus.handler_errors == 0
    faults = [m for m in messages if "A9" in m.text]
    assert len(faults) == 1 and faults[0].severity is Severity.WARNING
    assert "alert A9 (RELIANCE) could not be checked" in faults[0].text
    assert caplog.text.count("alert A9 could not be checked") == 1


def test_alert_moves_pct_set_before_a_price_keeps_its_starting_price_after_a_restart(
    tmp_path: Path,
) -> None:
    first = build(tmp_path)
    token = reliance(first)
    first.quotes.latest.pop(token)  # no price yet, as on a desk started before the open
    assert first.api.add_alert("moves_pct", "5", token=token).reference is None
    trade(first, token, "200.00")  # the move is measured from here
    trade(first, token, "205.00")
    first.close()
    saved = json.loads((tmp_path / "alerts.json").read_text())
    assert saved["alerts"][0]["reference"] == "200"

    again = build(tmp_path)
    try:
        seen = fired(again)
        trade(again, token, "205.00")
        trade(again, token, "211.00")  # +5.5% from 200.00
        assert [e.text for e in seen] == ["NSE:RELIANCE moved +5.50% from ₹200.00 (₹211.00)"]
    finally:
        again.close()
