"""The local API's Python client (``dalaldesk_client``) where a script meets trouble, against a
real desk on 127.0.0.1: the strategy loop example places its order, order events in rupees, a
place retried after no answer is placed once (also after a restart), a closed stream raises, the
stream's opening keeps the events around the watch reply, indices read, the async client offers
every call, and connection failures and refusals are ``ApiError``s in words that never show the
token."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import dalaldesk_client
from dalaldesk_client import ApiError, AsyncClient, Client, NoAnswer, StreamClosed
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from tests.threaded_desk import ThreadedDesk

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sdk-faults-token-5a7c9e1b3d"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDesk]:
    running = ThreadedDesk(tmp_path_factory.mktemp("sdk-faults"), token=TOKEN)
    yield running
    running.stop()


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s result, or the exception it raised, if it ends within ``seconds``."""
    done: list[Any] = []

    def run() -> None:
        try:
            done.append(call())
        except Exception as error:  # handed to the test, which asserts on it
            done.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert done, f"still blocked after {seconds} s"
    return done[0]


def eventually(condition: Callable[[], object], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.05)


def streams(desk: ThreadedDesk) -> int:
    return int(desk.run(lambda engine: len(engine.signal_server.local_api.streams)))  # type: ignore[union-attr,arg-type]


def reading(
    desk: ThreadedDesk, client: Client, until: Callable[[list[dict[str, Any]]], bool]
) -> list[Any]:
    """Events of ``client.stream()``, read on a thread of their own until ``until(events)``;
    once the desk counts the stream."""
    events: list[dict[str, Any]] = []
    before = streams(desk)

    def read() -> None:
        for event in client.stream():
            events.append(event)
            if until(events):
                return

    threading.Thread(target=read, daemon=True).start()
    eventually(lambda: streams(desk) > before, "stream")
    return events


def bid(client: Client, symbol: str = "NSE:RELIANCE") -> Decimal:
    return Decimal(client.quotes(symbol)[symbol]["bid"])


def leaks(error: BaseException, secret: str) -> bool:
    """Whether ``secret`` shows anywhere a script or a log could print of ``error``."""
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        shown += [repr(seen), repr(vars(seen)), repr(getattr(seen, "request_info", ""))]
        seen = seen.__cause__ or seen.__context__
    return any(secret in text for text in shown)


# -- 1: the strategy loop example, and a strategy named in an order ---------------------------------


