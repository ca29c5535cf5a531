"""The performance tracker reads a desk's journal: per strategy, per symbol, per day, and its
figures agree with the P&L rebuild of the same book and with the desk's own strategy P&L."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from engine.backtest.metrics import daily_pnl
from engine.backtest.performance import DESK, track
from engine.core.clock import IST, TestClock
from engine.domain.events import OrderFilled, OrderSubmitted
from engine.domain.marks import PnlMarks, book_pnl
from engine.domain.order_replay import replay_orders
from engine.domain.positions import PositionBook
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.runtime.day_report import end_of_day_report
from engine.store.pnl_rebuild import read_book, rebuild_pnl
from tests.performance_desk import traded_desk
from tests.support import atm_call

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def _run_market(engine: Engine, clock: TestClock, seconds: float) -> None:
    for _ in range(int(seconds / 0.5)):
        clock.advance(0.5)
        for tick in engine.market.step(0.5):
            engine.on_tick(tick)


def _simulated_desk(book: Path) -> tuple[Engine, TestClock]:
    """A desk on the simulated market from Monday 10:00, its book at ``book``."""
    clock = TestClock(MONDAY_10AM)
    engine = Engine.build(
        EngineConfig(db_url=f"sqlite:///{book}", market=SimulatedMarketConfig(seed=5)),
        clock=clock,
    )
    return engine, clock


def _future(engine: Engine):  # the nearest NIFTY future
    futures = [
        i for i in engine.registry if i.underlying == "NIFTY" and i.instrument_type.value == "FUT"
    ]
    return min(futures, key=lambda i: i.expiry)


def _trade_two_strategies_and_manual(engine: Engine, clock: TestClock) -> None:
    _run_market(engine, clock, 2)
    call, future = atm_call(engine), _future(engine)
    plan = [
        (call, "BUY", 3, "strategy", "alpha"),
        (future, "SELL", 2, "strategy", "beta"),
        (call, "BUY", 1, "manual", None),
        (call, "SELL", 2, "strategy", "alpha"),  # a partial close
        (future, "BUY", 3, "strategy", "beta"),  # through flat: a short closed, a long opened
        (call, "SELL", 1, "manual", None),
        (future, "SELL", 1, "manual", None),  # manual short in the same future as beta
        (call, "SELL", 2, "strategy", "alpha"),  # through flat again
    ]
    for instrument, side, lots, source, strategy in plan:
        outcome = engine.api.place_order(
            instrument.token,
            side,
            lots * instrument.lot_size,
            "MARKET",
            source=source,
            strategy=strategy,
        )
        assert outcome.ok, outcome.reason
        _run_market(engine, clock, 3)


def test_performance_tracker_per_strategy_pnl_equals_the_journal_rebuild(tmp_path: Path) -> None:
    book = tmp_path / "book.db"
    engine, clock = _simulated_desk(book)
    _trade_two_strategies_and_manual(engine, clock)
    live = engine.api.performance()
    shown = {row.strategy: row for row in engine.api.strategy_pnl()}
    asyncio.run(engine.stop())

    rows = read_book(f"sqlite:///{book}").entries
    rebuilt = rebuild_pnl(rows)
    performance = track(rows)

    assert performance.owners == ["alpha", "beta", "manual"]
    by_owner = {row.owner: row for row in performance.strategies()}
    # The owners add up to the book the rebuild gives, to the (fraction of a) paisa.
    assert by_owner[DESK].net == rebuilt.book.net_pnl
    assert by_owner[DESK].charges == rebuilt.book.charges
    assert sum(by_owner[o].net for o in performance.owners) == rebuilt.book.net_pnl
    # Each owner equals a rebuild of its own orders alone at the same marks.
    replayed = replay_orders((r.kind, r.order_id, r.ts_ns, r.payload) for r in rows)
    marks_row = [r for r in rows if r.kind == PnlMarks.kind][-1]
    marks = PnlMarks.from_payload(marks_row.ts_ns, marks_row.payload)
    for owner in performance.owners:
        positions = PositionBook(marks.trade_date)
        for fill in replayed.fills:
            order = replayed.orders[fill.order_id]
            if (order.strategy or order.source.value) == owner:
                positions.apply(fill)
        own = PnlMarks(
            marks.ts_ns,
            marks.reason,
            marks.trade_date,
            tuple(
                m.__class__(
                    m.token,
                    m.product,
                    positions.get(m.token, m.product).net_quantity,
                    m.ltp,
                    m.close,
                    m.symbol,
                )
                for m in marks.marks
                if positions.get(m.token, m.product) is not None
            ),
        )
        alone = book_pnl(positions.all(), own)
        assert by_owner[owner].net == alone.net_pnl, owner
        assert by_owner[owner].charges == alone.charges, owner
        assert by_owner[owner].realised == sum((p.realised for p in alone.positions), Decimal(0))
        assert by_owner[owner].fills == sum(
            1
            for f in replayed.fills
            if (replayed.orders[f.order_id].strategy or replayed.orders[f.order_id].source.value)
            == owner
        )
    # The live facade (marked at the quotes) agrees with the desk's own strategy P&L.
    live_rows = {row.owner: row for row in live.strategies()}
    for owner in ("alpha", "beta", "manual"):
        assert live_rows[owner].net == shown[owner].net, owner
        assert live_rows[owner].charges == shown[owner].charges, owner
    # The curve ends at capital + net P&L; the day rows add up to it.
    curve = performance.curve(DESK)
    assert curve.end - curve.start == by_owner[DESK].net
    assert sum((d.net for d in performance.days(DESK)), Decimal(0)) == by_owner[DESK].net
    # The desk's days (its owners' summed) are its curve's daily P&L.
    assert [(d.day, d.net) for d in performance.days(DESK)] == daily_pnl(curve)
    for owner in performance.owners:
        assert performance.curve(owner).end - performance.capital == by_owner[owner].net
    # Trades: alpha bought 3 lots, sold 2 (a trade), sold 2 (closing 1 and opening a short).
    alpha = performance.trades("alpha")
    call_lot = alpha[0].quantity // 2
    assert [t.quantity for t in alpha] == [2 * call_lot, call_lot]
    assert all(t.is_long for t in alpha)
    beta = performance.trades("beta")
    assert len(beta) == 1 and not beta[0].is_long
    metrics = performance.metrics("alpha")
    assert metrics.trade_stats.trades == 2
    assert metrics.charges == by_owner["alpha"].charges
    assert sum(1 for r in rows if r.kind == OrderSubmitted.kind) == 8
    assert by_owner[DESK].fills == sum(1 for r in rows if r.kind == OrderFilled.kind)
    print({o: (str(r.net), str(r.charges), r.fills, r.trades) for o, r in by_owner.items()})


def test_end_of_day_report_job_writes_the_books_performance_report_beside_it(
    tmp_path: Path,
) -> None:
    engine, clock = traded_desk(
        tmp_path / "book.db", days=1, step=60.0, schedule_folder=tmp_path / "schedule"
    )
    try:
        said = end_of_day_report(engine, clock.now())
    finally:
        engine.close()
    day = clock.now().date().isoformat()
    page = tmp_path / "schedule" / "reports" / f"{day}-performance.html"
    assert f"performance report {page}" in said
    html = page.read_text(encoding="utf-8")
    assert "DalalDesk performance — desk" in html and html.count("<svg") == 3
    for owner in ("trend", "meanrev", "manual"):
        assert f"<td>{owner}</td>" in html


def test_performance_slippage_when_orders_fill_across_the_spread_is_each_fill_against_its_arrival_mid(
    tmp_path: Path,
) -> None:
    book = tmp_path / "book.db"
    engine, clock = _simulated_desk(book)
    _run_market(engine, clock, 2)
    call, future = atm_call(engine), _future(engine)
    mids: dict[str, Decimal] = {}
    for instrument, side, strategy in ((call, "BUY", "alpha"), (future, "SELL", "beta"),
                                       (call, "SELL", "alpha")):  # fmt: skip
        quote = engine.api.tick(instrument.token)
        assert quote.bid and quote.ask  # the simulated market quotes both sides
        outcome = engine.api.place_order(
            instrument.token, side, instrument.lot_size, "MARKET", source="strategy",
            strategy=strategy,
        )  # fmt: skip
        assert outcome.ok, outcome.reason
        mids[outcome.order_id] = Decimal(quote.bid + quote.ask) / 2  # paise
        _run_market(engine, clock, 2)
    asyncio.run(engine.stop())

    rows = read_book(f"sqlite:///{book}").entries
    submitted = {r.order_id: r.payload["arrival"] for r in rows if r.kind == OrderSubmitted.kind}
    assert submitted == mids  # the journal keeps each order's arrival mid, exactly
    fills = [OrderFilled.from_payload(r.order_id, r.ts_ns, r.payload) for r in rows
             if r.kind == OrderFilled.kind]  # fmt: skip
    expected: dict[str, Decimal] = {"alpha": Decimal(0), "beta": Decimal(0)}
    for fill in fills:
        owner = "beta" if fill.token == future.token else "alpha"
        expected[owner] += (fill.price - mids[fill.order_id]) * fill.quantity * fill.side.sign / 100
    performance = track(rows)
    for owner, slippage in expected.items():
        metrics = performance.metrics(owner)
        assert metrics.slippage_measured
        assert metrics.slippage == slippage, owner
    # A MARKET order crosses the spread: each fill paid at least half of it.
    assert all(value > 0 for value in expected.values())

    # A journal from before arrival prices were kept measures no slippage rather than a wrong one.
    for row in rows:
        if row.kind == OrderSubmitted.kind:
            row.payload.pop("arrival")
    older = track(rows).metrics("alpha")
    assert not older.slippage_measured and older.slippage == 0


def test_performance_order_placed_before_the_days_first_tick_has_no_arrival_price(
    tmp_path: Path,
) -> None:
    book = tmp_path / "book.db"
    engine, clock = _simulated_desk(book)
    _run_market(engine, clock, 2)
    stock = next(i for i in engine.registry if i.tradingsymbol == "RELIANCE")
    yesterday = engine.api.tick(stock.token)
    clock.advance(48 * 3600)  # Wednesday 10:00 (Tuesday is a holiday), no tick since Monday
    price = Decimal(yesterday.ltp) / 100
    outcome = engine.api.place_order(
        stock.token, "BUY", stock.lot_size, "LIMIT", price=price, product="CNC"
    )
    assert outcome.ok, outcome.reason
    engine.on_tick(yesterday._replace(ts_ns=clock.time_ns()))  # today's first tick
    later = engine.api.place_order(
        stock.token, "SELL", stock.lot_size, "LIMIT", price=price, product="CNC"
    )
    assert later.ok, later.reason
    asyncio.run(engine.stop())

    rows = read_book(f"sqlite:///{book}").entries
    submitted = {r.order_id: r.payload for r in rows if r.kind == OrderSubmitted.kind}
    # Measured against Monday's quote it would count the night's gap as slippage.
    assert "arrival" not in submitted[outcome.order_id]
    assert submitted[later.order_id]["arrival"] == Decimal(yesterday.bid + yesterday.ask) / 2
