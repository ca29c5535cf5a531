"""Settlement at expiry on the paper venue, on the real engine, the simulated market and a SQLite
book.

NIFTY futures and options are cash-settled at the index's closing price on the expiry day: the
venue closes what is still held at its first clock beat at or after the expiry day's F&O close
(15:40 from 3 Aug 2026), a future at the index, an option at its intrinsic value. The settlement
is a fill of the venue's own order, journaled like every fill, charged only the exercise STT of
an in-the-money long option (0.15 % of the intrinsic value from 1 Apr 2026, rounded to the rupee
as the contract note shows STT). A restart settles nothing again; a desk that was closed over the
expiry settles once at its next start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from engine.api import EngineMessage
from engine.api.snapshots import PositionSnapshot
from engine.backtest.run import BacktestRequest
from engine.brokers.paper.settlement import SETTLEMENT_TAG
from engine.brokers.paper.venue import PaperVenue
from engine.core.clock import IST
from engine.domain.bars import Bar
from engine.domain.charges import Charges
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment
from engine.domain.marks import SESSION_END
from engine.domain.orders import OrderStatus, Side
from engine.domain.origin import OrderSource
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.marketdata.recording import write_bar_recording
from engine.runtime import Engine
from engine.runtime.backtests import run_backtest
from engine.store.pnl_rebuild import read_sqlite_book, rebuild_pnl
from tests.backtest_support import tradingview_alert
from tests.integration.test_expired_contracts import desk, run

NIFTY_WEEKLY = date(2026, 12, 1)
"""A Tuesday NIFTY weekly, expiring at 15:40."""
NIFTY_NOVEMBER = date(2026, 11, 23)
"""NIFTY's November expiry (options and the future), moved to Monday by the 24th's holiday."""
EXERCISE_STT = Decimal("0.0015")
"""STT on the intrinsic value of an exercised option from 1 Apr 2026 (nse_market.md §3.1)."""


def rupees(paise: int) -> Decimal:
    return Decimal(paise) / 100


def money(paise: int) -> str:
    return f"₹{rupees(paise):,.2f}"


def index_quote(engine: Engine) -> Tick:
    tick = engine.quotes.get(engine.registry.spot_tokens()["NIFTY"])
    assert tick is not None
    return tick


def chain_row(engine: Engine, expiry: date, offset: int) -> tuple[int, Instrument, Instrument]:
    """The strike ``offset`` steps from the money, with its call and put."""
    spot = index_quote(engine).ltp
    rows = engine.registry.chain("NIFTY", expiry)
    at = min(range(len(rows)), key=lambda i: abs(rows[i][0] - spot))
    strike, call, put = rows[at + offset]
    assert call is not None and put is not None
    return strike, call, put


def settlement_fills(engine: Engine, token: int | None = None) -> list[OrderFilled]:
    fills = [f for f in engine.orders.fills if f.settles]
    return fills if token is None else [f for f in fills if f.token == token]


def bought_at(engine: Engine, token: int) -> list[OrderFilled]:
    return [f for f in engine.orders.fills if f.token == token and not f.settles]


def position(engine: Engine, token: int) -> PositionSnapshot:
    return next(p for p in engine.api.positions() if p.instrument.token == token)


def run_past_the_close(engine: Engine, close: datetime) -> Tick:
    """Beat each second until the first beat at or after ``close``; the index's quote then."""
    while engine.clock.now() < close:
        run(engine, 1)
    return index_quote(engine)


@dataclass
class Expiry:
    engine: Engine
    db: Path
    index: Tick
    """The index's quote at the beat that settled."""
    long_call: Instrument
    short_put: Instrument
    otm_call: Instrument
    resting_id: str
    told: list[EngineMessage]


@pytest.fixture(scope="module")
def weekly_expiry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Expiry]:
    """A desk on the always-open paper market holding, two minutes before the 1 Dec 2026 weekly
    expires, a long call and a short put in the money, a long call out of it, and a far bid
    resting on that call; then run across the close and a minute past it."""
    db = tmp_path_factory.mktemp("weekly") / "book.db"
    engine = desk(db, datetime(2026, 12, 1, 15, 38, tzinfo=IST), always_open=True)
    try:
        seen: list[EngineMessage] = []
        engine.bus.subscribe(EngineMessage, seen.append)
        run(engine, 5)
        _, long_call, _ = chain_row(engine, NIFTY_WEEKLY, -3)
        _, _, short_put = chain_row(engine, NIFTY_WEEKLY, 3)
        _, otm_call, _ = chain_row(engine, NIFTY_WEEKLY, 3)
        lot = long_call.lot_size
        assert engine.api.place_order(long_call.token, "BUY", lot, "MARKET").ok
        assert engine.api.place_order(short_put.token, "SELL", lot, "MARKET").ok
        otm_ask = engine.quotes.get(otm_call.token)
        assert otm_ask is not None and otm_ask.ask > 0
        price = str(rupees(otm_ask.ask))
        assert engine.api.place_order(otm_call.token, "BUY", lot, "LIMIT", price=price).ok
        resting = engine.api.place_order(otm_call.token, "BUY", lot, "LIMIT", price="0.05")
        assert resting.ok
        run(engine, 2)
        assert not settlement_fills(engine)
        index = run_past_the_close(engine, datetime(2026, 12, 1, 15, 40, tzinfo=IST))
        run(engine, 60)  # beat on: nothing settles twice
        yield Expiry(engine, db, index, long_call, short_put, otm_call, resting.order_id, seen)
    finally:
        engine.close()


