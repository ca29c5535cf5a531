"""Legs as one line of text (Stoxxo's ``PortLegs`` form): every template's legs and every leg the
spec accepts written and read back exactly; text in any case, order and spacing read to the same
legs; and every malformed text refused with a ``LegTextError`` that names the leg and the column
where the problem starts — never another exception."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.orders import Side
from engine.strategies.multileg.expiries import ExpiryCode
from engine.strategies.multileg.leg_fields import KEYS
from engine.strategies.multileg.leg_text import LegTextError, leg_text, legs_text, parse_legs
from engine.strategies.multileg.spec import (
    AtmStrike,
    DeltaStrike,
    FixedStrike,
    Instrument,
    Leg,
    LegLevel,
    LegTrail,
    Measure,
    PremiumStrike,
    StraddleWidthStrike,
    parse_spec,
)
from engine.strategies.multileg.strikes import Moneyness, PremiumRule

STOXXO_EXAMPLE = (
    "Strike:20000|Txn:SELL|Ins:CE|Expiry:11-Jan-2024|Lots:2|Hedge:YES|WT:-5%"
    "|Target:Premium:10|SL:Premium:20"
)
"""``multileg_and_panels.md`` §1.2, as Stoxxo's API help gives it."""
JUNK = "#!?;@$&^_,'\"()[]{}`\\/é€\u212a"
"""Characters no leg text holds anywhere (the last is the Kelvin sign, which lowercases to k)."""


def template_specs() -> list[tuple[str, list[Leg]]]:
    folder = resources.files("resources").joinpath("multileg", "templates")
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text("utf-8"))
            found.append((entry.name, parse_spec(data["portfolio"]).legs))
    return found


def exact(legs: list[Leg]) -> list[dict[str, Any]]:
    """The legs as their file form: a Decimal's digits and a float's repr, not just their value."""
    return [leg.model_dump(mode="json") for leg in legs]


# -- generated legs, built through the model so that each is one the spec accepts ------------------


def decimals(most: int, *, signed: bool = False) -> st.SearchStrategy[Decimal]:
    """Decimals as a trader types them, trailing zeros kept (``24812.50``), up to ``most``."""
    whole = st.integers(-most if signed else 0, most).map(str)
    places = st.sampled_from(["", ".0", ".5", ".50", ".05", ".25", ".125", ".9999", ".0001"])
    digits = st.builds(lambda w, p: Decimal(w + p), whole, places)
    return digits.filter(lambda d: -most <= d <= most)


positive_decimals = decimals(999_999).filter(lambda d: d > 0)
widths = decimals(5, signed=True)


@st.composite
def premium_strikes(draw: st.DrawFn) -> PremiumStrike:
    rule = draw(st.sampled_from(PremiumRule))
    value = draw(positive_decimals)
    # An upper bound on another rule is one the spec drops: such a leg has one text as well.
    upper = (
        value + draw(positive_decimals)
        if rule is PremiumRule.BETWEEN or draw(st.booleans())
        else None
    )
    return PremiumStrike(
        rule=rule,
        value=value,
        upper=upper,
        side=draw(st.sampled_from(Moneyness)),
        depth=draw(st.none() | st.integers(1, 100)),
    )


strikes = st.one_of(
    st.builds(AtmStrike, offset=st.integers(-40, 40)),
    st.builds(FixedStrike, strike=positive_decimals),
    premium_strikes(),
    st.builds(DeltaStrike, delta=st.floats(0, 1, exclude_min=True, exclude_max=True)),
    st.builds(StraddleWidthStrike, multiple=widths),
)
levels = st.builds(LegLevel, measure=st.sampled_from(Measure), value=positive_decimals)


@st.composite
def valid_legs(draw: st.DrawFn) -> Leg:
    side = draw(st.sampled_from(Side))
    instrument = draw(st.sampled_from(Instrument))
    stop = draw(st.none() | levels)
    return Leg(
        side=side,
        instrument=instrument,
        expiry=draw(st.sampled_from(ExpiryCode) | st.dates()),
        strike=draw(
            st.builds(AtmStrike, offset=st.integers(-40, 40))
            if instrument is Instrument.FUT
            else strikes
        ),
        lots=draw(st.integers(1, 500)),
        hedge=side is Side.BUY and draw(st.booleans()),
        idle=draw(st.booleans()),
        target=draw(st.none() | levels),
        stop=stop,
        trail=None
        if stop is None
        else draw(st.none() | st.builds(LegTrail, every=positive_decimals, by=positive_decimals)),
    )


