"""Slow and greedy clients of the desk's HTTP servers (the webhook and local API endpoint, the
metrics endpoint), over raw TCP on 127.0.0.1: a client that sends half a request and then nothing,
or trickles its headers a byte at a time (slowloris), is closed with a 408 at the deadline and
one line in the log; connections past the cap are refused with a 503 (or make room by closing an
idle kept-alive one); good requests, kept-alive connections and WebSocket streams are unaffected,
and the endpoint serves again once slots free."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.runtime.metrics import MetricsServer
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.local_api import LocalApi
from engine.signals.server import WEBHOOK_PATH, SignalServer
from tests.live_desk import wait_for

pytestmark = pytest.mark.timeout(60)

DEADLINE_S = 0.5
CAP = 3
PASSPHRASE = "slow-clients-phrase"
TOKEN = "slow-clients-token-0123456789"
HALF_A_REQUEST = b"POST /webhook/tradingview HT"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            api_port=None,
            signal_rules=SignalRules(default_mode=SignalMode.AUTO),
        )
    )
    engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


@pytest.fixture
async def server(engine: Engine) -> AsyncIterator[SignalServer]:
    """The real endpoint with the local API, a short deadline and a small cap."""
    local_api = LocalApi(
        engine.api, engine.signals, token=lambda: TOKEN, today=lambda: engine.clock.now().date()
    )
    running = SignalServer(
        engine.signals,
        passphrase=lambda: PASSPHRASE,
        local_api=local_api,
        request_deadline_s=DEADLINE_S,
        max_connections=CAP,
    )
    await running.start()
    try:
        yield running
    finally:
        await running.close()


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    answer = await asyncio.wait_for(reader.read(), within)
    return answer, loop.time() - began


async def still_open(reader: asyncio.StreamReader, after: float) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), after)
    except TimeoutError:
        return True
    return False


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def answer_of(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One whole answer on a kept-alive connection (aiohttp gives a Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (h.partition(": ") for h in lines) if k == "Content-Length")
    return int(lines[0].split()[1]), await reader.readexactly(length)


def alert(signal_id: str) -> dict[str, str]:
    fired = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "passphrase": PASSPHRASE,
        "id": signal_id,
        "strategy": "slow",
        "symbol": "NSE:RELIANCE",
        "action": "buy",
        "lots": "1",
        "fired": fired,
    }


async def good_webhook(server: SignalServer, signal_id: str) -> tuple[int, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + WEBHOOK_PATH, data=json.dumps(alert(signal_id))) as reply,
    ):
        return reply.status, await reply.json()


def guard_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if words in r.getMessage()]


# -- the deadline ----------------------------------------------------------------------------------


async def test_webhook_client_sending_half_a_request_line_is_closed_with_408_at_the_deadline(
    server: SignalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.signals.server")
    reader, writer = await connect(server.port)
    writer.write(HALF_A_REQUEST)
    await writer.drain()
    answer, took = await until_closed(reader, within=DEADLINE_S + 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b'"error": "the request did not arrive whole within 0.5 s"' in answer
    assert DEADLINE_S * 0.8 <= took < DEADLINE_S + 1.5
    [line] = guard_lines(caplog, "did not arrive whole")
    assert line.getMessage().startswith(
        "the signals endpoint closed the connection from 127.0.0.1:"
    )
    assert line.exc_info is None and line.levelno == logging.WARNING
    await wait_for(lambda: not server.guard.connections, what="the slot freed")


async def test_webhook_slowloris_trickling_header_bytes_is_closed_at_the_deadline_not_kept_by_them(
    server: SignalServer,
) -> None:
    reader, writer = await connect(server.port)

    async def trickle() -> None:
        for byte in get("/openapi.json") * 4:  # a byte each 50 ms: ten times the deadline
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    trickling = asyncio.get_running_loop().create_task(trickle())
    loop = asyncio.get_running_loop()
    began = loop.time()
    answer: bytes | None = None
    try:
        answer, _ = await until_closed(reader, within=DEADLINE_S + 5)
    except ConnectionResetError:
        pass  # the trickle raced the close, and the reset beat the 408: closed all the same
    finally:
        trickling.cancel()
        writer.close()
    assert answer is None or answer.startswith(b"HTTP/1.1 408"), answer
    assert loop.time() - began < DEADLINE_S + 1.5


async def test_webhook_kept_alive_connection_idles_past_the_deadline_but_not_its_next_half_request(
    server: SignalServer,
) -> None:
    reader, writer = await connect(server.port)
    writer.write(get("/openapi.json"))
    assert (await answer_of(reader))[0] == 200
    assert await still_open(reader, after=DEADLINE_S * 3)  # idle between requests: not cut
    writer.write(get("/openapi.json"))
    assert (await answer_of(reader))[0] == 200
    writer.write(b"GET /openapi.json HTTP/1.1\r\nHo")
    answer, took = await until_closed(reader, within=DEADLINE_S + 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408") and took < DEADLINE_S + 1.5


async def test_good_webhook_api_and_stream_clients_are_unaffected_by_the_deadline(
    server: SignalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.signals.server")
    status, answer = await good_webhook(server, "good-1")
    assert (status, answer["status"]) == (200, "placed"), answer
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{server.url}/api/v1/orders") as reply:
            assert reply.status == 200 and len(await reply.json()) == 1
        async with http.ws_connect(f"{server.url}/api/v1/stream") as stream:
            assert (await stream.receive_json(timeout=5))["type"] == "hello"
            await asyncio.sleep(DEADLINE_S * 3)  # a stream lasts all day: no deadline
            await stream.send_json({"watch": ["NSE:RELIANCE"]})
            reply_types = set()
            while "watching" not in reply_types:
                reply_types.add((await stream.receive_json(timeout=5))["type"])
        async with http.get(f"{server.url}/api/v1/orders") as reply:  # the pooled connection
            assert reply.status == 200
    assert guard_lines(caplog, "did not arrive whole") == []


async def test_local_api_body_that_stalls_is_answered_408_in_words(
    server: SignalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.signals import local_api

    monkeypatch.setattr(local_api, "BODY_TIMEOUT_S", DEADLINE_S)
    reader, writer = await connect(server.port)
    writer.write(
        b"POST /api/v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nContent-Length: 500\r\n\r\n{"
    )
    status, body = await answer_of(reader)
    writer.close()
    assert status == 408 and b"did not arrive whole within 0.5 s" in body


# -- the cap ---------------------------------------------------------------------------------------


async def test_webhook_connections_past_the_cap_are_refused_503_and_a_good_request_is_served_once_freed(
    server: SignalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.signals.server")
    stalled = [await connect(server.port) for _ in range(CAP)]
    for _, writer in stalled:
        writer.write(HALF_A_REQUEST)
    await wait_for(lambda: len(server.guard.connections) == CAP, what="the cap filled")
    extra = [await connect(server.port) for _ in range(2)]
    for reader, writer in extra:
        answer, _ = await until_closed(reader, within=5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable"), answer
        assert b"the desk is busy" in answer
    assert server.guard.refused == 2
    [told] = guard_lines(caplog, "the most it serves")
    assert told.getMessage() == (
        "the signals endpoint has 3 connections open, the most it serves: "
        "new ones are refused until some close"
    )
    for reader, writer in stalled:  # the deadline frees the slots
        answer, _ = await until_closed(reader, within=DEADLINE_S + 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408")
    status, answer = await good_webhook(server, "after-the-flood")
    assert (status, answer["status"]) == (200, "placed"), answer


async def test_webhook_new_connection_at_the_cap_closes_an_idle_kept_alive_one_for_room(
    server: SignalServer,
) -> None:
    kept = [await connect(server.port) for _ in range(CAP)]
    for reader, writer in kept:
        writer.write(get("/openapi.json"))
        assert (await answer_of(reader))[0] == 200
    status, answer = await good_webhook(server, "room-made")
    assert (status, answer["status"]) == (200, "placed"), answer
    assert server.guard.refused == 0
    assert not await still_open(kept[0][0], after=1)  # the one idle longest made room
    for _, writer in kept:
        writer.close()


async def test_webhook_pipelined_half_request_counts_as_idle_and_is_first_to_make_room_at_the_cap(
    server: SignalServer,
) -> None:
    # A next request begun in the same packet as the last is not told from idle: aiohttp's
    # keep-alive timeout closes it, and at the cap it is the first to go.
    pipelined = await connect(server.port)
    pipelined[1].write(get("/openapi.json") + b"GET /openapi.json HTTP/1.1\r\nHo")
    assert (await answer_of(pipelined[0]))[0] == 200
    stalled = [await connect(server.port) for _ in range(CAP - 1)]
    for _, writer in stalled:
        writer.write(HALF_A_REQUEST)
    await wait_for(lambda: len(server.guard.connections) == CAP, what="the cap filled")
    status, answer = await good_webhook(server, "pipelined-made-room")
    assert (status, answer["status"]) == (200, "placed"), answer
    answer, _ = await until_closed(pipelined[0], within=1)
    assert answer == b""  # closed as idle: no 408, the client resends on a new connection
    for _, writer in [pipelined, *stalled]:
        writer.close()


async def test_webhook_endpoint_closing_closes_stalled_connections_and_stops_listening(
    server: SignalServer,
) -> None:
    reader, writer = await connect(server.port)
    writer.write(HALF_A_REQUEST)
    await wait_for(lambda: len(server.guard.connections) == 1, what="the connection counted")
    await server.close()
    await until_closed(reader, within=5)
    writer.close()
    with pytest.raises(OSError):
        await connect(server.port)


# -- the metrics endpoint --------------------------------------------------------------------------


async def test_metrics_endpoint_closes_a_half_sent_scrape_at_the_deadline(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.signals.server")
    metrics = MetricsServer(engine, 0)
    metrics.guard.deadline_s = DEADLINE_S
    await metrics.start()
    try:
        reader, writer = await connect(metrics.port)
        writer.write(b"GET /metr")
        answer, took = await until_closed(reader, within=DEADLINE_S + 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408") and took < DEADLINE_S + 1.5
        [line] = guard_lines(caplog, "did not arrive whole")
        assert line.getMessage().startswith("the metrics endpoint closed the connection from")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{metrics.port}/metrics") as reply,
        ):
            assert reply.status == 200 and "dalaldesk_ticks_total" in await reply.text()
    finally:
        await metrics.stop()
