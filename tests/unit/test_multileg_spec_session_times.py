"""A multileg portfolio with no run day is refused at its field; times outside NSE's regular F&O
session on a day (09:15 to 15:30, to 15:40 from 3 Aug 2026, by the packaged calendar) are
noted at their fields, not refused."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from engine.strategies.multileg.spec import parse_spec

LEGS = [{"side": "SELL", "instrument": "CE"}]


def spec(**execution: Any) -> Any:
    return parse_spec({"defaults": {"name": "Times"}, "legs": LEGS, "execution": execution})


def test_multileg_spec_with_no_run_day_is_refused_at_the_field() -> None:
    with pytest.raises(ValueError) as refused:
        parse_spec({"defaults": {"name": "Never", "run_on": []}, "legs": LEGS})
    assert str(refused.value) == (
        "defaults.run_on: choose at least one weekday to run on: with none it never enters"
    )
    assert parse_spec({"defaults": {"name": "Fri", "run_on": ["Fri"]}, "legs": LEGS})


def test_multileg_spec_times_within_the_session_have_no_notes() -> None:
    assert spec().session_notes(date(2026, 11, 23)) == []
    assert spec(square_off="15:35").session_notes(date(2026, 11, 23)) == []


def test_multileg_spec_square_off_after_the_close_of_that_day_is_noted() -> None:
    late = spec(square_off="15:35")
    [(path, words)] = late.session_notes(date(2026, 7, 31))  # the close was 15:30 then
    assert path == "execution.square_off"
    assert words == (
        "an exit at 15:35:00 cannot trade: NSE's F&O market is open 09:15–15:30 on 31 Jul 2026 "
        "by the packaged calendar"
    )


def test_multileg_spec_times_outside_the_session_are_noted_each_at_its_field() -> None:
    odd = spec(start="03:00", end="16:00", square_off="23:59")
    notes = dict(odd.session_notes(date(2026, 11, 23)))
    assert set(notes) == {"execution.start", "execution.end", "execution.square_off"}
    assert notes["execution.start"].startswith("03:00:00 is outside it: NSE's F&O market")
    manual = spec(start="03:00", end="16:00", square_off="15:15", manual_start=True)
    assert manual.session_notes(date(2026, 11, 23)) == []  # no start or window when manual
