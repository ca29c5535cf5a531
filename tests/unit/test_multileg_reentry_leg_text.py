"""The leg text with the legs' target and stop actions (``OnTarget``, ``OnSL``): any valid legs
with any valid actions (hypothesis) are written and read back the same, in any case; a whole
generated portfolio's legs too; problems point at the very option they are about."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategies.multileg.leg_text import LegTextError, legs_text, parse_legs
from engine.strategies.multileg.reentry_spec import (
    PORTFOLIO_NAME,
    RE_ENTERING,
    Action,
    Reaction,
    Strike,
)
from engine.strategies.multileg.spec import Leg, parse_spec
from tests.unit.test_multileg_leg_text import decimals, valid_legs

RE_EXECUTES = (Action.RE_EXECUTE, Action.RE_EXECUTE_REVERSED)


@st.composite
def reactions(draw: st.DrawFn) -> Reaction:
    action = draw(st.sampled_from(Action))
    values: dict[str, Any] = {"action": action, "count": draw(st.integers(1, 20))}
    if action in RE_EXECUTES:
        values["strike"] = draw(st.sampled_from(Strike))
        values["after_fill"] = draw(st.booleans())
    if action is Action.RE_ENTRY_MOMENTUM:
        values["momentum"] = draw(decimals(500).filter(lambda d: d > 0))
    if action is Action.EXECUTE_LEG:
        values["leg"] = draw(st.integers(1, 10))
    if action in (Action.START_PORTFOLIO, Action.SQUARE_OFF_PORTFOLIO):
        values["portfolio"] = draw(st.from_regex(PORTFOLIO_NAME, fullmatch=True))
    if action not in RE_ENTERING and not values.get("after_fill"):
        values["keep_leg_running"] = draw(st.booleans())
    values["lots"] = draw(st.none() | st.integers(1, 500))
    values["square_off_linked"] = draw(st.booleans())
    return Reaction.model_validate(values)


@st.composite
def legs_with_actions(draw: st.DrawFn) -> Leg:
    leg = draw(valid_legs())
    data = leg.model_dump()
    data["on_target"] = draw(st.none() | reactions())
    data["on_stop"] = draw(st.none() | reactions())
    return Leg.model_validate(data)


@given(legs=st.lists(legs_with_actions(), min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_multileg_reentry_leg_text_round_trips_legs_with_actions(legs: list[Leg]) -> None:
    text = legs_text(legs)
    again = parse_legs(text)
    assert again == legs and legs_text(again) == text
    named = any(r is not None and r.portfolio for leg in legs for r in (leg.on_target, leg.on_stop))
    if not named:  # words in any case; a portfolio's name is kept as written
        assert parse_legs(text.lower()) == legs and parse_legs(text.upper()) == legs


def _coherent(legs: list[Leg]) -> list[dict[str, Any]]:
    """The legs with the actions a whole portfolio refuses taken out (an action on a stop the
    leg does not have, an idle leg to execute that is not idle), at least one leg not idle."""
    data = [leg.model_dump(mode="json") for leg in legs]
    data[0]["idle"] = False
    for n, leg in enumerate(data, start=1):
        for key, level in (("on_target", "target"), ("on_stop", "stop")):
            reaction = leg[key]
            if reaction is None:
                continue
            target = reaction["leg"]
            if leg[level] is None or (
                target is not None
                and (target == n or target > len(data) or not data[target - 1]["idle"])
            ):
                leg[key] = None
    return data


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_multileg_reentry_leg_text_round_trips_a_generated_portfolio(data: st.DataObject) -> None:
    legs = _coherent(data.draw(st.lists(legs_with_actions(), min_size=1, max_size=6)))
    reentry = {
        "leg_safety_seconds": data.draw(st.integers(0, 600)),
        "max_per_portfolio": data.draw(st.integers(0, 100)),
        "not_after_end": data.draw(st.booleans()),
    }
    low = data.draw(st.integers(1, 30))
    hedge = {"enabled": data.draw(st.booleans()), "min_distance": low, "max_distance": low + 5}
    spec = parse_spec(
        {"defaults": {"name": "Generated"}, "legs": legs, "reentry": reentry, "hedge": hedge}
    )
    assert parse_legs(legs_text(spec.legs)) == spec.legs
    assert parse_spec(spec.model_dump(mode="json")) == spec


@pytest.mark.parametrize(
    ("action", "column", "words"),
    [
        ("ReExecute,Count=50", 80, "OnSL: Input should be less than or equal to 20"),
        ("ReEntryAtCost,KeepRunning", 64, "OnSL: keep leg running cannot go with re entry at cost"),
        ("Jump", 64, "OnSL is one of ReExecute, ReExecuteReversed"),
        ("ReExecute,Strike=Far", 81, "OnSL: Strike is AsSet, Same or OppositeLTP; got 'Far'"),
        ("ReExecute,Colour=red", 74, "OnSL options are Count=…"),
        ("StartPortfolio,Portfolio=a|b", 64, None),
    ],
)
def test_multileg_reentry_leg_text_problems_point_at_the_option(action, column, words) -> None:
    text = f"Strike:ATM|Txn:SELL|Ins:CE|Expiry:CW|Lots:1|SL:Premium:20|OnSL:{action}"
    with pytest.raises(LegTextError) as refused:
        parse_legs(text)
    if words is not None:
        assert str(refused.value).startswith(f"leg 1, at column {column}: {words}")
