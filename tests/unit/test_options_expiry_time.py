"""Time to expiry: calendar minutes to 15:30 IST, trading minutes from the market calendar."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from engine.calendar import MarketCalendar, load_calendar
from engine.core.clock import IST
from engine.options import TimeBasis, expiry_moment, years_to_expiry
from engine.options.expiry_time import CALENDAR_MINUTES_PER_YEAR

EXPIRY = date(2026, 10, 13)  # a Tuesday: NIFTY's weekly
FRIDAY_CLOSE = datetime(2026, 10, 9, 15, 40, tzinfo=IST)  # F&O's close from 3 Aug 2026


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return load_calendar(None)


def test_expiry_moment_when_asked_is_1530_ist_on_the_expiry_date() -> None:
    assert expiry_moment(EXPIRY) == datetime(2026, 10, 13, 15, 30, tzinfo=IST)


def test_years_to_expiry_when_calendar_basis_counts_minutes_over_a_365_day_year() -> None:
    now = datetime(2026, 10, 13, 10, 0, tzinfo=IST)
    assert years_to_expiry(now, EXPIRY) == pytest.approx(330 / CALENDAR_MINUTES_PER_YEAR, rel=1e-15)
    minutes = 4 * 1440 - 10  # Friday 15:40 to Tuesday 15:30
    assert years_to_expiry(FRIDAY_CLOSE, EXPIRY) == pytest.approx(minutes / 525_600, rel=1e-15)


def test_years_to_expiry_when_now_is_in_another_zone_gives_the_same_answer() -> None:
    now = datetime(2026, 10, 13, 4, 30, tzinfo=UTC)  # 10:00 IST
    assert years_to_expiry(now, EXPIRY) == pytest.approx(330 / CALENDAR_MINUTES_PER_YEAR, rel=1e-15)


def test_years_to_expiry_when_seconds_remain_keeps_them() -> None:
    now = datetime(2026, 10, 13, 15, 29, 30, tzinfo=IST)
    assert years_to_expiry(now, EXPIRY) == pytest.approx(0.5 / CALENDAR_MINUTES_PER_YEAR, rel=1e-12)


def test_years_to_expiry_when_expired_is_not_positive() -> None:
    at_close = expiry_moment(EXPIRY)
    assert years_to_expiry(at_close, EXPIRY) == 0.0
    assert years_to_expiry(at_close + timedelta(minutes=1), EXPIRY) < 0.0


def test_years_to_expiry_when_naive_datetime_raises() -> None:
    with pytest.raises(ValueError, match="aware"):
        years_to_expiry(datetime(2026, 10, 13, 10, 0), EXPIRY)  # noqa: DTZ001 - the point of the test


# From 3 Aug 2026 the F&O normal market runs 09:15–15:40 (385 minutes): a whole session is one
# trading day, and the expiry day's 09:15–15:30 is 375/385 of one.
EXPIRY_DAY_PART = 375 / 385


def test_years_to_expiry_when_trading_basis_skips_the_weekend(calendar: MarketCalendar) -> None:
    # Friday's close to Tuesday's expiry: Monday's session and most of Tuesday's, against four
    # calendar days: the weekend gap options_math.md warns about.
    trading = years_to_expiry(FRIDAY_CLOSE, EXPIRY, basis="trading", calendar=calendar)
    assert trading == pytest.approx((1 + EXPIRY_DAY_PART) / 252, rel=1e-15)
    # sqrt(calendar / trading) is about 1.18: the ~17 % weekend IV gap of options_math.md.
    assert math.sqrt(years_to_expiry(FRIDAY_CLOSE, EXPIRY) / trading) == pytest.approx(
        1.18, abs=0.01
    )


def test_years_to_expiry_when_trading_basis_mid_session_counts_what_is_left(
    calendar: MarketCalendar,
) -> None:
    now = datetime(2026, 10, 12, 14, 0, tzinfo=IST)  # Monday 14:00: 100 of 385 minutes left
    found = years_to_expiry(now, EXPIRY, basis=TimeBasis.TRADING, calendar=calendar)
    assert found == pytest.approx((100 / 385 + EXPIRY_DAY_PART) / 252, rel=1e-15)


def test_years_to_expiry_when_trading_basis_before_the_open_counts_whole_sessions(
    calendar: MarketCalendar,
) -> None:
    now = datetime(2026, 10, 13, 7, 0, tzinfo=IST)
    found = years_to_expiry(now, EXPIRY, basis="trading", calendar=calendar)
    assert found == pytest.approx(EXPIRY_DAY_PART / 252, rel=1e-15)


def test_years_to_expiry_when_trading_basis_before_august_2026_counts_375_minute_days(
    calendar: MarketCalendar,
) -> None:
    # Tuesday 2 Jun 2026 is a regular expiry under the 09:15–15:30 timetable.
    now = datetime(2026, 6, 1, 12, 0, tzinfo=IST)  # Monday noon: 210 of 375 minutes left
    found = years_to_expiry(now, date(2026, 6, 2), basis="trading", calendar=calendar)
    assert found == pytest.approx((210 / 375 + 1) / 252, rel=1e-15)


def test_years_to_expiry_when_trading_basis_without_calendar_raises() -> None:
    with pytest.raises(ValueError, match="calendar"):
        years_to_expiry(FRIDAY_CLOSE, EXPIRY, basis="trading")


def test_years_to_expiry_when_basis_unknown_raises() -> None:
    with pytest.raises(ValueError, match="business"):
        years_to_expiry(FRIDAY_CLOSE, EXPIRY, basis="business")
