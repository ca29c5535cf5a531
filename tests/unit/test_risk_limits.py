"""The risk limits schema: defaults with descriptions, validation at load, overrides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain.events import TradingState
from engine.risk.limits import ORDER_SCOPE, MarginParameters, RiskLimits, RiskSettings


def test_limits_when_described_have_a_description_for_every_field_and_sensible_defaults() -> None:
    described = RiskLimits.describe()
    assert len(described) >= 30
    assert all(text for _, text, _, _ in described)
    limits = RiskLimits()
    assert limits.max_orders_per_second == 10
    assert limits.throttle_mode == "queue"
    assert limits.daily_loss_action is TradingState.HALTED


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"max_orders_per_second": 0}, "max_orders_per_second must be a positive whole number"),
        ({"capital": Decimal(-1)}, "capital must be a non-negative amount"),
        ({"throttle_mode": "drop"}, "throttle_mode must be 'queue' or 'deny'"),
        ({"daily_loss_action": TradingState.ACTIVE}, "must be REDUCING or HALTED"),
        ({"market_protection_pct": Decimal(0)}, "market_protection_pct must be above 0"),
        ({"capital": None}, "capital cannot be switched off"),
        ({"check_margin": "yes"}, "check_margin must be true or false"),
        (
            {"profit_lock_at": Decimal(100), "profit_lock_keep": Decimal(200)},
            "profit_lock_keep must be below profit_lock_at",
        ),
    ],
)
def test_limits_when_a_value_is_bad_refuse_to_build_naming_it(changes, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        RiskLimits(**changes)


def test_settings_when_loaded_from_a_file_mapping_coerce_and_resolve_overrides() -> None:
    settings = RiskSettings.from_mapping(
        {
            "defaults": {
                "capital": "500000",
                "daily_loss_limit": 20000,
                "daily_loss_action": "reducing",
            },
            "accounts": {"ZX1234": {"max_orders_per_second": 5}},
            "underlyings": {"banknifty": {"max_position_lots": 10, "fat_finger_pct": "5"}},
        }
    )
    paper = settings.limits_for("paper", "NIFTY")
    assert paper.capital == Decimal(500_000) and paper.max_orders_per_second == 10
    assert paper.daily_loss_action is TradingState.REDUCING
    live = settings.limits_for("ZX1234", "BANKNIFTY")
    assert (live.max_orders_per_second, live.max_position_lots, live.fat_finger_pct) == (
        5,
        10,
        Decimal(5),
    )
    again = RiskSettings.from_mapping(settings.to_mapping())
    assert again.limits_for("ZX1234", "BANKNIFTY") == live


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"defaults": {"max_lots": 3}}, "unknown risk limit"),
        ({"limits": {}}, "unknown section"),
        ({"accounts": {"A1": {"capital": "lots"}}}, "account 'A1'"),
        ({"underlyings": {"NIFTY": {"daily_loss_limit": 1000}}}, "per account only"),
    ],
)
def test_settings_when_a_key_or_value_is_bad_refuse_to_load(data, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        RiskSettings.from_mapping(data)


def test_order_scope_when_listed_names_only_real_limits() -> None:
    names = {name for name, *_ in RiskLimits.describe()}
    assert names >= ORDER_SCOPE


def test_margin_parameters_when_not_positive_refuse() -> None:
    with pytest.raises(ValueError, match="index_elm_pct must be positive"):
        MarginParameters(index_elm_pct=0)
