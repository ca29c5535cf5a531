"""Malformed orders and commands through every API entry: each is refused with a reason in words
or taken as a valid order, nothing escapes as an exception, nothing the journal cannot hold reaches
it, and the book still trades, restarts and decodes end to end."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.api import OrderSnapshot, Outcome
from engine.core.clock import TestClock
from engine.domain.events import (
    ORDER_EVENT_TYPES,
    EngineMessage,
    OrderDenied,
    OrderFilled,
    TradingState,
    order_event_from_journal,
)
from engine.domain.ids import OrderId
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store import open_database
from engine.store.book import scan_journal
from engine.store.codec import decode_payload, encode_payload
from tests.support import MONDAY_MORNING

EXAMPLES = 1000
COMMAND_EXAMPLES = 200

HUGE = 10**5000
"""Past Python's 4,300-digit limit for turning an int into text."""

weird_numbers = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e300, 65.0, 65.5]),
    st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]),
    st.sampled_from([Decimal("1e999999"), Decimal("65"), Decimal("65.5"), Decimal("-1")]),
    st.sampled_from([HUGE, -HUGE, 10**400, 2**63, 2**63 - 1, 0, -1]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["1", " 2 ", "²", "١٢٣", "9" * 5000, "1e999999", "\ud800"]),
    st.lists(st.integers(), max_size=2),
    st.builds(object),
)
FIELDS = ("token", "side", "quantity", "order_type", "product", "price", "trigger", "tag")
corrupted = st.sets(st.sampled_from(FIELDS), max_size=3)
"""Which fields of an otherwise valid order are malformed; none: a valid order."""
sound = st.fixed_dictionaries(
    {
        "side": st.sampled_from([Side.BUY, "BUY", "buy", " Buy "]),
        "quantity": st.one_of(st.integers(min_value=1, max_value=5), st.just(2.0)),
        "order_type": st.sampled_from([OrderType.MARKET, "MARKET", "market"]),
        "product": st.sampled_from([Product.CNC, "CNC", "mis", Product.MIS]),
        "price": st.none(),
        "trigger": st.none(),
        "tag": st.sampled_from(["", "scalp-1", "रणनीति"]),
    }
)
enum_like = st.one_of(
    st.sampled_from(["BUY", "SELL", "buy", "sell", "LIMIT", "MARKET", "SL-M", "sl_m", "MIS"]),
    st.sampled_from(["CNC", "NRML", "DAY", "IOC", " buy ", "🚀", "\ud800", "\x00"]),
    st.sampled_from(list(Side) + list(OrderType) + list(Product) + list(Validity)),
    st.text(max_size=8),
    st.none(),
    st.integers(),
    st.floats(),
)
texts = st.one_of(
    st.text(max_size=30),
    st.none(),
    st.integers(),
    st.sampled_from(["\x00\n\u202e", "\ud800", "x" * 10_000, "tag-🚀", "D1" * 40]),
)
ENTRIES = [
    "place",
    "place",
    "place_order",
    "place_order",
    "modify",
    "cancel",
    "square_off",
    "margin",
]


def build(db: Path, clock: TestClock) -> Engine:
    return Engine.build(
        EngineConfig(db_url=f"sqlite:///{db}", market=SimulatedMarketConfig(seed=4)), clock=clock
    )


def a_stock(engine: Engine) -> Instrument:
    return next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)


def readable(reason: str) -> bool:
    """Words for the trader: no traceback, no exception repr, nothing unprintable."""
    return (
        bool(reason.strip())
        and reason.isprintable()
        and len(reason) < 1000
        and "Traceback" not in reason
        and "Error(" not in reason
    )


def valid(order: OrderSnapshot | None) -> bool:
    """An order the book holds has every field of its domain type."""
    return (
        order is not None
        and type(order.side) is Side
        and type(order.order_type) is OrderType
        and type(order.product) is Product
        and type(order.validity) is Validity
        and type(order.quantity) is int
        and 0 < order.quantity <= 100_000_000
        and (order.price is None or (order.price.is_finite() and order.price > 0))
        and order.tag.isprintable()
        and order.source.isprintable()
    )


