"""The multileg portfolio's declared sections: defaults filled in, every bad value refused with
its field path in words, the predefined templates all valid, and a portfolio that survives a
round trip through its file form unchanged."""

from __future__ import annotations

import json
from datetime import time
from decimal import Decimal
from importlib import resources

import pytest

from engine.domain.orders import Side
from engine.strategies.multileg.expiries import ExpiryCode
from engine.strategies.multileg.spec import (
    SECTIONS,
    AtmStrike,
    Instrument,
    Mode,
    PortfolioSpec,
    PremiumStrike,
    parse_spec,
)

STRADDLE = {
    "defaults": {"name": "Straddle"},
    "legs": [
        {"side": "SELL", "instrument": "CE", "stop": {"measure": "percent", "value": "30"}},
        {"side": "SELL", "instrument": "PE", "stop": {"measure": "percent", "value": "30"}},
    ],
}


def test_multileg_spec_when_sparse_fills_in_the_defaults_a_trader_expects() -> None:
    spec = parse_spec(STRADDLE)
    assert spec.name == "Straddle" and spec.defaults.underlying == "NIFTY"
    assert spec.defaults.mode is Mode.PAPER and spec.defaults.product == "MIS"
    leg = spec.legs[0]
    assert leg.side is Side.SELL and leg.instrument is Instrument.CE
    assert leg.expiry is ExpiryCode.CURRENT_WEEK and leg.strike == AtmStrike(offset=0)
    assert leg.stop is not None and leg.stop.value == Decimal(30)
    assert spec.execution.start == time(9, 20) and spec.execution.square_off == time(15, 15)
    assert spec.execution.hedges_first and spec.execution.slices_per_second == 10
    assert [field for field, _title, _schema in SECTIONS] == [
        "defaults",
        "legs",
        "execution",
        "target",
        "stop_loss",
        "exit",
        "monitoring",
        "at_broker",
        "range_breakout",
        "conditions",
        "reentry",
        "hedge",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda d: d["legs"][1].update(lots=0),
            "legs.1.lots: Input should be greater than or equal to 1",
        ),
        (
            lambda d: d["legs"][0].update(side="SHORT"),
            "legs.0.side: Input should be 'BUY' or 'SELL'",
        ),
        (lambda d: d["defaults"].update(name="a|b"), "defaults.name: a name is 1 to 40 letters"),
        (lambda d: d.update(legs=[]), "legs: List should have at least 1 item"),
        (lambda d: d["legs"][0].update(hedge=True), "legs.0: a hedge leg is bought"),
        (
            lambda d: d["legs"][0].update(trail={"every": "5", "by": "2"}, stop=None),
            "legs.0: a trailing stop needs a stop to trail",
        ),
        (
            lambda d: d.update(execution={"start": "10:00", "end": "09:30"}),
            "execution: the entry window ends before it starts",
        ),
        (lambda d: d.update(execution={"slices_per_second": 11}), "execution.slices_per_second"),
        (
            lambda d: d["legs"][0].update(
                strike={"kind": "premium", "rule": "between", "value": "50"}
            ),
            "legs.0.strike.premium: Value error, a premium range needs an upper bound",
        ),
        (lambda d: d.update(surprise=1), "surprise: Extra inputs are not permitted"),
        (lambda d: d["legs"][0].update(lots="two"), "legs.0.lots: Input should be a valid integer"),
    ],
)
def test_multileg_spec_when_wrong_names_the_field_and_the_problem(change, problem) -> None:
    data = json.loads(json.dumps(STRADDLE))
    change(data)
    with pytest.raises(ValueError) as caught:
        parse_spec(data)
    assert problem.removeprefix("legs.0.strike.premium: Value error, ") in str(caught.value)
    assert str(caught.value).split(":")[0] == problem.split(":")[0]


def test_multileg_templates_shipped_are_all_valid_portfolios() -> None:
    folder = resources.files("resources").joinpath("multileg", "templates")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    assert len(names) == 18 and "iron_condor.json" in names
    for name in names:
        data = json.loads(folder.joinpath(name).read_text("utf-8"))
        spec = parse_spec(data["portfolio"])
        assert data["description"]
        hedges = [leg for leg in spec.legs if leg.hedge]
        assert all(leg.side is Side.BUY for leg in hedges)


def test_multileg_spec_when_written_and_read_again_is_the_same() -> None:
    spec = parse_spec(
        {
            **STRADDLE,
            "legs": [
                *STRADDLE["legs"],
                {
                    "side": "BUY",
                    "instrument": "CE",
                    "hedge": True,
                    "strike": {"kind": "premium", "rule": "at_most", "value": "5.5", "depth": 20},
                },
            ],
            "target": {"combined": {"value": "25", "percent": True}},
        }
    )
    again = PortfolioSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec
    assert isinstance(again.legs[2].strike, PremiumStrike) and again.legs[
        2
    ].strike.value == Decimal("5.5")


@pytest.mark.parametrize(
    ("rule", "kept"),
    [("nearest", None), ("at_least", None), ("at_most", None), ("between", Decimal(80))],
)
def test_premium_strike_when_upper_bound_on_a_rule_that_ignores_it_drops_it(rule, kept) -> None:
    strike = PremiumStrike.model_validate({"rule": rule, "value": "50", "upper": "80"})
    assert strike.upper == kept
