"""NSE calendar: holidays, special sessions, session states, overrides and expiries.

Facts from nse_market.md §1–2 (NSE/CMTR/71775, 72260, 72349; NSE/FAOP/71092, 74467; CMTR/74466).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import engine.calendar.locations as locations_module
from engine.calendar import (
    CalendarDataError,
    CalendarNotLoaded,
    CalendarSegment,
    MarketCalendar,
    SessionKind,
    SessionState,
    load_calendar,
)

IST = ZoneInfo("Asia/Kolkata")


def ist(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=IST)


@pytest.fixture(scope="module")
def nse() -> MarketCalendar:
    return load_calendar(None)


def write_override(directory: Path, name: str, body: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps({"schema": 1, "exchange": "NSE", **body}), encoding="utf-8")
    return path


def weekday_holidays(calendar: MarketCalendar, year: int) -> list[date]:
    return [h.day for h in calendar.holidays(year) if h.day.weekday() < 5]


# --- Holidays ---


@pytest.mark.parametrize(("year", "count"), [(2024, 17), (2025, 14), (2026, 16)])
def test_holiday_list_when_year_covered_has_the_published_weekday_count(nse, year, count):
    assert len(weekday_holidays(nse, year)) == count


@pytest.mark.parametrize(("year", "sessions"), [(2025, 248), (2026, 246)])
def test_full_sessions_when_counted_over_a_year_match_the_annualisation_note(nse, year, sessions):
    # nse_market.md §5.3: weekdays − holidays + the Budget weekend session, Muhurat excluded.
    found = nse.sessions(date(year, 1, 1), date(year, 12, 31))

    assert len([s for s in found if s.kind is not SessionKind.MUHURAT]) == sessions


def test_15_jan_2026_when_checked_is_an_election_holiday_with_its_circular(nse):
    info = nse.day_info(date(2026, 1, 15), "CM")

    assert not nse.is_trading_day(date(2026, 1, 15))
    assert not info.is_trading_day
    assert info.holiday is not None
    assert "NSE/CMTR/72260" in info.holiday.provenance.source
    assert info.holiday.provenance.origin.startswith("packaged:")
    assert nse.session_state(ist(2026, 1, 15, 11)) is SessionState.CLOSED


def test_ordinary_weekend_when_checked_is_closed(nse):
    assert not nse.is_trading_day(date(2026, 3, 7))
    assert nse.day_info(date(2026, 3, 7)).description == "weekend"


# --- Special sessions ---


@pytest.mark.parametrize("segment", ["CM", "FO"])
def test_budget_sunday_2026_when_checked_is_open_0915_to_1530(nse, segment):
    session = nse.session_times(date(2026, 2, 1), segment)

    assert session is not None
    assert session.kind is SessionKind.FULL_DAY
    assert (session.open, session.close) == (ist(2026, 2, 1, 9, 15), ist(2026, 2, 1, 15, 30))
    assert nse.is_open(ist(2026, 2, 1, 10), segment)


def test_budget_saturday_2025_when_checked_is_a_trading_day(nse):
    assert nse.is_trading_day(date(2025, 2, 1))
    assert nse.is_open(ist(2025, 2, 1, 12))


def test_muhurat_2025_when_in_the_hour_is_open_and_closed_in_the_morning(nse):
    session = nse.session_times(date(2025, 10, 21))

    assert session is not None
    assert session.kind is SessionKind.MUHURAT
    assert (session.open.time(), session.close.time()) == (time(13, 45), time(14, 45))
    assert not nse.is_open(ist(2025, 10, 21, 10))
    assert nse.is_open(ist(2025, 10, 21, 13, 45))
    assert nse.is_open(ist(2025, 10, 21, 14, 44))
    assert not nse.is_open(ist(2025, 10, 21, 14, 45))
    # The day is still a declared holiday: the session is held on it.
    assert nse.day_info(date(2025, 10, 21)).holiday is not None


def test_muhurat_2025_cm_when_in_pre_open_or_closing_session_reports_them(nse):
    assert nse.session_state(ist(2025, 10, 21, 13, 30), "CM") is SessionState.PRE_OPEN
    assert nse.session_state(ist(2025, 10, 21, 13, 40), "CM") is SessionState.PRE_OPEN_MATCHING
    assert nse.session_state(ist(2025, 10, 21, 15, 0), "CM") is SessionState.POST_CLOSE


def test_muhurat_2026_when_times_not_announced_is_closed_and_says_tba(nse):
    info = nse.day_info(date(2026, 11, 8))

    assert info.session is None
    assert info.times_to_be_announced
    assert "to be announced" in info.description
    assert not nse.is_trading_day(date(2026, 11, 8))
    assert nse.session_state(ist(2026, 11, 8, 18, 30)) is SessionState.CLOSED


# --- Session states and timetable changes ---


def test_fo_close_when_before_3_aug_2026_is_1530_and_from_then_1540(nse):
    before = nse.session_times(date(2026, 7, 31), "FO")
    after = nse.session_times(date(2026, 8, 3), "FO")

    assert before is not None and after is not None
    assert before.close == ist(2026, 7, 31, 15, 30)
    assert after.close == ist(2026, 8, 3, 15, 40)
    assert not nse.is_open(ist(2026, 7, 31, 15, 35))
    assert nse.is_open(ist(2026, 8, 3, 15, 35))
    assert not nse.is_open(ist(2026, 8, 3, 15, 40))


def test_fo_pre_open_when_before_8_dec_2025_does_not_exist(nse):
    assert nse.session_state(ist(2025, 12, 5, 9, 5)) is SessionState.CLOSED


@pytest.mark.parametrize(
    ("hour", "minute", "state"),
    [
        (8, 59, SessionState.CLOSED),
        (9, 0, SessionState.PRE_OPEN),
        (9, 7, SessionState.PRE_OPEN),
        (9, 8, SessionState.PRE_OPEN_MATCHING),
        (9, 14, SessionState.PRE_OPEN_MATCHING),
        (9, 15, SessionState.OPEN),
        (15, 29, SessionState.OPEN),
        (15, 30, SessionState.CLOSED),
    ],
)
def test_fo_state_when_from_8_dec_2025_follows_the_pre_open_timetable(nse, hour, minute, state):
    assert nse.session_state(ist(2025, 12, 8, hour, minute), "FO") is state


def test_cm_post_close_when_before_cas_runs_1540_to_1600(nse):
    assert nse.session_state(ist(2026, 7, 31, 15, 35), "CM") is SessionState.CLOSED
    assert nse.session_state(ist(2026, 7, 31, 15, 45), "CM") is SessionState.POST_CLOSE
    assert nse.session_state(ist(2026, 7, 31, 16, 0), "CM") is SessionState.CLOSED


@pytest.mark.parametrize(
    ("hour", "minute", "cas_stock", "other_stock"),
    [
        (15, 14, SessionState.OPEN, SessionState.OPEN),
        (15, 15, SessionState.CLOSING_AUCTION, SessionState.OPEN),
        (15, 29, SessionState.CLOSING_AUCTION, SessionState.OPEN),
        (15, 34, SessionState.CLOSING_AUCTION, SessionState.CLOSED),
        (15, 45, SessionState.CLOSED, SessionState.CLOSED),
        (15, 50, SessionState.POST_CLOSE, SessionState.POST_CLOSE),
    ],
)
def test_cm_state_when_cas_live_from_3_aug_2026_depends_on_cas_eligibility(
    nse, hour, minute, cas_stock, other_stock
):
    at = ist(2026, 8, 3, hour, minute)

    assert nse.session_state(at, "CM", cas_eligible=True) is cas_stock
    assert nse.session_state(at, "CM") is other_stock


def test_session_state_when_given_utc_converts_to_ist(nse):
    # 04:00 UTC is 09:30 IST.
    assert nse.is_open(datetime(2026, 3, 4, 4, 0, tzinfo=UTC))


def test_session_state_when_datetime_is_naive_raises(nse):
    with pytest.raises(ValueError, match="naive datetime"):
        nse.is_open(datetime(2026, 3, 4, 10, 0))  # noqa: DTZ001


def test_session_times_when_segment_unknown_raises(nse):
    with pytest.raises(ValueError, match="unknown calendar segment 'CDS'"):
        nse.session_times(date(2026, 3, 4), "CDS")


def test_session_times_when_asked_twice_come_from_the_cache(nse):
    first = nse.session_times(date(2026, 3, 4), CalendarSegment.FO)

    assert nse.session_times(date(2026, 3, 4), "FO") is first


# --- next_open and neighbouring days ---


def test_next_open_when_friday_evening_is_monday_0915(nse):
    assert nse.next_open(ist(2026, 3, 6, 16)) == ist(2026, 3, 9, 9, 15)


def test_next_open_when_next_day_is_a_holiday_skips_it(nse):
    # Wed 14 Jan 2026 → Thu 15 Jan holiday → Fri 16 Jan.
    assert nse.next_open(ist(2026, 1, 14, 15, 45)) == ist(2026, 1, 16, 9, 15)


def test_next_open_when_before_the_open_is_today_and_when_open_is_tomorrow(nse):
    assert nse.next_open(ist(2026, 3, 4, 8, 0)) == ist(2026, 3, 4, 9, 15)
    assert nse.next_open(ist(2026, 3, 4, 10, 0)) == ist(2026, 3, 5, 9, 15)


def test_next_open_when_saturday_before_budget_sunday_is_sunday(nse):
    assert nse.next_open(ist(2026, 1, 31, 12)) == ist(2026, 2, 1, 9, 15)


def test_previous_trading_day_when_after_a_holiday_skips_it(nse):
    assert nse.previous_trading_day(date(2026, 1, 16)) == date(2026, 1, 14)
    assert nse.previous_trading_day(date(2026, 2, 2)) == date(2026, 2, 1)


# --- Fail closed beyond the data ---


def test_covered_years_when_packaged_only_are_2024_to_2026(nse):
    assert nse.covered_years == {2024, 2025, 2026}


@pytest.mark.parametrize(
    ("day", "trades"),
    [(date(2027, 1, 4), True), (date(2027, 1, 2), False), (date(2027, 1, 26), False)],
    ids=["weekday", "weekend", "republic-day"],
)
def test_calendar_when_year_not_loaded_trades_weekdays_but_fixed_national_holidays(
    nse, day, trades
):
    assert nse.is_provisional(2027)
    assert nse.is_trading_day(day) is trades


def test_calendar_when_year_not_loaded_opens_with_the_1540_fo_close_and_warns(nse):
    assert nse.is_open(ist(2027, 1, 4, 10))
    assert nse.is_open(ist(2027, 1, 4, 15, 35))  # F&O closes at 15:40 since 3 Aug 2026
    assert not nse.is_open(ist(2027, 1, 4, 15, 45))
    warning = nse.coverage_warning(date(2027, 1, 4))
    assert warning is not None and "holiday list for 2027 is not loaded" in warning
    assert "rejected by the exchange" in warning
    assert nse.coverage_warning(date(2026, 11, 20)) is None
    assert "2027 is not loaded yet" in (nse.coverage_warning(date(2026, 12, 4)) or "")
    with pytest.raises(CalendarNotLoaded, match="calendar not loaded for 2027"):
        nse.holidays(2027)  # the list itself is not known


def test_next_open_when_it_falls_in_2027_is_the_first_provisional_weekday(nse):
    assert nse.next_open(ist(2026, 12, 31, 16)) == ist(2027, 1, 1, 9, 15)


# --- User overrides ---


def test_override_when_adding_a_holiday_closes_that_day_with_its_provenance(tmp_path):
    path = write_override(
        tmp_path,
        "ad-hoc.json",
        {
            "holidays": [
                {
                    "date": "2026-03-05",
                    "segments": ["CM", "FO"],
                    "kind": "full",
                    "name": "Ad-hoc election holiday",
                    "source": "NSE/CMTR/99999",
                }
            ]
        },
    )

    calendar = load_calendar(tmp_path)

    assert not calendar.is_trading_day(date(2026, 3, 5))
    holiday = calendar.day_info(date(2026, 3, 5)).holiday
    assert holiday is not None
    assert holiday.provenance.origin == str(path)
    assert len(weekday_holidays(calendar, 2026)) == 17


def test_override_when_announcing_muhurat_times_opens_that_evening(tmp_path):
    write_override(
        tmp_path,
        "muhurat-2026.json",
        {
            "special_sessions": [
                {
                    "date": "2026-11-08",
                    "segments": ["FO"],
                    "kind": "muhurat",
                    "times": {"open": "18:00", "close": "19:00"},
                    "note": "Muhurat trading",
                    "source": "NSE/FAOP/00000",
                }
            ]
        },
    )

    calendar = load_calendar(tmp_path)

    assert calendar.is_open(ist(2026, 11, 8, 18, 30))
    assert not calendar.is_trading_day(date(2026, 11, 8), "CM")


def test_override_when_declaring_a_session_on_a_packaged_holiday_reopens_it(tmp_path):
    write_override(
        tmp_path,
        "reopen.json",
        {
            "special_sessions": [
                {
                    "date": "2026-05-28",
                    "segments": ["CM", "FO"],
                    "kind": "full_day",
                    "times": "regular",
                    "source": "hypothetical revision",
                }
            ]
        },
    )

    calendar = load_calendar(tmp_path)

    assert calendar.is_open(ist(2026, 5, 28, 10))
    assert calendar.day_info(date(2026, 5, 28)).holiday is None


def test_override_when_covering_2027_makes_that_year_usable(tmp_path):
    write_override(
        tmp_path,
        "2027.json",
        {
            "covered_years": [2027],
            "holidays": [
                {
                    "date": "2027-01-26",
                    "segments": ["CM", "FO"],
                    "kind": "full",
                    "name": "Republic Day",
                    "source": "NSE 2027 holiday circular",
                }
            ],
        },
    )

    calendar = load_calendar(tmp_path)

    assert calendar.covered_years == {2024, 2025, 2026, 2027}
    assert calendar.is_trading_day(date(2027, 1, 25))
    assert not calendar.is_trading_day(date(2027, 1, 26))
    assert calendar.monthly_expiry(2027, 1) == date(2027, 1, 25)


def test_override_when_adding_a_timetable_change_applies_from_its_date(tmp_path):
    write_override(
        tmp_path,
        "hours.json",
        {
            "segments": {
                "FO": {
                    "timetable_changes": [{"from": "2026-10-01", "close": "15:45", "source": "x"}]
                }
            }
        },
    )

    calendar = load_calendar(tmp_path)

    assert calendar.is_open(ist(2026, 10, 1, 15, 42))
    assert not calendar.is_open(ist(2026, 9, 30, 15, 42))


def test_override_files_when_two_name_the_same_day_the_later_name_wins(tmp_path):
    holiday = {"segments": ["FO"], "kind": "full", "date": "2026-03-05", "source": "a"}
    write_override(tmp_path, "a.json", {"holidays": [{**holiday, "name": "first"}]})
    write_override(tmp_path, "b.json", {"holidays": [{**holiday, "name": "second"}]})

    info = load_calendar(tmp_path).day_info(date(2026, 3, 5))

    assert info.holiday is not None and info.holiday.name == "second"


def test_override_file_when_for_another_exchange_is_not_applied(tmp_path):
    (tmp_path / "mcx.json").write_text(
        json.dumps({"schema": 1, "exchange": "MCX", "covered_years": [2027]}), encoding="utf-8"
    )

    assert 2027 not in load_calendar(tmp_path).covered_years


def test_override_dir_when_missing_means_no_overrides(tmp_path):
    assert load_calendar(tmp_path / "absent").covered_years == {2024, 2025, 2026}


def test_load_calendar_when_no_dir_given_reads_the_user_config_dir(tmp_path, monkeypatch):
    write_override(tmp_path, "x.json", {"covered_years": [2027]})
    monkeypatch.setattr(locations_module, "default_override_dir", lambda: tmp_path)

    assert 2027 in load_calendar().covered_years


def test_default_override_dir_when_asked_ends_in_dalaldesk_calendars():
    directory = locations_module.default_override_dir()

    assert directory.name == "calendars"
    assert "dalaldesk" in directory.parent.parts[-1]


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (
            {
                "holidays": [
                    {
                        "date": "2026-13-01",
                        "segments": ["FO"],
                        "kind": "full",
                        "name": "x",
                        "source": "y",
                    }
                ]
            },
            "holidays[0].date",
            "is not a date",
        ),
        (
            {"holidays": [{"date": "2026-03-05", "segments": ["FO"], "kind": "full", "name": "x"}]},
            "holidays[0]",
            "missing source",
        ),
        (
            {
                "holidays": [
                    {
                        "date": "2026-03-05",
                        "segments": ["CDS"],
                        "kind": "full",
                        "name": "x",
                        "source": "y",
                    }
                ]
            },
            "holidays[0].segments[0]",
            "not a known segment",
        ),
        (
            {
                "special_sessions": [
                    {
                        "date": "2026-03-07",
                        "segments": ["FO"],
                        "kind": "muhurat",
                        "times": {"open": "19:00", "close": "18:00"},
                        "source": "y",
                    }
                ]
            },
            "special_sessions[0].times",
            "must be before close",
        ),
        (
            {
                "special_sessions": [
                    {
                        "date": "2026-03-07",
                        "segments": ["FO"],
                        "kind": "muhurat",
                        "times": {"open": "6pm", "close": "19:00"},
                        "source": "y",
                    }
                ]
            },
            "special_sessions[0].times.open",
            "is not a time of day",
        ),
        ({"tz": "UTC"}, "(top level)", "unknown field(s) tz"),
        ({"covered_years": ["2027"]}, "covered_years[0]", "is not a year"),
        (
            {"segments": {"FO": {"regular": {"open": "09:00", "close": "15:00", "source": "x"}}}},
            "segments.FO",
            "unknown field(s) regular",
        ),
        (
            {
                "segments": {
                    "FO": {
                        "timetable_changes": [
                            {"from": "2026-10-01", "open": "16:00", "source": "x"}
                        ]
                    }
                }
            },
            "segments.FO.timetable_changes[from=2026-10-01]",
            "must be before close",
        ),
    ],
    ids=[
        "bad-date",
        "no-source",
        "unknown-segment",
        "close-before-open",
        "bad-time",
        "tz-in-override",
        "year-as-string",
        "regular-in-override",
        "change-breaks-timetable",
    ],
)
def test_override_file_when_malformed_names_the_file_and_the_field(tmp_path, body, field, problem):
    path = write_override(tmp_path, "broken.json", body)

    with pytest.raises(CalendarDataError) as caught:
        load_calendar(tmp_path)

    message = str(caught.value)
    assert str(path) in message
    assert f": {field}: " in message
    assert problem in message


def test_override_file_when_not_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"schema": 1,\n "exchange": "NSE",\n}', encoding="utf-8")

    with pytest.raises(
        CalendarDataError, match=r"broken\.json: line \d+ column \d+: not valid JSON"
    ):
        load_calendar(tmp_path)
    assert path.exists()


def test_override_file_when_a_key_repeats_is_refused(tmp_path):
    (tmp_path / "dup.json").write_text(
        '{"schema": 1, "exchange": "NSE", "covered_years": [2027], "covered_years": []}',
        encoding="utf-8",
    )

    with pytest.raises(CalendarDataError, match="covered_years: the same key appears twice"):
        load_calendar(tmp_path)


def test_override_file_when_schema_version_unknown_is_refused(tmp_path):
    (tmp_path / "v2.json").write_text('{"schema": 2, "exchange": "NSE"}', encoding="utf-8")

    with pytest.raises(CalendarDataError, match="schema: unsupported version 2"):
        load_calendar(tmp_path)


# --- Expiries ---


def test_monthly_expiry_when_last_tuesday_is_a_holiday_is_the_day_before(nse):
    # Tue 31 Mar 2026 is Shri Mahavir Jayanti.
    assert nse.monthly_expiry(2026, 3) == date(2026, 3, 30)


def test_monthly_expiries_when_from_new_year_2026_are_last_tuesdays(nse):
    assert nse.monthly_expiries(date(2026, 1, 1), 3) == [
        date(2026, 1, 27),
        date(2026, 2, 24),
        date(2026, 3, 30),
    ]


def test_monthly_expiry_when_before_september_2025_is_the_last_thursday(nse):
    assert nse.monthly_expiry(2024, 3) == date(2024, 3, 28)
    assert nse.monthly_expiry(2025, 9) == date(2025, 9, 30)


def test_weekly_expiries_when_tuesday_24_nov_2026_is_a_holiday_move_to_monday(nse):
    assert nse.weekly_expiries(date(2026, 11, 17), 3) == [
        date(2026, 11, 17),
        date(2026, 11, 23),
        date(2026, 12, 1),
    ]


def test_weekly_expiries_when_after_the_moved_expiry_skip_it(nse):
    assert nse.weekly_expiries(date(2026, 11, 24), 1) == [date(2026, 12, 1)]


def test_weekly_expiry_when_on_a_muhurat_day_moves_to_the_day_before(nse):
    # Tue 21 Oct 2025 was Diwali: a holiday with only the Muhurat hour.
    assert nse.weekly_expiries(date(2025, 10, 15), 1) == [date(2025, 10, 20)]


def test_weekly_expiries_when_crossing_1_sep_2025_switch_from_thursday_to_tuesday(nse):
    assert nse.weekly_expiries(date(2025, 8, 22), 3) == [
        date(2025, 8, 28),
        date(2025, 9, 2),
        date(2025, 9, 9),
    ]


def test_weekly_expiries_when_reaching_2027_follow_the_provisional_weekdays(nse):
    expected = [date(2026, 12, 22), date(2026, 12, 29), date(2027, 1, 5)]
    assert nse.weekly_expiries(date(2026, 12, 20), 3) == expected
    assert nse.weekly_expiries(date(2026, 12, 20), 3, provisional=True) == expected


def test_monthly_expiry_when_provisional_still_avoids_fixed_date_holidays(nse):
    # Tue 26 Jan 2027 is Republic Day, a holiday every year, even before the 2027 list is out.
    assert nse.monthly_expiry(2027, 1, provisional=True) == date(2027, 1, 25)
    assert nse.monthly_expiries(date(2026, 11, 21), 3, provisional=True) == [
        date(2026, 11, 23),
        date(2026, 12, 29),
        date(2027, 1, 25),
    ]


def test_calendar_when_year_not_loaded_honours_single_days_an_override_lists(tmp_path):
    # Announced before the year's list: an ad-hoc closure on the Tuesday expiry, a Sunday session.
    write_override(
        tmp_path,
        "announced.json",
        {
            "holidays": [
                {
                    "date": "2027-02-23",
                    "segments": ["CM", "FO"],
                    "kind": "full",
                    "name": "Election",
                    "source": "NSE circular",
                }
            ],
            "special_sessions": [
                {
                    "date": "2027-02-07",
                    "segments": ["CM", "FO"],
                    "kind": "full_day",
                    "times": "regular",
                    "source": "NSE circular",
                }
            ],
        },
    )
    calendar = load_calendar(tmp_path)

    assert calendar.is_provisional(2027)
    assert not calendar.is_trading_day(date(2027, 2, 23))
    assert calendar.day_info(date(2027, 2, 23)).holiday is not None
    assert calendar.is_open(ist(2027, 2, 7, 10))
    assert calendar.monthly_expiry(2027, 2) == date(2027, 2, 22)  # the last Tuesday is shut
    assert calendar.is_trading_day(date(2027, 2, 24))


def test_weekly_expiries_when_count_negative_raise(nse):
    with pytest.raises(ValueError, match="count must be a non-negative int"):
        nse.weekly_expiries(date(2026, 1, 1), -1)


# --- The packaged file ---


def test_packaged_file_when_loaded_gives_every_entry_a_source(nse):
    entries = [*nse.data.holidays.values(), *nse.data.special_sessions.values()]

    assert entries
    assert all(entry.provenance.source.strip() for entry in entries)
    assert all(entry.provenance.origin.startswith("packaged:") for entry in entries)


def test_market_calendar_load_when_given_a_dir_is_load_calendar(tmp_path):
    write_override(tmp_path, "x.json", {"covered_years": [2027]})

    assert MarketCalendar.load(tmp_path).covered_years == load_calendar(tmp_path).covered_years
    assert 2027 in MarketCalendar.load(tmp_path).covered_years
