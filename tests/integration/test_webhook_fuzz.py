"""A thousand malformed webhook bodies (hypothesis: wrong types, huge numbers, unicode, truncated
JSON, bytes that are not text, bodies over the size cap) posted to the running signals endpoint:
each is answered 4xx with a reason, and nothing is ever placed."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.signals.server import WEBHOOK_PATH
from tests.threaded_desk import ThreadedDesk

PASSPHRASE = "fuzz-phrase"
GOOD: dict[str, Any] = {
    "passphrase": PASSPHRASE,
    "id": "fuzz",
    "strategy": "fuzz",
    "symbol": "NSE:RELIANCE",
    "action": "buy",
    "lots": 1,
}
WRONG: dict[str, list[Any]] = {
    "passphrase": ["wrong", "", 123, None, ["fuzz-phrase"], "fuzz-phrase\u0000"],
    "symbol": ["", "x" * 100, 5, [], None, "NSE:NOSUCHCO", "NSE:NIFTY 50", "NYSE:IBM", "☃:☃"],
    "action": ["hold", "", 1, None, [], "BUY SELL", "💥"],
    "lots": [0, -3, 10**12, 10**400, "many", [], None, 1.5, "1e9", {"n": 1}],
    "fired": [
        "yesterday",
        12345678901234567890,
        "2020-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
        [],
    ],
    "order_type": ["STOP", 3, "", None],
    "price": [-1, 0, "abc", "1e30", [], "NaN", "Infinity"],
    "strategy": ["", "has space", "x" * 49, 7, "../etc"],
    "product": ["BO", 1, ""],
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDesk]:
    running = ThreadedDesk(tmp_path_factory.mktemp("fuzz"), passphrase=PASSPHRASE)
    yield running
    running.stop()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _one_wrong_field() -> st.SearchStrategy[bytes]:
    return st.sampled_from(sorted(WRONG)).flatmap(
        lambda name: st.sampled_from(WRONG[name]).map(
            lambda value: _json(
                {**GOOD, name: value, **({"order_type": "LIMIT"} if name == "price" else {})}
            )
        )
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    _one_wrong_field(),
    st.binary(max_size=300),
    json_values.map(_json),
    st.dictionaries(st.sampled_from(sorted(GOOD)), json_values, max_size=6).map(_json),
    st.integers(min_value=1, max_value=len(_json(GOOD)) - 1).map(lambda n: _json(GOOD)[:n]),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"x" * 70_000, b"{" * 100_000, _json({**GOOD, "symbol": "Z" * 1_000_000})]),
)


def _post(port: int, body: bytes) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", WEBHOOK_PATH, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(body=BODIES)
def test_webhook_malformed_bodies_are_each_refused_4xx_with_a_reason(
    desk: ThreadedDesk, body: bytes
) -> None:
    status, answer = _post(desk.port, body)
    assert 400 <= status < 500, (status, answer, body[:200])
    # A body that is a signal's resend (the same id) after a refusal is answered as a duplicate
    # with the first refusal's reason.
    assert answer.get("status") in ("refused", "duplicate") and answer.get("reason"), answer
    assert "Traceback" not in json.dumps(answer)


def test_webhook_after_the_malformed_bodies_has_placed_nothing(desk: ThreadedDesk) -> None:
    status, answer = _post(desk.port, _json({**GOOD, "passphrase": "still wrong"}))
    assert status == 401, answer
    assert desk.run(lambda engine: len(engine.api.orders())) == 0
