"""Implied vol + the five Greeks for whole option chains, against vollib's loop on the same chain.

The task, per chain: the IV of every quote (NaN where none exists), then price, delta, gamma,
theta, vega and rho of every option at that IV. Ours is two vectorised calls
(``engine.options.implied_vol`` and ``engine.options.greeks``); the reference is vollib (pure-
Python Let's Be Rational, the accuracy oracle of tests/integration/test_iv_accuracy.py) called
per option, exceptions mapped to NaN, Greeks skipped where it finds no IV. Both run in this
process, on the NSE-like chains of that test: 2,000 and 20,000 options.

Usage: python tests/bench/bench_greeks.py [--quick]. Last line: one JSON object; ``value`` is
the median milliseconds for the 2,000-option chain, ``ratio`` vollib's time over ours on it.
On glibc the run ends by timing ours again with malloc's trim/mmap thresholds raised (what an
application can do once at start-up): ``value_malloc_tuned``, ``value_20k_malloc_tuned``.
Our Greeks include the price (theta and rho need it); vollib's loop computes IV, delta, gamma,
theta, vega and rho, the task options_math.md §2.1 timed.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from engine.options import greeks, implied_vol
from tests.integration.test_iv_accuracy import nse_like_chain

Chain = dict[str, Any]


def ours(chain: Chain) -> None:
    vol = implied_vol(
        chain["price"],
        chain["forward"],
        chain["strike"],
        chain["years"],
        chain["rate"],
        chain["is_call"],
    )
    greeks(chain["forward"], chain["strike"], chain["years"], chain["rate"], vol, chain["is_call"])


def vollib_loop() -> Callable[[Chain], None] | None:
    try:
        from py_lets_be_rational.exceptions import VolatilityValueException
        from vollib.black.greeks.analytical import delta, gamma, rho, theta, vega
        from vollib.black.implied_volatility import implied_volatility
        from vollib.helpers.exceptions import PriceIsAboveMaximum, PriceIsBelowIntrinsic
    except ImportError:
        return None
    refused = (VolatilityValueException, PriceIsAboveMaximum, PriceIsBelowIntrinsic)

    def run(chain: Chain) -> None:
        rows = zip(
            chain["price"].tolist(),
            chain["forward"].tolist(),
            chain["strike"].tolist(),
            chain["years"].tolist(),
            chain["rate"].tolist(),
            chain["is_call"].tolist(),
            strict=True,
        )
        out = []
        for price, forward, strike, years, rate, is_call in rows:
            flag = "c" if is_call else "p"
            try:
                vol = implied_volatility(price, forward, strike, rate, years, flag)
            except refused:
                vol = math.nan
            if not vol > 0.0:  # vollib answers 0 for a zero price: no IV either
                out.append((math.nan,) * 6)
                continue
            args = (flag, forward, strike, years, rate, vol)
            out.append((vol, delta(*args), gamma(*args), theta(*args), vega(*args), rho(*args)))

    return run


def raise_malloc_thresholds() -> bool:
    """glibc only: keep freed memory for reuse instead of handing it back to the kernel.

    numpy's temporaries for a 20,000-option chain are 160 KB each; by default glibc serves
    those from fresh mmapped or trimmed-and-regrown pages, which the kernel must fault in and
    zero on every call. An application can raise the thresholds once at start-up.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(
        libc.mallopt(m_trim_threshold, 256 << 20)
    )


def timed(task: Callable[[Chain], None], chain: Chain, reps: int) -> list[float]:
    task(chain)  # warm-up: imports, caches
    times = []
    gc.disable()
    try:
        for _ in range(reps):
            started = time.perf_counter()
            task(chain)
            times.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (CI)")
    args = parser.parse_args()
    reps_ours = {2_000: 31, 20_000: 7} if args.quick else {2_000: 301, 20_000: 41}
    reps_vollib = {2_000: 1, 20_000: 1} if args.quick else {2_000: 5, 20_000: 3}
    reference = vollib_loop()
    figures: dict[int, dict[str, float]] = {}
    for size in (2_000, 20_000):
        chain = nse_like_chain(size, seed=12_345 + size)
        mine = timed(ours, chain, reps_ours[size])
        row = {
            "ms": statistics.median(mine) * 1e3,
            "min_ms": min(mine) * 1e3,
            "us_per_option": statistics.median(mine) * 1e6 / size,
        }
        if reference is not None:
            theirs = timed(reference, chain, reps_vollib[size])
            row["vollib_ms"] = statistics.median(theirs) * 1e3
            row["ratio"] = row["vollib_ms"] / row["ms"]
        figures[size] = row
        print(
            f"{size:>6} options: ours {row['ms']:.3f} ms median ({row['min_ms']:.3f} min, "
            f"{row['us_per_option']:.3f} µs/option)"
            + (
                f"; vollib {row['vollib_ms']:.1f} ms; ratio {row['ratio']:.0f}x"
                if reference is not None
                else "; vollib not installed"
            )
        )
    # Then the same with glibc's allocator told to keep its memory (irreversible: done last).
    tuned: dict[int, float] = {}
    if raise_malloc_thresholds():
        for size in (2_000, 20_000):
            chain = nse_like_chain(size, seed=12_345 + size)
            tuned[size] = statistics.median(timed(ours, chain, reps_ours[size])) * 1e3
            print(f"{size:>6} options, malloc thresholds raised: ours {tuned[size]:.3f} ms median")
    small, large = figures[2_000], figures[20_000]
    version = metadata.version("vollib") if reference is not None else None
    print(
        json.dumps(
            {
                "bench": "iv_and_greeks_chain",
                "value": round(small["ms"], 4),
                "unit": "ms",
                "n": 2_000,
                "reference": (
                    f"vollib {version} per-option loop (IV + 5 analytical Greeks)"
                    if version
                    else "vollib (not installed)"
                ),
                "reference_value": round(small["vollib_ms"], 2) if version else None,
                "ratio": round(small["ratio"], 1) if version else None,
                "min_ms": round(small["min_ms"], 4),
                "us_per_option": round(small["us_per_option"], 4),
                "value_20k": round(large["ms"], 3),
                "min_ms_20k": round(large["min_ms"], 3),
                "us_per_option_20k": round(large["us_per_option"], 4),
                "reference_value_20k": round(large["vollib_ms"], 1) if version else None,
                "ratio_20k": round(large["ratio"], 1) if version else None,
                "value_malloc_tuned": round(tuned[2_000], 4) if tuned else None,
                "value_20k_malloc_tuned": round(tuned[20_000], 3) if tuned else None,
                "numpy": np.__version__,
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
