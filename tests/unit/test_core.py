"""Event bus, clocks, identifiers and money values."""

from __future__ import annotations

import gc
import logging
from datetime import date, datetime
from decimal import Decimal

import pytest

from engine.core.bus import EventBus
from engine.core.clock import IST, LiveClock, TestClock
from engine.core.memory import collector_paused
from engine.domain.events import EngineMessage, Severity
from engine.domain.ids import IdFactory
from engine.domain.ticks import Tick
from engine.domain.values import PriceError, format_rupees, round_paisa, rupees_text, to_paise


def message(text: str) -> EngineMessage:
    return EngineMessage(0, Severity.INFO, text)


def test_bus_when_a_handler_raises_logs_it_and_still_calls_the_others(caplog) -> None:
    bus = EventBus()
    seen: list[str] = []

    def broken(event: EngineMessage) -> None:
        raise RuntimeError("boom")

    bus.subscribe(EngineMessage, broken)
    bus.subscribe(EngineMessage, lambda e: seen.append(e.text))
    with caplog.at_level(logging.ERROR):
        bus.publish(message("one"))
        bus.publish(message("two"))
    assert seen == ["one", "two"]
    assert bus.handler_errors == 2
    assert "boom" in caplog.text


def test_bus_when_a_handler_publishes_delivers_in_publication_order() -> None:
    bus = EventBus()
    order: list[str] = []

    def first(event: EngineMessage) -> None:
        order.append(f"first:{event.text}")
        if event.text == "tick":
            bus.publish(message("reaction"))

    bus.subscribe(EngineMessage, first)
    bus.subscribe(EngineMessage, lambda e: order.append(f"second:{e.text}"))
    bus.publish(message("tick"))
    assert order == ["first:tick", "second:tick", "first:reaction", "second:reaction"]


def test_bus_catch_all_when_ticks_flow_sees_events_but_not_ticks() -> None:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe_all(seen.append)
    bus.publish(Tick(1, 100, 95, 105, 1, 1, 0, 0, 0))
    bus.publish(message("hello"))
    assert [type(e).__name__ for e in seen] == ["EngineMessage"]


def test_bus_unsubscribe_when_called_stops_delivery() -> None:
    bus = EventBus()
    seen: list[object] = []
    unsubscribe = bus.subscribe(EngineMessage, seen.append)
    unsubscribe()
    bus.publish(message("x"))
    assert seen == []


def test_bus_with_tokens_calls_a_handler_only_for_the_ticks_of_its_current_tokens() -> None:
    bus = EventBus()
    order: list[str] = []
    watched: set[int] = {2}
    bus.subscribe(Tick, lambda t: order.append(f"all:{t.token}"))
    unsubscribe = bus.subscribe(Tick, lambda t: order.append(f"some:{t.token}"), tokens=watched)
    bus.subscribe(Tick, lambda t: order.append(f"last:{t.token}"))

    def tick(token: int) -> Tick:
        return Tick(token, 100, 95, 105, 1, 1, 0, 0, 0)

    bus.publish(tick(1))
    bus.publish(tick(2))
    watched.add(3)  # the subscriber's own set: what it holds now is what it hears
    watched.discard(2)
    bus.publish(tick(2))
    bus.publish(tick(3))
    unsubscribe()
    bus.publish(tick(3))
    assert order == [
        "all:1", "last:1",
        "all:2", "some:2", "last:2",
        "all:2", "last:2",
        "all:3", "some:3", "last:3",
        "all:3", "last:3",
    ]  # fmt: skip


def test_events_when_frozen_cannot_be_changed() -> None:
    event = message("x")
    with pytest.raises(AttributeError):
        event.text = "y"  # type: ignore[misc]


def test_test_clock_when_advanced_moves_only_forward_and_reports_ist() -> None:
    clock = TestClock(datetime(2026, 11, 23, 9, 15, tzinfo=IST))
    clock.advance(90)
    assert clock.now() == datetime(2026, 11, 23, 9, 16, 30, tzinfo=IST)
    assert clock.now().utcoffset().total_seconds() == 5.5 * 3600
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="aware"):
        TestClock(datetime(2026, 11, 23, 9, 15))  # noqa: DTZ001


def test_live_clock_when_read_is_aware_and_agrees_with_time_ns() -> None:
    clock = LiveClock()
    assert clock.now().tzinfo is IST
    assert abs(clock.now().timestamp() - clock.time_ns() / 1e9) < 1


def test_id_factory_when_used_makes_unique_sortable_ids_that_fit_a_kite_tag() -> None:
    factory = IdFactory("D")
    ids = [factory.next() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert all(len(i) == 16 and i[0] == "D" for i in ids)
    assert ids == sorted(ids) or len({i[:10] for i in ids}) > 1  # sortable within a millisecond


def test_id_factory_when_first_asked_for_moment_zero_still_makes_a_whole_id() -> None:
    factory = IdFactory("D", salt=5)
    first = factory.next(0)
    assert len(first) == 16 and first.startswith("D0000000000")
    assert factory.next(0) > first


def test_id_factory_when_given_a_moment_before_1970_refuses() -> None:
    with pytest.raises(ValueError, match="1970"):
        IdFactory("D").next(-1)


@pytest.mark.parametrize(
    ("rupees", "paise"),
    [("101.05", 10105), (Decimal("0.05"), 5), (24812, 2481200), (100.1, 10010), ("-3", -300)],
)
def test_to_paise_when_price_is_whole_paise_converts_exactly(rupees, paise) -> None:
    assert to_paise(rupees) == paise


@pytest.mark.parametrize("bad", ["101.055", "abc", "NaN", "Infinity", None])
def test_to_paise_when_price_is_not_whole_paise_refuses_with_reason(bad) -> None:
    with pytest.raises(PriceError):
        to_paise(bad)


def test_rupee_formatting_when_large_uses_indian_grouping() -> None:
    assert format_rupees(1234567890) == "1,23,45,678.90"
    assert format_rupees(-5) == "-0.05"
    assert rupees_text(10) == "0.10"
    assert round_paisa(Decimal("0.195")) == Decimal("0.20")


def test_ist_today_when_the_clock_crosses_midnight_ist_changes_day() -> None:
    from engine.core.clock import ist_today

    clock = TestClock(datetime(2026, 11, 23, 23, 59, 59, tzinfo=IST))
    today = ist_today(clock)
    assert today() == date(2026, 11, 23)
    clock.advance(2)
    assert today() == date(2026, 11, 24)


def test_collector_paused_when_blocks_nest_or_raise_leaves_the_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner block must not switch it back on"
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("start-up failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled(), "switched off before: stays off"
    finally:
        gc.enable()


def test_collector_paused_when_blocks_on_two_threads_overlap_runs_again_after_the_last() -> None:
    import threading

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen_inside_second: list[bool] = []

    def first() -> None:  # in first, out first, while the second is still inside
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            seen_inside_second.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen_inside_second == [False], "the first block's end must not switch it back on"
    assert gc.isenabled(), "on again once both ended"
