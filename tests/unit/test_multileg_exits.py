"""Multileg exits worked by hand on a short NIFTY straddle (one lot of 65): sell the call at
₹150 and the put at ₹140, a credit of 65 × 290 = ₹18,850."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain.orders import Side
from engine.strategies.multileg.exits import (
    CombinedExit,
    LegMark,
    Measure,
    Threshold,
    combined_pnl,
    leg_hit,
    leg_level,
    net_premium,
)

D = Decimal


def straddle(call: str, put: str) -> list[LegMark]:
    return [LegMark(Side.SELL, 65, D(150), D(call)), LegMark(Side.SELL, 65, D(140), D(put))]


def test_multileg_pnl_when_marked_adds_each_legs_move_by_its_side() -> None:
    marks = straddle("120", "160")
    assert [m.pnl for m in marks] == [D(1950), D(-1300)]  # (150−120)·65, (140−160)·65
    assert combined_pnl(marks) == D(650)
    assert net_premium(marks) == D(18_850)
    condor = [*marks, LegMark(Side.BUY, 65, D(20), D(20)), LegMark(Side.BUY, 65, D(15), D(15))]
    assert net_premium(condor) == D(65 * (290 - 35))  # the credit net of the wings


@pytest.mark.parametrize(
    ("side", "entry", "value", "measure", "stop", "level"),
    [
        (Side.SELL, "150", "30", Measure.PERCENT, True, "195"),  # a short's 30 % stop is above
        (Side.SELL, "150", "50", Measure.PERCENT, False, "75"),  # its target below
        (Side.BUY, "100", "20", Measure.POINTS, False, "120"),
        (Side.BUY, "100", "10", Measure.PERCENT, True, "90"),
        (Side.SELL, "150", "210", Measure.PREMIUM, True, "210"),
    ],
)
def test_multileg_leg_levels_when_set_are_where_the_hand_puts_them(
    side: Side, entry: str, value: str, measure: Measure, stop: bool, level: str
) -> None:
    assert leg_level(side, D(entry), D(value), measure, stop=stop) == D(level)


def test_multileg_leg_stop_when_marked_fires_at_the_level_and_not_a_paisa_before() -> None:
    assert not leg_hit(Side.SELL, D(195), D("194.95"), stop=True)
    assert leg_hit(Side.SELL, D(195), D(195), stop=True)
    assert leg_hit(Side.BUY, D(90), D("89.95"), stop=True)
    assert not leg_hit(Side.BUY, D(120), D("119.95"), stop=False)


def test_multileg_combined_target_and_stop_when_crossed_fire_on_the_first_mark_beyond() -> None:
    exits = CombinedExit(D(18_850), target=Threshold(D(50), percent=True), stop=Threshold(D(5000)))
    assert exits.check(D("9424.99")) is None
    assert exits.check(D(9425)) == "combined target reached: MTM 9425 ≥ 9425"
    assert exits.check(D("-4999.99")) is None
    assert exits.check(D(-5000)) == "combined stop hit: MTM -5000 ≤ −5000"


def test_multileg_lock_and_trail_when_profit_grows_keeps_more_and_exits_on_giving_it_back() -> None:
    exits = CombinedExit(
        D(18_850), lock_at=D(3000), lock=D(1000), trail_every=D(1000), trail_by=D(500)
    )
    assert exits.check(D(2000)) is None and exits.locked is None
    assert exits.check(D(3000)) is None and exits.locked == D(1000)
    assert exits.check(D(4500)) is None and exits.locked == D(1500)  # one full step of 1,000
    assert exits.check(D(2500)) is None and exits.locked == D(1500)  # the lock never falls
    assert exits.check(D(1500)) == "locked profit given back: MTM 1500 ≤ 1500 kept"
