"""Where XTS REST decodes an answer's JSON: a busy book (hundreds of kilobytes, megabytes on a
busy day) in a worker thread, calling back into Python for each object it decodes so that the
interpreter can hand the GIL to the loop's thread; a small answer (a placed order) on the loop."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.brokers.xts import rest as rest_module
from engine.brokers.xts.rest import OFF_LOOP_BYTES, XtsRest, decoded
from tests.xts_desk import FAST_LIMITS, fast_rest
from tests.xts_fake import ADANIPORTS, FakeXts

pytestmark = pytest.mark.timeout(60)

BOOK_ORDERS = 200
"""About 1 KB each on the wire: a 200 KB orderbook."""


def order(n: int) -> dict[str, Any]:
    return {
        "exchangeSegment": ADANIPORTS.segment,
        "exchangeInstrumentID": ADANIPORTS.instrument_id,
        "productType": "MIS",
        "orderType": "LIMIT",
        "orderSide": "BUY",
        "timeInForce": "DAY",
        "orderQuantity": 10,
        "limitPrice": 399.5,
        "stopPrice": 0,
        "orderUniqueIdentifier": f"D{n}",
    }


@dataclass
class Decoding:
    """Each ``json.loads`` of a body: its length, its thread, and the threads of the calls back
    into Python that it made, one per object decoded."""

    size: int
    thread: threading.Thread
    handed_over: list[threading.Thread] = field(default_factory=list)


@pytest.fixture
async def rest() -> AsyncIterator[tuple[FakeXts, XtsRest]]:
    async with FakeXts(limits=FAST_LIMITS) as xts:
        client = XtsRest(fast_rest(xts))
        client.use(await client.login(xts.interactive.app_key, xts.interactive.secret_key))
        try:
            yield xts, client
        finally:
            await client.close()


def watch_decoding(monkeypatch: pytest.MonkeyPatch) -> list[Decoding]:
    decodings: list[Decoding] = []
    real_loads = json.loads

    def loads(raw: str | bytes, **kwargs: Any) -> Any:
        seen = Decoding(len(raw), threading.current_thread())
        decodings.append(seen)
        hook: Callable[[dict[str, Any]], Any] | None = kwargs.get("object_hook")
        if hook is not None:

            def watched(obj: dict[str, Any]) -> Any:
                seen.handed_over.append(threading.current_thread())
                return hook(obj)

            kwargs["object_hook"] = watched
        return real_loads(raw, **kwargs)

    monkeypatch.setattr(rest_module.json, "loads", loads)
    return decodings


async def test_xts_rest_when_a_book_is_large_decodes_it_in_a_worker_handing_over_per_object(
    rest: tuple[FakeXts, XtsRest], monkeypatch: pytest.MonkeyPatch
) -> None:
    xts, client = rest
    for n in range(BOOK_ORDERS):
        xts.oms.place(order(n))
    decodings = watch_decoding(monkeypatch)

    rows = await client.orders()

    assert [row["OrderUniqueIdentifier"] for row in rows] == [f"D{n}" for n in range(BOOK_ORDERS)]
    [book] = decodings
    loop_thread = threading.current_thread()
    assert book.size >= OFF_LOOP_BYTES
    assert book.thread is not loop_thread
    assert len(book.handed_over) == BOOK_ORDERS + 1  # each row, then the envelope
    assert set(book.handed_over) == {book.thread}


async def test_xts_rest_when_an_answer_is_small_decodes_it_on_the_loop(
    rest: tuple[FakeXts, XtsRest], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = rest
    decodings = watch_decoding(monkeypatch)

    placed = await client.place_order("D1", order(1))

    assert placed.order_id
    [answer] = decodings
    assert answer.size < OFF_LOOP_BYTES
    assert answer.thread is threading.current_thread()
    assert answer.handed_over == []


async def test_decoded_when_a_large_body_is_not_json_is_none() -> None:
    page = b"<html><body>" + b"502 Bad Gateway " * (OFF_LOOP_BYTES // 8) + b"</body></html>"
    assert await decoded(page) is None
    assert await decoded(b"\xff\xfe not utf-8" * (OFF_LOOP_BYTES // 8)) is None
    assert await decoded(json.dumps({"result": ["x" * OFF_LOOP_BYTES]}).encode()) == {
        "result": ["x" * OFF_LOOP_BYTES]
    }
