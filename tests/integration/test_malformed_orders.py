"""Malformed orders through every API entry: each is refused with a reason in words or taken as a
valid order, nothing escapes as an exception, and the book still trades, restarts and decodes."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.clock import TestClock
from engine.domain.events import ORDER_EVENT_TYPES, OrderFilled, order_event_from_journal
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store import open_database
from tests.support import MONDAY_MORNING

EXAMPLES = 1000

weird_numbers = st.one_of(
    st.none(),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.just(Decimal("NaN")),
    st.just(Decimal("Infinity")),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.just(10**400),
    st.lists(st.integers(), max_size=2),
)
enum_like = st.one_of(
    st.sampled_from(["BUY", "SELL", "buy", "sell", "LIMIT", "MARKET", "SL-M", "sl_m", "MIS"]),
    st.sampled_from(list(Side) + list(OrderType) + list(Product)),
    st.text(max_size=8),
    st.none(),
    st.integers(),
    st.just("🚀"),
)
texts = st.one_of(st.text(max_size=30), st.none(), st.integers(), st.just("\x00\n\u202e"))


def build(db: Path, clock: TestClock) -> Engine:
    return Engine.build(
        EngineConfig(db_url=f"sqlite:///{db}", market=SimulatedMarketConfig(seed=4)), clock=clock
    )


def a_stock(engine: Engine) -> Instrument:
    return next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)


def readable(reason: str) -> bool:
    return bool(reason.strip()) and "Traceback" not in reason and "Error(" not in reason


def test_malformed_orders_through_every_entry_are_refused_in_words_and_the_book_survives(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    tokens = st.one_of(st.just(stock.token), st.just(int(stock.token)), weird_numbers)
    counts = {"refused": 0, "accepted": 0}

    def judge(outcome: object) -> None:
        assert isinstance(outcome.ok, bool)  # type: ignore[attr-defined]
        if outcome.ok:  # type: ignore[attr-defined]
            counts["accepted"] += 1
        else:
            assert readable(outcome.reason), outcome  # type: ignore[attr-defined]
            counts["refused"] += 1

    entry = st.sampled_from(["place", "place_order", "modify", "cancel", "square_off", "margin"])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        entry,
        tokens,
        enum_like,
        weird_numbers,
        enum_like,
        enum_like,
        weird_numbers,
        weird_numbers,
        texts,
    )
    def send(
        which: str,
        token: object,
        side: object,
        quantity: object,
        order_type: object,
        product: object,
        price: object,
        trigger: object,
        tag: object,
    ) -> None:
        clock.advance(0.2)  # under the order-rate throttle
        if which == "place":
            request = OrderRequest(
                token,  # type: ignore[arg-type]
                side,  # type: ignore[arg-type]
                quantity,  # type: ignore[arg-type]
                order_type,  # type: ignore[arg-type]
                product,  # type: ignore[arg-type]
                price=price,  # type: ignore[arg-type]
                trigger_price=trigger,  # type: ignore[arg-type]
                tag=tag,  # type: ignore[arg-type]
            )
            judge(engine.api.place(request))
        elif which == "place_order":
            judge(
                engine.api.place_order(
                    token,  # type: ignore[arg-type]
                    side,  # type: ignore[arg-type]
                    quantity,  # type: ignore[arg-type]
                    order_type,  # type: ignore[arg-type]
                    product=product,  # type: ignore[arg-type]
                    price=price,  # type: ignore[arg-type]
                    trigger_price=trigger,  # type: ignore[arg-type]
                    tag=tag,  # type: ignore[arg-type]
                )
            )
        elif which == "modify":
            ids = [o.order_id for o in engine.api.orders()] or ["D1"]
            target = ids[-1] if isinstance(tag, str) else tag
            judge(
                engine.api.modify(
                    target,  # type: ignore[arg-type]
                    quantity=quantity,  # type: ignore[arg-type]
                    price=price,  # type: ignore[arg-type]
                    trigger_price=trigger,  # type: ignore[arg-type]
                    order_type=order_type,  # type: ignore[arg-type]
                )
            )
        elif which == "cancel":
            judge(engine.api.cancel(tag))  # type: ignore[arg-type]
        elif which == "square_off":
            for outcome in engine.api.square_off(token, product):  # type: ignore[arg-type]
                judge(outcome)
        else:
            engine.api.order_margin(token, side, quantity, product)  # type: ignore[arg-type]

    send()
    print(f"malformed orders: {counts}")
    assert counts["refused"] > EXAMPLES // 2, counts

    # The desk still takes a valid order, and it fills.
    fills: list[OrderFilled] = []
    engine.api.subscribe(OrderFilled, fills.append)
    engine.api.cancel_all()
    clock.advance(2)
    outcome = engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="CNC")
    assert outcome.ok, outcome.reason
    assert any(f.order_id == outcome.order_id for f in fills)
    before = {o.order_id: (o.status, o.filled_quantity) for o in engine.api.orders()}
    engine.close()

    # It restarts on the same book with the same orders...
    again = build(db, clock)
    try:
        after = {o.order_id: (o.status, o.filled_quantity) for o in again.api.orders()}
        assert after == before
        assert again.api.order(outcome.order_id).status is OrderStatus.COMPLETE
    finally:
        again.close()

    # ...and every journal row decodes, every order event included.
    with open_database(f"sqlite:///{db}") as database:
        rows = list(database.journal.read())
    assert rows
    for row in rows:
        if row.kind in ORDER_EVENT_TYPES and row.order_id is not None:
            order_event_from_journal(row.kind, row.order_id, row.ts_ns, row.payload)


def test_malformed_order_with_none_quantity_is_refused_and_the_book_still_opens(
    tmp_path: Path,
) -> None:
    clock = TestClock(MONDAY_MORNING)
    engine = build(tmp_path / "book.db", clock)
    stock = a_stock(engine)
    refused = engine.api.place(OrderRequest(stock.token, Side.BUY, None, OrderType.MARKET))  # type: ignore[arg-type]
    assert not refused.ok and "quantity must be a whole number" in refused.reason
    engine.close()
    build(tmp_path / "book.db", clock).close()  # opens: no row it cannot read


def test_malformed_order_with_nan_quantity_is_refused_and_the_next_valid_order_is_taken(
    tmp_path: Path,
) -> None:
    clock = TestClock(MONDAY_MORNING)
    engine = build(tmp_path / "book.db", clock)
    stock = a_stock(engine)
    for bad in (math.nan, math.inf, -math.inf):
        outcome = engine.api.place_order(stock.token, "BUY", bad, "MARKET", product="CNC")  # type: ignore[arg-type]
        assert not outcome.ok and "whole number" in outcome.reason
    assert not engine.orders.halted_reason
    assert engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="CNC").ok
    engine.close()


def test_malformed_order_with_plain_strings_for_enums_is_converted_and_journaled(
    tmp_path: Path,
) -> None:
    clock = TestClock(MONDAY_MORNING)
    engine = build(tmp_path / "book.db", clock)
    stock = a_stock(engine)
    request = OrderRequest(stock.token, "BUY", 1, "MARKET", "CNC")  # type: ignore[arg-type]
    outcome = engine.api.place(request)
    assert outcome.ok, outcome.reason
    order = engine.api.order(outcome.order_id)
    assert order is not None and order.side is Side.BUY and order.product is Product.CNC
    engine.close()
    again = build(tmp_path / "book.db", clock)
    try:
        restored = again.api.order(outcome.order_id)
        assert restored is not None and restored.status is OrderStatus.COMPLETE
    finally:
        again.close()
