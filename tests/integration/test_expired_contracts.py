"""Futures and options at and after their expiry, on the real engine and the simulated market.

A contract expires at its expiry day's F&O close by the market calendar (15:40 from 3 Aug 2026),
not at midnight: on the paper market kept open all evening an order on it is refused from then,
by the gate and by the paper venue. An expired contract never ticks again, so the next day its
quote still carries the close of the day before expiry: the next day's P&L must not count the
expiry day's move again. After a restart a held contract the listing no longer has is shown by
its token, unpriced, and left out of the Greeks, with the trader told once.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.brokers.paper.config import PaperConfig
from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage, Severity
from engine.domain.instruments import Instrument
from engine.domain.orders import OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig

NIFTY_WEEKLY = date(2026, 12, 1)
"""A Tuesday NIFTY weekly expiry after the F&O close moved to 15:40."""
NIFTY_MONTHLY = date(2026, 11, 23)
"""NIFTY's November expiry, moved to Monday by the Guru Nanak Jayanti holiday on the 24th."""


def desk(
    db: Path,
    at: datetime,
    *,
    always_open: bool = False,
    strikes: int = 10,
    paper: PaperConfig | None = None,
) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{db}",
            always_open=always_open,
            market=SimulatedMarketConfig(
                seed=5, strikes_each_side=strikes, always_open=always_open
            ),
            paper=paper or PaperConfig(),
        ),
        clock=TestClock(at),
    )


def run(engine: Engine, seconds: float, step: float = 0.5) -> None:
    """The market (and the test clock) ``seconds`` on, every tick fed, then a housekeeping beat."""
    clock = engine.clock
    assert isinstance(clock, TestClock)
    for _ in range(max(1, int(seconds / step))):
        clock.advance(step)
        assert engine.market is not None
        for tick in engine.market.step(step):
            engine.on_tick(tick)
    engine.housekeeping.beat()


def run_to(engine: Engine, at: datetime, step: float = 0.5) -> None:
    run(engine, (at - engine.clock.now()).total_seconds(), step)


def near_the_money_call(engine: Engine, expiry: date, offset: int = 0) -> Instrument:
    spot = engine.api.underlying_price("NIFTY")
    assert spot is not None
    rows = engine.registry.chain("NIFTY", expiry)
    at = min(range(len(rows)), key=lambda i: abs(rows[i][0] - spot * 100))
    call = rows[at + offset][1]
    assert call is not None
    return call


def told(engine: Engine) -> list[EngineMessage]:
    seen: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, seen.append)
    return seen


def test_expiry_when_an_option_is_ordered_after_its_close_on_the_always_open_market_is_refused_in_words(
    tmp_path: Path,
) -> None:
    engine = desk(tmp_path / "book.db", datetime(2026, 12, 1, 15, 38, tzinfo=IST), always_open=True)
    try:
        run(engine, 5)
        call = near_the_money_call(engine, NIFTY_WEEKLY)
        lot = call.lot_size
        # A minute before the close it trades, and a far bid rests.
        bought = engine.api.place_order(call.token, "BUY", lot, "MARKET")
        resting = engine.api.place_order(call.token, "BUY", lot, "LIMIT", price="0.05")
        run(engine, 2)
        assert bought.ok and engine.api.order(bought.order_id).status is OrderStatus.COMPLETE
        assert resting.ok and engine.api.order(resting.order_id).status is OrderStatus.OPEN

        words = f"{call.tradingsymbol} expired at 15:40 on 1 Dec 2026"
        for at in (
            datetime(2026, 12, 1, 15, 45, tzinfo=IST),
            datetime(2026, 12, 1, 21, 0, tzinfo=IST),
        ):
            run_to(engine, at, step=5.0)
            for side in ("BUY", "SELL"):
                refused = engine.api.place_order(call.token, side, lot, "MARKET")
                assert (refused.ok, refused.reason) == (False, words)
            # The resting bid was cancelled at the expiry: it cannot be made to trade on the
            # last quote by modifying it.
            left = engine.api.order(resting.order_id)
            assert left.status is OrderStatus.CANCELLED
            assert left.status_message == f"cancelled at expiry: {words}"
            modified = engine.api.modify(resting.order_id, order_type="MARKET")
            assert not modified.ok
        run(engine, 2)
        position = next(p for p in engine.api.positions() if p.instrument.token == call.token)
        assert position.net_quantity == 0  # the lot bought before the close, settled at expiry
        assert position.buy_quantity == lot  # only the order before the close traded
        assert engine.api.order(resting.order_id).filled_quantity == 0
    finally:
        engine.close()


async def test_expiry_when_an_order_reaches_the_paper_venue_after_the_close_the_venue_rejects_it_in_words(
    tmp_path: Path,
) -> None:
    # The venue answers 50 ms after the gate: an order the gate passed at 15:39:59.98 arrives
    # after the contract expired, and the venue's own arrival check refuses it.
    engine = desk(
        tmp_path / "book.db",
        datetime(2026, 12, 1, 15, 39, 50, tzinfo=IST),
        always_open=True,
        paper=PaperConfig(latency_ms=50),
    )
    try:
        run(engine, 5)
        call = near_the_money_call(engine, NIFTY_WEEKLY)
        clock = engine.clock
        assert isinstance(clock, TestClock)
        clock.set(datetime(2026, 12, 1, 15, 39, 59, 980_000, tzinfo=IST))
        sent = engine.api.place_order(call.token, "BUY", call.lot_size, "MARKET")
        assert sent.ok, sent.reason
        clock.advance(0.05)
        await asyncio.sleep(0.2)
        order = engine.api.order(sent.order_id)
        assert order.status is OrderStatus.REJECTED
        assert order.status_message == f"{call.tradingsymbol} expired at 15:40 on 1 Dec 2026"
        assert order.filled_quantity == 0
    finally:
        engine.close()


