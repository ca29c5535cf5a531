"""The desk's day follows the market calendar and outlives a failed job.

A Budget Sunday runs a regular day's jobs; a Muhurat hour (21 Oct 2025, 13:45–14:45) moves the
jobs that depend on the session with it, so intraday positions are squared off while the market
is open; a session a calendar update adds while the desk runs is kept. A job whose second run is
safe is tried again a few minutes after a failure, within its grace and after a restart too; one
that must never run twice (the square-off), or one cut off by a crash, is not.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from engine.api import EngineMessage, OrderType, Product, Side
from engine.calendar import locations
from engine.calendar.update import import_calendar_file
from engine.core.clock import IST, TestClock
from engine.domain.instruments import Instrument
from engine.runtime import Engine
from engine.runtime.schedule_times import DailyJob, JobTime
from engine.runtime.scheduler import DEFAULT_JOBS, DailySchedule, pre_open_checklist
from tests.support import run_schedule as run_until
from tests.support import schedule_desk as build
from tests.support import tick_stock

REGULAR_DAY = [
    "09:00 pre_open_checklist",
    "09:10 start_portfolios",
    "15:15 intraday_square_off",
    "15:45 end_of_day_report",
    "16:00 journal_backup",
]


def told(engine: Engine) -> list[EngineMessage]:
    seen: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, seen.append)
    return seen


def test_schedule_when_a_sunday_is_a_budget_session_runs_a_regular_days_jobs_that_sunday(
    tmp_path: Path,
) -> None:
    engine = build(tmp_path, datetime(2026, 1, 30, 8, 0, tzinfo=IST))  # the Friday before
    try:
        assert engine.calendar.is_trading_day(date(2026, 2, 1))
        ran = run_until(engine, datetime(2026, 2, 2, 17, 0, tzinfo=IST))
    finally:
        engine.close()
    # Saturday has no session; Sunday 1 February (Union Budget) has the regular one.
    assert ran == {"Fri 30": REGULAR_DAY, "Sun 01": REGULAR_DAY, "Mon 02": REGULAR_DAY}
    report = json.loads((tmp_path / "schedule" / "reports" / "2026-02-01.json").read_text())
    assert report["day"] == "2026-02-01"


def test_schedule_on_a_muhurat_day_runs_the_session_jobs_by_its_hours(tmp_path: Path) -> None:
    engine = build(tmp_path, datetime(2025, 10, 20, 8, 0, tzinfo=IST))
    try:
        ran = run_until(engine, datetime(2025, 10, 22, 17, 0, tzinfo=IST))
    finally:
        engine.close()
    # 21 Oct 2025: Muhurat 13:45–14:45; 22 Oct (Diwali Balipratipada) is a holiday.
    assert ran == {
        "Mon 20": REGULAR_DAY,
        "Tue 21": [
            "13:30 pre_open_checklist",
            "13:40 start_portfolios",
            "14:30 intraday_square_off",
            "15:00 end_of_day_report",
            "16:00 journal_backup",  # not tied to the session: at its time
        ],
    }


def test_schedule_square_off_on_a_muhurat_day_closes_intraday_positions_while_it_is_open(
    tmp_path: Path,
) -> None:
    start = datetime(2025, 10, 21, 14, 0, tzinfo=IST)
    engine = build(tmp_path, start)
    messages = told(engine)
    clock = engine.clock
    assert isinstance(clock, TestClock) and engine.schedule is not None
    stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert stock is not None
    try:
        quote(engine, stock)
        assert engine.api.place_order(
            stock.token, Side.BUY, 10, OrderType.MARKET, product=Product.MIS
        ).ok
        while clock.now() < start + timedelta(minutes=45):  # to the session's close, 14:45
            quote(engine, stock)
            engine.schedule.tick(clock.now())
            clock.advance(60)
        net = {p.product: p.net_quantity for p in engine.api.positions()}
        assert net == {Product.MIS: 0}
        assert engine.schedule.ran_on("intraday_square_off") == "2025-10-21"
    finally:
        engine.close()
    said = [m.text for m in messages if m.text.startswith("Intraday square-off")]
    assert said == ["Intraday square-off: 1 orders for 1 MIS positions"]


def test_paper_venue_on_a_muhurat_day_squares_off_intraday_ten_minutes_before_its_close(
    tmp_path: Path,
) -> None:
    """The venue's own square-off (as a broker's RMS, with the desk's schedule not run) follows
    the day's close: 14:35 in a 13:45–14:45 session, not a regular day's 15:20 after it."""
    start = datetime(2025, 10, 21, 14, 0, tzinfo=IST)
    engine = build(tmp_path, start)
    clock = engine.clock
    assert isinstance(clock, TestClock) and engine.venue is not None
    stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
    assert stock is not None
    try:
        assert engine.venue.square_off_due(date(2025, 10, 20)).strftime("%H:%M") == "15:20"
        assert engine.venue.square_off_due(date(2025, 10, 21)).strftime("%H:%M") == "14:35"
        quote(engine, stock)
        assert engine.api.place_order(
            stock.token, Side.BUY, 10, OrderType.MARKET, product=Product.MIS
        ).ok
        held_at = {}
        while clock.now() <= start + timedelta(minutes=40):
            quote(engine, stock)
            engine.venue.on_clock(clock.now())
            held_at[clock.now().strftime("%H:%M")] = sum(
                p.net_quantity for p in engine.api.positions()
            )
            clock.advance(60)
    finally:
        engine.close()
    assert held_at["14:34"] == 10 and held_at["14:35"] == 0


def test_schedule_checklist_when_a_muhurat_session_has_no_hours_yet_says_so_for_thirty_days(
    tmp_path: Path,
) -> None:
    """The shipped calendar announces Muhurat on Sun 8 Nov 2026 with its hours to be notified:
    the desk holds the day closed, so from 30 days before the trader is told every morning."""
    engine = build(tmp_path, datetime(2026, 10, 8, 9, 0, tzinfo=IST))
    try:
        quiet = pre_open_checklist(engine, engine.clock.now())
        warned = pre_open_checklist(engine, datetime(2026, 10, 20, 9, 0, tzinfo=IST))
        on_the_day = engine.calendar.unannounced_warning(date(2026, 11, 8))
        after = engine.calendar.unannounced_warning(date(2026, 11, 9))
    finally:
        engine.close()
    assert "Muhurat" not in quiet
    assert "No hours are in the calendar yet for the Muhurat session on Sun 08 Nov 2026" in warned
    assert "Help → Update market calendar…" in warned
    assert on_the_day is not None and after is None


def quote(engine: Engine, stock: Instrument) -> None:
    tick_stock(engine, stock.tradingsymbol, 155_000)


def test_schedule_when_a_calendar_update_adds_a_session_while_the_desk_runs_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert locations.default_override_dir().is_relative_to(tmp_path)
    engine = build(tmp_path, datetime(2026, 3, 6, 8, 0, tzinfo=IST))  # a Friday
    try:
        before = run_until(engine, datetime(2026, 3, 7, 8, 0, tzinfo=IST))
        update = tmp_path / "saturday-session.json"
        update.write_text(
            json.dumps(
                {
                    "schema": 1,
                    "exchange": "NSE",
                    "special_sessions": [
                        {
                            "date": "2026-03-07",
                            "segments": ["CM", "FO"],
                            "kind": "full_day",
                            "times": "regular",
                            "note": "Saturday live session (a disaster-recovery drill)",
                            "source": "test",
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        import_calendar_file(update)
        engine.reload_calendar()  # Settings → Calendar, on the Saturday morning
        after = run_until(engine, datetime(2026, 3, 7, 17, 0, tzinfo=IST))
    finally:
        engine.close()
    assert before == {"Fri 06": REGULAR_DAY}
    assert after == {"Sat 07": REGULAR_DAY}


# -- a job that fails ------------------------------------------------------------------------------


class FailingJob:
    """A job's work that fails with an error its first ``failures`` times; when it was tried."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.tries: list[str] = []

    def __call__(self, engine: Engine, now: datetime) -> str:
        self.tries.append(f"{now:%H:%M}")
        if len(self.tries) <= self.failures:
            raise OSError("No space left on device")
        return "done"


