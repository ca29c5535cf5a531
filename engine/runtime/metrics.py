"""The desk's metrics for Prometheus, on 127.0.0.1 only and off unless asked for
(``dalaldesk --metrics-port PORT``).

prometheus_client renders the exposition format; the values are read from the engine when a
scrape comes, on the engine's own loop (the server is aiohttp on that loop), so a scrape sees one
consistent desk and nothing is counted on the tick path. Exported:

- ``dalaldesk_ticks_total``, ``dalaldesk_tick_rate``, ``dalaldesk_last_tick_age_seconds`` (the
  engine keeps no time per tick, so the age runs from the once-a-second heartbeat that last saw the
  tick count move: it is up to a second off the last tick's own age);
- ``dalaldesk_orders{status}`` (the book's orders by status, every status, 0 included, so a
  series never vanishes), ``dalaldesk_order_denials_total`` and ``dalaldesk_orders_queued``;
- ``dalaldesk_gate_latency_seconds`` (a summary: count and sum) and its p50 / p99 over the last
  1,024 orders as ``dalaldesk_gate_latency_quantile_seconds{quantile}``;
- ``dalaldesk_loop_lag_seconds{quantile}`` (p50, p99, max over the last minute);
- ``dalaldesk_day_pnl_rupees`` (net of charges), ``dalaldesk_trading_paused``,
  ``dalaldesk_connection_up{component}``, ``dalaldesk_journal_waiting``.

``dalaldesk_order_denials_total`` counts the new orders refused before reaching the broker (an
``OrderDenied``): by the input checks of ``place`` / ``place_order`` (a quantity of 0, an unknown
instrument...), by the risk gate (its order-rate limit included), or because the journal could
not write. Not counted: refused modifications and cancels, a square-off's bad input, requests
refused before they reach ``place`` (a local API body that is not JSON, a signal refused by its
own checks) and the broker's own rejections. A denial is counted once its journal row is
written, so one made while the disk is full counts when the disk frees; the count starts at 0
with each desk.

A scrape runs on the loop: the orders are counted by status straight off the order objects (no
snapshot each), so a book of 50,000 orders costs milliseconds, not half a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from operator import attrgetter
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

from engine.api.health import GOOD_STATES
from engine.domain.events import OrderDenied
from engine.domain.orders import OrderStatus
from engine.signals.connection_guard import IDLE_TIMEOUT_S, ConnectionGuard

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
"""Metrics never leave the machine: an exporter elsewhere scrapes through its own tunnel."""
DENIALS_HELP = (
    "New orders refused before reaching the broker: by the place input checks, the risk gate "
    "(order rate included) or a journal that cannot write; counted once journaled. Refused "
    "modifications and cancels and broker rejections are not counted"
)
_status = attrgetter("status")


class DeskCollector(Collector):
    """Reads the engine at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.denials = 0
        engine.bus.subscribe(OrderDenied, self._denied)

    def _denied(self, _event: OrderDenied) -> None:
        self.denials += 1

    def collect(self) -> Iterator[Metric]:
        engine = self._engine
        api = engine.api
        health = api.health_service
        yield CounterMetricFamily(
            "dalaldesk_ticks", "Ticks the engine has taken in", value=engine.ticks_seen
        )
        yield GaugeMetricFamily(
            "dalaldesk_tick_rate", "Ticks a second, over the last second", value=health.tick_rate
        )
        age = health.last_tick_age_s()
        if age is not None:
            yield GaugeMetricFamily(
                "dalaldesk_last_tick_age_seconds",
                "Seconds since the once-a-second heartbeat last saw new ticks "
                "(up to a second off the last tick's own age)",
                value=age,
            )
        orders = GaugeMetricFamily(
            "dalaldesk_orders", "The book's orders by status", labels=["status"]
        )
        # Read-only, off the order objects: a snapshot per order cost 0.5 s at 50,000 orders.
        counts = Counter(map(_status, engine.orders.orders.values()))
        for status in OrderStatus:
            orders.add_metric([status.value], counts[status])
        yield orders
        yield CounterMetricFamily("dalaldesk_order_denials", DENIALS_HELP, value=self.denials)
        yield GaugeMetricFamily(
            "dalaldesk_orders_queued",
            "Orders waiting for the order-rate limit",
            value=len(engine.orders.queued),
        )
        timing = engine.orders.gate_timing
        yield SummaryMetricFamily(
            "dalaldesk_gate_latency_seconds",
            "Time the risk gate takes to decide an order",
            count_value=timing.count,
            sum_value=timing.total_ns / 1e9,
        )
        quantiles = GaugeMetricFamily(
            "dalaldesk_gate_latency_quantile_seconds",
            "The risk gate's decision time over the last 1,024 orders",
            labels=["quantile"],
        )
        for q in (0.5, 0.99):
            value = timing.quantile(q)
            if value is not None:
                quantiles.add_metric([str(q)], value / 1e9)
        yield quantiles
        lag = health.loop_lag()
        loop = GaugeMetricFamily(
            "dalaldesk_loop_lag_seconds",
            "How late the event loop wakes a timer, last minute",
            labels=["quantile"],
        )
        for label, lag_ms in (("0.5", lag.p50_ms), ("0.99", lag.p99_ms), ("1", lag.max_ms)):
            loop.add_metric([label], lag_ms / 1000.0)
        yield loop
        pnl = api.day_pnl()
        yield GaugeMetricFamily(
            "dalaldesk_day_pnl_rupees", "The day's P&L net of charges", value=float(pnl)
        )
        yield GaugeMetricFamily(
            "dalaldesk_trading_paused",
            "1 while something holds new orders",
            value=float(api.trading_paused() is not None),
        )
        up = GaugeMetricFamily(
            "dalaldesk_connection_up", "1 while a connection is up", labels=["component"]
        )
        for component, event in sorted(health.connections().items()):
            up.add_metric([component], float(event.state.lower() in GOOD_STATES))
        yield up
        yield GaugeMetricFamily(
            "dalaldesk_journal_waiting",
            "Journal writes waiting for the disk",
            value=engine.orders.journal_waiting,
        )


class MetricsServer:
    """``GET /metrics`` on 127.0.0.1:``port`` (0 picks a free port: ``port`` says which)."""

    def __init__(self, engine: Engine, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = DeskCollector(engine)
        self.registry.register(self.collector)
        self.port = port
        # A scraper that stalls mid-request, or a flood of them, is bounded as on the signals
        # endpoint: the metrics server shares the desk's loop too.
        self.guard = ConnectionGuard("metrics endpoint")
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    async def start(self) -> None:
        app = web.Application(middlewares=[self.guard.middleware])
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_TIMEOUT_S)
        await self._runner.setup()
        try:
            self._listener = await self.guard.listen(self._runner, HOST, self.port)
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise MetricsUnavailable(
                f"the metrics endpoint could not listen on {HOST}:{self.port} ({exc.strerror or exc}); "
                "choose another --metrics-port"
            ) from exc
        self.port = self._listener.sockets[0].getsockname()[1]  # the OS's, when asked for 0
        log.info("metrics on http://%s:%d/metrics", HOST, self.port)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class MetricsUnavailable(Exception):
    """The metrics endpoint could not start; the text says why and what to do."""