def journal_rows(db: Path) -> Iterator[tuple[str, str | None, int, dict[str, object]]]:
    with open_database(f"sqlite:///{db}") as database:
        scan = scan_journal(database.journal, record=False)
        assert not scan.set_aside, [row.describe() for row in scan.set_aside]
        rows = [(r.kind, r.order_id, r.ts_ns, r.payload) for r in database.journal.read()]
    assert rows
    yield from rows


def assert_journal_decodes(db: Path) -> list[OrderDenied]:
    """Every row reads back, every order event rebuilds; returns the denials."""
    denials = []
    for kind, order_id, ts_ns, payload in journal_rows(db):
        if kind in ORDER_EVENT_TYPES:
            assert order_id is not None
            event = order_event_from_journal(kind, order_id, ts_ns, payload)
            if isinstance(event, OrderDenied):
                denials.append(event)
    return denials


def test_malformed_orders_through_every_entry_are_refused_in_words_and_the_book_survives(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    tokens = st.one_of(st.just(stock.token), st.just(str(stock.token)), weird_numbers)
    counts: Counter[str] = Counter()
    denials: list[OrderDenied] = []
    messages: list[EngineMessage] = []
    engine.api.subscribe(OrderDenied, denials.append)
    engine.api.subscribe(EngineMessage, messages.append)

    def judge(which: str, outcome: Outcome) -> None:
        assert isinstance(outcome, Outcome) and isinstance(outcome.ok, bool)
        if outcome.ok:
            counts[f"{which} accepted"] += 1
            if which.startswith("place"):
                assert valid(engine.api.order(outcome.order_id)), outcome
        else:
            assert readable(outcome.reason), outcome
            counts[f"{which} refused"] += 1

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        st.sampled_from(ENTRIES),
        corrupted,
        sound,
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
        bad: set[str],
        good: dict[str, object],
        token: object,
        side: object,
        quantity: object,
        order_type: object,
        product: object,
        price: object,
        trigger: object,
        tag: object,
    ) -> None:
        malformed = dict(
            zip(
                FIELDS,
                (token, side, quantity, order_type, product, price, trigger, tag),
                strict=True,
            )
        )
        counts["examples"] += 1
        fields = {**good, "token": stock.token}
        fields.update({name: malformed[name] for name in bad})
        token, side, quantity, order_type, product, price, trigger, tag = (
            fields[name] for name in FIELDS
        )
        clock.advance(0.2)  # under the order-rate throttle
        api = engine.api
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
            judge(which, api.place(request if "token" not in bad or token else tag))  # type: ignore[arg-type]
        elif which == "place_order":
            outcome = api.place_order(
                token,  # type: ignore[arg-type]
                side,  # type: ignore[arg-type]
                quantity,  # type: ignore[arg-type]
                order_type,  # type: ignore[arg-type]
                product=product,  # type: ignore[arg-type]
                price=price,  # type: ignore[arg-type]
                trigger_price=trigger,  # type: ignore[arg-type]
                tag=tag,  # type: ignore[arg-type]
            )
            judge(which, outcome)
        elif which == "modify":
            ids = [o.order_id for o in api.orders()] or ["D1"]
            target = ids[-1] if "tag" not in bad else tag
            outcome = api.modify(
                target,  # type: ignore[arg-type]
                quantity=quantity,  # type: ignore[arg-type]
                price=price,  # type: ignore[arg-type]
                trigger_price=trigger,  # type: ignore[arg-type]
                order_type=order_type,  # type: ignore[arg-type]
            )
            judge(which, outcome)
        elif which == "cancel":
            ids = [o.order_id for o in api.orders()] or ["D1"]
            judge(which, api.cancel(ids[-1] if "tag" not in bad else tag))  # type: ignore[arg-type]
        elif which == "square_off":
            for outcome in api.square_off(token, product, source=tag):  # type: ignore[arg-type]
                judge(which, outcome)
        else:
            margin = api.order_margin(token, side, quantity, product)  # type: ignore[arg-type]
            counts[f"margin {'estimated' if margin is not None else 'none'}"] += 1
            assert margin is None or (margin.needed.is_finite() and margin.free.is_finite())

    send()
    print(f"malformed orders ({EXAMPLES} examples): {dict(sorted(counts.items()))}")
    refused = sum(n for key, n in counts.items() if key.endswith("refused"))
    accepted = sum(n for key, n in counts.items() if key.endswith("accepted"))
    assert refused > EXAMPLES // 2 and accepted > 0, counts
    assert not engine.orders.halted_reason, engine.orders.halted_reason

    # Every denial reached the trader as a message and its journal form reads back the same.
    assert denials and len(messages) >= len(denials)
    for denial in denials:
        assert readable(denial.reason) and denial.check
        if denial.request is None:
            assert denial.asked and denial.asked.isprintable(), denial
        payload = decode_payload(encode_payload(denial.to_payload()))
        assert OrderDenied.from_payload(denial.order_id, denial.ts_ns, payload) == denial

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
        assert not any("set aside" in m.text for m in again.api.startup_messages)
        after = {o.order_id: (o.status, o.filled_quantity) for o in again.api.orders()}
        assert after == before
        assert again.api.order(outcome.order_id).status is OrderStatus.COMPLETE  # type: ignore[union-attr]
    finally:
        again.close()

    # ...and every journal row decodes, every order event and every denial included.
    journaled = {d.order_id for d in assert_journal_decodes(db)}
    assert {d.order_id for d in denials} <= journaled


