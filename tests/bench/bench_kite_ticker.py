"""KiteTicker frame parsing: our parser against the official kiteconnect client's, same frames, same run.

Builds full-mode frames (184-byte packets with 5-level depth) for 3,000 NFO instruments with the
test encoder, in batches of 100 packets per WebSocket message as a busy feed sends them, then times:

- reference: ``kiteconnect.KiteTicker._parse_binary`` (the official Python client's parser);
- value: ``engine.brokers.kite.ticker.parse_frame``, whose ticks hold every field of the official
  dict (prices, ohlc, timestamps, the ten depth entries), so both sides do the same work;
- also shown: ``parse_ticks``, the engine's path to integer-paise ``Tick``s.

Before timing, every decoded tick is checked against the official client's output.
Usage: python tests/bench/bench_kite_ticker.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kiteconnect import KiteTicker

from engine.brokers.kite.ticker import parse_frame, parse_ticks
from tests.kite_fake.packets import MarketState, frame, full_packet

INSTRUMENTS = 3000
PACKETS_PER_FRAME = 100
NFO = 2


def make_frames(rounds: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    states = []
    for i in range(INSTRUMENTS):
        price = rng.randrange(500, 2_000_000, 5)
        states.append(
            MarketState(
                token=((40_000 + i) << 8) | NFO,
                last_price=price,
                close=max(5, price + rng.randrange(-5000, 5000, 5)),
                open=price,
                high=price + 1000,
                low=max(price - 1000, 5),
            )
        )
    frames = []
    clock = 1_790_000_000
    for _ in range(rounds):
        clock += 1
        packets = []
        for state in states:
            state.last_price = max(5, state.last_price + rng.randrange(-50, 55, 5))
            state.last_quantity = rng.randrange(65, 6500, 65)
            state.volume += state.last_quantity
            state.average_price = state.last_price
            state.buy_quantity = rng.randrange(0, 10**6)
            state.sell_quantity = rng.randrange(0, 10**6)
            state.oi = rng.randrange(0, 10**7)
            state.last_trade_time = state.timestamp = clock
            state.bids = [
                (rng.randrange(65, 6500), state.last_price - 5 * (k + 1), rng.randrange(1, 40))
                for k in range(5)
            ]
            state.asks = [
                (rng.randrange(65, 6500), state.last_price + 5 * (k + 1), rng.randrange(1, 40))
                for k in range(5)
            ]
            packets.append(full_packet(state))
        for start in range(0, len(packets), PACKETS_PER_FRAME):
            frames.append(frame(packets[start : start + PACKETS_PER_FRAME]))
    return frames


def _naive_local(value: Any) -> Any:
    return value.astimezone().replace(tzinfo=None) if isinstance(value, datetime) else value


def check_same_output(frames: list[bytes], official: KiteTicker) -> int:
    """Every tick of ours equals the official dict (timestamps compared as naive local time)."""
    checked = 0
    for data in frames:
        ours = parse_frame(data)
        theirs = official._parse_binary(data)
        if len(ours) != len(theirs):
            raise SystemExit(f"tick count differs: {len(ours)} vs {len(theirs)}")
        for mine, reference in zip(ours, theirs, strict=True):
            normalised = {key: _naive_local(value) for key, value in mine.items()}
            if normalised != reference:
                raise SystemExit(f"decoded tick differs:\n{normalised}\n{reference}")
            checked += 1
    return checked


def best_rate(frames: list[bytes], parse: Callable[[bytes], Any], repeats: int) -> float:
    """Ticks per second of the fastest of ``repeats`` passes over all frames."""
    ticks = len(frames) * PACKETS_PER_FRAME
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for data in frames:
            parse(data)
        best = min(best, time.perf_counter() - started)
    return ticks / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (CI)")
    args = parser.parse_args()
    rounds, repeats = (2, 2) if args.quick else (10, 5)

    frames = make_frames(rounds)
    official = KiteTicker("bench", "bench")
    checked = check_same_output(frames[: max(1, len(frames) // rounds)], official)

    gc.collect()
    gc.freeze()
    reference = best_rate(frames, official._parse_binary, repeats)
    value = best_rate(frames, parse_frame, repeats)
    engine_path = best_rate(frames, lambda data: parse_ticks(data, 0), repeats)

    packets = len(frames) * PACKETS_PER_FRAME
    print(
        f"{INSTRUMENTS} instruments, {len(frames)} frames of {PACKETS_PER_FRAME} full packets "
        f"({packets:,} ticks); {checked} ticks checked equal to the official parser's"
    )
    print(f"official KiteTicker._parse_binary : {reference:>12,.0f} ticks/s")
    print(f"parse_frame (same dicts)          : {value:>12,.0f} ticks/s ({value / reference:.1f}x)")
    print(
        f"parse_ticks (engine Tick, paise)  : {engine_path:>12,.0f} ticks/s "
        f"({engine_path / reference:.1f}x)"
    )
    print(
        json.dumps(
            {
                "bench": "kite_ticker",
                "value": round(value),
                "unit": "ticks/s",
                "reference": round(reference),
                "reference_name": "kiteconnect KiteTicker._parse_binary",
                "ratio": round(value / reference, 2),
                "target_ratio": 5,
                "engine_ticks_per_s": round(engine_path),
                "engine_ratio": round(engine_path / reference, 2),
                "instruments": INSTRUMENTS,
                "packets_per_frame": PACKETS_PER_FRAME,
                "ticks": packets,
            }
        )
    )


if __name__ == "__main__":
    main()