def test_sdk_strategy_loop_example_when_the_price_crosses_places_a_tagged_order(
    desk: ThreadedDesk,
) -> None:
    env = {**os.environ, "DALALDESK_API_TOKEN": TOKEN, "DALALDESK_URL": desk.url}
    done = subprocess.run(
        [sys.executable, "-m", "dalaldesk_client.examples.strategy_loop", "--window", "5"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "placed " in done.stdout and "refused" not in done.stdout, done.stdout
    order_id = done.stdout.split("placed ")[1].split()[0]
    order = Client(desk.url, TOKEN).order(order_id)
    assert (order["tag"], order["source"], order["strategy"]) == ("sma-cross", "api", None)


def test_sdk_local_api_order_when_it_names_a_strategy_is_refused_in_words(
    desk: ThreadedDesk,
) -> None:
    body = {"symbol": "NSE:RELIANCE", "side": "BUY", "lots": 1, "order_type": "MARKET",
            "product": "MIS", "strategy": "sma-cross"}  # fmt: skip
    request = urllib.request.Request(
        f"{desk.url}/api/v1/orders", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422
    assert "names no strategy" in json.loads(refused.value.read())["error"]
    assert "strategy" not in inspect.signature(Client.place).parameters


def test_sdk_place_when_a_script_sends_the_same_order_twice_under_two_ids_refuses_the_second(
    desk: ThreadedDesk,
) -> None:
    """Each ``place()`` makes its own client id; the desk's duplicate check still knows a
    script's order sent twice within its window (a loop run away), as it knows a double click."""
    client = Client(desk.url, token=TOKEN)
    price = bid(client) - Decimal(50)
    terms = dict(lots=1, order_type="LIMIT", price=str(price), product="MIS", tag="twice")
    first = client.place("NSE:RELIANCE", "BUY", **terms)  # type: ignore[arg-type]
    with pytest.raises(ApiError) as second:
        client.place("NSE:RELIANCE", "BUY", **terms)  # type: ignore[arg-type]
    client.cancel(first["order_id"])
    assert second.value.check == "duplicate", second.value


# -- 2: order events in rupees, with the symbol -----------------------------------------------------


def test_sdk_stream_order_events_when_orders_are_placed_are_in_rupees_with_the_symbol(
    desk: ThreadedDesk,
) -> None:
    client = Client(desk.url, TOKEN)
    events = reading(desk, client, lambda seen: any(e["type"] == "order_filled" for e in seen))
    resting = client.place("NSE:INFY", "BUY", 2, price=bid(client, "NSE:INFY") - 5, product="MIS")
    filled = client.place("NSE:INFY", "SELL", 1, order_type="MARKET", product="MIS")
    eventually(lambda: any(e["type"] == "order_filled" for e in events), "fill on the stream")
    client.cancel(resting["order_id"])
    [submitted] = [
        e for e in events if e["type"] == "order_submitted" and e["order_id"] == resting["order_id"]
    ]
    order = client.order(resting["order_id"])
    assert (submitted["price"], submitted["quantity"]) == (order["price"], 2)
    assert (submitted["symbol"], submitted["instrument"]) == ("NSE:INFY", order["instrument"])
    assert submitted["client_order_id"] == resting["client_order_id"]
    [fill] = [e for e in events if e["type"] == "order_filled"]
    [trade] = [t for t in client.trades() if t["order_id"] == filled["order_id"]]
    assert (fill["order_id"], fill["symbol"]) == (filled["order_id"], "NSE:INFY")
    assert fill["price"] == trade["price"]
    assert Decimal(fill["charges"]) == Decimal(trade["charges"]) > 0
    assert Decimal(fill["price"]) < 100_000  # rupees, not paise


# -- 3: a place retried after no answer is placed once ----------------------------------------------


def test_sdk_place_when_no_answer_comes_can_be_asked_again_and_is_placed_once(
    desk: ThreadedDesk,
) -> None:
    """A proxy that hands the desk's answers back late: the client gives up, the order is in;
    asked again with the error's client_order_id, the desk answers with that order."""

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        to_desk_reader, to_desk = await asyncio.open_connection("127.0.0.1", desk.port)
        await asyncio.gather(
            pipe(reader, to_desk, 0), pipe(to_desk_reader, writer, 2.0), return_exceptions=True
        )

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
    proxying = threading.Thread(target=loop.run_forever, daemon=True)
    proxying.start()

    async def shut() -> None:
        server.close()
        piping = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in piping:
            task.cancel()
        await asyncio.gather(*piping, return_exceptions=True)

    try:
        direct = Client(desk.url, TOKEN)
        price = bid(direct, "NSE:ITC") - 3
        slow = Client(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", TOKEN, timeout=0.5)
        with pytest.raises(NoAnswer) as lost:
            slow.place("NSE:ITC", "BUY", 1, price=price, product="MIS", tag="retry")
        asked_id = lost.value.client_order_id
        assert len(asked_id) == 8 and asked_id in str(lost.value)
        assert isinstance(lost.value, ApiError) and lost.value.status == 0
        time.sleep(0.5)
        again = direct.place("NSE:ITC", "BUY", 1, price=price, product="MIS", tag="retry",
                             client_order_id=asked_id)  # fmt: skip
        mine = [o for o in direct.orders() if o["client_order_id"] == asked_id]
        assert [o["order_id"] for o in mine] == [again["order_id"]]
        assert again["already_placed"] is True and mine[0]["tag"] == "retry"
        with pytest.raises(ApiError) as other_terms:
            direct.place("NSE:ITC", "BUY", 2, price=price, product="MIS", tag="retry",
                         client_order_id=asked_id)  # fmt: skip
        assert other_terms.value.status == 409
        assert "quantity 2 (it was 1)" in other_terms.value.reason
        direct.cancel(again["order_id"])
    finally:
        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        proxying.join(10)
        loop.close()


def build_desk(db: Path) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{db}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            api_port=0,
            signal_rules=SignalRules(default_mode=SignalMode.AUTO),
        )
    )


@pytest.fixture
async def restarted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("DALALDESK_API_TOKEN", TOKEN)
    running: list[Engine] = []

    async def start() -> str:
        engine = build_desk(tmp_path / "book.db")
        engine.start()
        running.append(engine)
        for _ in range(500):
            if engine.signal_server is not None:
                return engine.signal_server.url
            await asyncio.sleep(0.01)
        raise AssertionError("the local API did not start")

    async def stop() -> None:
        await running.pop().stop()

    yield start, stop
    while running:
        await stop()


async def test_sdk_place_when_the_desk_restarted_answers_a_client_order_id_with_the_first_order(
    restarted: Any,
) -> None:
    start, stop = restarted
    async with AsyncClient(await start()) as desk:
        quote = (await desk.quotes("NSE:RELIANCE"))["NSE:RELIANCE"]
        price = Decimal(quote["bid"]) - 10
        first = await desk.place("NSE:RELIANCE", "BUY", 1, price=price, product="MIS",
                                 tag="day", client_order_id="keep1")  # fmt: skip
    await stop()
    async with AsyncClient(await start()) as desk:
        again = await desk.place("NSE:RELIANCE", "BUY", 1, price=price, product="MIS", tag="day",
                                 client_order_id="keep1")  # fmt: skip
        orders = await desk.orders()
        with pytest.raises(ApiError) as other_terms:
            await desk.place("NSE:RELIANCE", "SELL", 1, price=price, product="MIS", tag="day",
                             client_order_id="keep1")  # fmt: skip
    assert (again["order_id"], again["already_placed"]) == (first["order_id"], True)
    assert [(o["order_id"], o["tag"], o["client_order_id"]) for o in orders] == [
        (first["order_id"], "day", "keep1")
    ]
    assert other_terms.value.status == 409 and "side SELL (it was BUY)" in other_terms.value.reason


# -- 4: a stream the desk closes raises --------------------------------------------------------------


def test_sdk_stream_when_the_desk_closes_raises_stream_closed_sync_and_async(
    tmp_path: Path,
) -> None:
    closing = ThreadedDesk(tmp_path, token=TOKEN)
    outcome: dict[str, Any] = {}

    def sync_reader() -> None:
        try:
            for _ in Client(closing.url, TOKEN).stream(watch=["NSE:RELIANCE"]):
                pass
            outcome["sync"] = "ended without a word"
        except Exception as error:  # the test asserts on it
            outcome["sync"] = error

    async def async_reader() -> None:
        try:
            async with AsyncClient(closing.url, TOKEN) as client:
                async for _ in client.stream(watch=["NSE:RELIANCE"]):
                    pass
            outcome["async"] = "ended without a word"
        except Exception as error:  # the test asserts on it
            outcome["async"] = error

    readers = [
        threading.Thread(target=sync_reader, daemon=True),
        threading.Thread(target=lambda: asyncio.run(async_reader()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    eventually(lambda: streams(closing) == 2, "two streams")
    closing.stop()
    for reader in readers:
        reader.join(15)
    for kind in ("sync", "async"):
        closed = outcome.get(kind)
        assert isinstance(closed, StreamClosed) and isinstance(closed, ApiError), (kind, closed)
        assert (closed.code, closed.reason) == (1001, "the desk is closing"), kind


# -- 5: the stream's opening keeps the events that came around the watch reply -----------------------


def test_sdk_stream_when_events_come_before_the_watch_reply_yields_them_in_order(
    desk: ThreadedDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order placed as the stream opens: its events reach the script before the reply to
    its watch; they are the stream's first events, and the reply is none of them."""
    assert desk.engine is not None
    api = desk.engine.api
    subscribe = api.subscribe
    placed: list[str] = []

    def subscribing(kind: type, handler: Callable[[Any], None]) -> Callable[[], None]:
        undo = subscribe(kind, handler)
        if kind is Tick and not placed:  # the stream's last subscription, before its hello
            token = api.instruments.by_symbol("NSE", "RELIANCE").token
            price = api.quote(token).bid - 10
            placed.append(
                api.place_order(token, "BUY", 1, "LIMIT", product="MIS", price=price).order_id
            )
        return undo

    monkeypatch.setattr(api, "subscribe", subscribing)
    client = Client(desk.url, TOKEN)
    events = within(20, lambda: list(client.stream(watch=["NSE:RELIANCE"], count=3)))
    monkeypatch.undo()
    assert not isinstance(events, Exception), events
    assert events[0]["type"] == "order_submitted" and events[0]["order_id"] == placed[0]
    assert not {"watching", "hello", "error"} & {e["type"] for e in events}
    client.cancel(placed[0])


def test_sdk_stream_when_a_watched_symbol_is_unknown_raises_the_desks_reason(
    desk: ThreadedDesk,
) -> None:
    client = Client(desk.url, TOKEN)
    refused = within(20, lambda: next(client.stream(watch=["NSE:NOSUCHCO"])))
    assert isinstance(refused, ApiError) and refused.status == 422, refused
    assert "unknown symbol 'NSE:NOSUCHCO'" in refused.reason

    async def watch_async() -> Any:
        async with AsyncClient(desk.url, TOKEN) as a:
            async for event in a.stream(watch=["NSE:NOSUCHCO"]):
                return event

    refused = within(20, lambda: asyncio.run(watch_async()))
    assert isinstance(refused, ApiError) and "unknown symbol" in refused.reason, refused


# -- 6: indices are read ---------------------------------------------------------------------------


def test_sdk_quotes_and_stream_when_given_an_index_read_it_and_orders_still_refuse_it(
    desk: ThreadedDesk,
) -> None:
    client = Client(desk.url, TOKEN)
    quote = client.quotes("NSE:NIFTY 50")["NSE:NIFTY 50"]
    assert Decimal(quote["ltp"]) > 0
    ticks = within(20, lambda: list(client.stream(watch=["NSE:NIFTY 50"], count=2)))
    assert not isinstance(ticks, Exception), ticks
    assert {t["token"] for t in ticks if t["type"] == "tick"} == {quote["token"]}
    with pytest.raises(ApiError) as refused:
        client.place("NSE:NIFTY 50", "BUY", 1, order_type="MARKET", product="MIS")
    assert refused.value.status == 422 and "not tradable" in refused.value.reason


# -- 7: what the client needs, said where a script writer reads --------------------------------------


def test_sdk_manual_when_it_names_what_the_client_needs_says_websockets_and_aiohttp() -> None:
    manual = (ROOT / "resources" / "manual" / "automation.html").read_text(encoding="utf-8")
    said = " ".join(manual[manual.index("From Python, the client") :].split())
    assert "plain Python (the standard library only)" not in " ".join(manual.split())
    assert "REST calls" in said and "use the standard library only" in said
    assert "<code>Client.stream</code> needs the <code>websockets</code> package" in said
    assert "<code>AsyncClient</code> needs <code>aiohttp</code>" in said
    docstring = " ".join((dalaldesk_client.__doc__ or "").split())
    assert "``Client.stream`` needs the ``websockets`` package" in docstring
    assert "``AsyncClient`` needs ``aiohttp``" in docstring


# -- 8: the async client offers every call ---------------------------------------------------------


async def test_sdk_async_client_when_compared_with_the_sync_one_offers_every_call(
    desk: ThreadedDesk,
) -> None:
    def calls(kind: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(call).parameters)
            for name, call in inspect.getmembers(kind, inspect.isfunction)
            if not name.startswith("_")
        }

    sync_calls, async_calls = calls(Client), calls(AsyncClient)
    assert {n: p for n, p in async_calls.items() if n != "close"} == sync_calls
    async with AsyncClient(desk.url, TOKEN) as client:
        assert (await client.instruments("RELIANCE", 1))[0]["symbol"] == "RELIANCE"
        assert "available" in await client.funds()
        assert isinstance(await client.trades(), list)
        orders = await client.orders()
        if orders:
            assert (await client.order(orders[0]["order_id"]))["order_id"] == orders[0]["order_id"]
        events = [e async for e in client.stream(watch=["NSE:RELIANCE"], count=3)]
        assert len(events) == 3
    with pytest.raises(ApiError) as unknown:
        async with AsyncClient(desk.url, TOKEN) as client:
            await client.order("NOPE")
    assert unknown.value.status == 404


def test_sdk_kill_switch_when_called_from_the_async_client_halts_the_desk(
    tmp_path: Path,
) -> None:
    halting = ThreadedDesk(tmp_path, token=TOKEN)
    try:

        async def kill() -> Any:
            async with AsyncClient(halting.url, TOKEN) as client:
                return await client.kill_switch()

        assert asyncio.run(kill())["state"] == "HALTED"
        assert halting.run(lambda engine: engine.api.trading_state().state.value) == "HALTED"
    finally:
        halting.stop()


# -- 9, 10: connection failures and refusals in words, never showing the token ----------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sdk_client_when_no_desk_answers_raises_no_answer_in_words_sync_and_async() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for failing in (
        lambda: Client(url, TOKEN).orders(),
        lambda: next(Client(url, TOKEN).stream()),
    ):
        with pytest.raises(NoAnswer, match="nothing answers at"):
            failing()

    async def async_calls() -> list[BaseException]:
        raised: list[BaseException] = []
        async with AsyncClient(url, TOKEN) as client:
            for call in (client.orders(), anext(client.stream())):
                try:
                    await call
                except ApiError as error:
                    raised.append(error)
        return raised

    raised = asyncio.run(async_calls())
    assert [type(e) for e in raised] == [NoAnswer, NoAnswer]
    assert all("nothing answers at" in str(e) for e in raised), raised


def test_sdk_stream_when_the_desk_never_answers_the_handshake_gives_up_at_the_timeout() -> None:
    with socket.socket() as silent:  # listens, never answers: the kernel accepts for it
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        raised = within(8, lambda: next(Client(url, TOKEN, timeout=1).stream()))
        assert isinstance(raised, NoAnswer) and "did not answer within 1 s" in str(raised), raised
        assert time.monotonic() - started < 5


def test_sdk_client_when_the_token_is_wrong_says_so_and_never_shows_the_token(
    desk: ThreadedDesk,
) -> None:
    wrong = "WRONG-secret-token-4f3e2d1c"
    raised: list[BaseException] = []
    for failing in (
        lambda: Client(desk.url, wrong).orders(),
        lambda: next(Client(desk.url, wrong).stream()),
    ):
        try:
            failing()
        except ApiError as error:
            raised.append(error)

    async def async_calls() -> None:
        async with AsyncClient(desk.url, wrong) as client:
            for call in (client.orders(), anext(client.stream())):
                try:
                    await call
                except ApiError as error:
                    raised.append(error)

    asyncio.run(async_calls())
    assert [(type(e), e.status, e.reason) for e in raised] == [  # type: ignore[attr-defined]
        (ApiError, 401, "wrong token")
    ] * 4
    assert not [e for e in raised if leaks(e, wrong)]


def test_sdk_client_when_the_url_is_not_the_desks_address_says_what_is_wrong(
    desk: ThreadedDesk,
) -> None:
    with pytest.raises(ValueError, match="without /api/v1"):
        Client(f"{desk.url}/api/v1", TOKEN)
    with pytest.raises(ValueError, match=r"http://127\.0\.0\.1:PORT"):
        Client("127.0.0.1:8787", TOKEN)
    with pytest.raises(ApiError) as elsewhere:
        Client(f"{desk.url}/desk", TOKEN).orders()
    assert elsewhere.value.status == 404
    assert "not the desk's local API" in elsewhere.value.reason