def test_expiry_settlement_when_a_long_call_is_in_the_money_settles_at_intrinsic_with_exercise_stt(
    weekly_expiry: Expiry,
) -> None:
    engine, call, index = weekly_expiry.engine, weekly_expiry.long_call, weekly_expiry.index
    assert call.strike is not None and index.ltp > call.strike
    intrinsic = index.ltp - call.strike
    (fill,) = settlement_fills(engine, call.token)
    assert (fill.side, fill.quantity, fill.price) == (Side.SELL, call.lot_size, intrinsic)
    stt = (rupees(intrinsic) * call.lot_size * EXERCISE_STT).quantize(Decimal(1), ROUND_HALF_UP)
    assert stt > 0
    assert fill.charges == Charges(stt=stt)  # no brokerage, exchange charges, GST or stamp


def test_expiry_settlement_when_an_option_is_settled_realised_pnl_is_exact_and_positions_flat(
    weekly_expiry: Expiry,
) -> None:
    engine = weekly_expiry.engine
    for held in (weekly_expiry.long_call, weekly_expiry.short_put, weekly_expiry.otm_call):
        (opened,) = bought_at(engine, held.token)
        (settled,) = settlement_fills(engine, held.token)
        line = position(engine, held.token)
        assert line.net_quantity == 0
        sign = 1 if opened.side is Side.BUY else -1
        assert line.realised == sign * rupees(settled.price - opened.price) * opened.quantity
        assert opened.charges is not None and settled.charges is not None
        assert line.charges == opened.charges.total + settled.charges.total
    assert isinstance(engine.venue, PaperVenue)
    assert all(net == 0 for net in engine.venue.holdings.nets.values())


def test_expiry_settlement_when_a_short_put_is_assigned_in_the_money_pays_no_stt(
    weekly_expiry: Expiry,
) -> None:
    put, index = weekly_expiry.short_put, weekly_expiry.index
    assert put.strike is not None and put.strike > index.ltp
    (fill,) = settlement_fills(weekly_expiry.engine, put.token)
    assert (fill.side, fill.price) == (Side.BUY, put.strike - index.ltp)
    assert fill.charges == Charges()


def test_expiry_settlement_when_a_long_call_expires_out_of_the_money_settles_at_zero_with_no_charges(
    weekly_expiry: Expiry,
) -> None:
    engine, call = weekly_expiry.engine, weekly_expiry.otm_call
    assert call.strike is not None and call.strike > weekly_expiry.index.ltp
    (fill,) = settlement_fills(engine, call.token)
    assert (fill.side, fill.price, fill.charges) == (Side.SELL, 0, Charges())
    (opened,) = bought_at(engine, call.token)
    assert position(engine, call.token).realised == -rupees(opened.price) * opened.quantity
    trade = next(t for t in engine.api.trades() if t.order_id == fill.order_id)
    assert trade.price == 0


def test_expiry_settlement_when_settled_the_orderbook_shows_the_venues_order_complete_in_words(
    weekly_expiry: Expiry,
) -> None:
    engine, index = weekly_expiry.engine, weekly_expiry.index
    settling = {o.instrument.token: o for o in engine.api.orders() if o.tag == SETTLEMENT_TAG}
    assert settling.keys() == {
        weekly_expiry.long_call.token,
        weekly_expiry.short_put.token,
        weekly_expiry.otm_call.token,
    }
    closed = f"settled at expiry: NIFTY closed at {money(index.ltp)}"
    call = weekly_expiry.long_call
    assert call.strike is not None
    order = settling[call.token]
    assert (order.status, order.source, order.filled_quantity) == (
        OrderStatus.COMPLETE,
        OrderSource.BROKER,
        call.lot_size,
    )
    assert order.status_message == (
        f"{closed}; {call.strike // 100} CE intrinsic {money(index.ltp - call.strike)}"
    )
    otm = weekly_expiry.otm_call
    assert otm.strike is not None
    assert settling[otm.token].status_message == (
        f"{closed}; {otm.strike // 100} CE expired worthless (intrinsic ₹0.00)"
    )