leg_lists = st.lists(valid_legs(), min_size=1, max_size=4)


# -- reading what Stoxxo writes ---------------------------------------------------------------------


def test_leg_text_when_stoxxo_reference_example_refuses_wait_and_trade_by_name() -> None:
    with pytest.raises(LegTextError) as refused:
        parse_legs(STOXXO_EXAMPLE)
    assert str(refused.value) == (
        "leg 1, at column 66: WT (wait and trade) is not a leg setting here yet"
    )
    assert refused.value.position == STOXXO_EXAMPLE.index("WT") and refused.value.leg == 1


def test_leg_text_when_stoxxo_example_without_wait_and_trade_refuses_its_sold_hedge() -> None:
    # Stoxxo's example marks a sold leg as a hedge; our spec keeps hedges to bought legs.
    with pytest.raises(LegTextError, match=r"^leg 1, at column 1: a hedge leg is bought$"):
        parse_legs(STOXXO_EXAMPLE.replace("|WT:-5%", ""))


def test_leg_text_when_stoxxo_example_reads_the_leg_it_describes() -> None:
    text = STOXXO_EXAMPLE.replace("|WT:-5%", "").replace("|Hedge:YES", "")
    [leg] = parse_legs(text)
    assert leg == Leg(
        side=Side.SELL,
        instrument=Instrument.CE,
        expiry=date(2024, 1, 11),
        strike=FixedStrike(strike=Decimal(20000)),
        lots=2,
        target=LegLevel(measure=Measure.POINTS, value=Decimal(10)),
        stop=LegLevel(measure=Measure.POINTS, value=Decimal(20)),
    )
    assert leg_text(leg) == text


def test_leg_text_when_percent_is_written_the_stoxxo_way_reads_it_as_a_percent() -> None:
    [leg] = parse_legs("Strike:ATM|Txn:SELL|Ins:PE|Expiry:CW|Lots:1|SL:Premium:20P")
    assert leg.stop == LegLevel(measure=Measure.PERCENT, value=Decimal(20))
    assert leg_text(leg).endswith("|SL:Premium:20%")


# -- round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "legs"), template_specs(), ids=lambda v: str(v)[:24])
def test_leg_text_when_template_legs_are_written_and_read_back_are_the_same(
    name: str, legs: list[Leg]
) -> None:
    text = legs_text(legs)
    again = parse_legs(text)
    assert again == legs and exact(again) == exact(legs)
    assert legs_text(again) == text


def test_leg_text_when_iron_condor_template_is_written_reads_as_a_trader_writes_it() -> None:
    [iron_condor] = [legs for name, legs in template_specs() if name == "iron_condor.json"]
    assert legs_text(iron_condor) == (
        "Strike:ATM+2|Txn:SELL|Ins:CE|Expiry:CW|Lots:1"
        "||Strike:ATM-2|Txn:SELL|Ins:PE|Expiry:CW|Lots:1"
        "||Strike:ATM+5|Txn:BUY|Ins:CE|Expiry:CW|Lots:1|Hedge:YES"
        "||Strike:ATM-5|Txn:BUY|Ins:PE|Expiry:CW|Lots:1|Hedge:YES"
    )


@settings(max_examples=250, deadline=None)
@given(legs=leg_lists)
def test_leg_text_when_any_valid_legs_are_written_and_read_back_are_the_same_legs_and_text(
    legs: list[Leg],
) -> None:
    text = legs_text(legs)
    again = parse_legs(text)
    assert again == legs and exact(again) == exact(legs)
    assert legs_text(again) == text


def _field_pairs(text: str) -> list[list[tuple[str, str]]]:
    return [[tuple(f.split(":", 1)) for f in leg.split("|")] for leg in text.split("||")]  # type: ignore[misc]


