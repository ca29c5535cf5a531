"""Where an order came from: the source enum, its privileges, strategy ids at the edge, and the
older free-text sources journals recorded."""

from __future__ import annotations

import pytest

from engine.domain.origin import (
    PRIVILEGES,
    OrderSource,
    StrategyId,
    origin_label,
    source_of_text,
)
from engine.domain.requests import InputError, origin_of


def test_privileges_when_listed_cover_every_source_and_only_risk_flattens_past_a_halt() -> None:
    assert set(PRIVILEGES) == set(OrderSource)
    allowed = {source for source, rights in PRIVILEGES.items() if rights.reduce_when_halted}
    assert allowed == {OrderSource.RISK}
    assert not PRIVILEGES[OrderSource.STRATEGY].skip_duplicate_check


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ticket", (OrderSource.MANUAL, None, False)),
        ("square-off", (OrderSource.MANUAL, None, True)),
        ("strategy:demo", (OrderSource.STRATEGY, StrategyId("demo"), False)),
        ("risk:kill-switch", (OrderSource.RISK, None, False)),
        ("venue:mis-square-off", (OrderSource.BROKER, None, False)),
        ("kite:outside", (OrderSource.BROKER, None, False)),
        ("webhook", (OrderSource.SIGNAL, None, False)),
        ("api", (OrderSource.API, None, False)),
        ("something else", (OrderSource.API, None, False)),
    ],
)
def test_source_of_text_when_an_older_journal_is_read_maps_to_the_enum(
    text: str, expected: tuple[OrderSource, StrategyId | None, bool]
) -> None:
    assert source_of_text(text) == expected


def test_origin_when_a_strategy_order_names_its_id_is_checked_at_the_edge() -> None:
    assert origin_of("strategy", "iron-condor.1") == (OrderSource.STRATEGY, "iron-condor.1")
    assert origin_of("strategy:straddle") == (OrderSource.STRATEGY, "straddle")
    assert origin_of(OrderSource.SIGNAL, "tv-alerts") == (OrderSource.SIGNAL, "tv-alerts")
    assert origin_of("MANUAL") == (OrderSource.MANUAL, None)
    with pytest.raises(InputError, match="must name its strategy id"):
        origin_of("strategy")
    with pytest.raises(InputError, match="only strategy and signal orders"):
        origin_of("manual", "demo")
    with pytest.raises(InputError, match="strategy id"):
        origin_of("strategy", "no spaces please")
    with pytest.raises(InputError, match="source must be one of"):
        origin_of("ticket")
    assert origin_label(OrderSource.STRATEGY, StrategyId("demo")) == "strategy demo"
