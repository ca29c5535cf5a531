"""XTS market-data events to engine ticks: both 1501 shapes, depth, OI, LTP, candles, partial
merges, 1980-epoch timestamps and exact paise; malformed events refused by kind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brokers.xts.master import token_of
from engine.brokers.xts.quotes import (
    EPOCH_1980_OFFSET_S,
    QuoteParser,
    XtsEventError,
    exchange_time_ns,
    paise,
)
from engine.brokers.xts.segments import UnknownSegment
from engine.domain.bars import Bar
from engine.domain.ticks import Tick
from tests.xts_fake.marketdata import FakeXtsMarketData

NOW_S = 1_796_000_000.0  # Dec 2026
RELIANCE = (1, 2885)
NIFTY_FUT = (2, 35001)


def make() -> tuple[QuoteParser, FakeXtsMarketData]:
    fake = FakeXtsMarketData()
    fake.now_s = lambda: NOW_S
    return QuoteParser(lambda: NOW_S), fake


def tick(parser: QuoteParser, name: str, payload: Any) -> Tick:
    out = parser.parse(name, payload)
    assert isinstance(out, Tick)
    return out


def test_xts_1501_nested_touchline_gives_a_tick_in_paise_with_the_desk_token() -> None:
    parser, fake = make()
    got = tick(parser, "1501-json-full", json.dumps(fake.full_event(RELIANCE, 1501)))
    assert got.token == token_of(*RELIANCE) == 2885 << 8 | 1
    assert (got.ltp, got.close, got.volume, got.last_qty) == (141050, 140200, 1000, 1)
    assert (got.bid, got.bid_qty, got.ask, got.ask_qty) == (141045, 75, 141055, 75)
    assert got.ts_ns == int(NOW_S) * 1_000_000_000
    assert got.bids == ()  # a touchline carries no depth


def test_xts_1501_flat_touchline_and_object_payload_give_the_same_tick() -> None:
    parser, fake = make()
    nested = tick(parser, "1501-json-full", json.dumps(fake.full_event(RELIANCE, 1501)))
    fake.flat_touchline = True
    flat = fake.full_event(RELIANCE, 1501)
    assert "Touchline" not in flat
    assert tick(QuoteParser(lambda: NOW_S), "1501-json-full", flat) == nested


def test_xts_1501_bid_and_ask_info_as_arrays_of_one_are_read() -> None:
    parser, fake = make()
    event = fake.full_event(RELIANCE, 1501)
    line = event["Touchline"]
    line["BidInfo"], line["AskInfo"] = [line["BidInfo"]], [line["AskInfo"]]
    got = tick(parser, "1501-json-full", event)
    assert (got.bid, got.ask) == (141045, 141055)


def test_xts_1502_full_gives_five_levels_best_first() -> None:
    parser, fake = make()
    got = tick(parser, "1502-json-full", json.dumps(fake.full_event(NIFTY_FUT, 1502)))
    assert len(got.bids) == len(got.asks) == 5
    assert got.bids[0] == (2607995, 75, 1) and got.bids[4] == (2607975, 375, 5)
    assert got.asks[0] == (2608005, 75, 1)
    assert (got.bid, got.ask) == (2607995, 2608005)


def test_xts_partial_string_deltas_merge_into_the_snapshot() -> None:
    parser, fake = make()
    tick(parser, "1502-json-full", json.dumps(fake.full_event(NIFTY_FUT, 1502)))
    tick(parser, "1510-json-full", json.dumps(fake.full_event(NIFTY_FUT, 1510)))
    got = tick(parser, "1502-json-partial", "t:2_35001,ltp:26081.1,ltq:65")
    assert (got.ltp, got.last_qty) == (2608110, 65)
    assert got.volume == 20_000 and got.oi == 1_500_000 and len(got.bids) == 5  # kept
    got = tick(parser, "1502-json-partial", "t:2_35001,bi:0|50|26081.0|2|1|10|26080.95|1")
    assert got.bids == ((2608100, 50, 2), (2608095, 10, 1)) and got.bid == 2608100
    assert got.ltp == 2608110 and len(got.asks) == 5


def test_xts_partial_object_and_the_fakes_own_partials_are_read() -> None:
    parser, fake = make()
    tick(parser, "1501-json-full", json.dumps(fake.full_event(RELIANCE, 1501)))
    fake.set_price(*RELIANCE, 1411.05)
    got = tick(parser, "1501-json-partial", fake.partial_event(RELIANCE, 1501))
    assert (got.ltp, got.bid, got.ask, got.volume) == (141105, 141100, 141110, 1001)
    fake.partial_as_object = True
    fake.set_price(*RELIANCE, 1411.1)
    got = tick(parser, "1501-json-partial", fake.partial_event(RELIANCE, 1501))
    assert got.ltp == 141110


def test_xts_partial_before_any_price_is_merged_but_gives_no_tick() -> None:
    parser, _ = make()
    assert parser.parse("1510-json-partial", "t:2_35001,oi:1234") is None
    got = tick(parser, "1512-json-partial", "t:2_35001,ltp:26000")
    assert (got.ltp, got.oi) == (2600000, 1234)


def test_xts_1512_and_1510_full_update_price_and_open_interest() -> None:
    parser, fake = make()
    assert parser.parse("1510-json-full", json.dumps(fake.full_event(NIFTY_FUT, 1510))) is None
    got = tick(parser, "1512-json-full", json.dumps(fake.full_event(NIFTY_FUT, 1512)))
    assert (got.ltp, got.oi) == (2608000, 1_500_000)


def test_xts_1505_candles_full_and_partial_become_bars() -> None:
    parser, fake = make()
    bar = parser.parse("1505-json-full", json.dumps(fake.full_event(NIFTY_FUT, 1505)))
    assert isinstance(bar, Bar)
    assert (bar.open, bar.high, bar.low, bar.close) == (2601050, 2608000, 2601050, 2608000)
    assert bar.start_ns == int(NOW_S) // 60 * 60 * 1_000_000_000
    stamp = int(NOW_S) - EPOCH_1980_OFFSET_S
    bar = parser.parse("1505-json-partial", f"t:2_35001,o:1,h:2,l:0.5,c:1.5,bt:{stamp},bv:10")
    assert isinstance(bar, Bar) and (bar.high, bar.low, bar.volume) == (200, 50, 10)


def test_xts_timestamps_1980_based_for_nse_unix_when_within_two_days_and_for_bse() -> None:
    unix = int(NOW_S)
    assert exchange_time_ns(unix - EPOCH_1980_OFFSET_S, 2, NOW_S) == unix * 10**9
    assert exchange_time_ns(unix - 3600, 1, NOW_S) == (unix - 3600) * 10**9
    assert exchange_time_ns(unix - 3600, 11, NOW_S) == (unix - 3600) * 10**9
    # An old capture replayed later: still 1980-based for NSE.
    assert (
        exchange_time_ns(1_292_000_000, 1, NOW_S) == (1_292_000_000 + EPOCH_1980_OFFSET_S) * 10**9
    )


@pytest.mark.parametrize(
    ("rupees", "expected"),
    [(2408.4, 240840), ("2408.4", 240840), (0.05, 5), (26080.15, 2608015), (100, 10000), (0, 0)],
)
def test_xts_prices_become_exact_paise(rupees: Any, expected: int) -> None:
    assert paise(rupees) == expected


@pytest.mark.parametrize(
    ("name", "payload", "why"),
    [
        ("1501-json-full", "{not json", "Expecting"),
        ("1501-json-full", json.dumps({"ExchangeSegment": 1}), "ExchangeInstrumentID"),
        ("1502-json-full", json.dumps([1, 2]), "not a JSON object"),
        ("1501-json-partial", "t:1_2885,ltp", "not key:value"),
        ("1502-json-partial", "t:2_35001,bi:0|1|2", "level|size|price|orders"),
        ("1501-json-partial", "t:1_2885,ltp:10.005", "finer than one paisa"),
        ("1501-json-partial", "t:1_2885,ltp:abc", "not a price"),
        (
            "1509-json-full",
            json.dumps({"ExchangeSegment": 1, "ExchangeInstrumentID": 26000}),
            "1509 is not one the desk reads",
        ),
        ("xts-binary-packet", b"\x00", "not a JSON market-data event"),
    ],
)
def test_xts_malformed_events_raise_an_error_naming_their_kind(
    name: str, payload: Any, why: str
) -> None:
    parser, _ = make()
    with pytest.raises(XtsEventError, match=why) as caught:
        parser.parse(name, payload)
    assert caught.value.kind == name


def test_xts_events_of_segments_the_desk_does_not_trade_are_refused_by_segment() -> None:
    parser, _ = make()
    with pytest.raises(UnknownSegment):
        parser.parse("1512-json-partial", "t:51_445566,ltp:75000")


def test_xts_forget_drops_an_instruments_snapshot() -> None:
    parser, fake = make()
    tick(parser, "1501-json-full", json.dumps(fake.full_event(RELIANCE, 1501)))
    assert parser.snapshot_count() == 1
    parser.forget(token_of(*RELIANCE))
    assert parser.snapshot_count() == 0
    assert parser.parse("1501-json-partial", "t:1_2885,v:5") is None


@pytest.mark.parametrize("bad", ["nan", "inf", float("inf"), "1e30", True, None, [1]])
def test_xts_prices_that_are_not_finite_numbers_are_refused(bad: Any) -> None:
    parser, _ = make()
    with pytest.raises(XtsEventError, match="not a price"):
        parser.parse("1512-json-partial", {"t": "2_35001", "ltp": bad})


@pytest.mark.parametrize(
    ("book", "why"),
    [
        ("0|1|nan|1", "not numbers"),
        ("0|1|10.001|1", "not whole paise"),
        ("0|1|inf|1", "not numbers"),
        ("0|x|1|1", "not numbers"),
    ],
)
def test_xts_partial_books_with_bad_levels_are_refused(book: str, why: str) -> None:
    parser, _ = make()
    with pytest.raises(XtsEventError, match=why):
        parser.parse("1502-json-partial", f"t:2_35001,ltp:1,bi:{book}")


def test_xts_codes_without_a_price_the_desk_uses_are_skipped_and_counted() -> None:
    parser, _ = make()
    assert parser.parse("1105-json-partial", "t:1_2885,110:1410.5") is None
    assert parser.parse("1504-json-full", json.dumps({"IndexName": "NIFTY 50"})) is None
    assert parser.ignored == 2


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
_KEYS = st.sampled_from(
    ["t", "ltp", "ltq", "v", "c", "oi", "bi", "ai", "lut", "bt", "o", "h", "l",
     "ExchangeSegment", "ExchangeInstrumentID", "Touchline", "LastTradedPrice", "BidInfo",
     "Bids", "Asks", "ExchangeTimeStamp", "OpenInterest", "BarTime", "Open", "Close"]
)  # fmt: skip
_PAYLOADS = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=8)
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(
        [f"{c}-json-{m}" for c in (1501, 1502, 1505, 1510, 1512) for m in ("full", "partial")]
    ),
    st.one_of(_PAYLOADS, _PAYLOADS.map(json.dumps), st.text(max_size=60)),
)
def test_xts_any_payload_gives_a_tick_a_bar_nothing_or_a_named_refusal(
    name: str, payload: Any
) -> None:
    parser, _ = make()
    try:
        out = parser.parse(name, payload)
    except (XtsEventError, UnknownSegment):
        return
    assert out is None or isinstance(out, Tick | Bar)
