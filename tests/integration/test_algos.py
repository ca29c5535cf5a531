"""Execution algos on the simulated market with a test clock: a 50-lot NIFTY futures TWAP over ten
minutes runs in seconds; its children, read back from the book's journal, fall due on schedule,
never exceed the freeze quantity, never pass ten in a second, and all went through the gate under
the parent's id. VWAP and POV report how they tracked the market; pause, resume, cancel and a
change of the remaining quantity do what the trader asked; bad settings are refused in words."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.events import OrderSubmitted
from engine.runtime import Engine
from tests.algo_support import (
    MONDAY_0918,
    NS,
    algo_desk,
    future,
    live,
    read_algos,
    run_while,
    step,
)

LOT = 65


@pytest.fixture
def desk(tmp_path: Path) -> Engine:
    engine = algo_desk(tmp_path)
    yield engine
    engine.close()


def book_url(engine: Engine) -> str:
    return str(engine.database.engine.url)


def test_algo_twap_50_lots_of_nifty_futures_runs_on_schedule_through_the_gate(
    desk: Engine,
) -> None:
    nifty = future(desk, "NIFTY")
    start_ns = desk.clock.time_ns()
    started = desk.api.start_algo(
        {
            "kind": "twap",
            "token": int(nifty.token),
            "side": "BUY",
            "quantity": 50 * LOT,
            "duration_seconds": 600,
            "slices": 10,
            "randomise_size_pct": 20,
            "randomise_time_pct": 20,
        }
    )
    assert started, started.reason
    assert started.parent_id == "algo-twap-0001"
    took = run_while(desk, lambda: live(desk), limit=700)
    assert 500 <= took <= 620

    journal = read_algos(book_url(desk))
    children = journal.children[started.parent_id]
    interval = 60 * NS
    # Each slice's children went within one slice of the slice's nominal time.
    slice_of = [round((c.ts_ns - start_ns) / interval) for c in children]
    for child, n in zip(children, slice_of, strict=True):
        assert abs(child.ts_ns - (start_ns + n * interval)) <= interval, child
    assert sorted(set(slice_of)) == list(range(10))
    assert max(c.quantity for c in children) <= nifty.max_order_quantity() == 1755
    assert all(c.quantity % LOT == 0 for c in children)
    assert max(journal.per_second().values()) <= 10
    # Every child went through the gate as the parent's: the journal's submissions are all the
    # order manager holds of the parent.
    assert {c.source for c in children} == {"strategy"}
    held = {o.order_id for o in desk.api.orders() if o.strategy == started.parent_id}
    assert held == {c.order_id for c in children}
    assert journal.filled(started.parent_id) == 50 * LOT
    [view] = desk.api.algos()
    assert (view.status.value, view.filled, view.working) == ("completed", 3250, 0)
    last = journal.records[started.parent_id][-1]
    assert last["status"] == "stopped" and last["reason"].startswith("completed")


def test_algo_above_the_freeze_quantity_is_sliced_and_paced_under_ten_a_second(
    desk: Engine,
) -> None:
    """Three slicers and a one-slice TWAP on BANKNIFTY (freeze 600) at once: 60 children of at
    most 600 share the ten-a-second budget; an exit is sliced the same way."""
    bank = future(desk, "BANKNIFTY")
    assert bank.max_order_quantity() == 600
    parents = []
    for n in range(3):
        started = desk.api.start_algo(
            {
                "kind": "slicer",
                "token": int(bank.token),
                "side": "BUY",
                "quantity": 9000,
                "order_type": "MARKET" if n else "LIMIT",
            }
        )
        assert started, started.reason
        parents.append(started.parent_id)
    twap = desk.api.start_algo(
        {
            "kind": "twap",
            "token": int(bank.token),
            "side": "BUY",
            "quantity": 9000,
            "slices": 1,
            "duration_seconds": 60,
        }
    )
    assert twap
    parents.append(twap.parent_id)
    run_while(desk, lambda: live(desk), limit=60)
    journal = read_algos(book_url(desk))
    assert all(c.quantity <= 600 for p in parents for c in journal.children[p])
    assert all(journal.filled(p) == 9000 for p in parents)
    per_second = journal.per_second()
    assert max(per_second.values()) == 10 and sum(per_second.values()) == 60
    # The exit: the position of 36,000 goes out in 60 more children, still ten a second at most.
    exit_ = desk.api.slice_exit(int(bank.token), "NRML")
    assert exit_, exit_.reason
    run_while(desk, lambda: live(desk), limit=60)
    journal = read_algos(book_url(desk))
    assert journal.filled(exit_.parent_id) == 36_000
    assert max(c.quantity for c in journal.children[exit_.parent_id]) <= 600
    assert max(journal.per_second().values()) <= 10
    assert not [p for p in desk.api.positions() if p.net_quantity]


def test_algo_vwap_and_pov_report_their_tracking_error(desk: Engine) -> None:
    nifty = future(desk, "NIFTY")
    start_ns = desk.clock.time_ns()
    vwap = desk.api.start_algo(
        {
            "kind": "vwap",
            "token": int(nifty.token),
            "side": "SELL",
            "quantity": 100 * LOT,
            "duration_seconds": 300,
            "slices": 10,
        }
    )
    pov = desk.api.start_algo(
        {
            "kind": "pov",
            "token": int(nifty.token),
            "side": "BUY",
            "quantity": 2000 * LOT,
            "participation_pct": 10,
            "duration_seconds": 120,
        }
    )
    assert vwap and pov, (vwap.reason, pov.reason)
    run_while(desk, lambda: live(desk), limit=400)
    rows = {row.parent_id: row for row in desk.api.algo_quality()}
    v, p = rows[vwap.parent_id], rows[pov.parent_id]
    # VWAP: filled in full; its average against the market's VWAP over its life, in bp.
    assert v.filled == 100 * LOT and v.slippage_vwap_bp is not None
    assert abs(v.slippage_vwap_bp) < 10, v
    children = read_algos(book_url(desk)).children[vwap.parent_id]
    assert sum(c.quantity for c in children) == 100 * LOT
    assert all(c.ts_ns < start_ns + 300 * NS for c in children)
    # POV: ran its two minutes; its share of the feed's volume is the 10 % it was set to,
    # within the lot it rounds to.
    assert p.status == "stopped" and p.participation_pct is not None
    lot_share = Decimal(100 * LOT) / p.market_volume
    assert abs(p.participation_pct - 10) <= lot_share + Decimal("0.5"), p
    print(f"VWAP tracking {v.slippage_vwap_bp} bp; POV {p.participation_pct} % for 10 % set")


def test_algo_pause_resume_modify_and_cancel(desk: Engine) -> None:
    nifty = future(desk, "NIFTY")
    started = desk.api.start_algo(
        {
            "kind": "twap",
            "token": int(nifty.token),
            "side": "BUY",
            "quantity": 20 * LOT,
            "duration_seconds": 200,
            "slices": 10,
            "limit_buffer_ticks": -3,
            "chase_seconds": 4,
        }
    )
    assert started
    parent = started.parent_id
    sent: list[OrderSubmitted] = []
    desk.bus.subscribe(OrderSubmitted, sent.append)
    for _ in range(4 * 50):
        step(desk)
    assert desk.api.pause_algo(parent) is None
    [view] = desk.api.algos()
    assert view.status.value == "paused" and view.working == 0
    assert not [o for o in desk.api.orders() if o.strategy == parent and o.status.is_open]
    before = len(sent)
    for _ in range(4 * 60):
        step(desk)
    assert len(sent) == before  # nothing sent while paused
    assert desk.api.pause_algo(parent) is not None  # already paused: said in words
    assert desk.api.resume_algo(parent) is None
    filled = desk.api.algos()[0].filled
    assert desk.api.modify_algo(parent, 7) is not None  # not a lot multiple
    assert desk.api.modify_algo(parent, 4 * LOT) is None
    assert desk.api.algos()[0].target == filled + 4 * LOT
    for _ in range(4 * 20):
        step(desk)
    assert desk.api.cancel_algo(parent) is None
    [view] = desk.api.algos()
    assert view.status.value == "cancelled" and view.working == 0
    assert not [o for o in desk.api.orders() if o.strategy == parent and o.status.is_open]
    assert view.filled <= view.target
    assert desk.api.cancel_algo(parent) == f"{parent} is not running"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"kind": "twap", "side": "BUY", "quantity": 65}, "token is required"),
        ({"kind": "twop", "token": 1, "side": "BUY", "quantity": 65}, "not one of"),
        ({"kind": "twap", "token": 1, "side": "BUY", "quantity": float("nan")}, "whole number"),
        (
            {"kind": "pov", "token": 1, "side": "BUY", "quantity": 65, "participation_pct": 90},
            "participation_pct",
        ),
        (
            {"kind": "twap", "token": 1, "side": "BUY", "quantity": 65, "colour": "red"},
            "unknown setting",
        ),
    ],
)
def test_algo_bad_settings_are_refused_in_words(
    desk: Engine, settings: dict[str, object], words: str
) -> None:
    answer = desk.api.start_algo(settings)
    assert not answer and words in answer.reason
    assert desk.api.algos() == []


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"duration_seconds": 1e300}, "duration_seconds must be above 0 and at most a day"),
        ({"chase_seconds": 1e300}, "chase_seconds must be 0 or more and at most the duration"),
        ({"duration_seconds": 60, "chase_seconds": 61}, "at most the duration (60 seconds)"),
        ({"kind": "pov", "min_interval_seconds": 1e300}, "min_interval_seconds must be 0 or"),
        ({"limit_price": "1e999999", "slices": 1}, "limit_price must be a price from 0.01"),
        ({"limit_price": "1e-999999"}, "limit_price must be a price from 0.01"),
    ],
)
def test_algo_settings_too_large_to_run_are_refused_in_words_before_it_starts(
    desk: Engine, settings: dict[str, object], words: str
) -> None:
    nifty = future(desk, "NIFTY")
    order = {"kind": "twap", "token": int(nifty.token), "side": "BUY", "quantity": LOT}
    answer = desk.api.start_algo({**order, **settings})
    assert not answer and words in answer.reason
    assert "Error" not in answer.reason and "Overflow" not in answer.reason
    assert desk.api.algos() == [], "no dead parent is listed"


def test_algo_quantity_not_a_lot_multiple_is_refused(desk: Engine) -> None:
    nifty = future(desk, "NIFTY")
    answer = desk.api.start_algo(
        {"kind": "twap", "token": int(nifty.token), "side": "BUY", "quantity": 100}
    )
    assert not answer and "multiple of the lot (65)" in answer.reason


def test_algo_desk_closed_and_reopened_resumes_or_stops_each_parent_as_set(
    tmp_path: Path,
) -> None:
    """A clean close: the parent set to resume is journaled running and goes on when the desk
    opens again; the one set to stop is stopped at the close, its working children cancelled."""
    desk = algo_desk(tmp_path)
    nifty = future(desk, "NIFTY")
    common = {"token": int(nifty.token), "side": "BUY", "duration_seconds": 120, "slices": 4}
    far_below = desk.api.quote(nifty.token).ltp - 300  # rests: nothing fills before the close
    goes_on = desk.api.start_algo({"kind": "twap", "quantity": 8 * LOT, **common})
    stops = desk.api.start_algo(
        {
            "kind": "iceberg",
            "quantity": 8 * LOT,
            "visible_quantity": 2 * LOT,
            "limit_price": str(far_below),
            "chase_seconds": 0,
            "on_restart": "stop",
            **common,
        }
    )
    assert goes_on and stops
    for _ in range(4 * 35):
        step(desk)
    before = {v.parent_id: v for v in desk.api.algos()}
    assert before[goes_on.parent_id].filled < 8 * LOT
    assert before[stops.parent_id].working == 2 * LOT  # its visible child rests
    desk.strategies.stop_all("the desk closed")
    assert not [o for o in desk.api.orders() if o.strategy == stops.parent_id and o.status.is_open]
    desk.close()

    again = algo_desk(tmp_path, at=MONDAY_0918.replace(minute=19))
    views = {v.parent_id: v for v in again.api.algos()}
    assert views[goes_on.parent_id].status.value == "working"
    # It went on at once: the slice due at 09:19 was sent as the desk opened.
    assert views[goes_on.parent_id].filled == before[goes_on.parent_id].filled + 2 * LOT
    assert views[stops.parent_id].status.value == "cancelled"
    run_while(again, lambda: live(again), limit=200)
    done = {v.parent_id: v for v in again.api.algos()}
    assert (done[goes_on.parent_id].status.value, done[goes_on.parent_id].filled) == (
        "completed",
        8 * LOT,
    )
    # The next parent is numbered after those in the book.
    assert again.api.start_algo({"kind": "slicer", "quantity": LOT, **common}).parent_id == (
        "algo-slicer-0003"
    )
    again.close()


def test_algo_vwap_follows_a_volume_profile_read_from_history(desk: Engine) -> None:
    """The paper market's minute history (busier at the open and the close) as a VWAP's profile:
    read through the facade, journaled with the parent, refused when it is not volumes."""
    nifty = future(desk, "NIFTY")
    profile = asyncio.run(desk.api.history_volume_profile(int(nifty.token), days=5))
    assert profile is not None and len(profile) == 375
    middle = sum(profile[150:180])
    assert sum(profile[:30]) > middle < sum(profile[-30:])
    settings = {
        "kind": "vwap",
        "token": int(nifty.token),
        "side": "BUY",
        "quantity": 20 * LOT,
        "duration_seconds": 120,
        "slices": 4,
    }
    bad = desk.api.start_algo({**settings, "volume_profile": [1.0, float("inf")]})
    assert not bad and "volume_profile" in bad.reason
    started = desk.api.start_algo({**settings, "volume_profile": profile})
    assert started, started.reason
    record = desk.strategies.last_state(started.parent_id)
    assert record is not None and record.state["spec"]["volume_profile"] == profile
    run_while(desk, lambda: live(desk), limit=200)
    assert read_algos(book_url(desk)).filled(started.parent_id) == 20 * LOT
