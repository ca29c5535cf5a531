"""The KiteTicker binary parser against the official mocks, the layout tables and the official client."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteTicker

from engine.brokers.kite.ticker import (
    KiteFrameError,
    KiteTick,
    parse_frame,
    parse_packet,
    parse_ticks,
    price_divisor,
)
from engine.core.clock import IST
from tests.kite_fake.oms import FIXTURES
from tests.kite_fake.packets import MarketState, frame, full_packet, packet, quote_packet

INFY = 408065
NIFTY_50 = 256265  # segment 9: an index
NOW_NS = 1_790_000_000_123_456_789

# The mocks use the JS/Go clients' names; DESIGN asks for the official Python client's names.
MOCK_TO_PYTHON_NAMES = {
    "last_quantity": "last_traded_quantity",
    "average_price": "average_traded_price",
    "volume": "volume_traded",
    "buy_quantity": "total_buy_quantity",
    "sell_quantity": "total_sell_quantity",
    "timestamp": "exchange_timestamp",
}


def mock_packet(name: str) -> bytes:
    return base64.b64decode((FIXTURES / f"ticker_{name}.packet").read_text())


def mock_values(name: str) -> dict[str, Any]:
    values = json.loads((FIXTURES / f"ticker_{name}.json").read_text())
    out = {MOCK_TO_PYTHON_NAMES.get(key, key): value for key, value in values.items()}
    for key in ("last_trade_time", "exchange_timestamp"):
        if key in out:
            out[key] = datetime.fromisoformat(out[key])
    return out


def official() -> KiteTicker:
    return KiteTicker("test", "test")


@pytest.mark.parametrize("name", ["full", "quote"])
def test_parse_packet_when_given_an_official_mock_packet_gives_the_mock_values(name: str) -> None:
    tick = parse_packet(mock_packet(name))
    expected = mock_values(name)
    # The mocks' "change" is 5.9 in both files: last - close of the full packet, which is neither
    # the quote packet's difference (5.35) nor the percentage the official clients compute.
    mock_change = expected.pop("change")
    assert mock_change == pytest.approx(1573.7 - 1567.8)
    close = expected["ohlc"]["close"]
    assert tick.change == (expected["last_price"] - close) * 100 / close

    assert {key: tick[key] for key in expected} == expected
    assert set(tick) == set(expected) | {"change"}


def test_parse_packet_when_full_mock_reads_as_attributes_like_keys() -> None:
    tick = parse_packet(mock_packet("full"))

    assert tick.instrument_token == INFY
    assert tick.mode == "full"
    assert tick.tradable is True
    assert tick.last_price == 1573.7
    assert tick.last_traded_quantity == 7
    assert tick.average_traded_price == 1570.37
    assert tick.volume_traded == 1192471
    assert tick.ohlc == {"open": 1569.15, "high": 1575.0, "low": 1561.05, "close": 1567.8}
    assert tick.exchange_timestamp == datetime(2021, 7, 5, 10, 41, 27, tzinfo=IST)
    assert tick.last_trade_time == tick.exchange_timestamp
    assert (tick.oi, tick.oi_day_high, tick.oi_day_low) == (0, 0, 0)
    assert tick.depth is not None
    assert tick.depth["buy"][0] == {"quantity": 5, "price": 1573.4, "orders": 1}
    assert tick.depth["sell"][4] == {"quantity": 724, "price": 1573.95, "orders": 5}


@pytest.mark.parametrize("name", ["full", "quote"])
def test_encoder_when_reencoding_a_mock_packet_gives_the_same_bytes(name: str) -> None:
    original = mock_packet(name)
    tick = parse_packet(original)
    state = MarketState(
        token=tick.instrument_token,
        last_price=round(tick.last_price * 100),
        last_quantity=tick["last_traded_quantity"],
        average_price=round(tick["average_traded_price"] * 100),
        volume=tick["volume_traded"],
        buy_quantity=tick["total_buy_quantity"],
        sell_quantity=tick["total_sell_quantity"],
        **{key: round(value * 100) for key, value in tick["ohlc"].items()},
    )
    if name == "quote":
        assert quote_packet(state) == original
        return
    state.last_trade_time = int(tick["last_trade_time"].timestamp())
    state.timestamp = int(tick["exchange_timestamp"].timestamp())
    state.bids = [
        (lv["quantity"], round(lv["price"] * 100), lv["orders"]) for lv in tick["depth"]["buy"]
    ]
    state.asks = [
        (lv["quantity"], round(lv["price"] * 100), lv["orders"]) for lv in tick["depth"]["sell"]
    ]
    assert full_packet(state) == original


def test_parse_frame_when_ltp_packet_gives_the_ltp_mock_values() -> None:
    expected = json.loads((FIXTURES / "ticker_ltp.json").read_text())

    (tick,) = parse_frame(frame([packet(MarketState(INFY, 157315), "ltp")]))

    assert dict(tick) == expected
    assert tick.ohlc is None and tick.depth is None and tick.exchange_timestamp is None


def test_parse_frame_when_index_packets_reads_high_low_open_close_in_wire_order() -> None:
    state = MarketState(
        NIFTY_50, 2_480_035, high=2_490_000, low=2_470_000, open=2_475_050, close=2_460_000
    )
    state.timestamp = 1_790_000_000

    quote, full = parse_frame(frame([packet(state, "quote"), packet(state, "full")]))

    for tick in (quote, full):
        assert tick.tradable is False
        assert tick.ohlc == {"high": 24900.0, "low": 24700.0, "open": 24750.5, "close": 24600.0}
        assert tick.change == (24800.35 - 24600.0) * 100 / 24600.0
    assert (quote.mode, full.mode) == ("quote", "full")
    assert "exchange_timestamp" not in quote
    assert full.exchange_timestamp == datetime.fromtimestamp(1_790_000_000, IST)


@pytest.mark.parametrize(
    ("segment", "divisor"),
    [
        (1, 100),
        (2, 100),
        (3, 10_000_000),
        (4, 100),
        (5, 100),
        (6, 10_000),
        (7, 100),
        (9, 100),
        (12, 10_000),
    ],
)
def test_parse_frame_when_segment_has_a_divisor_divides_prices_by_it(
    segment: int, divisor: int
) -> None:
    token = (1234 << 8) | segment

    (tick,) = parse_frame(
        frame([packet(MarketState(token, 823_456_789, close=823_000_000), "quote")])
    )

    assert price_divisor(token) == divisor
    assert tick.last_price == 823_456_789 / divisor
    assert tick.ohlc is not None and tick.ohlc["close"] == 823_000_000 / divisor


def test_parse_frame_when_heartbeat_or_empty_gives_no_ticks() -> None:
    assert parse_frame(b"\x00") == []
    assert parse_frame(b"") == []
    assert parse_frame(b"\x00\x00") == []


def test_parse_frame_when_several_modes_in_one_frame_keeps_their_order() -> None:
    states = [MarketState(INFY, 157_000 + i) for i in range(3)]

    ticks = parse_frame(
        frame([packet(states[0], "ltp"), packet(states[1], "quote"), packet(states[2], "full")])
    )

    assert [(t.mode, t.last_price) for t in ticks] == [
        ("ltp", 1570.0),
        ("quote", 1570.01),
        ("full", 1570.02),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x02\x00\x08" + b"\x00" * 8, "ends before the length of packet 2"),
        (b"\x00\x01\x00\x08" + b"\x00" * 7, "needs 8 bytes"),
        (b"\x00\x01\x00\x08" + b"\x00" * 9, "1 bytes after"),
        (b"\x00\x01\x00\x0a" + b"\x00" * 10, "unknown packet length 10"),
        (b"\x00\x01\x00", "ends before the length of packet 1"),
    ],
)
def test_parse_frame_when_malformed_raises_a_frame_error(data: bytes, reason: str) -> None:
    with pytest.raises(KiteFrameError, match=reason):
        parse_frame(data)
    with pytest.raises(KiteFrameError, match=reason):
        parse_ticks(data, NOW_NS)


def test_kite_tick_when_changed_refuses() -> None:
    tick = parse_packet(mock_packet("quote"))

    with pytest.raises(TypeError, match="read-only"):
        tick["last_price"] = 1.0
    with pytest.raises(TypeError, match="read-only"):
        tick.update(last_price=1.0)
    assert isinstance(tick, KiteTick) and tick.last_price == 1573.15


def test_parse_ticks_when_full_packet_gives_paise_depth_and_exchange_time() -> None:
    state = MarketState(
        INFY,
        157_370,
        last_quantity=7,
        volume=1_192_471,
        close=156_780,
        oi=12,
        timestamp=1_625_461_887,
        bids=[(5, 157_340, 1), (140, 157_300, 2)],
        asks=[(172, 157_370, 3)],
    )

    (tick,) = parse_ticks(frame([packet(state, "full")]), NOW_NS)

    assert (tick.token, tick.ltp, tick.close, tick.volume, tick.oi) == (
        INFY,
        157_370,
        156_780,
        1_192_471,
        12,
    )
    assert (tick.bid, tick.bid_qty, tick.ask, tick.ask_qty) == (157_340, 5, 157_370, 172)
    assert tick.bids == ((157_340, 5, 1), (157_300, 140, 2))
    assert tick.asks == ((157_370, 172, 3),)
    assert tick.last_qty == 7
    assert tick.ts_ns == 1_625_461_887 * 10**9


def test_parse_ticks_when_packet_has_no_timestamp_stamps_it_with_now() -> None:
    state = MarketState(INFY, 157_315, close=156_780, volume=10)
    index = MarketState(NIFTY_50, 2_480_035, close=2_460_000)

    quote, ltp, index_quote = parse_ticks(
        frame([packet(state, "quote"), packet(state, "ltp"), packet(index, "quote")]), NOW_NS
    )

    assert [t.ts_ns for t in (quote, ltp, index_quote)] == [NOW_NS] * 3
    assert (quote.ltp, quote.close, quote.volume, quote.bid, quote.ask) == (
        157_315,
        156_780,
        10,
        0,
        0,
    )
    assert (ltp.ltp, index_quote.ltp, index_quote.close) == (157_315, 2_480_035, 2_460_000)


def test_parse_ticks_when_currency_segment_refuses_the_frame() -> None:
    usdinr = (1 << 8) | 3

    with pytest.raises(KiteFrameError, match="CDS"):
        parse_ticks(frame([packet(MarketState(usdinr, 823_456_789), "quote")]), NOW_NS)


# -- against the official client, on random valid frames --------------------------------------------

_u32 = st.integers(0, 2**32 - 1)
_u16 = st.integers(0, 2**16 - 1)
_levels = st.lists(st.tuples(_u32, _u32, _u16), min_size=5, max_size=5)
_segments = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 9, 12])


@st.composite
def market_states(draw: st.DrawFn) -> tuple[MarketState, str]:
    token = (draw(st.integers(1, 2**24 - 1)) << 8) | draw(_segments)
    values = draw(st.lists(_u32, min_size=15, max_size=15))
    state = MarketState(token, *values, bids=draw(_levels), asks=draw(_levels))
    # The official client fails on timestamps past 2106-ish only on some platforms: keep them sane.
    state.last_trade_time = draw(st.integers(1, 4_000_000_000))
    state.timestamp = draw(st.integers(1, 4_000_000_000))
    return state, draw(st.sampled_from(["ltp", "quote", "full"]))


def _naive_local(value: Any) -> Any:
    return value.astimezone().replace(tzinfo=None) if isinstance(value, datetime) else value


@settings(max_examples=150, deadline=None)
@given(st.lists(market_states(), min_size=1, max_size=6))
def test_parse_frame_when_compared_with_the_official_parser_gives_the_same_ticks(
    items: list[tuple[MarketState, str]],
) -> None:
    data = frame([packet(state, mode) for state, mode in items])

    ours = [{k: _naive_local(v) for k, v in tick.items()} for tick in parse_frame(data)]

    assert ours == official()._parse_binary(data)


@settings(max_examples=150, deadline=None)
@given(st.lists(market_states(), min_size=1, max_size=6))
def test_parse_ticks_when_compared_with_parse_frame_gives_the_same_prices_in_paise(
    items: list[tuple[MarketState, str]],
) -> None:
    paise_items = [(s, m) for s, m in items if price_divisor(s.token) == 100]
    assume(paise_items)
    data = frame([packet(state, mode) for state, mode in paise_items])

    for tick, kite in zip(parse_ticks(data, NOW_NS), parse_frame(data), strict=True):
        assert tick.token == kite.instrument_token
        assert tick.ltp / 100 == kite.last_price
        if kite.ohlc is not None:
            assert tick.close / 100 == kite.ohlc["close"]
        if kite.depth is not None:
            assert tick.bid / 100 == (kite.depth["buy"][0]["price"] if tick.bids else 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(market_states(), min_size=1, max_size=6))
def test_parse_frame_when_every_packet_is_full_gives_the_official_parsers_ticks(
    items: list[tuple[MarketState, str]],
) -> None:
    data = frame([packet(state, "full") for state, _ in items])

    ours = [{k: _naive_local(v) for k, v in tick.items()} for tick in parse_frame(data)]

    assert ours == official()._parse_binary(data)


def test_parse_frame_when_a_full_sized_frame_has_another_length_reads_it_packet_by_packet() -> None:
    # Two packets of 184 and one of 8 + 178 bytes after them: sized like two full packets framed,
    # but the second length says 8, so the frame is refused rather than read as full packets.
    full = packet(MarketState(INFY, 157_000), "full")
    data = frame([full, full])
    broken = data[: 2 + 186] + b"\x00\x08" + data[2 + 186 + 2 :]

    assert [t.mode for t in parse_frame(data)] == ["full", "full"]
    with pytest.raises(KiteFrameError, match="after the 2 packets"):
        parse_frame(broken)