@settings(max_examples=100, deadline=None)
@given(legs=leg_lists, data=st.data())
def test_leg_text_when_keys_are_in_any_case_order_and_spacing_reads_the_same_legs(
    legs: list[Leg], data: st.DataObject
) -> None:
    written = []
    for fields in _field_pairs(legs_text(legs)):
        shuffled = data.draw(st.permutations(fields))
        spaced = []
        for key, value in shuffled:
            cased = data.draw(st.sampled_from([key, key.lower(), key.upper()]))
            pad = data.draw(st.sampled_from(["", " ", "  "]))
            spaced.append(f"{pad}{cased}{pad}:{pad}{value.lower() if pad else value}{pad}")
        written.append("|".join(spaced))
    assert parse_legs("||".join(written)) == legs


def test_leg_text_when_values_are_left_at_their_defaults_writes_them_out_only_if_mandatory() -> (
    None
):
    [leg] = parse_legs(
        "Strike:Premium~40|Scan:BOTH|Txn:BUY|Ins:CE|Expiry:cw|Lots:1|Hedge:NO|Idle:no"
    )
    assert leg_text(leg) == "Strike:Premium~40|Txn:BUY|Ins:CE|Expiry:CW|Lots:1"


def test_leg_text_when_decimal_has_trailing_zeros_keeps_every_digit() -> None:
    text = "Strike:24812.50|Txn:SELL|Ins:CE|Expiry:CW|Lots:1|SL:AbsolutePremium:80.00"
    [leg] = parse_legs(text)
    assert isinstance(leg.strike, FixedStrike) and str(leg.strike.strike) == "24812.50"
    assert leg_text(leg) == text


def test_leg_text_when_decimal_is_held_in_exponent_form_writes_its_plain_digits() -> None:
    leg = Leg(side=Side.SELL, strike=FixedStrike(strike=Decimal("2.48E+4")))
    assert leg_text(leg) == "Strike:24800|Txn:SELL|Ins:CE|Expiry:CW|Lots:1"
    assert parse_legs(leg_text(leg)) == [leg]


def test_leg_text_when_delta_is_tiny_writes_it_without_an_exponent() -> None:
    leg = Leg(side=Side.SELL, strike=DeltaStrike(delta=1e-05))
    assert leg_text(leg) == "Strike:Delta~0.00001|Txn:SELL|Ins:CE|Expiry:CW|Lots:1"
    assert parse_legs(leg_text(leg)) == [leg]


def test_leg_text_when_every_strike_kind_is_written_reads_as_the_grammar_says() -> None:
    text = (
        "Strike:ATM|Txn:BUY|Ins:FUT|Expiry:NM|Lots:1"
        "||Strike:Premium=80..120|Scan:OTM|MaxDepth:8|Txn:SELL|Ins:PE|Expiry:05-Mar-2026|Lots:3"
        "|Idle:YES|Target:Underlying:50|SL:Premium:30%|Trail:5:2"
        "||Strike:Premium>=80|Txn:SELL|Ins:CE|Expiry:W1|Lots:1"
        "||Strike:Premium<=80|Txn:SELL|Ins:CE|Expiry:W2|Lots:1"
        "||Strike:Delta~0.3|Txn:SELL|Ins:CE|Expiry:CM|Lots:1"
        "||Strike:Width*-0.5|Txn:SELL|Ins:PE|Expiry:CW|Lots:1"
    )
    futures, ranged, at_least, at_most, delta, width = parse_legs(text)
    assert futures.instrument is Instrument.FUT and futures.expiry is ExpiryCode.NEXT_MONTH
    assert ranged.strike == PremiumStrike(
        rule=PremiumRule.BETWEEN,
        value=Decimal(80),
        upper=Decimal(120),
        side=Moneyness.OTM,
        depth=8,
    )
    assert ranged.expiry == date(2026, 3, 5) and ranged.idle
    assert ranged.target == LegLevel(measure=Measure.UNDERLYING, value=Decimal(50))
    assert ranged.trail == LegTrail(every=Decimal(5), by=Decimal(2))
    assert isinstance(at_least.strike, PremiumStrike)
    assert at_least.strike.rule is PremiumRule.AT_LEAST
    assert isinstance(at_most.strike, PremiumStrike) and at_most.strike.rule is PremiumRule.AT_MOST
    assert delta.strike == DeltaStrike(delta=0.3)
    assert width.strike == StraddleWidthStrike(multiple=Decimal("-0.5"))
    assert legs_text([futures, ranged, at_least, at_most, delta, width]) == text


