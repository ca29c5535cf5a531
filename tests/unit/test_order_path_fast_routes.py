"""The order path's quick routes give exactly what the general ones give.

Pricing a fill (``Tariff.fill_parts``), writing a journal payload (``encode_payload``'s one-pass
encoder) and making an id (``IdFactory``) each have a route for what the engine makes on every
order; these properties hold each to the general route, to the last digit and byte, and to the
same refusal for what the general route refuses.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.costs import DEFAULT_TARIFF, ChargeSegment
from engine.domain.charges import Charges
from engine.domain.ids import _ALPHABET, IdFactory
from engine.store import codec

# --- Charges: the engine's route against the checked public one ---

_DATES = st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31))
_PRICES = st.integers(min_value=1, max_value=10_000_000).map(lambda paise: Decimal(paise) / 100)
_PAID = st.sampled_from(
    [Decimal(0), Decimal("0.00"), Decimal(20), Decimal("7.5"), Decimal("20.01")]
)


def _outcome(price_it: Any) -> tuple[str, ...]:
    """Every field as text (digits and exponent), or the refusal's type and message."""
    try:
        charges = price_it()
    except (TypeError, ValueError, ArithmeticError) as refused:
        return (type(refused).__name__, str(refused))
    return tuple(
        str(getattr(charges, name))
        for name in ("brokerage", "stt", "exchange", "sebi", "stamp", "gst", "dp", "total")
    )


@settings(max_examples=150)
@given(
    segment=st.sampled_from(list(ChargeSegment)),
    side=st.sampled_from(["BUY", "SELL"]),
    price=_PRICES,
    quantity=st.integers(min_value=1, max_value=100_000),
    on=_DATES,
    exchange=st.sampled_from(["NSE", "BSE", "NFO", "BFO"]),
    paid=_PAID,
)
def test_fill_parts_when_terms_are_the_engines_equal_the_public_charges_exactly(
    segment: ChargeSegment,
    side: str,
    price: Decimal,
    quantity: int,
    on: date,
    exchange: str,
    paid: Decimal,
) -> None:
    def public() -> Charges:
        return DEFAULT_TARIFF.charges(
            segment, side, price, quantity, on, exchange=exchange, brokerage_paid=paid
        )

    def engines() -> Charges:
        parts = DEFAULT_TARIFF.fill_parts(
            segment, side, price, quantity, on, exchange=exchange, brokerage_paid=paid
        )
        return Charges(*parts)

    assert _outcome(engines) == _outcome(public)


_ODD_TERMS = st.fixed_dictionaries(
    {
        "segment": st.sampled_from([*ChargeSegment, "EQ_DELIVERY", "SPOT"]),
        "side": st.sampled_from(["BUY", "SELL", "buy", ""]),
        "price": st.one_of(
            _PRICES,
            st.sampled_from(
                [Decimal(0), Decimal(-5), Decimal("NaN"), Decimal("Infinity"), 100, "101.5", 9.95]
            ),
        ),
        "quantity": st.sampled_from([1, 75, 0, -3, True, 2.0]),
        "on": st.one_of(
            _DATES, st.just(datetime(2025, 1, 2, 10, 0, tzinfo=UTC)), st.just(date(2020, 1, 1))
        ),
        "exchange": st.sampled_from(["NSE", "BSE", "MCX", "nse"]),
        "paid": st.sampled_from([Decimal(0), Decimal(-1), Decimal("NaN"), 0, 5]),
    }
)


@settings(max_examples=150)
@given(terms=_ODD_TERMS)
def test_fill_parts_when_terms_are_odd_price_or_refuse_as_the_public_charges(
    terms: dict[str, Any],
) -> None:
    args = (terms["segment"], terms["side"], terms["price"], terms["quantity"], terms["on"])
    named = {"exchange": terms["exchange"], "brokerage_paid": terms["paid"]}

    def public() -> Charges:
        return DEFAULT_TARIFF.charges(*args, **named)

    def engines() -> Charges:
        return Charges(*DEFAULT_TARIFF.fill_parts(*args, **named))

    assert _outcome(engines) == _outcome(public)


def test_rates_on_when_asked_again_for_a_day_gives_the_same_period() -> None:
    day = date(2026, 3, 31)

    assert DEFAULT_TARIFF.rates_on(day) is DEFAULT_TARIFF.rates_on(date(2026, 3, 31))
    assert DEFAULT_TARIFF.rates_on(day + timedelta(days=1)).effective_from == date(2026, 4, 1)


# --- Journal payloads: the one-pass encoder against the general one ---

_KEYS = st.one_of(
    st.sampled_from(["price", "token", "charges", "request", "tag", "status"]),
    st.text(max_size=12),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(),
    st.dates(),
)
_PAYLOAD_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=5),
    ),
    max_leaves=20,
)


def _encoded(encode: Any, payload: Any) -> tuple[str, str]:
    try:
        return ("text", encode(payload))
    except (TypeError, ValueError) as refused:
        return (type(refused).__name__, str(refused))


@settings(max_examples=200)
@given(payload=st.dictionaries(_KEYS, _PAYLOAD_VALUES, max_size=8))
def test_encode_payload_when_quick_writes_the_general_encoders_bytes_or_its_refusal(
    payload: dict[str, Any],
) -> None:
    assert _encoded(codec.encode_payload, payload) == _encoded(codec._encode_generally, payload)


def test_encode_payload_of_an_order_fill_is_the_general_encoders_text() -> None:
    fill = {
        "trade_id": "T1M958ANW9QJ0000",
        "token": 256777,
        "side": "BUY",
        "quantity": 50,
        "price": 23895,
        "charges": {"brokerage": Decimal("0.00"), "stt": Decimal("11.94750"), "dp": Decimal(0)},
        "note": 'quote " and \\ and \n and ₹',
        "square_off": False,
        "trigger_price": None,
    }

    text = codec.encode_payload(fill)

    assert text == codec._encode_generally(fill)
    assert codec.decode_payload(text) == fill


def test_encode_payload_when_a_nested_key_is_refused_names_it_as_before() -> None:
    payload = {"legs": [{"price": Decimal(1)}, {"access_token": "x"}]}

    refused = _encoded(codec.encode_payload, payload)

    assert refused == ("ValueError", refused[1])
    assert refused[1].startswith("payload['legs'][1]['access_token']")


def test_encode_payload_when_a_float_is_not_finite_is_refused_as_before() -> None:
    assert _encoded(codec.encode_payload, {"x": [math.inf]}) == _encoded(
        codec._encode_generally, {"x": [math.inf]}
    )


# --- Ids: the clock's milliseconds, in base 32 ---


def _reference_id(prefix: str, ms: int, salt: int, seq: int) -> str:
    def base32(value: int, width: int) -> str:
        return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(width)))

    return prefix + base32(ms, 9) + base32(salt, 2) + base32(seq, 4)


@given(
    start=st.integers(min_value=0, max_value=2**50),
    steps=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
    salt=st.integers(min_value=0, max_value=1023),
)
def test_id_factory_when_milliseconds_move_writes_them_all_in_base_32(
    start: int, steps: list[int], salt: int
) -> None:
    ids = IdFactory("D", salt)
    ms = start
    for seq, step in enumerate([0, *steps]):
        ms += step
        assert ids.next(ms) == _reference_id("D", ms, salt, seq)
