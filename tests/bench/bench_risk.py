"""The risk gate's latency per order, with every check on, against submitting with it bypassed.

The engine is built as the app builds it (simulated market, paper venue, SQLite journal, risk
layer with its default limits and a capital that lets the orders through, so every check runs to
the end). Orders are resting LIMIT buys on near-the-money NIFTY options at varying prices (no
duplicates), paced on a test clock at under 10 a second so the throttle lets them out; each is
cancelled after it is measured so the book stays the same size.

Measured in the same run:
- gate: ``OrderGate.decide`` alone, all checks on (validity, state, session, freeze, market and
  price protection, fat finger, size and value, duplicates, open orders, position per instrument
  and per underlying, SPAN-like margin, concentration), each call right after a full submission
  and cancel (journal commits, venue, bus), so with caches as an order meets them in the desk;
- gate back to back: the same calls in a row (warm caches);
- exact margin: the SPAN-like repricing of one order (``MarginEstimator.requirement_after``),
  which the gate skips for an order whose upper bound already fits the limits;
- submit with the gate: ``OrderManager.submit`` end to end (gate, throttle, journal commit,
  paper venue acknowledgement, publication);
- submit bypassed: the same with ``gate.enabled = False`` (validity only), the reference.

Usage: python tests/bench/bench_risk.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.core.clock import IST, TestClock
from engine.domain.instruments import InstrumentType
from engine.domain.orders import OrderRequest, OrderType, Product, Side
from engine.domain.values import Paise
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] / 1000  # µs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    orders = 1_500 if args.quick else 10_000

    clock = TestClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.build(
            EngineConfig(
                db_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                market=SimulatedMarketConfig(seed=5, always_open=True),
                always_open=True,
                risk=RiskSettings(RiskLimits(capital=Decimal(10**8))),
            ),
            clock=clock,
        )
        for _ in range(8):
            clock.advance(0.25)
            for tick in engine.market.step(0.25):
                engine.on_tick(tick)
        # A held position so margin, exposure and the breakers have something to work on.
        spot = engine.api.tick(256265).ltp
        calls = sorted(
            (
                i
                for i in engine.registry
                if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.CE
            ),
            key=lambda i: (i.expiry, abs(i.strike - spot)),
        )[:40]
        quoted = [(i, engine.api.tick(i.token)) for i in calls]
        quoted = [(i, q) for i, q in quoted if q is not None and q.bid > 40 * i.tick_size]
        assert engine.api.place_order(quoted[0][0].token, "SELL", 65, "MARKET"), "setup order"
        assert engine.risk is not None
        gate, oms = engine.risk.gate, engine.orders

        def request(n: int) -> OrderRequest:
            instrument, tick = quoted[n % len(quoted)]
            price = tick.bid - (1 + (n // len(quoted)) % 20) * instrument.tick_size
            return OrderRequest(
                instrument.token, Side.BUY, 65, OrderType.LIMIT, Product.NRML, price=Paise(price)
            )

        gate_ns: list[int] = []
        with_gate_ns: list[int] = []
        bypassed_ns: list[int] = []
        counter = time.perf_counter_ns
        gc.disable()
        for n in range(orders):
            clock.advance(0.11)
            gate.enabled = True
            order = request(n)
            started = counter()
            decision = gate.decide(order)
            gate_ns.append(counter() - started)
            assert decision.allowed, decision.reason
            for enabled, sink in ((True, with_gate_ns), (False, bypassed_ns)):
                gate.enabled = enabled
                clock.advance(0.11)
                order = request(n + 7 * len(quoted))
                started = counter()
                outcome = oms.submit(order)
                sink.append(counter() - started)
                assert outcome, outcome.reason
                oms.cancel(outcome.order_id)
            if n % 500 == 499:
                gc.collect()
        # The gate back to back (warm caches), on the same book, for comparison.
        gate.enabled = True
        tight_ns: list[int] = []
        for n in range(orders):
            clock.advance(0.11)
            order = request(n + 13 * len(quoted))
            started = counter()
            gate.decide(order)
            tight_ns.append(counter() - started)
        assert engine.risk.margin is not None
        margin = engine.risk.margin
        exact_ns: list[int] = []
        for n in range(orders):
            instrument = quoted[n % len(quoted)][0]
            started = counter()
            margin.requirement_after(instrument, Product.NRML, 65 * (1 + n % 5))
            exact_ns.append(counter() - started)
        gc.enable()
        engine.close()

    gate_p50, gate_p99 = percentile(gate_ns, 0.5), percentile(gate_ns, 0.99)
    on_p50, on_p99 = percentile(with_gate_ns, 0.5), percentile(with_gate_ns, 0.99)
    off_p50, off_p99 = percentile(bypassed_ns, 0.5), percentile(bypassed_ns, 0.99)
    tight_p50, tight_p99 = percentile(tight_ns, 0.5), percentile(tight_ns, 0.99)
    exact_p50, exact_p99 = percentile(exact_ns, 0.5), percentile(exact_ns, 0.99)
    print(f"orders measured            {orders}")
    print(f"gate alone (all checks)    p50 {gate_p50:8.1f} µs   p99 {gate_p99:8.1f} µs")
    print(f"gate back to back          p50 {tight_p50:8.1f} µs   p99 {tight_p99:8.1f} µs")
    print(f"exact margin of one order  p50 {exact_p50:8.1f} µs   p99 {exact_p99:8.1f} µs")
    print(f"submit with the gate       p50 {on_p50:8.1f} µs   p99 {on_p99:8.1f} µs")
    print(f"submit, gate bypassed      p50 {off_p50:8.1f} µs   p99 {off_p99:8.1f} µs")
    print(f"submit ratio gate/bypassed p50 {on_p50 / off_p50:8.2f}")
    print(
        json.dumps(
            {
                "bench": "risk_gate_latency",
                "value": round(gate_p99, 2),
                "unit": "us",
                "metric": "gate p99 per order, all checks on",
                "gate_p50_us": round(gate_p50, 2),
                "gate_p99_us": round(gate_p99, 2),
                "gate_back_to_back_p50_us": round(tight_p50, 2),
                "gate_back_to_back_p99_us": round(tight_p99, 2),
                "exact_margin_p50_us": round(exact_p50, 2),
                "exact_margin_p99_us": round(exact_p99, 2),
                "submit_with_gate_p50_us": round(on_p50, 2),
                "submit_with_gate_p99_us": round(on_p99, 2),
                "submit_bypassed_p50_us": round(off_p50, 2),
                "submit_bypassed_p99_us": round(off_p99, 2),
                "reference": round(off_p50, 2),
                "reference_name": "submit with the gate bypassed, p50 us",
                "ratio": round(on_p50 / off_p50, 3),
                "ratio_name": "submit with gate p50 / submit bypassed p50",
                "target_gate_p99_us": 50,
                "orders": orders,
            }
        )
    )


if __name__ == "__main__":
    main()