# -- legs over a template's ---------------------------------------------------------------------------


def test_leg_text_over_template_legs_changes_only_what_it_says() -> None:
    [straddle] = [legs for name, legs in template_specs() if name == "short_straddle.json"]
    first, second = parse_legs("Strike:ATM+1|Lots:3||Strike:ATM-1", over=straddle)
    assert first == straddle[0].model_copy(update={"strike": AtmStrike(offset=1), "lots": 3})
    assert second == straddle[1].model_copy(update={"strike": AtmStrike(offset=-1)})


def test_leg_text_over_template_legs_when_strike_is_missing_says_so() -> None:
    [straddle] = [legs for name, legs in template_specs() if name == "short_straddle.json"]
    with pytest.raises(LegTextError) as refused:
        parse_legs("Lots:3", over=straddle)
    assert str(refused.value) == (
        "leg 1, at column 1: missing Strike: a leg over a template's needs Strike"
    )


def test_leg_text_over_template_legs_when_a_leg_is_beyond_them_needs_every_key() -> None:
    [straddle] = [legs for name, legs in template_specs() if name == "short_straddle.json"]
    with pytest.raises(LegTextError, match=r"^leg 3, at column 27: missing Txn, Ins"):
        parse_legs("Strike:ATM||Strike:ATM||  Strike:ATM+4|Lots:1", over=straddle)


# -- malformed text -----------------------------------------------------------------------------------

