"""The desk's day on a test clock: each job at its time on trading days only (not at the weekend,
not on NSE's holiday of 24 Nov 2026), within its grace when the desk opens late, and never twice
for a day after a restart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from engine.api import EngineMessage
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.support import run_schedule as run_until
from tests.support import schedule_desk as build

FRIDAY_8AM = datetime(2026, 11, 20, 8, 0, tzinfo=IST)
JOBS = [
    "pre_open_checklist",
    "start_portfolios",
    "intraday_square_off",
    "end_of_day_report",
    "journal_backup",
]


def test_schedule_runs_each_job_at_its_time_on_trading_days_only(tmp_path: Path) -> None:
    engine = build(tmp_path, FRIDAY_8AM)
    try:
        ran = run_until(engine, datetime(2026, 11, 25, 17, 0, tzinfo=IST))
    finally:
        engine.close()

    day = [
        "09:00 pre_open_checklist",
        "09:10 start_portfolios",
        "15:15 intraday_square_off",
        "15:45 end_of_day_report",
        "16:00 journal_backup",
    ]
    # Saturday, Sunday and Tuesday 24 November (Guru Nanak Jayanti) have no run.
    assert ran == {"Fri 20": day, "Mon 23": day, "Wed 25": day}
    report = json.loads((tmp_path / "schedule" / "reports" / "2026-11-25.json").read_text())
    assert report["day"] == "2026-11-25" and report["orders"] == 0
    assert (
        (tmp_path / "schedule" / "reports" / "2026-11-25.html")
        .read_text()
        .startswith("<!doctype html>")
    )


def test_schedule_after_a_restart_does_not_run_a_job_twice_for_the_day(tmp_path: Path) -> None:
    first = build(tmp_path, FRIDAY_8AM)
    try:
        assert run_until(first, FRIDAY_8AM + timedelta(hours=2)) == {
            "Fri 20": ["09:00 pre_open_checklist", "09:10 start_portfolios"]
        }
    finally:
        first.close()

    again = build(tmp_path, FRIDAY_8AM + timedelta(hours=2))  # restarted at 10:00, same day
    try:
        ran = run_until(again, FRIDAY_8AM + timedelta(hours=9))
    finally:
        again.close()
    assert ran == {
        "Fri 20": ["15:15 intraday_square_off", "15:45 end_of_day_report", "16:00 journal_backup"]
    }


def test_schedule_opened_late_runs_what_is_within_grace(tmp_path: Path) -> None:
    late = datetime(2026, 11, 20, 12, 0, tzinfo=IST)
    engine = build(tmp_path, late)
    try:
        ran = run_until(engine, late + timedelta(hours=3, minutes=20))
    finally:
        engine.close()
    # The checklist's grace lasts the session: it runs at once, then the square-off at its time.
    assert ran == {
        "Fri 20": [
            "12:00 pre_open_checklist",
            "12:00 start_portfolios",
            "15:15 intraday_square_off",
        ]
    }


def test_schedule_opened_after_the_close_says_what_was_missed(tmp_path: Path) -> None:
    late = datetime(2026, 11, 20, 15, 40, tzinfo=IST)  # after the session and the square-off
    engine = build(tmp_path, late)
    told: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: told.append(m.text))
    try:
        ran = run_until(engine, late + timedelta(minutes=30))
    finally:
        engine.close()
    assert ran == {"Fri 20": ["15:45 end_of_day_report", "16:00 journal_backup"]}
    assert "pre_open_checklist of 2026-11-20 was missed (the desk was not running)" in told
    assert "intraday_square_off of 2026-11-20 was missed (the desk was not running)" in told
    assert "start_portfolios of 2026-11-20 was missed (the desk was not running)" in told


def test_schedule_checklist_names_what_is_not_ready(tmp_path: Path) -> None:
    engine = build(tmp_path, FRIDAY_8AM)
    told: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, told.append)
    try:
        engine.api.kill_switch(reason="left halted yesterday")
        run_until(engine, FRIDAY_8AM + timedelta(hours=1, minutes=1))
    finally:
        engine.close()
    checklist = [m for m in told if m.text.startswith("Pre-open checklist")]
    assert len(checklist) == 1
    assert checklist[0].severity.value == "WARNING"
    assert "trading halted: left halted yesterday" in checklist[0].text


def test_schedule_squares_off_intraday_positions_at_15_15_and_leaves_delivery(
    tmp_path: Path,
) -> None:
    from decimal import Decimal

    from engine.api import OrderType, Product, Side
    from engine.domain.ids import InstrumentToken
    from engine.domain.ticks import Tick

    start = datetime(2026, 11, 20, 15, 0, tzinfo=IST)
    engine = build(tmp_path, start)
    clock = engine.clock
    assert isinstance(clock, TestClock) and engine.schedule is not None
    stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert stock is not None

    def tick() -> None:
        engine.on_tick(
            Tick(
                InstrumentToken(stock.token),
                155_000,
                154_995,
                155_005,
                500,
                500,
                10_000,
                0,
                clock.time_ns(),
            )
        )

    try:
        tick()
        assert engine.api.place_order(
            stock.token, Side.BUY, 10, OrderType.MARKET, product=Product.MIS
        ).ok
        assert engine.api.place_order(
            stock.token, Side.BUY, 4, OrderType.MARKET, product=Product.CNC
        ).ok
        while clock.now() < start + timedelta(minutes=20):
            tick()
            engine.schedule.tick(clock.now())
            clock.advance(60)
        net = {p.product: p.net_quantity for p in engine.api.positions()}
        assert net == {Product.MIS: 0, Product.CNC: 4}
        assert engine.schedule.ran_on("intraday_square_off") == "2026-11-20"
        assert Decimal(0) <= sum((p.charges for p in engine.api.positions()), Decimal(0))
    finally:
        engine.close()


def test_schedule_starts_the_portfolios_marked_to_start_by_themselves(tmp_path: Path) -> None:
    from tests.multileg_support import template_spec

    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=4, strikes_each_side=2),
            schedule_folder=tmp_path / "schedule",
            portfolios_dir=tmp_path / "portfolios",
            var_interval_seconds=0,
        ),
        clock=TestClock(datetime(2026, 11, 21, 8, 0, tzinfo=IST)),  # a Saturday
    )
    told: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: told.append(m.text))
    try:
        api = engine.api
        key = api.portfolio_templates()[0].key
        for name, defaults in (
            ("Morning", {"auto_start": True}),
            ("Switched off", {"auto_start": True, "enabled": False}),
            ("By hand", {}),
        ):
            spec = template_spec(engine, key, name)
            spec["defaults"].update(defaults)
            assert api.save_portfolio(spec) is None
        ran = run_until(engine, datetime(2026, 11, 23, 9, 30, tzinfo=IST))  # to Monday
        running = {v.name for v in api.portfolios() if engine.multileg.running(v.name)}
    finally:
        engine.close()
    assert ran == {"Mon 23": ["09:00 pre_open_checklist", "09:10 start_portfolios"]}
    assert running == {"Morning"}, "not at the weekend, not a disabled one, not an unmarked one"
    assert "Portfolios started by the schedule: Morning" in told