def test_expiry_settlement_when_an_order_rests_on_the_contract_at_the_close_it_is_cancelled_with_its_reason(
    weekly_expiry: Expiry,
) -> None:
    order = weekly_expiry.engine.api.order(weekly_expiry.resting_id)
    assert order is not None
    assert (order.status, order.filled_quantity) == (OrderStatus.CANCELLED, 0)
    symbol = weekly_expiry.otm_call.tradingsymbol
    assert order.status_message == f"cancelled at expiry: {symbol} expired at 15:40 on 1 Dec 2026"
    assert [m for m in weekly_expiry.told if "no price of the" in m.text] == []


def test_expiry_settlement_when_the_book_is_rebuilt_the_pnl_agrees_with_the_desk(
    weekly_expiry: Expiry,
) -> None:
    engine = weekly_expiry.engine
    _marks, seq = engine.record_marks(SESSION_END)
    assert seq is not None
    rebuilt = rebuild_pnl(read_sqlite_book(weekly_expiry.db).entries, seq)
    assert rebuilt.fills == len(engine.orders.fills)
    by_token = {line.token: line for line in rebuilt.book.positions}
    for line in engine.api.positions():
        again = by_token[line.instrument.token]
        assert again.net_quantity == line.net_quantity == 0
        assert (again.realised, again.charges) == (line.realised, line.charges)
        assert again.net_pnl == line.net_pnl


def test_expiry_settlement_when_a_future_is_held_past_its_expiry_it_settles_at_the_index(
    tmp_path: Path,
) -> None:
    engine = desk(
        tmp_path / "book.db", datetime(2026, 11, 23, 15, 38, tzinfo=IST), always_open=True
    )
    try:
        run(engine, 5)
        future = next(
            i
            for i in engine.registry
            if i.instrument_type is InstrumentType.FUT
            and i.underlying == "NIFTY"
            and i.expiry == NIFTY_NOVEMBER
        )
        assert engine.api.place_order(future.token, "SELL", future.lot_size, "MARKET").ok
        run(engine, 2)
        index = run_past_the_close(engine, datetime(2026, 11, 23, 15, 40, tzinfo=IST))
        run(engine, 5)

        (sold,) = bought_at(engine, future.token)
        (settled,) = settlement_fills(engine, future.token)
        assert (settled.side, settled.quantity, settled.price) == (
            Side.BUY,
            future.lot_size,
            index.ltp,
        )
        assert settled.charges == Charges()  # the reference gives no charge on final settlement
        line = position(engine, future.token)
        assert line.net_quantity == 0
        assert line.realised == rupees(sold.price - index.ltp) * future.lot_size
        order = engine.api.order(settled.order_id)
        assert order is not None and order.status is OrderStatus.COMPLETE
        assert order.status_message == (
            f"settled at expiry: NIFTY closed at {money(index.ltp)}; the future settles at the index"
        )
    finally:
        engine.close()


def test_expiry_settlement_when_the_desk_restarts_after_settling_nothing_settles_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    first = desk(db, datetime(2026, 12, 1, 15, 39, tzinfo=IST), always_open=True)
    try:
        run(first, 5)
        _, call, _ = chain_row(first, NIFTY_WEEKLY, -2)
        assert first.api.place_order(call.token, "BUY", call.lot_size, "MARKET").ok
        run(first, 2)
        run_past_the_close(first, datetime(2026, 12, 1, 15, 40, tzinfo=IST))
        assert len(settlement_fills(first, call.token)) == 1
        fills = len(first.orders.fills)
    finally:
        first.close()

    for at in (datetime(2026, 12, 1, 16, 0, tzinfo=IST), datetime(2026, 12, 2, 10, 0, tzinfo=IST)):
        again = desk(db, at, always_open=True)
        try:
            run(again, 10)
            assert len(again.orders.fills) == fills
            assert len(settlement_fills(again, call.token)) == 1
            assert position(again, call.token).net_quantity == 0
        finally:
            again.close()


