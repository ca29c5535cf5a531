"""The schedules of TWAP and VWAP parents, and the pacing all algos share."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from engine.core.clock import IST
from engine.domain.orders import Side
from engine.strategies.algos.pacer import AlgoPacer
from engine.strategies.algos.profile import u_shape
from engine.strategies.algos.schedule import NS, build_schedule
from engine.strategies.algos.spec import AlgoKind, AlgoSpec, parse_spec

OPEN = int(datetime(2026, 11, 23, 9, 15, tzinfo=IST).timestamp()) * NS


def spec(**changes: object) -> AlgoSpec:
    values: dict[str, object] = {"kind": "twap", "token": 1, "side": "BUY", "quantity": 50 * 65}
    values.update(changes)
    return parse_spec(values)


def test_algo_twap_schedule_ends_at_the_target_in_lots_with_bounded_jitter() -> None:
    twap = spec(slices=10, duration_seconds=600, randomise_size_pct=30, randomise_time_pct=25)
    schedule = build_schedule(twap, "algo-twap-0001", 65, OPEN)
    assert schedule.cumulative[-1] == 3250
    assert all(q % 65 == 0 for q in schedule.cumulative)
    assert list(schedule.cumulative) == sorted(schedule.cumulative)
    for n, offset in enumerate(schedule.offsets_ns):
        assert abs(offset - n * 60 * NS) <= 0.25 * 60 * NS + 1
    # Seeded by the parent's id: the same schedule after a restart, another for another parent.
    assert build_schedule(twap, "algo-twap-0001", 65, OPEN) == schedule
    assert build_schedule(twap, "algo-twap-0002", 65, OPEN) != schedule
    assert schedule.due(0) == schedule.cumulative[0]
    assert schedule.due(600 * NS) == 3250


def test_algo_vwap_schedule_follows_the_intraday_volume_profile() -> None:
    day = spec(kind="vwap", quantity=3000 * 65, slices=15, duration_seconds=375 * 60)
    schedule = build_schedule(day, "algo-vwap-0001", 65, OPEN)
    sizes = [b - a for a, b in zip((0, *schedule.cumulative), schedule.cumulative, strict=False)]
    assert sizes[0] > sizes[7] < sizes[-1]
    profile = u_shape()
    share = sum(profile[:25]) / sum(profile)
    assert sizes[0] / (3000 * 65) == pytest.approx(share, abs=0.01)


def test_algo_pacer_lets_ten_orders_out_a_calendar_second() -> None:
    pacer = AlgoPacer()
    second = 1_000 * NS
    assert sum(pacer.take(second + n) for n in range(15)) == 10
    assert pacer.room(second + NS - 1) == 0
    assert pacer.next_second_ns(second + 5) == second + NS
    assert pacer.take(second + NS)


def test_algo_spec_round_trips_through_its_journaled_state() -> None:
    iceberg = spec(kind="iceberg", visible_quantity=650, limit_price="26100.5", on_restart="stop")
    assert parse_spec(iceberg.to_state()) == iceberg
    assert iceberg.kind is AlgoKind.ICEBERG and iceberg.side is Side.BUY


def test_algo_spec_when_at_its_bounds_is_accepted_and_past_them_is_refused_in_words() -> None:
    longest = spec(
        duration_seconds=86400,
        chase_seconds=86400,
        min_interval_seconds=86400,
        limit_price="10000000000",
    )
    assert longest.problems() == []
    assert spec(limit_price="0.01").limit_price == Decimal("0.01")
    with pytest.raises(ValueError, match=r"at most a day \(86400\), got 86400\.5"):
        spec(duration_seconds=86400.5)
    with pytest.raises(
        ValueError, match=r"limit_price must be a price from 0\.01 to 10,000,000,000"
    ):
        spec(limit_price="10000000000.01")
    with pytest.raises(ValueError, match=r"got 1{20}…$"):  # a page of digits is cut short
        spec(limit_price="1" * 400)