GOOD = "Strike:ATM|Txn:SELL|Ins:CE|Expiry:CW|Lots:1"


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "at column 1: there are no legs: the text is empty", 0),
        ("  \n", "at column 1: there are no legs: the text is empty", 0),
        (
            GOOD.replace("Lots:1", "Lots:two"),
            "leg 1, at column 43: Lots must be a whole number ≥ 1, got 'two'",
            42,
        ),
        (
            f"{GOOD}||{GOOD.replace('Lots:1', 'Lots:1.5')}",
            "leg 2, at column 88: Lots must be a whole number ≥ 1, got '1.5'",
            87,
        ),
        (
            GOOD.replace("Lots:1", "Lots:501"),
            "leg 1, at column 43: Lots: Input should be less than or equal to 500",
            42,
        ),
        (GOOD.replace("SELL", "SHORT"), "leg 1, at column 16: Txn is BUY or SELL, got 'SHORT'", 15),
        (GOOD.replace("CE", "XE"), "leg 1, at column 25: Ins is CE, PE or FUT, got 'XE'", 24),
        (
            GOOD.replace("CW", "W9"),
            "leg 1, at column 35: Expiry is CW, W1, W2, CM, NM or a date like 11-Jan-2024, "
            "got 'W9'",
            34,
        ),
        (
            GOOD.replace("CW", "31-Feb-2024"),
            "leg 1, at column 35: Expiry '31-Feb-2024' is not a day of the calendar",
            34,
        ),
        (
            GOOD.replace("ATM", "OTM2"),
            "leg 1, at column 8: Strike is ATM, ATM+n, ATM-n, a strike (24800), Premium~n, "
            "Premium>=n, Premium<=n, Premium=n..m, Delta~n or Width*k; got 'OTM2'",
            7,
        ),
        (
            GOOD.replace("ATM", "ATM+41"),
            "leg 1, at column 8: Strike: Input should be less than or equal to 40",
            7,
        ),
        (
            GOOD.replace("ATM", "Premium=120..80"),
            "leg 1, at column 8: Strike: a premium range needs an upper bound at or above its "
            "lower bound",
            7,
        ),
        (
            GOOD.replace("ATM", "Premium>=0"),
            "leg 1, at column 17: Strike: Input should be greater than 0",
            16,
        ),
        (
            GOOD.replace("ATM", "Delta~1.5"),
            "leg 1, at column 14: Strike: Input should be less than 1",
            13,
        ),
        (
            GOOD.replace("ATM", "Width*5.5"),
            "leg 1, at column 14: Strike: Input should be less than or equal to 5",
            13,
        ),
        (
            f"{GOOD}|Scan:OTM",
            "leg 1, at column 50: Scan: only a premium strike (Strike:Premium…) has one",
            49,
        ),
        (
            GOOD.replace("ATM", "Premium~50") + "|MaxDepth:0",
            "leg 1, at column 61: MaxDepth must be a whole number ≥ 1, got '0'",
            60,
        ),
        (f"{GOOD}|Hedge:MAYBE", "leg 1, at column 51: Hedge is YES or NO, got 'MAYBE'", 50),
        (
            f"{GOOD}|Target:Premium",
            "leg 1, at column 52: Target is Type:Value, such as Premium:10, Premium:10%, "
            "AbsolutePremium:150 or Underlying:50; got 'Premium'",
            51,
        ),
        (
            f"{GOOD}|Target:Theta:5",
            "leg 1, at column 52: Target type Theta is not a leg setting here yet",
            51,
        ),
        (
            f"{GOOD}|SL:Points:5",
            "leg 1, at column 48: SL type is Premium, AbsolutePremium or Underlying; got 'Points'",
            47,
        ),
        (
            f"{GOOD}|SL:Premium:ten",
            "leg 1, at column 56: SL wants points or a percent (10%), got 'ten'",
            55,
        ),
        (
            f"{GOOD}|SL:Underlying:1%",
            "leg 1, at column 59: SL type Underlying is in points, not a percent",
            58,
        ),
        (f"{GOOD}|SL:Premium:0", "leg 1, at column 56: SL: Input should be greater than 0", 55),
        (
            f"{GOOD}|SL:Premium:20|Trail:5",
            "leg 1, at column 65: Trail is <every>:<by> in points, such as 5:2; got '5'",
            64,
        ),
        (
            f"{GOOD}|SL:Premium:20|Trail:5:0",
            "leg 1, at column 67: Trail: Input should be greater than 0",
            66,
        ),
        (f"{GOOD}|Trail:5:2", "leg 1, at column 1: a trailing stop needs a stop to trail", 0),
        (f"{GOOD}|Hedge:YES", "leg 1, at column 1: a hedge leg is bought", 0),
        (
            GOOD.replace("ATM", "24800").replace("CE", "FUT"),
            "leg 1, at column 1: a futures leg has no strike to choose",
            0,
        ),
        (
            f"{GOOD}|WT:10",
            "leg 1, at column 45: WT (wait and trade) is not a leg setting here yet",
            44,
        ),
        (
            f"{GOOD}|Ref:FUT",
            "leg 1, at column 45: unknown key 'Ref'; the keys are " + ", ".join(KEYS),
            44,
        ),
        (f"{GOOD}|lots:2", "leg 1, at column 45: Lots is given twice", 44),
        (f"{GOOD}|Hedge", "leg 1, at column 45: a field is Key:Value, got 'Hedge'", 44),
        (f"{GOOD}|Idle:", "leg 1, at column 50: Idle has no value", 49),
        (
            "Strike:ATM|Txn:SELL",
            "leg 1, at column 1: missing Ins, Expiry and Lots: a new leg needs Strike, Txn, Ins, "
            "Expiry and Lots",
            0,
        ),
        (f"{GOOD}|", "leg 1, at column 44: an empty field: a stray '|'", 43),
        (f"|{GOOD}", "leg 1, at column 1: an empty field: a stray '|'", 0),
        (
            GOOD.replace("|Ins", "||Ins", 1),
            "leg 1, at column 1: missing Ins, Expiry and Lots: "
            "a new leg needs Strike, Txn, Ins, Expiry and Lots",
            0,
        ),
        (f"{GOOD}||", "leg 2, at column 44: an empty leg: a stray '||'", 43),
        (f"{GOOD}|| ||{GOOD}", "leg 2, at column 44: an empty leg: a stray '||'", 43),
        (f"||{GOOD}", "leg 1, at column 1: an empty leg: a stray '||'", 0),
        (f"{GOOD}|||{GOOD}", "leg 2, at column 46: an empty field: a stray '|'", 45),
        (f"{GOOD}| |Idle:YES", "leg 1, at column 44: an empty field: a stray '|'", 43),
    ],
)
def test_leg_text_when_malformed_says_which_leg_where_and_why(
    text: str, message: str, position: int
) -> None:
    with pytest.raises(LegTextError) as refused:
        parse_legs(text)
    assert str(refused.value) == message
    assert refused.value.position == position
    assert isinstance(refused.value, ValueError)