def test_expiry_settlement_when_the_desk_was_closed_over_the_expiry_settles_once_at_the_next_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "book.db"
    first = desk(db, datetime(2026, 12, 1, 14, 0, tzinfo=IST))
    try:
        run(first, 5)
        _, call, _ = chain_row(first, NIFTY_WEEKLY, -3)
        assert first.api.place_order(call.token, "BUY", call.lot_size, "MARKET").ok
        run(first, 2)
        (opened,) = bought_at(first, call.token)
    finally:
        first.close()  # at 14:00: the desk is not running at the 15:40 close

    settled_fill: OrderFilled | None = None
    for at in (datetime(2026, 12, 2, 10, 0, tzinfo=IST), datetime(2026, 12, 2, 11, 0, tzinfo=IST)):
        engine = desk(db, at)
        try:
            # Today's listing no longer has the expired weekly: the venue knows it from its day's.
            assert engine.registry.find(call.token) is None
            index = index_quote(engine)
            run(engine, 5)
            (settled,) = settlement_fills(engine, call.token)
            assert position(engine, call.token).net_quantity == 0
            if settled_fill is None:
                settled_fill = settled
                # The previous close of the index's first quote of 2 Dec: 1 Dec's close.
                assert call.strike is not None
                intrinsic = max(index.close - call.strike, 0)
                assert settled.price == intrinsic
                # The OMS's order: the API's orderbook view cannot show an order on a contract
                # today's listing lacks (engine/api/orders.py looks its instrument up strictly).
                order = engine.orders.orders[settled.order_id]
                assert order.status is OrderStatus.COMPLETE and order.tag == SETTLEMENT_TAG
                assert order.status_message.startswith(
                    f"settled at expiry: NIFTY's previous close {money(index.close)}, as quoted "
                    "on 2 Dec 2026 (the desk was not running at the 15:40 close on 1 Dec 2026)"
                )
                stt = (rupees(intrinsic) * call.lot_size * EXERCISE_STT).quantize(
                    Decimal(1), ROUND_HALF_UP
                )
                assert settled.charges == Charges(stt=stt)
                assert position(engine, call.token).realised == (
                    rupees(intrinsic - opened.price) * call.lot_size
                )
            else:
                assert settled == settled_fill  # the one settlement, read from the journal
        finally:
            engine.close()


def test_expiry_settlement_when_a_backtest_holds_an_option_across_its_expiry_it_settles_in_the_run(
    tmp_path: Path,
) -> None:
    nifty = Instrument(
        InstrumentToken(256265),
        Exchange.NSE,
        Segment.INDICES,
        "NIFTY 50",
        "NIFTY",
        InstrumentType.INDEX,
        "NIFTY",
        Paise(5),
        1,
    )
    call = Instrument(
        InstrumentToken(12345602),
        Exchange.NFO,
        Segment.NFO_OPT,
        "NIFTY26D0125800CE",
        "NIFTY",
        InstrumentType.CE,
        "NIFTY",
        Paise(5),
        65,
        expiry=NIFTY_WEEKLY,
        strike=Paise(25_800_00),
        freeze_quantity=1800,
    )
    start = int(datetime(2026, 12, 1, 15, 30, tzinfo=IST).timestamp()) * 10**9
    bars = []
    for minute in range(16):
        at = start + minute * 60 * 10**9
        level = 25_900_00 + min(minute, 8) * 125  # the index rests at 25,910.00 from 15:38
        premium = 100_00 + minute * 100
        bars.append(Bar(nifty.token, at, level, level, level, level, 0))
        bars.append(Bar(call.token, at, premium, premium, premium, premium, 1_000))
    write_bar_recording(tmp_path / "bars", [nifty, call], bars)
    alert = tradingview_alert(
        "le", start + 2 * 60 * 10**9, symbol=f"NFO:{call.tradingsymbol}", lots=1, product="NRML"
    )
    (tmp_path / "alerts.jsonl").write_text(json.dumps(alert) + "\n", encoding="utf-8")

    result = run_backtest(
        BacktestRequest(
            "expiry", str(tmp_path / "bars"), signals=str(tmp_path / "alerts.jsonl"), mode="bars"
        ),
        tmp_path / "run",
    )

    (bought, settled) = result.trades
    intrinsic = 25_910_00 - 25_800_00
    assert (bought[2], settled[1:]) == ("BUY", (call.token, "SELL", 65, intrinsic))
    close_ns = int(datetime(2026, 12, 1, 15, 40, tzinfo=IST).timestamp()) * 10**9
    assert close_ns <= settled[0] <= close_ns + 10**9  # the first beat at or after the close
    assert result.gross_pnl == rupees(intrinsic - bought[4]) * 65
    fills = [
        OrderFilled.from_payload(row.order_id or "", row.ts_ns, row.payload)
        for row in read_sqlite_book(tmp_path / "run" / "book.db").entries
        if row.kind == OrderFilled.kind
    ]
    assert [f.settles for f in fills] == [False, True]
    assert fills[1].charges == Charges(stt=Decimal(11))  # 0.15 % of ₹7,150.00, to the rupee
    assert result.charges == sum((f.charges.total for f in fills if f.charges), Decimal(0))
