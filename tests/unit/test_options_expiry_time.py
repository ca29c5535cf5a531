"""Time to expiry: minutes to the calendar's F&O close on the expiry date, or trading minutes."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from engine.calendar import MarketCalendar, load_calendar, packaged_calendar
from engine.core.clock import IST
from engine.options import TimeBasis, expiry_moment, years_to_expiry
from engine.options.expiry_time import CALENDAR_MINUTES_PER_YEAR

EXPIRY = date(2026, 10, 13)  # a Tuesday: NIFTY's weekly
EXPIRY_CLOSE = datetime(2026, 10, 13, 15, 40, tzinfo=IST)  # F&O closes 15:40 from 3 Aug 2026
FRIDAY_CLOSE = datetime(2026, 10, 9, 15, 40, tzinfo=IST)


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return load_calendar(None)


def write_override(directory: Path, body: dict[str, object]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"schema": 1, "exchange": "NSE", **body})
    (directory / "override.json").write_text(text, encoding="utf-8")


# --- The expiry moment is the calendar's F&O close on the expiry date ---


def test_expiry_moment_when_before_3_aug_2026_is_the_1530_ist_close(
    calendar: MarketCalendar,
) -> None:
    assert expiry_moment(date(2026, 7, 28), calendar) == datetime(2026, 7, 28, 15, 30, tzinfo=IST)
    # The last trading day under the old timetable.
    assert expiry_moment(date(2026, 7, 31), calendar) == datetime(2026, 7, 31, 15, 30, tzinfo=IST)


def test_expiry_moment_when_from_3_aug_2026_is_the_1540_ist_close(
    calendar: MarketCalendar,
) -> None:
    assert expiry_moment(date(2026, 8, 3), calendar) == datetime(2026, 8, 3, 15, 40, tzinfo=IST)
    assert expiry_moment(date(2026, 8, 4), calendar) == datetime(2026, 8, 4, 15, 40, tzinfo=IST)
    assert expiry_moment(EXPIRY, calendar) == EXPIRY_CLOSE


def test_expiry_moment_when_no_calendar_is_given_reads_the_packaged_one() -> None:
    assert expiry_moment(date(2026, 7, 28)) == datetime(2026, 7, 28, 15, 30, tzinfo=IST)
    assert expiry_moment(EXPIRY) == EXPIRY_CLOSE
    assert expiry_moment(EXPIRY) == packaged_calendar().expiry_close(EXPIRY)


def test_expiry_moment_when_the_date_has_no_session_is_the_timetable_close_of_that_date(
    calendar: MarketCalendar,
) -> None:
    # Gandhi Jayanti (a weekday holiday) after the change; a Sunday before it; a year whose
    # holiday list is not loaded: the close the F&O timetable in force that day sets.
    assert expiry_moment(date(2026, 10, 2), calendar) == datetime(2026, 10, 2, 15, 40, tzinfo=IST)
    assert expiry_moment(date(2026, 7, 26), calendar) == datetime(2026, 7, 26, 15, 30, tzinfo=IST)
    assert expiry_moment(date(2027, 3, 30), calendar) == datetime(2027, 3, 30, 15, 40, tzinfo=IST)


def test_expiry_moment_when_a_budget_special_session_is_its_close(
    calendar: MarketCalendar,
) -> None:
    # Sunday 1 Feb 2026: a full-day Budget session at the timings then in force.
    session = calendar.session_times(date(2026, 2, 1))
    assert session is not None and session.close == datetime(2026, 2, 1, 15, 30, tzinfo=IST)
    assert expiry_moment(date(2026, 2, 1), calendar) == session.close


def test_expiry_moment_when_a_muhurat_hour_is_the_only_session_is_not_its_close(
    calendar: MarketCalendar,
) -> None:
    # Contracts do not expire in a Muhurat hour (1 Nov 2024, F&O 18:00-19:00).
    assert expiry_moment(date(2024, 11, 1), calendar) == datetime(2024, 11, 1, 15, 30, tzinfo=IST)


def test_expiry_moment_when_a_weekday_special_session_has_its_own_hours_is_its_close(
    tmp_path: Path,
) -> None:
    write_override(
        tmp_path,
        {
            "special_sessions": [
                {
                    "date": "2026-10-13",
                    "segments": ["FO"],
                    "kind": "full_day",
                    "times": {"open": "09:15", "close": "13:00"},
                    "note": "shortened session",
                    "source": "hypothetical circular",
                }
            ]
        },
    )
    shortened = load_calendar(tmp_path)
    assert expiry_moment(EXPIRY, shortened) == datetime(2026, 10, 13, 13, 0, tzinfo=IST)
    now = datetime(2026, 10, 13, 10, 0, tzinfo=IST)
    assert years_to_expiry(now, EXPIRY, calendar=shortened) == pytest.approx(
        180 / CALENDAR_MINUTES_PER_YEAR, rel=1e-15
    )


def test_expiry_moment_when_an_override_moves_the_close_follows_it(tmp_path: Path) -> None:
    write_override(
        tmp_path,
        {
            "segments": {
                "FO": {
                    "timetable_changes": [{"from": "2026-10-01", "close": "15:45", "source": "x"}]
                }
            }
        },
    )
    moved = load_calendar(tmp_path)
    assert expiry_moment(EXPIRY, moved) == datetime(2026, 10, 13, 15, 45, tzinfo=IST)
    assert expiry_moment(date(2026, 9, 29), moved) == datetime(2026, 9, 29, 15, 40, tzinfo=IST)


# --- Calendar basis ---


def test_years_to_expiry_when_calendar_basis_counts_minutes_over_a_365_day_year() -> None:
    now = datetime(2026, 10, 13, 10, 0, tzinfo=IST)
    assert years_to_expiry(now, EXPIRY) == pytest.approx(340 / CALENDAR_MINUTES_PER_YEAR, rel=1e-15)
    minutes = 4 * 1440  # Friday 15:40 to Tuesday 15:40
    assert years_to_expiry(FRIDAY_CLOSE, EXPIRY) == pytest.approx(minutes / 525_600, rel=1e-15)


def test_years_to_expiry_when_before_3_aug_2026_counts_to_1530() -> None:
    now = datetime(2026, 7, 28, 10, 0, tzinfo=IST)
    found = years_to_expiry(now, date(2026, 7, 28))
    assert found == pytest.approx(330 / CALENDAR_MINUTES_PER_YEAR, rel=1e-15)


def test_years_to_expiry_when_now_is_in_another_zone_gives_the_same_answer() -> None:
    now = datetime(2026, 10, 13, 4, 30, tzinfo=UTC)  # 10:00 IST
    assert years_to_expiry(now, EXPIRY) == pytest.approx(340 / CALENDAR_MINUTES_PER_YEAR, rel=1e-15)


def test_years_to_expiry_when_seconds_remain_keeps_them() -> None:
    now = datetime(2026, 10, 13, 15, 39, 30, tzinfo=IST)
    assert years_to_expiry(now, EXPIRY) == pytest.approx(0.5 / CALENDAR_MINUTES_PER_YEAR, rel=1e-12)


def test_years_to_expiry_when_expired_is_not_positive() -> None:
    at_close = expiry_moment(EXPIRY)
    assert years_to_expiry(at_close, EXPIRY) == 0.0
    assert years_to_expiry(at_close + timedelta(minutes=1), EXPIRY) < 0.0
    assert years_to_expiry(at_close, EXPIRY, basis="trading") == 0.0


def test_years_to_expiry_when_naive_datetime_raises() -> None:
    with pytest.raises(ValueError, match="aware"):
        years_to_expiry(datetime(2026, 10, 13, 10, 0), EXPIRY)  # noqa: DTZ001 - the point of the test


# --- Trading basis ---
# From 3 Aug 2026 the F&O normal market runs 09:15–15:40 (385 minutes) and options expire at its
# close: a whole session is one trading day, the expiry day's included.


def test_years_to_expiry_when_trading_basis_skips_the_weekend(calendar: MarketCalendar) -> None:
    # Friday's close to Tuesday's expiry: Monday's and Tuesday's sessions, against four calendar
    # days: the weekend gap options_math.md warns about.
    trading = years_to_expiry(FRIDAY_CLOSE, EXPIRY, basis="trading", calendar=calendar)
    assert trading == pytest.approx(2 / 252, rel=1e-15)
    # sqrt(calendar / trading) is about 1.18: the ~17 % weekend IV gap of options_math.md.
    assert math.sqrt(years_to_expiry(FRIDAY_CLOSE, EXPIRY) / trading) == pytest.approx(
        1.18, abs=0.01
    )


def test_years_to_expiry_when_trading_basis_mid_session_counts_what_is_left(
    calendar: MarketCalendar,
) -> None:
    now = datetime(2026, 10, 12, 14, 0, tzinfo=IST)  # Monday 14:00: 100 of 385 minutes left
    found = years_to_expiry(now, EXPIRY, basis=TimeBasis.TRADING, calendar=calendar)
    assert found == pytest.approx((100 / 385 + 1) / 252, rel=1e-15)


def test_years_to_expiry_when_trading_basis_before_the_open_counts_whole_sessions(
    calendar: MarketCalendar,
) -> None:
    now = datetime(2026, 10, 13, 7, 0, tzinfo=IST)
    found = years_to_expiry(now, EXPIRY, basis="trading", calendar=calendar)
    assert found == pytest.approx(1 / 252, rel=1e-15)


def test_years_to_expiry_when_trading_basis_before_august_2026_counts_375_minute_days(
    calendar: MarketCalendar,
) -> None:
    # Tuesday 2 Jun 2026 is a regular expiry under the 09:15–15:30 timetable.
    now = datetime(2026, 6, 1, 12, 0, tzinfo=IST)  # Monday noon: 210 of 375 minutes left
    found = years_to_expiry(now, date(2026, 6, 2), basis="trading", calendar=calendar)
    assert found == pytest.approx((210 / 375 + 1) / 252, rel=1e-15)


def test_years_to_expiry_when_trading_basis_has_no_calendar_uses_the_packaged_one(
    calendar: MarketCalendar,
) -> None:
    assert years_to_expiry(FRIDAY_CLOSE, EXPIRY, basis="trading") == years_to_expiry(
        FRIDAY_CLOSE, EXPIRY, basis="trading", calendar=calendar
    )


def test_years_to_expiry_when_basis_unknown_raises() -> None:
    with pytest.raises(ValueError, match="business"):
        years_to_expiry(FRIDAY_CLOSE, EXPIRY, basis="business")
