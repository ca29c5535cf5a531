"""TradingView webhook → paper venue acknowledgement, against a bare aiohttp handler, same run.

A desk (the simulated market streaming, the paper venue, the risk gate with its order-rate,
open-order and duplicate limits opened for the bench: no check switched off) serves its signals
endpoint on 127.0.0.1; a client on the same loop posts TradingView alerts (auto mode, 1-lot
MARKET orders on RELIANCE, buy and sell in turn, each with its own id) over keep-alive
connections, paced at a fixed rate.

- value: p99 milliseconds from the POST being sent to the paper venue's acknowledgement of its
  order (the order's first status from the venue, seen on the bus) at 200 signals/s;
- reference: p99 of the same POSTs to a bare aiohttp handler that only answers (the HTTP floor of
  this machine and loop), same rate, same run;
- sustained_per_s: the highest rate (stepping up) at which every signal was acknowledged within
  a second and the client kept the pace (≥ 95 % of the asked rate).

Targets: p99 < 5 ms at 200/s, ≥ 1,000 signals/s sustained.
Usage: python tests/bench/bench_signals.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.domain.events import OrderStatusChanged
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.server import WEBHOOK_PATH

PASSPHRASE = "bench-phrase"
TARGET_P99_MS = 5.0
TARGET_SUSTAINED = 1_000
RATES = (500, 1_000, 1_500, 2_000, 3_000)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Desk:
    def __init__(self, folder: Path) -> None:
        os.environ["DALALDESK_WEBHOOK_PASSPHRASE"] = PASSPHRASE
        self.engine = Engine.build(
            EngineConfig(
                db_url=f"sqlite:///{folder / 'book.db'}",
                market=SimulatedMarketConfig(seed=11, always_open=True, strikes_each_side=5),
                always_open=True,
                var_interval_seconds=0,
                api_port=0,
                signal_rules=SignalRules(default_mode=SignalMode.AUTO),
                risk=RiskSettings(
                    RiskLimits(
                        capital=Decimal(10**10),
                        max_orders_per_second=None,
                        max_orders_per_minute=None,
                        max_open_orders=None,
                        duplicate_window_seconds=None,
                        max_position_lots=None,
                        max_underlying_lots=None,
                        max_concentration_pct=None,
                        daily_loss_limit=None,
                        max_rejections=None,
                    )
                ),
            )
        )
        self.acked: dict[str, float] = {}
        self.engine.bus.subscribe(OrderStatusChanged, self._status)

    def _status(self, event: OrderStatusChanged) -> None:
        self.acked.setdefault(event.order_id, time.perf_counter())

    async def start(self) -> str:
        self.engine.start()
        while self.engine.signal_server is None:
            await asyncio.sleep(0.01)
        return self.engine.signal_server.url + WEBHOOK_PATH


async def bare_server() -> tuple[web.AppRunner, str]:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "placed"})

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}{WEBHOOK_PATH}"


def send_batch(url: str, prefix: str, rate: int, seconds: float) -> tuple[list[Any], float]:
    """In a process of its own (TradingView is not on the desk's loop either): post signals at
    ``rate`` for ``seconds``; for each, (sent, answered, status, order), and the rate kept."""
    return asyncio.run(_send(url, prefix, rate, seconds))


async def _send(url: str, prefix: str, rate: int, seconds: float) -> tuple[list[Any], float]:
    results: list[Any] = []
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(n: int) -> None:
            body = json.dumps(
                {
                    "passphrase": PASSPHRASE,
                    "id": f"{prefix}-{n}",
                    "strategy": "bench",
                    "symbol": "NSE:RELIANCE",
                    "action": "buy" if n % 2 else "sell",
                    "lots": "1",
                }
            ).encode()
            sent = time.perf_counter()
            async with http.post(url, data=body) as response:
                answer = await response.json()
            results.append((sent, time.perf_counter(), answer.get("status"), answer.get("order")))

        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks, return_exceptions=True)
        return results, total / (time.perf_counter() - start)


async def measure(quick: bool) -> dict[str, Any]:
    seconds = 2.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-signals-") as tmp:
        desk = Desk(Path(tmp))
        url = await desk.start()
        runner, bare_url = await bare_server()
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as client:

            async def send(
                target: str, prefix: str, rate: int, span: float
            ) -> tuple[list[Any], float]:
                return await loop.run_in_executor(client, send_batch, target, prefix, rate, span)

            await asyncio.sleep(0.5)  # the market streaming
            await send(bare_url, "warm", 200, 0.5)  # warm both paths and the client process
            await send(url, "warm", 200, 0.5)
            bare, _ = await send(bare_url, "bare", 200, seconds)
            reference = [1000 * (done - sent) for sent, done, _status, _order in bare]
            results, _ = await send(url, "at-200", 200, seconds)
            await asyncio.sleep(0.2)
            latencies = [
                1000 * (desk.acked[order] - sent)
                for sent, _done, status, order in results
                if status == "placed" and order in desk.acked
            ]
            lost_at_200 = len(results) - len(latencies)
            sustained = 0
            steps = []
            for rate in RATES:
                outcomes, achieved = await send(url, f"at-{rate}", rate, 1.0 if quick else 3.0)
                await asyncio.sleep(0.3)
                acked_in_time = sum(
                    1
                    for sent, _done, status, order in outcomes
                    if status == "placed" and desk.acked.get(order, 1e18) - sent < 1.0
                )
                answers = Counter(status for _s, _d, status, _o in outcomes if status != "placed")
                steps.append(
                    {"rate": rate, "achieved": round(achieved), "sent": len(outcomes),
                     "acked_within_1s": acked_in_time, "not_placed": dict(answers)}
                )  # fmt: skip
                if acked_in_time < len(outcomes) or achieved < 0.95 * rate:
                    break
                sustained = rate
        await runner.cleanup()
        await desk.engine.stop()
    p99 = percentile(latencies, 0.99) if latencies else float("inf")
    reference_p99 = percentile(reference, 0.99)
    return {
        "bench": "signals",
        "value": round(p99, 3),
        "unit": "ms p99 webhook POST -> paper ack at 200 signals/s",
        "reference": round(reference_p99, 3),
        "ratio": round(p99 / reference_p99, 2),
        "p50_ms": round(statistics.median(latencies), 3) if latencies else None,
        "reference_p50_ms": round(statistics.median(reference), 3),
        "signals_at_200": len(results),
        "lost_at_200": lost_at_200,
        "sustained_per_s": sustained,
        "steps": steps,
        "target_p99_ms": TARGET_P99_MS,
        "target_sustained_per_s": TARGET_SUSTAINED,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench_signals")
    parser.add_argument("--quick", action="store_true", help="short runs (CI)")
    args = parser.parse_args()
    summary = asyncio.run(measure(args.quick))
    print(
        f"webhook -> paper ack at 200/s: p50 {summary['p50_ms']} ms, p99 {summary['value']} ms "
        f"(bare aiohttp p99 {summary['reference']} ms); sustained {summary['sustained_per_s']}/s"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