def test_schedule_when_a_job_safe_to_repeat_fails_tries_it_again_every_five_minutes_saying_so_once(
    tmp_path: Path,
) -> None:
    engine = build(tmp_path, datetime(2026, 11, 20, 15, 50, tzinfo=IST))
    messages = told(engine)
    work = FailingJob(failures=2)
    backup = DailyJob(
        "journal_backup",
        JobTime.of_day("16:00"),
        timedelta(hours=7, minutes=59),
        work,
        until=JobTime.of_day("23:59"),
        retry=True,
    )
    schedule = DailySchedule(engine, [backup], tmp_path / "own-schedule")
    try:
        ran = run_until(engine, datetime(2026, 11, 20, 17, 0, tzinfo=IST), schedule)
    finally:
        engine.close()
    assert work.tries == ["16:00", "16:05", "16:10"]  # not at every heartbeat between
    assert ran == {
        "Fri 20": ["16:00 journal_backup", "16:05 journal_backup", "16:10 journal_backup"]
    }
    said = [m.text for m in messages if m.source == "schedule"]
    assert said == [
        "journal_backup failed: No space left on device. Tried again every 5 minutes until 23:59",
        "journal_backup of 2026-11-20 done when tried again",
    ]


def test_schedule_when_the_square_off_fails_does_not_try_it_again(tmp_path: Path) -> None:
    # The desk's own jobs: only the report and the backup are safe to run a second time.
    assert {job.name for job in DEFAULT_JOBS if job.retry} == {
        "end_of_day_report",
        "journal_backup",
    }
    engine = build(tmp_path, datetime(2026, 11, 20, 15, 0, tzinfo=IST))
    messages = told(engine)
    work = FailingJob(failures=1)
    square_off = DailyJob(
        "intraday_square_off", JobTime.from_close(-15), timedelta(minutes=10), work
    )
    schedule = DailySchedule(engine, [square_off], tmp_path / "own-schedule")
    try:
        run_until(engine, datetime(2026, 11, 20, 17, 0, tzinfo=IST), schedule)
    finally:
        engine.close()
    assert work.tries == ["15:15"]
    assert [m.text for m in messages if m.source == "schedule"] == [
        "intraday_square_off failed: No space left on device"
    ]


