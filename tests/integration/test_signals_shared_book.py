"""Two desks open on one shared PostgreSQL book: a signal waiting for approval is one desk's card,
never both desks', and a desk never places a signal the book already records as decided."""

from __future__ import annotations

import pytest

from engine.domain.events import EngineMessage
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.records import SignalRecord, SignalStep
from engine.signals.tradingview import TradingViewAlert

pytestmark = pytest.mark.timeout(120)


def desk(url: str) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=url,
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            signal_rules=SignalRules(default_mode=SignalMode.APPROVE, approval_timeout_s=600),
        )
    )


def wait_for_approval(engine: Engine, signal_id: str) -> None:
    alert = {"id": signal_id, "symbol": "NSE:RELIANCE", "action": "buy", "lots": 1}
    result = engine.signals.receive(TradingViewAlert.model_validate(alert))
    assert result.step is SignalStep.PENDING


def said(engine: Engine) -> list[str]:
    return [m.text for m in engine.api.startup_messages if isinstance(m, EngineMessage)]


def test_signal_waiting_on_one_desk_is_not_a_card_on_a_desk_opened_beside_it(
    postgres_server,
) -> None:
    url = str(postgres_server.fresh_url())
    first = desk(url)
    try:
        wait_for_approval(first, "SHARED-1")
        second = desk(url)
        try:
            assert second.api.pending_signals() == []
            [words] = [text for text in said(second) if "SHARED-1" in text]
            assert f"waits for approval on desk {first.desk_lease.info.desk_id} (" in words  # type: ignore[union-attr]
            assert "approve or reject it there" in words
            refused = second.api.approve_signal("SHARED-1")
            assert refused.step is SignalStep.REFUSED
            assert first.api.approve_signal("SHARED-1").step is SignalStep.PLACED
            assert [o.tag for o in first.api.orders()] == ["SHARED-1"]
            assert second.api.orders() == []
        finally:
            second.close()
    finally:
        first.close()


def test_signal_the_shared_book_records_as_decided_is_not_approved_again_on_another_desk(
    postgres_server,
) -> None:
    url = str(postgres_server.fresh_url())
    received = desk(url)
    wait_for_approval(received, "TWICE-1")
    wait_for_approval(received, "TWICE-2")
    received.close()
    alone = desk(url)  # no other desk open: the cards come back here
    try:
        assert [p.signal_id for p in alone.api.pending_signals()] == ["TWICE-1", "TWICE-2"]
        beside = desk(url)
        try:
            # What a desk writes as it decides, written on the book by the other desk.
            for signal_id, step in (
                ("TWICE-1", SignalStep.APPROVED),
                ("TWICE-2", SignalStep.REJECTED),
            ):
                beside.orders.record(
                    SignalRecord(
                        beside.clock.time_ns(), signal_id, step, "tradingview", "", {"by": "trader"}
                    )
                )
            approved = alone.api.approve_signal("TWICE-1")
            rejected = alone.api.reject_signal("TWICE-2")
        finally:
            beside.close()
        assert approved.step is SignalStep.REFUSED
        assert (
            approved.reason
            == "not placed: it was already approved on another desk of this shared book"
        )
        assert (
            rejected.reason
            == "not placed: it was already rejected on another desk of this shared book"
        )
        assert alone.api.orders() == [] and alone.api.pending_signals() == []
    finally:
        alone.close()
