"""The Socket.IO v2 / Engine.IO 3 client against the fake server's framing on 127.0.0.1.

Also the wire-format cross-check: the vendor's own client generation (python-socketio 4.6.1 with
python-engineio 3.14.2) connects to our fake server and receives its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine.brokers.xts.socketio_v2 import (
    TRANSITIONS,
    IllegalSocketTransition,
    SocketIOClient,
    SocketIOConfig,
    SocketIOProtocolError,
    SocketState,
    SocketStateChange,
    check_transition,
    parse_event,
    socket_url,
)
from tests.kite_desk import wait_for
from tests.xts_fake.socketio_v2_server import SocketIOv2Server, SocketSession

PATH = "/apimarketdata/socket.io"
TOKEN = "secret-session-token-7f3a"
FAST = SocketIOConfig(first_delay_s=0.01, max_delay_s=0.05, data_timeout_s=0.6, open_timeout_s=2)


@contextlib.asynccontextmanager
async def running(client: SocketIOClient) -> AsyncIterator[SocketIOClient]:
    client.start()
    try:
        yield client
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def opened(server: SocketIOv2Server) -> AsyncIterator[tuple[SocketIOClient, Recorder]]:
    """A client connected to ``server``, and what it records."""
    seen = Recorder()
    client = client_for(server, seen)
    async with running(client):
        await wait_for(lambda: client.state is SocketState.OPEN)
        yield client, seen


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.connects: list[bool] = []
        self.states: list[SocketStateChange] = []

    def on_event(self, name: str, payload: Any) -> None:
        self.events.append((name, payload))

    async def on_connect(self, reconnect: bool) -> None:
        self.connects.append(reconnect)


@pytest.fixture
async def server() -> Any:
    valid = {TOKEN}
    fake = SocketIOv2Server(PATH, authorize=lambda query: query.get("token") in valid)
    fake.valid_tokens = valid  # type: ignore[attr-defined]
    await fake.start()
    yield fake
    await fake.close()


def client_for(
    fake: SocketIOv2Server, recorder: Recorder, token: list[str] | None = None
) -> SocketIOClient:
    current = token if token is not None else [TOKEN]
    return SocketIOClient(
        fake.url,
        PATH,
        lambda: {"token": current[0], "userID": "U1", "publishFormat": "JSON"},
        on_event=recorder.on_event,
        on_connect=recorder.on_connect,
        on_state=recorder.states.append,
        config=FAST,
        rng=random.Random(7),
        name="xts-test-socket",
    )


# -- framing ---------------------------------------------------------------------------------------


def test_xts_parse_event_reads_a_string_payload() -> None:
    assert parse_event('42["1501-json-full","{\\"a\\":1}"]') == ("1501-json-full", '{"a":1}')


def test_xts_parse_event_reads_an_object_payload_namespace_and_ack_id() -> None:
    assert parse_event('42/md,12["order",{"x":2}]') == ("order", {"x": 2})


def test_xts_parse_event_without_arguments_gives_none_and_several_give_a_list() -> None:
    assert parse_event('42["joined"]') == ("joined", None)
    assert parse_event('42["e",1,2]') == ("e", [1, 2])


def test_xts_parse_event_ignores_frames_that_are_not_events() -> None:
    assert parse_event("3") is None
    assert parse_event("40") is None


@pytest.mark.parametrize("frame", ["42{not json", '42{"a":1}', "42[]", "42[1,2]", "42/ns"])
def test_xts_parse_event_when_malformed_raises_protocol_error(frame: str) -> None:
    with pytest.raises(SocketIOProtocolError):
        parse_event(frame)


def test_xts_socket_url_turns_http_roots_into_websocket_urls_with_eio3() -> None:
    url = socket_url("https://broker.example:3000", "/apimarketdata/socket.io", {"token": "t"})
    assert url == (
        "wss://broker.example:3000/apimarketdata/socket.io/?EIO=3&transport=websocket&token=t"
    )
    with pytest.raises(ValueError, match="ftp"):
        socket_url("ftp://x", PATH, {})


@pytest.mark.parametrize("current", list(SocketState))
def test_xts_socket_state_table_allows_exactly_its_rows(current: SocketState) -> None:
    for new in SocketState:
        if new in TRANSITIONS[current]:
            check_transition(current, new)
        else:
            with pytest.raises(IllegalSocketTransition):
                check_transition(current, new)


# -- over the fake server --------------------------------------------------------------------------


async def test_xts_socket_connects_and_receives_events_in_order(server: SocketIOv2Server) -> None:
    seen = Recorder()
    client = client_for(server, seen)
    async with running(client):
        await wait_for(lambda: seen.connects == [False])
        assert client.state is SocketState.OPEN and client.sid
        assert server.sessions[0].query["token"] == TOKEN
        for n in range(5):
            await server.emit("1501-json-full", json.dumps({"n": n}))
        await wait_for(lambda: len(seen.events) == 5)
        assert [json.loads(payload)["n"] for _, payload in seen.events] == [0, 1, 2, 3, 4]
    assert client.state is SocketState.CLOSED
    await wait_for(lambda: not server.sessions)


async def test_xts_socket_pings_and_server_pongs_keep_a_quiet_connection_open(
    server: SocketIOv2Server,
) -> None:
    async with opened(server) as (client, _seen):
        await asyncio.sleep(1.5)  # 2.5 watchdog windows without a single event
        assert client.stats.pongs >= 3
        assert client.stats.watchdog_trips == 0 and client.stats.reconnects == 0
        assert server.sessions[0].received.count("2") >= 3


async def test_xts_socket_after_drops_reconnects_and_calls_on_connect_each_time(
    server: SocketIOv2Server,
) -> None:
    seen = Recorder()
    client = client_for(server, seen)
    async with running(client):
        await wait_for(lambda: len(seen.connects) == 1)
        for n in range(1, 6):
            await wait_for(lambda: len(server.sessions) == 1)
            assert await server.drop_all() == 1
            await wait_for(lambda n=n: len(seen.connects) == n + 1)
        await server.close_all()  # a clean server-side close reconnects too
        await wait_for(lambda: len(seen.connects) == 7)
        assert seen.connects == [False] + [True] * 6
        assert client.stats.reconnects == 6
        reopened = [c for c in seen.states if c.state is SocketState.OPEN and c.reconnect]
        assert len(reopened) == 6
        await wait_for(lambda: len(server.sessions) == 1)
        await server.emit("joined", "after the drops")
        await wait_for(lambda: ("joined", "after the drops") in seen.events)


async def test_xts_socket_when_server_stalls_the_watchdog_reconnects(
    server: SocketIOv2Server,
) -> None:
    async with opened(server) as (client, seen):
        server.stall()
        await wait_for(lambda: client.stats.watchdog_trips == 1)
        server.stall(False)
        await wait_for(lambda: seen.connects == [False, True])


async def test_xts_socket_malformed_frames_are_counted_and_the_stream_continues(
    server: SocketIOv2Server, caplog: pytest.LogCaptureFixture
) -> None:
    async with opened(server) as (client, seen):
        for junk in ("42{broken", "42[]", "9zz", '42"just a string"'):
            await server.send_raw(junk)
        await server.emit("1512-json-full", "fine")
        await wait_for(lambda: seen.events == [("1512-json-full", "fine")])
        assert client.stats.bad_frames == 4
        assert client.state is SocketState.OPEN and client.stats.reconnects == 0
    assert "skipped a frame" in caplog.text


async def test_xts_socket_a_failing_event_handler_is_isolated(server: SocketIOv2Server) -> None:
    seen = Recorder()

    def on_event(name: str, payload: Any) -> None:
        if payload == "boom":
            raise RuntimeError("a broken subscriber")
        seen.on_event(name, payload)

    client = SocketIOClient(
        server.url, PATH, lambda: {"token": TOKEN}, on_event=on_event, config=FAST
    )
    async with running(client):
        await wait_for(lambda: client.state is SocketState.OPEN)
        await server.emit("e", "boom")
        await server.emit("e", "after")
        await wait_for(lambda: seen.events == [("e", "after")])
        assert client.stats.callback_errors == 1


async def test_xts_socket_refused_token_waits_for_retry_with_the_new_token(
    server: SocketIOv2Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = Recorder()
    token = ["stale-token-91c2"]
    client = client_for(server, seen, token)
    async with running(client):
        await wait_for(lambda: client.state is SocketState.AUTH_REJECTED)
        handshakes = server.handshakes
        await asyncio.sleep(0.2)
        assert server.handshakes == handshakes  # no hammering with a refused token
        token[0] = TOKEN
        client.retry()
        await wait_for(lambda: client.state is SocketState.OPEN)
        assert client.stats.auth_rejections == 1
    assert "stale-token-91c2" not in caplog.text and TOKEN not in caplog.text


async def test_xts_socket_a_socketio_error_at_connect_is_a_refusal(
    server: SocketIOv2Server,
) -> None:
    server.refuse_with = "Invalid Token"
    seen = Recorder()
    client = client_for(server, seen)
    async with running(client):
        await wait_for(lambda: client.state is SocketState.AUTH_REJECTED)
        assert "Invalid Token" in seen.states[-1].detail
        server.refuse_with = None
        client.retry()
        await wait_for(lambda: seen.connects == [False])


async def test_xts_socket_reconnect_uses_a_fresh_query(server: SocketIOv2Server) -> None:
    seen = Recorder()
    token = [TOKEN]
    client = client_for(server, seen, token)
    async with running(client):
        await wait_for(lambda: len(seen.connects) == 1)
        server.valid_tokens.add("second-token")  # type: ignore[attr-defined]
        token[0] = "second-token"
        slow = SocketIOConfig(first_delay_s=30, data_timeout_s=5)
        client.config = slow  # a backoff would now take 30 s: reconnect() must not wait for it
        await client.reconnect("new login")
        await wait_for(lambda: len(seen.connects) == 2, timeout=3)
        await wait_for(lambda: len(server.sessions) == 1)
        assert server.sessions[0].query["token"] == "second-token"


async def test_xts_socket_emit_reaches_the_server(server: SocketIOv2Server) -> None:
    got: list[tuple[str, Any]] = []

    def on_client_event(session: SocketSession, name: str, payload: Any) -> None:
        got.append((name, payload))

    server.on_client_event = on_client_event
    client = client_for(server, Recorder())
    assert not await client.emit("early", 1)  # not connected: refused, not queued
    async with running(client):
        await wait_for(lambda: client.state is SocketState.OPEN)
        assert await client.emit("hello", {"a": 1})
        await wait_for(lambda: got == [("hello", {"a": 1})])


async def test_xts_socket_when_server_is_down_backs_off_and_connects_when_it_comes_up() -> None:
    fake = SocketIOv2Server(PATH)
    await fake.start()
    port = int(fake.url.rsplit(":", 1)[1])
    await fake.close()
    seen = Recorder()
    client = client_for(fake, seen)
    client.start()
    try:
        await wait_for(lambda: sum(c.state is SocketState.BACKOFF for c in seen.states) >= 3)
        assert not seen.connects
        await fake.start(port)
        await wait_for(lambda: seen.connects == [False])
    finally:
        await client.stop()
        await fake.close()


def test_xts_socket_backoff_doubles_to_its_cap_with_bounded_jitter() -> None:
    config = SocketIOConfig(first_delay_s=1, max_delay_s=8, jitter=0.5)
    client = SocketIOClient(
        "http://127.0.0.1:1", PATH, dict, on_event=lambda n, p: None, config=config
    )
    for failures, base in ((1, 1), (2, 2), (3, 4), (4, 8), (9, 8)):
        delays = [client._backoff(failures) for _ in range(200)]
        assert all(base * 0.5 <= d <= base * 1.5 for d in delays)
        assert max(delays) - min(delays) > base * 0.5  # jitter really spreads


# -- the vendor client generation against our fake server ------------------------------------------


async def test_xts_vendor_socketio_4_client_connects_to_the_fake_and_receives_events(
    server: SocketIOv2Server,
) -> None:
    socketio = pytest.importorskip("socketio")
    assert socketio.__version__.startswith("4.")
    vendor = socketio.AsyncClient(reconnection=False)
    got: list[Any] = []
    joined = asyncio.Event()

    @vendor.on("1501-json-full")
    async def on_touchline(data: Any) -> None:
        got.append(data)

    @vendor.event
    async def connect() -> None:
        joined.set()

    await vendor.connect(
        f"{server.url}/?token={TOKEN}&userID=U1&publishFormat=JSON&broadcastMode=Full",
        transports=["websocket"],
        socketio_path=PATH,
    )
    try:
        await asyncio.wait_for(joined.wait(), 5)
        await wait_for(lambda: len(server.sessions) == 1)
        await server.emit("1501-json-full", json.dumps({"ExchangeInstrumentID": 22}))
        await wait_for(lambda: len(got) == 1)
        assert json.loads(got[0]) == {"ExchangeInstrumentID": 22}
    finally:
        await vendor.disconnect()


async def test_xts_socket_when_the_owner_has_no_session_waits_as_refused(
    server: SocketIOv2Server,
) -> None:
    token: list[str | None] = [None]

    def query() -> dict[str, str]:
        if token[0] is None:
            raise LookupError("not logged in")
        return {"token": token[0]}

    seen = Recorder()
    client = SocketIOClient(
        server.url, PATH, query, on_event=seen.on_event, on_state=seen.states.append, config=FAST
    )
    async with running(client):
        await wait_for(lambda: client.state is SocketState.AUTH_REJECTED)
        assert "not logged in" in seen.states[-1].detail and server.handshakes == 0
        token[0] = TOKEN
        client.retry()
        await wait_for(lambda: client.state is SocketState.OPEN)