def test_schedule_after_a_restart_tries_a_failed_job_again_but_not_one_cut_off_by_a_crash(
    tmp_path: Path,
) -> None:
    class PowerCut(BaseException):
        """The desk's process ends in the middle of a job (not an error the job can report)."""

    def cut_off(engine: Engine, now: datetime) -> str:
        raise PowerCut

    report = JobTime.from_close(15)
    first_run = [
        DailyJob("end_of_day_report", report, timedelta(hours=8), FailingJob(9), retry=True),
        DailyJob("journal_backup", JobTime.of_day("16:00"), timedelta(hours=7), cut_off),
    ]
    folder = tmp_path / "own-schedule"
    first = build(tmp_path, datetime(2026, 11, 20, 15, 40, tzinfo=IST))
    try:
        schedule = DailySchedule(first, first_run, folder)
        with pytest.raises(PowerCut):  # the report failed at 15:45 and each try since
            run_until(first, datetime(2026, 11, 20, 16, 1, tzinfo=IST), schedule)
    finally:
        first.close()
    record = json.loads((folder / "schedule.json").read_text(encoding="utf-8"))
    assert record["ran"] == {"end_of_day_report": "2026-11-20", "journal_backup": "2026-11-20"}
    assert record["failed"] == {"end_of_day_report": "2026-11-20"}

    report_work, backup_work = FailingJob(failures=0), FailingJob(failures=0)
    restarted = [
        DailyJob("end_of_day_report", report, timedelta(hours=8), report_work, retry=True),
        DailyJob("journal_backup", JobTime.of_day("16:00"), timedelta(hours=7), backup_work),
    ]
    again = build(tmp_path, datetime(2026, 11, 20, 16, 3, tzinfo=IST))
    try:
        schedule = DailySchedule(again, restarted, folder)
        ran = run_until(again, datetime(2026, 11, 20, 18, 0, tzinfo=IST), schedule)
    finally:
        again.close()
    assert ran == {"Fri 20": ["16:03 end_of_day_report"]}  # at once; the backup not again
    assert report_work.tries == ["16:03"] and backup_work.tries == []
    record = json.loads((folder / "schedule.json").read_text(encoding="utf-8"))
    assert record["failed"] == {}
