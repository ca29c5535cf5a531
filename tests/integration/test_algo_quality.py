"""Execution quality of algo parents equals the same figures computed here, independently, from
the book's journal (each parent's fills) and the ticks the market published (recorded by a bus
subscriber of the test's own): arrival mid, average fill, the market's VWAP over the parent's
life, slippage in bp against both, fill rate, time to fill, child count, participation; then the
per-owner and per-day sums and the CSV export."""

from __future__ import annotations

import csv
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from engine.domain.events import OrderSubmitted
from engine.domain.orders import Side
from engine.domain.ticks import Tick
from tests.algo_support import algo_desk, future, live, read_algos, run_while

LOT = 65
BP = Decimal(10_000)


def bp(side: Side, price: Decimal, reference: Decimal) -> Decimal:
    return (side.sign * (price - reference) / reference * BP).quantize(Decimal("0.01"))


def test_algo_execution_quality_equals_the_journal_and_the_ticks(tmp_path: Path) -> None:
    desk = algo_desk(tmp_path, seed=5)
    nifty = future(desk, "NIFTY")
    token = int(nifty.token)
    ticks: list[Tick] = []
    desk.bus.subscribe(Tick, lambda t: ticks.append(t) if t.token == token else None)
    sent: list[OrderSubmitted] = []
    desk.bus.subscribe(OrderSubmitted, sent.append)
    touch = desk.api.tick(token)
    assert touch is not None
    arrival = Decimal(touch.bid + touch.ask) / 2 / 100
    start_ns = desk.clock.time_ns()
    settings = [
        {
            "kind": "twap",
            "side": "BUY",
            "quantity": 30 * LOT,
            "duration_seconds": 240,
            "slices": 6,
            "owner": "desk-a",
        },
        {
            "kind": "iceberg",
            "side": "SELL",
            "quantity": 20 * LOT,
            "visible_quantity": 4 * LOT,
            "limit_buffer_ticks": -1,
            "chase_seconds": 3,
            "owner": "desk-b",
        },
        {
            "kind": "pov",
            "side": "BUY",
            "quantity": 500 * LOT,
            "participation_pct": 5,
            "duration_seconds": 90,
            "owner": "desk-a",
        },
    ]
    parents = []
    for one in settings:
        started = desk.api.start_algo({"token": token, **one})
        assert started, started.reason
        parents.append((started.parent_id, Side(one["side"])))
    run_while(desk, lambda: live(desk), limit=600)

    rows = {row.parent_id: row for row in desk.api.algo_quality()}
    journal = read_algos(str(desk.database.engine.url))
    for parent_id, side in parents:
        row = rows[parent_id]
        fills = [f for child in journal.children[parent_id] for f in child.fills]
        filled = sum(q for _ts, q, _p in fills)
        average = Decimal(sum(q * p for _ts, q, p in fills)) / filled / 100
        # The market's VWAP over the ticks of the parent's life, from the recorded ticks.
        seen = [t for t in ticks if row.ticks_from_ns <= t.ts_ns <= row.ticks_to_ns]
        assert seen and seen[0].ts_ns == row.ticks_from_ns
        value = volume = 0
        for before, after in pairwise(seen):
            traded = after.volume - before.volume
            if traded > 0:
                value += traded * after.ltp
                volume += traded
        vwap = Decimal(value) / volume / 100
        target = row.target
        assert row.filled == filled
        assert row.arrival == arrival.quantize(Decimal("0.0001"))
        assert row.average_fill == average.quantize(Decimal("0.0001"))
        assert row.interval_vwap == vwap.quantize(Decimal("0.0001"))
        assert row.market_volume == volume
        assert row.slippage_arrival_bp == bp(side, average, arrival)
        assert row.slippage_vwap_bp == bp(side, average, vwap)
        assert row.fill_rate_pct == (Decimal(100) * filled / target).quantize(Decimal("0.01"))
        last_fill = max(ts for ts, _q, _p in fills)
        assert row.time_to_fill_s == (Decimal(last_fill - start_ns) / 10**9).quantize(
            Decimal("0.01")
        )
        assert row.children == len(journal.children[parent_id])
        assert row.children == sum(1 for e in sent if e.request.strategy == parent_id)
        assert row.participation_pct == (Decimal(100) * filled / volume).quantize(Decimal("0.01"))
        print(
            f"{parent_id}: filled {filled}/{target} avg {row.average_fill} arrival "
            f"{row.arrival} ({row.slippage_arrival_bp} bp) vwap {row.interval_vwap} "
            f"({row.slippage_vwap_bp} bp) in {row.time_to_fill_s} s, {row.children} children"
        )
    assert rows[parents[0][0]].fill_rate_pct == 100 == rows[parents[1][0]].fill_rate_pct

    # Summed per owner, notional-weighted.
    by_owner = {s.group: s for s in desk.api.algo_quality_summary("owner")}
    assert set(by_owner) == {"desk-a", "desk-b"}
    a = [rows[p] for p, _s in parents if rows[p].owner == "desk-a"]
    weights = [r.average_fill * r.filled for r in a]
    expected = sum(
        (r.slippage_arrival_bp * w for r, w in zip(a, weights, strict=True)), Decimal(0)
    ) / sum(weights)
    assert by_owner["desk-a"].slippage_arrival_bp == expected.quantize(Decimal("0.01"))
    assert by_owner["desk-a"].filled == sum(r.filled for r in a)
    [day] = desk.api.algo_quality_summary("day")
    assert day.group == "2026-11-23" and day.parents == 3

    # The CSV export holds the same rows.
    out = tmp_path / "quality.csv"
    assert desk.api.export_algo_quality(out) is None
    with out.open(encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert [r["parent_id"] for r in exported] == sorted(rows)
    for line in exported:
        row = rows[line["parent_id"]]
        assert Decimal(line["slippage_vwap_bp"]) == row.slippage_vwap_bp
        assert int(line["filled"]) == row.filled
    assert "could not be written" in (desk.api.export_algo_quality(tmp_path / "no" / "x.csv") or "")
    desk.close()
