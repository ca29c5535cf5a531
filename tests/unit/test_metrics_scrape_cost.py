"""What a metrics scrape costs and says: the orders are counted by status straight off the order
objects (a scrape runs on the desk's loop: a snapshot per order cost half a second at 50,000
orders), every status is exported (0 included, so no series vanishes), and the denials counter
says which refusals it counts. A real engine on the simulated market and a real SQLite book;
the collector is the one the endpoint serves."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from engine.api import OrderType, Product, Side
from engine.core.clock import IST, TestClock
from engine.domain.ids import OrderId
from engine.domain.orders import OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.runtime.metrics import DeskCollector
from tests.support import tick_stock

BIG_BOOK = 50_000


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
        ),
        clock=TestClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST)),
    )
    yield engine
    engine.close()


def scrape(engine: Engine) -> tuple[dict[str, str], dict[tuple[str, str], float]]:
    """One collect of the desk's collector: each family's HELP, and each sample by (name,
    status label)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeskCollector(engine))
    text = generate_latest(registry).decode()
    helps, samples = {}, {}
    for family in text_string_to_metric_families(text):
        helps[family.name] = family.documentation
        for sample in family.samples:
            samples[(sample.name, sample.labels.get("status", ""))] = sample.value
    return helps, samples


def bought(engine: Engine) -> OrderId:
    token = tick_stock(engine, "RELIANCE", 155_000)
    outcome = engine.api.place_order(token, Side.BUY, 5, OrderType.MARKET, product=Product.MIS)
    assert outcome.ok and outcome.order_id is not None, outcome.reason
    return OrderId(outcome.order_id)


def test_metrics_scrape_when_the_book_holds_50000_orders_counts_statuses_without_snapshots(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = engine.orders.orders[bought(engine)]
    assert original.status is OrderStatus.COMPLETE
    for number in range(BIG_BOOK):  # a busy algo desk's day: the one order under many ids
        clone = copy.copy(original)
        clone.order_id = OrderId(f"{original.order_id}-{number}")
        engine.orders.orders[clone.order_id] = clone

    def no_snapshots() -> list[object]:
        raise AssertionError("a scrape built an order snapshot per order")

    monkeypatch.setattr(engine.api, "orders", no_snapshots)
    _, samples = scrape(engine)

    assert samples[("dalaldesk_orders", "COMPLETE")] == BIG_BOOK + 1
    assert samples[("dalaldesk_orders", "OPEN")] == 0


def test_metrics_orders_when_no_order_has_a_status_export_it_as_0(engine: Engine) -> None:
    _, before = scrape(engine)
    assert {status for name, status in before if name == "dalaldesk_orders"} == {
        s.value for s in OrderStatus
    }
    assert all(before[("dalaldesk_orders", s.value)] == 0 for s in OrderStatus)

    bought(engine)
    _, after = scrape(engine)

    assert after[("dalaldesk_orders", "COMPLETE")] == 1
    assert after[("dalaldesk_orders", "PENDING SUBMIT")] == 0  # still there, at 0


def test_metrics_denials_when_orders_and_modifications_are_refused_count_only_new_orders(
    engine: Engine,
) -> None:
    token = tick_stock(engine, "RELIANCE", 155_000)
    collector = DeskCollector(engine)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    assert not engine.api.place_order(token, Side.BUY, 0, OrderType.MARKET).ok  # input check
    assert not engine.api.modify("D-NO-SUCH-ORDER", quantity=10).ok  # a refused modification
    assert not engine.api.cancel("D-NO-SUCH-ORDER").ok  # a refused cancel

    assert collector.denials == 1
    helps, _ = scrape(engine)
    words = helps["dalaldesk_order_denials"]
    assert "New orders refused before reaching the broker" in words
    assert "input checks" in words and "risk gate" in words and "journal" in words
    assert "modifications and cancels and broker rejections are not counted" in words