WRONG_VALUES = {
    "Strike": ["OTM2", "ATM+", "Premium", "Premium~-5", "Delta~x", "Width*6", "0"],
    "Scan": ["OUT", "2"],
    "MaxDepth": ["0", "deep", "101"],
    "Txn": ["SHORT", "1"],
    "Ins": ["XE", "FUTURES"],
    "Expiry": ["W9", "31-Feb-2024", "2024-01-11", "11-Jan-24"],
    "Lots": ["two", "0", "1.5", "501", "-1"],
    "Hedge": ["MAYBE", "1"],
    "Idle": ["Y", "TRUE"],
    "Target": ["Premium", "Theta:5", "Premium:-5", "Premium:0", "Underlying:5%", "Foo:1"],
    "SL": ["Premium", "Delta:0.5", "Premium:x", "AbsolutePremium:2%"],
    "Trail": ["5", "5:x", "0:2", "5:2:1"],
}


def _joined(fields: list[list[tuple[str, str]]]) -> str:
    return "||".join("|".join(f"{key}:{value}" for key, value in leg) for leg in fields)


@settings(max_examples=150, deadline=None)
@given(legs=leg_lists, data=st.data())
def test_leg_text_when_a_value_has_the_wrong_type_points_into_that_value(
    legs: list[Leg], data: st.DataObject
) -> None:
    fields = _field_pairs(legs_text(legs))
    # A future's strike is left alone: any strike but ATM±n is refused there, at the leg's start
    # (the table of malformed texts has that case).
    places = [
        (n, at)
        for n, leg in enumerate(fields)
        for at, (key, _) in enumerate(leg)
        if not (key == "Strike" and legs[n].instrument is Instrument.FUT)
    ]
    n, at = data.draw(st.sampled_from(places))
    key = fields[n][at][0]
    wrong = data.draw(st.sampled_from(WRONG_VALUES[key]))
    fields[n][at] = (key, "\0")
    value_at = _joined(fields).index("\0")
    with pytest.raises(LegTextError) as refused:
        parse_legs(_joined(fields).replace("\0", wrong))
    assert refused.value.leg == n + 1
    assert value_at <= refused.value.position < value_at + len(wrong)


@settings(max_examples=250, deadline=None)
@given(legs=leg_lists, data=st.data())
def test_leg_text_when_one_junk_character_is_put_in_refuses_at_or_before_it(
    legs: list[Leg], data: st.DataObject
) -> None:
    text = legs_text(legs)
    at = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(JUNK))
    replacing = at < len(text) and data.draw(st.booleans())
    corrupted = text[:at] + junk + text[at + replacing :]
    with pytest.raises(LegTextError) as refused:
        parse_legs(corrupted)
    assert 0 <= refused.value.position <= at


@settings(max_examples=150, deadline=None)
@given(legs=leg_lists, data=st.data())
def test_leg_text_when_cut_short_reads_or_refuses_within_the_text(
    legs: list[Leg], data: st.DataObject
) -> None:
    text = legs_text(legs)
    cut = text[: data.draw(st.integers(0, len(text) - 1))]
    try:
        read = parse_legs(cut)
    except LegTextError as refused:
        assert 0 <= refused.position <= len(cut)
    else:
        # A cut at a field's end, or inside a number, still says something whole.
        assert parse_legs(legs_text(read)) == read


WORDS = (
    "WT : : | || ATM + - 2 41 0 0.5 24800 Premium ~ >= <= = .. Delta Width* SELL buy CE PE FUT CW "
    "W1 11-Jan-2024 31-Feb-2024 YES NO OTM AbsolutePremium Underlying Theta % P"
)
TOKENS = [
    *KEYS,
    *(key.lower() for key in KEYS),
    *WORDS.split(),
    " ",
    "9" * 12,
    "\u212a",
]


@settings(max_examples=250, deadline=None)
@given(text=st.lists(st.sampled_from(TOKENS), max_size=40).map("".join) | st.text(max_size=60))
def test_leg_text_when_any_text_is_read_either_reads_legs_or_says_where_it_is_wrong(
    text: str,
) -> None:
    try:
        read = parse_legs(text)
    except LegTextError as refused:
        assert 0 <= refused.position <= len(text)
        assert refused.leg is None or refused.leg >= 1
    else:
        assert read and parse_legs(legs_text(read)) == read
