"""The Prometheus endpoint: off unless asked for, on 127.0.0.1 only, and what it serves parses
with prometheus_client's own parser and tells the desk's state."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from engine.api import OrderType, Product, Side
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig


def config(tmp_path: Path, port: int | None) -> EngineConfig:
    return EngineConfig(
        db_url=f"sqlite:///{tmp_path / 'book.db'}",
        market=SimulatedMarketConfig(seed=3, strikes_each_side=4, always_open=True),
        always_open=True,
        metrics_port=port,
    )


async def wait_for(check, seconds: float = 10.0):  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if found := check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=")
        text = await reply.text()
    return {
        sample.name: [(s.labels, s.value) for s in family.samples if s.name == sample.name]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_scrape_parses_and_tells_ticks_orders_gate_latency_and_lag(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine.build(config(tmp_path, port=0))
        engine.start()
        try:
            server = await wait_for(lambda: engine.metrics)
            stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
            assert stock is not None
            await wait_for(lambda: engine.api.tick(stock.token))
            assert engine.api.place_order(
                stock.token, Side.BUY, 5, OrderType.MARKET, product=Product.MIS
            ).ok
            refused = engine.api.place_order(stock.token, Side.BUY, 0, OrderType.MARKET)
            assert not refused.ok
            await wait_for(lambda: engine.api.trades())
            await asyncio.sleep(1.2)  # a heartbeat samples the tick rate

            metrics = await scrape(server.port)

            assert metrics["dalaldesk_ticks_total"][0][1] > 0
            assert metrics["dalaldesk_tick_rate"][0][1] > 0
            assert ({"status": "COMPLETE"}, 1.0) in metrics["dalaldesk_orders"]
            assert metrics["dalaldesk_order_denials_total"][0][1] == 1.0
            assert metrics["dalaldesk_gate_latency_seconds_count"][0][1] == 1.0
            assert 0 < metrics["dalaldesk_gate_latency_seconds_sum"][0][1] < 0.1
            assert {labels["quantile"] for labels, _ in metrics["dalaldesk_loop_lag_seconds"]} == {
                "0.5",
                "0.99",
                "1",
            }
            assert metrics["dalaldesk_trading_paused"][0][1] == 0.0

            engine.api.kill_switch(reason="drill")
            assert (await scrape(server.port))["dalaldesk_trading_paused"][0][1] == 1.0
        finally:
            await engine.stop()

    asyncio.run(scenario())


def test_metrics_are_off_unless_a_port_is_given(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine.build(config(tmp_path, port=None))
        engine.start()
        try:
            await asyncio.sleep(0.3)
            assert engine.metrics is None
        finally:
            await engine.stop()

    asyncio.run(scenario())


def test_metrics_port_already_taken_is_told_in_words_and_the_desk_runs_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            engine = Engine.build(config(tmp_path, port=port))
            told: list[str] = []
            from engine.api import EngineMessage

            engine.bus.subscribe(EngineMessage, lambda m: told.append(m.text))
            engine.start()
            try:
                await wait_for(lambda: told)
                assert f"could not listen on 127.0.0.1:{port}" in told[0]
                assert "choose another --metrics-port" in told[0]
                assert engine.metrics is None
                await wait_for(lambda: engine.ticks_seen > 0)
            finally:
                await engine.stop()

    asyncio.run(scenario())


def test_metrics_port_given_wrong_on_the_command_line_is_explained() -> None:
    import pytest

    from app.main import parse_args
    from app.startup import StartupProblem

    assert parse_args(["--metrics-port", "9108"]).metrics_port == 9108
    assert parse_args([]).metrics_port is None
    for wrong, why in (
        ("http", "a port is a number, not 'http'"),
        ("70000", "a port is 1-65535, not 70000"),
    ):
        with pytest.raises(StartupProblem, match=why):
            parse_args(["--metrics-port", wrong])
