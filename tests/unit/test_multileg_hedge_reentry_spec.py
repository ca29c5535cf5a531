"""The dynamic hedge's strike on a fixed chain, worked by hand; the re-entry vocabulary as its
primitives; contradictory settings refused in words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.strategies.multileg.hedge import DynamicHedge, HedgeKind, hedge_strike
from engine.strategies.multileg.reentry_spec import (
    Close,
    CloseAll,
    CloseLinked,
    ExecuteIdle,
    Open,
    OpenAll,
    OtherPortfolio,
    Reaction,
    Strike,
    When,
    plan,
)
from engine.strategies.multileg.spec import parse_spec
from engine.strategies.multileg.strikes import Chain, ChainRow, NoStrike, Right

# NIFTY strikes 24,000 … 25,000, 50 apart. A call's premium falls as its strike rises, a put's as
# its strike falls; every figure below is read off this table by eye.
STRIKES = [Decimal(24_000 + 50 * i) for i in range(21)]
CALLS = [
    Decimal(x)
    for x in [
        "520",
        "470",
        "420",
        "372",
        "326",
        "282",
        "240",
        "201",
        "165",
        "133",
        "105",
        "81",
        "60",
        "43",
        "30",
        "20",
        "13",
        "8",
        "4.5",
        "2",
        "0.9",
    ]
]
PUTS = list(reversed(CALLS))
CHAIN = Chain([ChainRow(k, c, p) for k, c, p in zip(STRIKES, CALLS, PUTS, strict=True)])


def test_hedge_premium_based_call_is_the_first_strike_out_within_the_band() -> None:
    # Sold 24,500 CE (index 10). Strikes 3 to 8 out: 24,650 (43), 24,700 (30), 24,750 (20),
    # 24,800 (13), 24,850 (8), 24,900 (4.5). The band ₹5–₹15: 43, 30, 20 are too dear, 13 fits.
    settings = DynamicHedge(
        enabled=True,
        min_distance=3,
        max_distance=8,
        min_premium=Decimal(5),
        max_premium=Decimal(15),
    )
    assert hedge_strike(CHAIN, Right.CALL, Decimal(24_500), settings) == Decimal(24_800)


def test_hedge_premium_based_put_searches_downward() -> None:
    # Sold 24,450 PE (index 9; its put is 81). Down 2 to 5: 24,350 (43), 24,300 (30),
    # 24,250 (20), 24,200 (13). The band ₹15–₹25: 43 and 30 too dear, 20 fits.
    settings = DynamicHedge(
        enabled=True,
        min_distance=2,
        max_distance=5,
        min_premium=Decimal(15),
        max_premium=Decimal(25),
    )
    assert hedge_strike(CHAIN, Right.PUT, Decimal(24_450), settings) == Decimal(24_250)


def test_hedge_distance_based_is_the_first_strike_that_far_out() -> None:
    settings = DynamicHedge(enabled=True, kind=HedgeKind.DISTANCE, fixed_distance=Decimal(120))
    assert hedge_strike(CHAIN, Right.CALL, Decimal(24_500), settings) == Decimal(24_650)
    assert hedge_strike(CHAIN, Right.PUT, Decimal(24_500), settings) == Decimal(24_350)


def test_hedge_without_a_strike_in_the_band_says_so() -> None:
    settings = DynamicHedge(
        enabled=True, min_distance=1, max_distance=3, min_premium=Decimal(1), max_premium=Decimal(2)
    )
    with pytest.raises(NoStrike, match=r"no CE 1–3 strikes out from 24500 has a premium within"):
        hedge_strike(CHAIN, Right.CALL, Decimal(24_500), settings)


def test_hedge_settings_refuse_an_empty_band_in_words() -> None:
    with pytest.raises(ValueError, match="the lowest premium is above the highest"):
        DynamicHedge(min_premium=Decimal(50), max_premium=Decimal(10))
    with pytest.raises(ValueError, match="the nearest must not be beyond the farthest"):
        DynamicHedge(min_distance=9, max_distance=3)


@pytest.mark.parametrize(
    ("reaction", "steps"),
    [
        ({"action": "re_execute"}, [Close(), Open(False, Strike.AS_SET, When.AFTER_CLOSE)]),
        (
            {"action": "re_execute_reversed", "after_fill": True, "strike": "same"},
            [Open(True, Strike.SAME, When.NOW), Close(after_new_fill=True)],
        ),
        ({"action": "re_entry_at_cost"}, [Close(), Open(False, Strike.SAME, When.AT_COST)]),
        (
            {"action": "re_entry_momentum", "momentum": "10", "lots": 2},
            [Close(), Open(False, Strike.SAME, When.MOMENTUM, 2)],
        ),
        (
            {"action": "duplicate", "keep_leg_running": True, "lots": 3},
            [Open(False, Strike.SAME, When.NOW, 3)],
        ),
        ({"action": "re_execute_portfolio"}, [CloseAll(), OpenAll()]),
        (
            {"action": "execute_leg", "leg": 3, "square_off_linked": True},
            [CloseLinked(), ExecuteIdle(3), Close()],
        ),
        (
            {"action": "start_portfolio", "portfolio": "B", "keep_leg_running": True},
            [OtherPortfolio("B", start=True)],
        ),
        (
            {"action": "square_off_portfolio", "portfolio": "B"},
            [OtherPortfolio("B", False), Close()],
        ),
    ],
)
def test_reentry_named_actions_are_made_of_the_primitives(reaction, steps) -> None:
    assert plan(Reaction.model_validate(reaction)) == steps


@pytest.mark.parametrize(
    ("reaction", "words"),
    [
        (
            {"action": "re_entry_at_cost", "keep_leg_running": True},
            "keep leg running cannot go with re entry at cost",
        ),
        (
            {"action": "duplicate", "after_fill": True},
            "after fill (new leg first) is for re-execute",
        ),
        ({"action": "re_entry_momentum"}, "a momentum re-entry needs its points"),
        ({"action": "execute_leg"}, "execute leg needs the idle leg's number"),
        ({"action": "start_portfolio"}, "needs its name"),
        ({"action": "re_entry_at_cost", "strike": "same"}, "a strike choice is for re-execute"),
    ],
)
def test_reentry_contradictory_reactions_are_refused_in_words(reaction, words) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Reaction.model_validate(reaction)


def straddle(**leg: object) -> dict[str, object]:
    return {
        "defaults": {"name": "S"},
        "legs": [
            {"side": "SELL", "instrument": "CE", **leg},
            {"side": "SELL", "instrument": "PE", "idle": True},
        ],
    }


@pytest.mark.parametrize(
    ("leg", "words"),
    [
        ({"on_stop": {"action": "re_execute"}}, "leg 1 has an action on its stop but no stop"),
        (
            {"on_target": {"action": "re_execute"}},
            "leg 1 has an action on its target but no target",
        ),
        (
            {"target": {"value": "10"}, "on_target": {"action": "execute_leg", "leg": 1}},
            "leg 1 cannot execute itself",
        ),
        (
            {"target": {"value": "10"}, "on_target": {"action": "execute_leg", "leg": 3}},
            "leg 1 executes leg 3, which is not an idle leg here",
        ),
    ],
)
def test_reentry_portfolio_refuses_actions_that_cannot_happen(leg, words) -> None:
    with pytest.raises(ValueError, match=words):
        parse_spec(straddle(**leg))
    assert parse_spec(
        straddle(target={"value": "10"}, on_target={"action": "execute_leg", "leg": 2})
    )


def test_hedge_portfolio_refuses_a_hedge_bought_after_its_sold_leg_in_words() -> None:
    data = {**straddle(), "hedge": {"enabled": True}, "execution": {"hedges_first": False}}
    with pytest.raises(ValueError, match="a dynamic hedge is bought before its sold leg"):
        parse_spec(data)
    data = {**straddle(), "hedge": {"enabled": True}, "exit": {"sells_first": False}}
    with pytest.raises(ValueError, match="a dynamic hedge is sold after its sold leg"):
        parse_spec(data)


def breakout_straddle(on_stop: dict[str, object], **breakout: object) -> dict[str, object]:
    return {
        "defaults": {"name": "B"},
        "execution": {"start": "09:15", "end": "15:00"},
        "range_breakout": {
            "enabled": True,
            "range_start": "09:16",
            "range_end": "09:30",
            **breakout,
        },
        "legs": [
            {"side": "SELL", "instrument": "CE", "stop": {"value": "20"}, "on_stop": on_stop},
            {"side": "SELL", "instrument": "PE", "stop": {"value": "20"}},
        ],
    }


@pytest.mark.parametrize(
    ("on_stop", "how"),
    [
        ({"action": "re_entry_at_cost"}, "at cost"),
        ({"action": "re_entry_momentum", "momentum": "5"}, "on momentum"),
    ],
)
def test_breakout_reentry_on_own_stop_refused_with_the_opposite_side_stop(on_stop, how) -> None:
    with pytest.raises(ValueError, match=f"Leg 1 re-enters {how} on its own stop, but the range"):
        parse_spec(breakout_straddle(on_stop))
    # Without the opposite-side stop, or with the leg entering without a breakout, it holds;
    # a re-execute on the stop (a fresh leg, not the old price) is fine with it.
    assert parse_spec(breakout_straddle(on_stop, opposite_sl=False))
    assert parse_spec(breakout_straddle(on_stop, no_breakout=["Leg 1"]))
    assert parse_spec(breakout_straddle({"action": "re_execute"}))