def test_expiry_when_an_expired_option_is_held_over_the_day_change_day_pnl_is_zero_and_no_breaker_trips(
    tmp_path: Path,
) -> None:
    engine = desk(tmp_path / "book.db", datetime(2026, 11, 23, 15, 34, tzinfo=IST))
    try:
        run(engine, 5)
        call = near_the_money_call(engine, NIFTY_MONTHLY, offset=-4)
        assert engine.api.place_order(call.token, "BUY", call.lot_size * 15, "MARKET").ok
        run_to(engine, datetime(2026, 11, 23, 15, 41, tzinfo=IST))
        last = engine.api.tick(call.token)
        assert last is not None

        # The desk runs on over the holiday (24 Nov) into Wednesday's session.
        clock = engine.clock
        assert isinstance(clock, TestClock)
        clock.set(datetime(2026, 11, 25, 9, 16, tzinfo=IST))
        engine.housekeeping.beat()
        run(engine, 30)

        assert engine.api.tick(call.token) == last  # it never ticks again
        assert last.close != last.ltp  # its quote still holds the close before its expiry day
        (position,) = engine.api.positions()
        assert position.net_quantity == 0  # settled at the expiry, before the day changed
        assert position.day_pnl == 0
        assert engine.api.day_pnl() == 0
        assert engine.api.trading_state().state.value == "ACTIVE"
        assert engine.api.breaker_history() == []
        usage = next(u for u in engine.api.risk_usage() if u.name == "daily_loss_limit")
        assert usage.used == 0
        # On the normal market too, an order on it says when it expired.
        refused = engine.api.place_order(call.token, "SELL", call.lot_size, "MARKET")
        assert refused.reason == f"{call.tradingsymbol} expired at 15:40 on 23 Nov 2026"
    finally:
        engine.close()


def test_expiry_when_a_held_contract_is_no_longer_listed_after_a_restart_positions_show_it_unpriced_and_say_so(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    first = desk(db, datetime(2026, 12, 15, 11, 0, tzinfo=IST))
    try:
        run(first, 5)
        # The last contract listed: the far strike of the farthest expiry. A listing with fewer
        # strikes around the money does not have it.
        held = max((i for i in first.registry if i.is_option), key=lambda i: i.token)
        sold = first.api.place_order(held.token, "SELL", held.lot_size, "MARKET")
        run(first, 3)
        assert sold.ok and first.api.order(sold.order_id).status is OrderStatus.COMPLETE
    finally:
        first.close()

    engine = desk(db, datetime(2026, 12, 16, 10, 0, tzinfo=IST), strikes=2)
    try:
        assert engine.registry.find(held.token) is None
        seen = told(engine)
        run(engine, 5)

        (position,) = engine.api.positions()
        assert position.instrument.token == held.token
        assert not position.instrument.listed and not position.instrument.tradable
        assert position.instrument.tradingsymbol == f"{held.token} (no longer listed)"
        assert position.net_quantity == -held.lot_size
        assert position.ltp is None  # not priced: no quote for a contract not listed
        assert engine.api.day_pnl() == Decimal(0)
        greeks = engine.api.position_greeks()
        assert [line for line in greeks.positions if line.holding.token == held.token] == []
        # The orderbook and the trades (read as the window opens) show it by its token too.
        (order,) = engine.api.orders()
        assert order.order_id == sold.order_id and not order.instrument.listed
        assert engine.api.order(sold.order_id).instrument.token == held.token
        (trade,) = engine.api.trades()
        assert trade.instrument.tradingsymbol == f"{held.token} (no longer listed)"

        warnings = [m for m in seen if m.severity is Severity.WARNING and str(held.token) in m.text]
        assert len(warnings) == 1
        assert "no longer listed" in warnings[0].text
        assert "Greeks, payoff and margin leave it out" in warnings[0].text
    finally:
        engine.close()


def test_expiry_when_todays_expiry_has_closed_the_live_expiries_start_at_the_next_one(
    tmp_path: Path,
) -> None:
    engine = desk(tmp_path / "book.db", datetime(2026, 12, 1, 15, 30, tzinfo=IST), strikes=2)
    try:
        listed = sorted(e for u, e in engine.api.option_chains() if u == "NIFTY")
        assert engine.api.options_service.live_expiries("NIFTY") == listed
        assert listed[0] == NIFTY_WEEKLY
        clock = engine.clock
        assert isinstance(clock, TestClock)
        clock.advance(timedelta(minutes=10).total_seconds())  # 15:40: the weekly expires
        assert engine.api.options_service.live_expiries("NIFTY") == listed[1:]
    finally:
        engine.close()