commands = st.sampled_from(["kill_switch", "rearm", "set_trading_state", "set_risk_limits"])
limit_names = st.sampled_from(
    ["max_order_value", "max_order_quantity", "daily_loss_limit", "throttle_mode", "bogus"]
)
risk_settings = st.one_of(
    weird_numbers,
    st.dictionaries(st.sampled_from(["defaults", "accounts", "underlyings", "x"]), weird_numbers),
    st.fixed_dictionaries({"defaults": st.dictionaries(limit_names, weird_numbers, max_size=2)}),
    st.fixed_dictionaries(
        {
            "underlyings": st.dictionaries(
                st.one_of(st.sampled_from(["NIFTY", "\ud800", "\x00"]), st.integers()),
                st.one_of(weird_numbers, st.dictionaries(limit_names, weird_numbers, max_size=2)),
                max_size=2,
            )
        }
    ),
)


def test_malformed_risk_commands_are_refused_in_words_and_never_halt_the_journal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    limits_before = engine.api.risk_limits()
    counts: Counter[str] = Counter()

    @settings(
        max_examples=COMMAND_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(commands, st.one_of(enum_like, texts, weird_numbers), risk_settings)
    def send(which: str, words: object, limits: object) -> None:
        clock.advance(0.2)
        api = engine.api
        try:
            if which == "kill_switch":
                report = api.kill_switch(square_off=words, reason=words)  # type: ignore[arg-type]
                assert report.state is TradingState.HALTED
            elif which == "rearm":
                api.rearm(words)  # type: ignore[arg-type]
            elif which == "set_trading_state":
                api.set_trading_state(words, words)  # type: ignore[arg-type]
            else:
                api.set_risk_limits(limits, words)  # type: ignore[arg-type]
            counts[f"{which} taken"] += 1
        except ValueError as problem:  # the documented refusal of these commands
            assert readable(str(problem)), problem
            counts[f"{which} refused"] += 1
        assert not engine.orders.halted_reason, engine.orders.halted_reason

    send()
    print(f"malformed risk commands ({COMMAND_EXAMPLES} examples): {dict(sorted(counts.items()))}")
    assert counts["kill_switch taken"] and counts["set_trading_state refused"]

    engine.api.rearm()
    engine.api.set_risk_limits(limits_before, "back to the limits")
    clock.advance(2)
    outcome = engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="CNC")
    assert outcome.ok, outcome.reason
    engine.close()
    build(db, clock).close()
    assert_journal_decodes(db)


