"""The ticker client's frame handling, subscriptions, backoff and state table, without a network."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brokers.kite.config import KiteRestConfig, KiteTickerConfig
from engine.brokers.kite.ticker import KiteFrameError, KiteTick, parse_frame
from engine.brokers.kite.ticker_client import KiteTickerClient
from engine.brokers.kite.ticker_state import (
    TRANSITIONS,
    ConnectionState,
    IllegalTransition,
    check_transition,
)
from engine.core.clock import TestClock
from engine.domain.ticks import Tick
from tests.kite_fake.packets import MarketState, frame, packet
from tests.support import MONDAY_MORNING

INFY = 408065
NFO_TOKEN = (47164 << 8) | 2


class Collected:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.kite_ticks: list[KiteTick] = []
        self.orders: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.messages: list[str] = []


def make_client(
    config: KiteTickerConfig | None = None, *, failing_ticks: bool = False
) -> tuple[KiteTickerClient, Collected]:
    seen = Collected()

    def on_ticks(ticks: list[Tick]) -> None:
        if failing_ticks:
            raise RuntimeError("a broken subscriber")
        seen.ticks.extend(ticks)

    client = KiteTickerClient(
        "key",
        "token",
        clock=TestClock(MONDAY_MORNING),
        config=config,
        on_ticks=on_ticks,
        on_kite_ticks=seen.kite_ticks.extend,
        on_order_update=seen.orders.append,
        on_error=seen.errors.append,
        on_message=seen.messages.append,
        rng=random.Random(1),
    )
    return client, seen


def valid_frame(count: int = 2) -> bytes:
    states = [MarketState(NFO_TOKEN + (i << 8), 10_000 + i, close=9_000) for i in range(count)]
    return frame(
        packet(s, mode) for s, mode in zip(states, ["full", "quote", "ltp"] * count, strict=False)
    )


# -- binary frames ----------------------------------------------------------------------------------


def test_handle_binary_when_valid_frame_delivers_engine_and_kite_ticks() -> None:
    client, seen = make_client()

    client.handle_binary(valid_frame(3))

    assert [t.ltp for t in seen.ticks] == [10_000, 10_001, 10_002]
    assert [t.mode for t in seen.kite_ticks] == ["full", "quote", "ltp"]
    assert (client.stats.frames, client.stats.ticks, client.stats.bad_frames) == (1, 3, 0)


def test_handle_binary_when_one_byte_counts_a_heartbeat_and_delivers_nothing() -> None:
    client, seen = make_client()

    client.handle_binary(b"\x00")

    assert client.stats.heartbeats == 1 and client.stats.frames == 0
    assert seen.ticks == [] and seen.kite_ticks == []


def test_handle_binary_when_subscriber_raises_counts_it_and_keeps_going() -> None:
    client, seen = make_client(failing_ticks=True)

    client.handle_binary(valid_frame())
    client.handle_binary(valid_frame())

    assert client.stats.callback_errors == 2
    assert len(seen.kite_ticks) == 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=400), max_size=20))
def test_handle_binary_when_given_random_bytes_never_raises_and_counts_bad_frames(
    blobs: list[bytes],
) -> None:
    client, seen = make_client()
    expected_bad = 0
    expected_ticks = 0
    for blob in blobs:
        if len(blob) < 2:
            continue
        try:
            expected_ticks += len(parse_frame(blob))
        except KiteFrameError:
            expected_bad += 1

    for blob in blobs:
        client.handle_binary(blob)

    assert client.stats.bad_frames == expected_bad
    assert len(seen.kite_ticks) == expected_ticks
    assert client.stats.frames + client.stats.heartbeats == len(blobs)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.data())
def test_handle_binary_when_frame_is_truncated_skips_and_counts_it(count: int, data: Any) -> None:
    client, seen = make_client()
    whole = valid_frame(count)
    cut = data.draw(st.integers(2, len(whole) - 1))

    client.handle_binary(whole[:cut])
    client.handle_binary(whole)

    assert client.stats.bad_frames == 1
    assert len(seen.ticks) == count  # only the whole frame's ticks


# -- text frames ------------------------------------------------------------------------------------


def order_update(status: str, filled: int = 0) -> str:
    order = {"order_id": "1953367517686685697", "status": status, "filled_quantity": filled}
    return json.dumps({"type": "order", "data": order})


def test_handle_text_when_order_update_hands_the_order_dict_to_the_callback() -> None:
    client, seen = make_client()

    client.handle_text(order_update("OPEN"))
    client.handle_text(order_update("UPDATE", filled=65))

    assert [(o["status"], o["filled_quantity"]) for o in seen.orders] == [
        ("OPEN", 0),
        ("UPDATE", 65),
    ]
    assert client.stats.order_updates == 2


def test_handle_text_when_same_update_arrives_on_two_connections_delivers_it_once() -> None:
    client, seen = make_client()

    client.handle_text(order_update("COMPLETE", filled=65))
    client.handle_text(order_update("COMPLETE", filled=65))

    assert len(seen.orders) == 1
    assert client.stats.duplicate_order_updates == 1


def test_handle_text_when_error_or_message_calls_their_callbacks() -> None:
    client, seen = make_client()

    client.handle_text(json.dumps({"type": "error", "data": "Token expired"}))
    client.handle_text(json.dumps({"type": "message", "data": "Exchange closed"}))

    assert seen.errors == ["Token expired"]
    assert seen.messages == ["Exchange closed"]
    assert client.stats.errors == 1


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=10),
            lambda c: (
                st.lists(c, max_size=3)
                | st.dictionaries(st.sampled_from(["type", "data", "order_id", "x"]), c, max_size=3)
            ),
            max_leaves=8,
        ).map(json.dumps),
    )
)
def test_handle_text_when_given_random_text_never_raises(text: str) -> None:
    client, seen = make_client()

    client.handle_text(text)

    assert client.stats.text_messages == 1
    assert (
        client.stats.bad_text
        + client.stats.order_updates
        + client.stats.errors
        + len(seen.messages)
        == 1
    )


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        json.dumps({"type": "order", "data": "oops"}),
        json.dumps({"type": "order", "data": {"status": "OPEN"}}),
        json.dumps({"type": "surprise", "data": 1}),
    ],
)
def test_handle_text_when_undecodable_counts_it_and_delivers_nothing(text: str) -> None:
    client, seen = make_client()

    client.handle_text(text)

    assert client.stats.bad_text == 1
    assert seen.orders == [] and seen.errors == []


# -- subscriptions (not started: nothing is sent, the desired state is kept) -------------------------


async def test_subscribe_when_more_than_one_connection_holds_fills_them_in_order() -> None:
    client, _ = make_client(KiteTickerConfig(tokens_per_connection=3))
    tokens = [NFO_TOKEN + (i << 8) for i in range(7)]

    await client.subscribe(tokens, "full")

    assert [list(client.tokens_of(i)) for i in range(3)] == [tokens[:3], tokens[3:6], tokens[6:]]
    assert set(client.subscriptions.values()) == {"full"}


async def test_subscribe_when_over_capacity_refuses_and_changes_nothing() -> None:
    client, _ = make_client(KiteTickerConfig(tokens_per_connection=2, max_connections=2))
    await client.subscribe([NFO_TOKEN, NFO_TOKEN + 256])

    with pytest.raises(ValueError, match="connections hold 4"):
        await client.subscribe([NFO_TOKEN + (i << 8) for i in range(2, 5)])

    assert len(client.subscriptions) == 2


async def test_subscribe_when_already_subscribed_changes_its_mode() -> None:
    client, _ = make_client()
    await client.subscribe([INFY], "quote")

    await client.subscribe([INFY], "full")

    assert client.subscriptions == {INFY: "full"}


@pytest.mark.parametrize(
    ("tokens", "mode", "reason"),
    [
        ([INFY], "depth", "unknown ticker mode"),
        ([0], "quote", "not an instrument token"),
        ([True], "quote", "not an instrument token"),
        ([(1 << 8) | 3], "quote", "segment CDS"),
    ],
)
async def test_subscribe_when_bad_request_refuses_it(
    tokens: list[Any], mode: str, reason: str
) -> None:
    client, _ = make_client()

    with pytest.raises(ValueError, match=reason):
        await client.subscribe(tokens, mode)

    assert client.subscriptions == {}


async def test_unsubscribe_and_set_mode_when_tokens_subscribed_update_the_desired_state() -> None:
    client, _ = make_client()
    await client.subscribe([INFY, NFO_TOKEN], "quote")

    await client.set_mode("ltp", [NFO_TOKEN])
    await client.unsubscribe([INFY])

    assert client.subscriptions == {NFO_TOKEN: "ltp"}
    with pytest.raises(ValueError, match="not subscribed"):
        await client.set_mode("full", [INFY])


# -- reconnect backoff and the connection state table ----------------------------------------------


def test_backoff_when_failures_repeat_doubles_up_to_the_cap_with_jitter() -> None:
    config = KiteTickerConfig(
        reconnect_first_delay_s=1.0, reconnect_max_delay_s=8.0, reconnect_jitter=0.1
    )
    client, _ = make_client(config)

    delays = [client._backoff(n) for n in range(1, 7)]

    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * 0.9 <= delay <= base * 1.1


@pytest.mark.parametrize(
    ("current", "new"),
    [(current, new) for current in ConnectionState for new in ConnectionState],
)
def test_connection_state_table_when_asked_allows_only_its_rows(
    current: ConnectionState, new: ConnectionState
) -> None:
    if new in TRANSITIONS[current]:
        check_transition(current, new)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, new)


def test_connection_state_table_when_closed_is_final_and_open_never_skips_backoff() -> None:
    assert TRANSITIONS[ConnectionState.CLOSED] == frozenset()
    assert ConnectionState.CONNECTING not in TRANSITIONS[ConnectionState.OPEN]


# -- configs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"tokens_per_connection": 3001}, "1..3000"),
        ({"max_connections": 4}, "1..3"),
        ({"url": "http://x"}, "ws://"),
        ({"data_timeout_s": 0}, "data_timeout_s"),
        ({"reconnect_max_delay_s": 0.5}, "reconnect_max_delay_s"),
        ({"surprise": 1}, "unknown KiteTickerConfig settings: surprise"),
    ],
)
def test_ticker_config_when_invalid_refuses_it(values: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        KiteTickerConfig.from_mapping(values)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"root": "ftp://x"}, "http://"),
        ({"orders_per_second": 0}, "orders_per_second"),
        ({"threads": 0}, "threads"),
        ({"typo": 1}, "unknown KiteRestConfig settings: typo"),
    ],
)
def test_rest_config_when_invalid_refuses_it(values: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        KiteRestConfig.from_mapping(values)
