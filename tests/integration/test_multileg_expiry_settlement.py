"""A multileg portfolio holding its legs through expiry, on the real engine, the simulated market
and a SQLite book.

A short straddle on the 1 Dec 2026 NIFTY weekly, three strikes below the money (NRML, no stops,
no square-off time), is in when the weekly expires at 15:40; the trader holds two lots long of
each of its contracts by hand. The paper venue settles each owner's holding in an order of its
own: the portfolio's in the portfolio's name, the trader's in none. The portfolio books the
settlement as its legs' exits ("settled at expiry" at the settlement price) and completes, its
P&L the journal's. The account pays what one order of its net would have paid: the exchange
settles the account's net, so the trader's units that the portfolio's short offsets carry no
exercise STT. A restart settles nothing again and shows the portfolio as it ended; a portfolio
that was away when the venue settled (the desk restarted after the close) finds the settlement
in the order book and ends as one that heard it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.api.snapshots import PositionSnapshot, StrategyPnl
from engine.brokers.paper.settlement import SETTLEMENT_TAG
from engine.core.clock import IST, TestClock
from engine.costs import DEFAULT_TARIFF
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.instruments import Instrument
from engine.domain.orders import OrderStatus, Product, Side
from engine.domain.origin import OrderSource
from engine.domain.values import Paise
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.oms.charging import settlement_charges
from engine.runtime import Engine, EngineConfig
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.status import PortfolioStatus
from engine.strategies.multileg.views import LegView, PortfolioView
from tests.integration.test_expired_contracts import run
from tests.multileg_support import Recorder, journal_cash, template_spec

NIFTY_WEEKLY = date(2026, 12, 1)
"""A Tuesday NIFTY weekly, expiring at 15:40."""
CLOSE = datetime(2026, 12, 1, 15, 40, tzinfo=IST)
NAME = "Expiry straddle"
BELOW_THE_MONEY = {"kind": "atm", "offset": -3}
"""Three strikes below the money: at the close the call is well in the money (its exercise
STT is rupees, not rounded away), the put out of it."""
UNHEDGED = [
    {"side": side, "instrument": kind, "expiry": "CW", "strike": BELOW_THE_MONEY, "lots": 1}
    for side, kind in (("SELL", "CE"), ("SELL", "PE"))
]


def open_desk(book: Path, at: datetime) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{book / 'book.db'}",
            always_open=True,
            market=SimulatedMarketConfig(seed=5, strikes_each_side=10, always_open=True),
            portfolios_dir=book / "portfolios",
            var_interval_seconds=0,
        ),
        clock=TestClock(at),
    )


def view(engine: Engine) -> PortfolioView:
    [found] = [v for v in engine.api.portfolios() if v.name == NAME]
    return found


def run_until(engine: Engine, done: Any, limit: float = 120) -> None:
    waited = 0.0
    while not done():
        assert waited < limit, f"not done after {limit:g} simulated seconds"
        run(engine, 0.5)
        waited += 0.5


def enter_straddle(engine: Engine) -> str:
    """Start the straddle, enter it at once and wait until both legs are in; its strategy id."""
    data = template_spec(
        engine,
        "short_straddle",
        NAME,
        defaults={"product": "NRML"},
        execution={"manual_start": True, "start": None, "end": None, "square_off": None},
        legs=UNHEDGED,
    )
    assert engine.api.save_portfolio(data) is None
    assert engine.api.start_portfolio(NAME) is None
    assert engine.api.enter_portfolio(NAME) is None
    run_until(engine, lambda: view(engine).status is PortfolioStatus.STARTED)
    return view(engine).strategy_id


def leg_contracts(engine: Engine) -> list[Instrument]:
    contracts = []
    for leg in engine.api.portfolio_legs(NAME):
        instrument = engine.registry.find(leg.token)
        assert instrument is not None and instrument.expiry == NIFTY_WEEKLY
        contracts.append(instrument)
    return contracts


def buy_by_hand(engine: Engine, contract: Instrument, quantity: int) -> None:
    """Bought by the trader up to the quote's deepest ask (a market order's protection would
    not reach the ask of a far option quoted at ₹0.05)."""
    tick = engine.quotes.get(contract.token)
    assert tick is not None and tick.asks
    limit = Decimal(max(price for price, _qty, _orders in tick.asks)) / 100
    bought = engine.api.place_order(
        contract.token, "BUY", quantity, "LIMIT", price=limit, source="manual"
    )
    assert bought.ok, bought.reason
    order = engine.api.order(bought.order_id)
    assert order is not None and order.status is OrderStatus.COMPLETE, order


def run_past_the_close(engine: Engine) -> None:
    while engine.clock.now() < CLOSE:
        run(engine, 1)


def settlement_fills(engine: Engine) -> list[OrderFilled]:
    return [f for f in engine.orders.fills if f.settles]


def owner(engine: Engine, fill: OrderFilled) -> str | None:
    return engine.orders.orders[fill.order_id].strategy


@dataclass(frozen=True)
class Ended:
    """What a desk shows of the portfolio and of the settlement."""

    view: PortfolioView
    legs: list[LegView]
    settlement_fills: list[OrderFilled]
    fills: int

    @classmethod
    def of(cls, engine: Engine) -> Ended:
        return cls(
            view(engine),
            engine.api.portfolio_legs(NAME),
            settlement_fills(engine),
            len(engine.orders.fills),
        )


@dataclass
class Expiry:
    engine: Engine
    book: Path
    sid: str
    contracts: list[Instrument]
    lot: int
    recorder: Recorder
    ended: Ended
    pnl: dict[str, StrategyPnl]
    positions: dict[int, PositionSnapshot]
    journal_cash: int
    restarted: Ended


@pytest.fixture(scope="module")
def expiry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Expiry]:
    """The straddle entered at 15:37 on the weekly's expiry day, two lots of each of its contracts
    bought by hand; run across the close and half a minute past it; then the desk is closed and
    opened again on the same book at 15:45, its strategies resumed, and run on."""
    book = tmp_path_factory.mktemp("multileg_expiry")
    engine = open_desk(book, datetime(2026, 12, 1, 15, 37, tzinfo=IST))
    try:
        recorder = Recorder().attach(engine)
        run(engine, 5)
        sid = enter_straddle(engine)
        contracts = leg_contracts(engine)
        lot = contracts[0].lot_size
        for contract in contracts:
            buy_by_hand(engine, contract, 2 * lot)
        run(engine, 2)
        assert not settlement_fills(engine)
        run_past_the_close(engine)
        run(engine, 30)  # beat on: nothing settles twice
        ended = Ended.of(engine)
        pnl = {row.strategy: row for row in engine.api.strategy_pnl()}
        positions = {p.instrument.token: p for p in engine.api.positions()}
    finally:
        engine.close()
    cash = journal_cash(book / "book.db", sid)

    again = open_desk(book, datetime(2026, 12, 1, 15, 45, tzinfo=IST))
    try:
        again.strategies.resume()  # what the desk's start does, without its feed tasks
        run(again, 10)
        restarted = Ended.of(again)
    finally:
        again.close()
    yield Expiry(
        engine, book, sid, contracts, lot, recorder, ended, pnl, positions, cash, restarted
    )


def test_multileg_expiry_settlement_gives_each_owner_its_own_settlement_order(
    expiry: Expiry,
) -> None:
    engine, lot = expiry.engine, expiry.lot
    for contract in expiry.contracts:
        fills = [f for f in expiry.ended.settlement_fills if f.token == contract.token]
        by_owner: dict[str | None, list[OrderFilled]] = {}
        for fill in fills:
            by_owner.setdefault(owner(engine, fill), []).append(fill)
        assert by_owner.keys() == {expiry.sid, None}
        # The portfolio's short lot is bought back in the portfolio's name ...
        [theirs] = by_owner[expiry.sid]
        assert (theirs.side, theirs.quantity) == (Side.BUY, lot)
        # ... and the trader's two long lots sold in an order of no strategy.
        assert {f.side for f in by_owner[None]} == {Side.SELL}
        assert sum(f.quantity for f in by_owner[None]) == 2 * lot
        assert len({f.price for f in fills}) == 1
        for order_id in {f.order_id for f in fills}:
            order = engine.orders.orders[order_id]
            assert (order.tag, order.source, order.status) == (
                SETTLEMENT_TAG,
                OrderSource.BROKER,
                OrderStatus.COMPLETE,
            )
            assert order.status_message.startswith("settled at expiry: NIFTY closed at ₹")
        # Every position of the contract is flat: the portfolio's and the trader's.
        line = expiry.positions[contract.token]
        assert line.net_quantity == 0 and line.buy_quantity == line.sell_quantity == 3 * lot
    # The portfolio's own accounts close: the Performance figures hold no open position of it.
    assert (expiry.pnl[expiry.sid].open_positions, expiry.pnl[expiry.sid].unrealised) == (0, 0)


def test_multileg_expiry_settlement_ends_the_portfolio_with_its_legs_settled_in_words(
    expiry: Expiry,
) -> None:
    ended = expiry.ended
    assert ended.view.status is PortfolioStatus.COMPLETED
    assert not ended.view.running
    prices = {}
    for leg in ended.legs:
        [fill] = [
            f
            for f in ended.settlement_fills
            if f.token == leg.token and owner(expiry.engine, f) == expiry.sid
        ]
        price = Decimal(fill.price) / 100
        prices[leg.n] = price
        assert leg.state == "exited"
        assert leg.remark == f"settled at expiry at ₹{price:.2f}"
        assert leg.exit == price and leg.ltp == (price or None)  # the panel shows no ₹0 price
        assert leg.entry is not None
        assert leg.pnl == (leg.entry - price) * leg.quantity  # a sold leg, bought back at expiry
    legs = {leg.n: leg for leg in ended.legs}
    assert ended.view.reason == (
        f"settled at expiry: leg 1 {legs[1].symbol} at ₹{prices[1]:.2f}, "
        f"leg 2 {legs[2].symbol} at ₹{prices[2]:.2f}"
    )
    # It never tried to square off a contract that no longer takes orders: its own orders are
    # its entries, then the venue's settlements in its name.
    mine = expiry.recorder.submitted(expiry.sid)
    assert {read_tag(e.request.tag)[1] for e in mine if read_tag(e.request.tag)} == {"E"}  # type: ignore[index]
    assert [e.request.tag for e in mine if not read_tag(e.request.tag)] == [SETTLEMENT_TAG] * 2


def test_multileg_expiry_settlement_pnl_is_the_journals(expiry: Expiry) -> None:
    ended = expiry.ended
    assert ended.view.mtm == Decimal(expiry.journal_cash) / 100
    assert ended.view.mtm == sum(leg.pnl for leg in ended.legs)
    assert expiry.pnl[expiry.sid].realised == ended.view.mtm


def test_multileg_expiry_settlement_charges_the_account_what_one_order_of_its_net_would(
    expiry: Expiry,
) -> None:
    """The account is one lot long of each contract (two by hand, one short in the portfolio):
    the exchange exercises one lot of the one in the money, and nothing else is charged."""
    engine, lot = expiry.engine, expiry.lot
    exercised = Decimal(0)
    for contract in expiry.contracts:
        fills = [f for f in expiry.ended.settlement_fills if f.token == contract.token]
        assert all(f.charges is not None for f in fills)
        paid = sum((f.charges.total for f in fills if f.charges is not None), Decimal(0))
        one_order = OrderFilled(
            OrderId("net"),
            fills[0].ts_ns,
            TradeId("net"),
            InstrumentToken(contract.token),
            Side.SELL,
            Product.NRML,
            lot,
            Paise(fills[0].price),
            settles=True,
        )
        assert paid == settlement_charges(DEFAULT_TARIFF, contract, one_order, NIFTY_WEEKLY).total
        exercised += paid
        if fills[0].price > 0:
            # The trader's second lot offsets the portfolio's short: filled apart, free.
            manual = [f for f in fills if owner(engine, f) is None]
            assert sorted((f.quantity, f.charges.total > 0) for f in manual) == [  # type: ignore[union-attr]
                (lot, False),
                (lot, True),
            ]
    assert exercised > 0  # one of the two contracts expired in the money


def test_multileg_expiry_settlement_when_the_desk_restarts_settles_nothing_again_and_shows_the_same(
    expiry: Expiry,
) -> None:
    ended, again = expiry.ended, expiry.restarted
    assert again.fills == ended.fills
    assert again.settlement_fills == ended.settlement_fills
    assert again.view == ended.view
    assert again.legs == ended.legs


def away_at_the_close(book: Path, *, venue_first: bool) -> tuple[str, Ended]:
    """The straddle entered at 15:37, the desk closed at 15:39 and opened again at 15:41, where
    the venue settles at the first beat: before the portfolio resumes (``venue_first``: it
    finds the settlement in the order book) or after (it hears it)."""
    engine = open_desk(book, datetime(2026, 12, 1, 15, 37, tzinfo=IST))
    try:
        run(engine, 5)
        sid = enter_straddle(engine)
        assert engine.clock.now() < CLOSE
    finally:
        engine.close()  # the straddle keeps running: it starts again with the desk

    again = open_desk(book, datetime(2026, 12, 1, 15, 41, tzinfo=IST))
    try:
        if venue_first:
            run(again, 1)  # the venue's beat settles; the portfolio is not running yet
            assert {owner(again, f) for f in settlement_fills(again)} == {sid}
            again.strategies.resume()
        else:
            again.strategies.resume()
            run(again, 1)  # the same beat, heard by the running portfolio
        run(again, 10)
        return sid, Ended.of(again)
    finally:
        again.close()


def test_multileg_expiry_settlement_when_the_portfolio_was_away_at_the_close_it_ends_the_same(
    tmp_path: Path,
) -> None:
    """Found in the order book as it resumes or heard live, the settlement ends the portfolio the
    same way, and one more restart shows it the same again."""
    sid, found = away_at_the_close(tmp_path / "found", venue_first=True)
    _sid, heard = away_at_the_close(tmp_path / "heard", venue_first=False)
    assert (found.view, found.legs) == (heard.view, heard.legs)

    assert found.view.status is PortfolioStatus.COMPLETED
    assert found.view.reason.startswith("settled at expiry: leg 1 ")
    assert [leg.state for leg in found.legs] == ["exited", "exited"]
    for leg in found.legs:
        [fill] = [f for f in found.settlement_fills if f.token == leg.token]
        assert leg.remark == f"settled at expiry at ₹{Decimal(fill.price) / 100:.2f}"
    assert found.view.mtm == Decimal(journal_cash(tmp_path / "found" / "book.db", sid)) / 100

    once_more = open_desk(tmp_path / "found", datetime(2026, 12, 1, 15, 50, tzinfo=IST))
    try:
        once_more.strategies.resume()
        run(once_more, 5)
        assert Ended.of(once_more) == found
    finally:
        once_more.close()