def test_malformed_order_with_none_quantity_is_refused_journaled_as_text_and_the_book_opens(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    request = OrderRequest(stock.token, Side.BUY, None, OrderType.MARKET)  # type: ignore[arg-type]
    refused = engine.api.place(request)
    assert not refused.ok and refused.check == "quantity"
    assert "quantity must be a whole number" in refused.reason
    engine.close()
    again = build(db, clock)  # opens: no row it cannot read
    again.close()
    [denial] = [d for d in assert_journal_decodes(db) if d.order_id == refused.order_id]
    assert denial.request is None and "quantity=None" in denial.asked


def test_malformed_order_with_nan_quantity_is_refused_and_the_next_valid_order_is_taken(
    tmp_path: Path,
) -> None:
    clock = TestClock(MONDAY_MORNING)
    engine = build(tmp_path / "book.db", clock)
    stock = a_stock(engine)
    for bad in (math.nan, math.inf, -math.inf, Decimal("NaN"), HUGE):
        outcome = engine.api.place_order(stock.token, "BUY", bad, "MARKET", product="CNC")  # type: ignore[arg-type]
        assert not outcome.ok and outcome.check == "quantity" and readable(outcome.reason)
        request = OrderRequest(stock.token, Side.BUY, bad, OrderType.MARKET)  # type: ignore[arg-type]
        assert not engine.api.place(request).ok
    assert not engine.orders.halted_reason
    assert engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="CNC").ok
    engine.close()
    assert_journal_decodes(tmp_path / "book.db")


def test_malformed_order_with_plain_strings_for_enums_is_converted_and_journaled(
    tmp_path: Path,
) -> None:
    clock = TestClock(MONDAY_MORNING)
    engine = build(tmp_path / "book.db", clock)
    stock = a_stock(engine)
    request = OrderRequest(stock.token, "BUY", 1, "MARKET", "CNC", "DAY")  # type: ignore[arg-type]
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


def test_malformed_denial_rows_written_before_the_edge_check_still_read(tmp_path: Path) -> None:
    """A book from before the edge check holds denials with ``"quantity": null``: they read, with
    what was asked kept as text, and the book opens without setting anything aside."""
    db = tmp_path / "book.db"
    clock = TestClock(MONDAY_MORNING)
    engine = build(db, clock)
    stock = a_stock(engine)
    engine.close()
    legacy = {
        "reason": "quantity None is not a whole number",
        "request": {
            "token": int(stock.token),
            "side": "BUY",
            "quantity": None,
            "order_type": "MARKET",
            "product": "NRML",
            "validity": "DAY",
            "price": None,
            "trigger_price": None,
            "tag": "",
            "source": "api",
        },
        "check": "quantity",
    }
    with open_database(f"sqlite:///{db}") as database:
        database.journal.append("order_denied", legacy, order_id="D1LEGACY0000", ts_ns=1)
    denial = order_event_from_journal("order_denied", "D1LEGACY0000", 1, legacy)
    assert isinstance(denial, OrderDenied) and denial.request is None
    assert "quantity=None" in denial.asked and "side='BUY'" in denial.asked
    again = build(db, clock)
    try:
        assert not any("set aside" in m.text for m in again.api.startup_messages)
        assert again.api.place_order(stock.token, "BUY", 1, "MARKET", product="CNC").ok
    finally:
        again.close()
    assert OrderId("D1LEGACY0000") in {d.order_id for d in assert_journal_decodes(db)}


@pytest.mark.parametrize(
    "entry",
    [
        lambda api: api.modify("x" * 10_000, quantity=1),
        lambda api: api.modify("\ud800", quantity=1),
        lambda api: api.cancel(["D1"]),
        lambda api: api.cancel("\x00"),
    ],
    ids=["modify-long-id", "modify-surrogate-id", "cancel-list-id", "cancel-control-id"],
)
def test_malformed_order_ids_are_refused_in_words(tmp_path: Path, entry: object) -> None:
    engine = build(tmp_path / "book.db", TestClock(MONDAY_MORNING))
    try:
        outcome = entry(engine.api)  # type: ignore[operator]
        assert not outcome.ok and outcome.check == "order" and readable(outcome.reason)
        assert engine.api.order(["D1"]) is None and engine.api.tick(math.nan) is None  # type: ignore[arg-type]
    finally:
        engine.close()
