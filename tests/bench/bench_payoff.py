"""The payoff panel's figures for a 108-leg BANKNIFTY book, against pricing it leg by leg.

The book is the one the Payoff panel stalled on: one lot (30) of every call and put of 23 strikes
of the weekly expiring in hours and of 31 strikes of the next month, a smile across the strikes,
every third leg sold; a second book holds every one of those contracts twice (216 legs). Each
run times ``OptionStrategy.payoff()`` (curves at expiry and today, extremes over the 1,201-point
grid, breakevens refined, Greeks), three ways, interleaved in the same process:

- ours: ``payoff()`` as it is (legs netted by contract, calls and puts of one strike, expiry and
  IV priced once, numpy passes over spots × contracts in blocks);
- reference: the same ``payoff()`` with its P&L evaluated by a plain loop over the legs, one
  Black-76 call per leg per evaluation;
- unnetted: the same with one numpy broadcast over spots × legs, nothing netted (how the
  payoff priced before the netting).

The three give the same figures (``same_result``: extremes, breakevens and curves within
1e-13 of the book's size).

Usage: python tests/bench/bench_payoff.py [--quick]. Last line: one JSON object; ``value`` is
the median milliseconds of ``payoff()`` on the 108 legs, ``ratio`` the reference's over ours.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from engine.options.black76 import price
from engine.options.strategy import LegKind, OptionStrategy, PayoffLeg, PayoffProfile

SPOT, RATE, LOT = 58_790.75, 0.065, 30
WEEKLY = (0.000646, 58_793.3, 23)  # years, forward, strikes
MONTHLY = (0.0993, 59_170.0, 31)
OPTION = (LegKind.CALL, LegKind.PUT)


def book(repeats: int) -> tuple[PayoffLeg, ...]:
    legs = []
    for years, forward, count in (WEEKLY, MONTHLY):
        atm = round(forward / 100) * 100
        for strike in atm + 100.0 * (np.arange(count) - count // 2):
            iv = 0.14 + 0.9 * (strike / forward - 1) ** 2 + 0.02 * years
            for kind in (LegKind.CALL, LegKind.PUT):
                value = float(price(forward, strike, years, RATE, iv, kind is LegKind.CALL))
                side = -1 if len(legs) % 3 == 0 else 1
                leg = PayoffLeg(
                    kind, side * LOT, round(value, 2), strike=float(strike), years=years, iv=iv,
                    forward=forward,
                )  # fmt: skip
                legs += [leg] * repeats
    return tuple(legs)


def leg_columns(strategy: OptionStrategy, years_forward: float) -> dict[str, np.ndarray]:
    legs = strategy.legs
    years = np.array([leg.years for leg in legs])
    ratio = [
        leg.forward / strategy.spot
        if math.isfinite(leg.forward) and leg.kind is not LegKind.CASH
        else 1.0
        for leg in legs
    ]
    left = [min(max((y - years_forward) / y, 0.0), 1.0) if y > 0 else 0.0 for y in years]
    return {
        "quantity": np.array([leg.quantity for leg in legs], dtype=np.float64),
        "entry": np.array([leg.entry_price for leg in legs]),
        "strike": np.array([leg.strike for leg in legs]),
        "remaining": years - years_forward,
        "carry": np.array(ratio) ** np.array(left),
        "iv": np.array([leg.iv for leg in legs]),
        "is_call": np.array([leg.kind is LegKind.CALL for leg in legs]),
        "is_option": np.array([leg.kind in OPTION for leg in legs]),
        "is_cash": np.array([leg.kind is LegKind.CASH for leg in legs]),
    }


class LegByLeg(OptionStrategy):
    """``payoff()`` unchanged; its P&L a loop over the legs."""

    __slots__ = ()

    def pnl(self, spots: object, *, years_forward: float = 0.0, iv_shift: object = 0.0):  # type: ignore[no-untyped-def]
        s = np.asarray(spots, dtype=np.float64)
        shift = np.asarray(iv_shift, dtype=np.float64) / 100.0
        total = np.zeros(np.broadcast_shapes(s.shape, shift.shape))
        c = leg_columns(self, years_forward)
        for i, leg in enumerate(self.legs):
            forward = s * c["carry"][i]
            if leg.kind in OPTION:
                vol = np.maximum(leg.iv + shift, 0.0)
                is_call = leg.kind is LegKind.CALL
                value = price(forward, leg.strike, c["remaining"][i], self.rate, vol, is_call)
            else:
                value = s if leg.kind is LegKind.CASH else forward
            total += leg.quantity * (value - leg.entry_price)
        return total


class Unnetted(OptionStrategy):
    """``payoff()`` unchanged; its P&L one broadcast over spots × legs."""

    __slots__ = ()

    def pnl(self, spots: object, *, years_forward: float = 0.0, iv_shift: object = 0.0):  # type: ignore[no-untyped-def]
        c = leg_columns(self, years_forward)
        s = np.asarray(spots, dtype=np.float64)[..., None]
        vol = np.maximum(c["iv"] + np.asarray(iv_shift, dtype=np.float64)[..., None] / 100.0, 0)
        forward = s * c["carry"]
        option = price(forward, c["strike"], c["remaining"], self.rate, vol, c["is_call"])
        value = np.where(c["is_option"], option, np.where(c["is_cash"], s, forward))
        return np.asarray((c["quantity"] * (value - c["entry"])).sum(axis=-1))


def same(a: PayoffProfile, b: PayoffProfile, legs: tuple[PayoffLeg, ...]) -> bool:
    tol = 1e-13 * sum(abs(leg.quantity) for leg in legs) * 3 * max(leg.strike for leg in legs)
    extremes = [(a.max_profit, b.max_profit), (a.max_loss, b.max_loss)]
    return (
        all(x == y or abs(x - y) <= tol for x, y in extremes)
        and len(a.breakevens) == len(b.breakevens)
        and bool(np.allclose(a.breakevens, b.breakevens, rtol=1e-9, atol=0))
        and bool(np.allclose(a.spots, b.spots, rtol=1e-9, atol=0))
        and bool(np.allclose(a.at_expiry, b.at_expiry, rtol=0, atol=tol))
        and bool(np.allclose(a.at_target, b.at_target, rtol=0, atol=tol))
    )


def timed(tasks: dict[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """Each task ``reps`` times, the tasks taking turns (so a busy spell hits them alike)."""
    for task in tasks.values():
        task()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in tasks}
    gc.disable()
    try:
        for _ in range(reps):
            for name, task in tasks.items():
                started = time.perf_counter()
                task()
                times[name].append(time.perf_counter() - started)
    finally:
        gc.enable()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (CI)")
    args = parser.parse_args()
    reps = 5 if args.quick else 41
    figures: dict[int, dict[str, float]] = {}
    agree = True
    for repeats in (1, 2):
        legs = book(repeats)
        ways = {
            cls.__name__: cls("BANKNIFTY", SPOT, RATE, legs)
            for cls in (OptionStrategy, LegByLeg, Unnetted)
        }
        profiles = {name: strategy.payoff() for name, strategy in ways.items()}
        agree &= same(profiles["OptionStrategy"], profiles["LegByLeg"], legs)
        agree &= same(profiles["OptionStrategy"], profiles["Unnetted"], legs)
        times = timed({name: strategy.payoff for name, strategy in ways.items()}, reps)
        row = {name: statistics.median(t) * 1e3 for name, t in times.items()}
        row["min"] = min(times["OptionStrategy"]) * 1e3
        figures[len(legs)] = row
        print(
            f"{len(legs)} legs: payoff() {row['OptionStrategy']:.2f} ms median "
            f"({row['min']:.2f} min); leg by leg {row['LegByLeg']:.2f} ms; "
            f"unnetted broadcast {row['Unnetted']:.2f} ms"
        )
    main_row, repeated = figures[108], figures[216]
    print(
        json.dumps(
            {
                "bench": "payoff_108_legs",
                "value": round(main_row["OptionStrategy"], 3),
                "unit": "ms",
                "reference": round(main_row["LegByLeg"], 3),
                "reference_is": "the same payoff() with its P&L a loop over the legs",
                "ratio": round(main_row["LegByLeg"] / main_row["OptionStrategy"], 2),
                "min_ms": round(main_row["min"], 3),
                "unnetted_ms": round(main_row["Unnetted"], 3),
                "ratio_unnetted": round(main_row["Unnetted"] / main_row["OptionStrategy"], 2),
                "value_216": round(repeated["OptionStrategy"], 3),
                "reference_216": round(repeated["LegByLeg"], 3),
                "unnetted_ms_216": round(repeated["Unnetted"], 3),
                "same_result": agree,
                "numpy": np.__version__,
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
