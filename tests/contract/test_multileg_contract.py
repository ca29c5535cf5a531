"""Multileg portfolios under the broker contract: the same portfolio definitions, through the same
test body, on the paper desk and on a Kite desk over the fake Kite (real REST and ticker wire
formats on 127.0.0.1). Nothing in the portfolio engine knows which broker it trades at.

A portfolio's mode says where its orders go, and the desk holds it to that: ``paper`` runs on the
paper venue, ``live`` at a live broker with a session. A portfolio whose mode is not the desk's is
refused in words, in both directions, so a paper portfolio never sends an order to Kite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.domain.events import (
    EngineMessage,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.orders import OrderStatus, OrderType, Side
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.status import PortfolioStatus
from tests.contract.option_desks import OPTION_DESKS, Chain, KiteOptionDesk, OptionDesk
from tests.multileg_support import journal_cash

pytestmark = pytest.mark.timeout(60)

TICK = Decimal("0.05")


@pytest.fixture(params=OPTION_DESKS, ids=lambda desk: desk.name)
async def desk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OptionDesk]:
    made = request.param(tmp_path)
    await made.open()
    try:
        yield made
    finally:
        await made.close()


# -- the market -----------------------------------------------------------------------------------


def premium(strike: Decimal, right: str, spot: Decimal) -> int:
    """Paise: intrinsic value plus a time value that falls away from the money (₹120 at the
    money, ₹1 less every 4 points, at least ₹5), on the 5-paise tick."""
    intrinsic = max(spot - strike, Decimal(0)) if right == "CE" else max(strike - spot, Decimal(0))
    time_value = max(Decimal(5), Decimal(120) - abs(strike - spot) / 4)
    price = ((intrinsic + time_value) / TICK).quantize(Decimal(1), ROUND_HALF_UP) * TICK
    return int(price * 100)


async def open_market(desk: OptionDesk) -> tuple[Chain, Decimal]:
    """The underlying at its middle listed strike, every option of the chain priced around it."""
    chain = desk.chain()
    spot = chain.strikes[len(chain.strikes) // 2]
    prices = {chain.spot_token: int(spot * 100)}
    for (strike, right), token in chain.tokens.items():
        prices[token] = premium(strike, right, spot)
    await desk.set_prices(prices)
    return chain, spot


# -- the portfolio ----------------------------------------------------------------------------------


def portfolio(name: str, mode: str, legs: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    """A NIFTY portfolio with no entry window or square-off time (the test runs at any hour),
    entered by the trader, chasing every second."""
    return {
        "defaults": {"name": name, "underlying": "NIFTY", "mode": mode, "product": "MIS"},
        "legs": legs,
        "execution": {
            "start": None,
            "end": None,
            "square_off": None,
            "manual_start": True,
            "chase_after": 1,
            **sections.pop("execution", {}),
        },
        **sections,
    }


STRADDLE_LEGS = [
    {"side": "SELL", "instrument": "CE", "strike": {"kind": "atm"}, "stop": {"value": "30"}},
    {"side": "SELL", "instrument": "PE", "strike": {"kind": "atm"}, "stop": {"value": "30"}},
]
CONDOR_LEGS = [
    {"side": "SELL", "instrument": "CE", "strike": {"kind": "atm", "offset": 2}},
    {"side": "SELL", "instrument": "PE", "strike": {"kind": "atm", "offset": -2}},
    {"side": "BUY", "instrument": "CE", "strike": {"kind": "atm", "offset": 5}, "hedge": True},
    {"side": "BUY", "instrument": "PE", "strike": {"kind": "atm", "offset": -5}, "hedge": True},
]


def view(desk: OptionDesk, name: str) -> Any:
    [found] = [v for v in desk.api.portfolios() if v.name == name]
    return found


def legs(desk: OptionDesk, name: str) -> list[Any]:
    return desk.api.portfolio_legs(name)


def orders_of(desk: OptionDesk, strategy: str, purpose: str | None = None) -> list[Any]:
    """The strategy's orders (of one purpose: E entry, X exit, S stop at the broker)."""
    return [
        o
        for o in desk.api.orders()
        if o.strategy == strategy and (purpose is None or read_tag(o.tag)[1] == purpose)  # type: ignore[index]
    ]


def submitted(desk: OptionDesk, strategy: str, purpose: str) -> list[OrderSubmitted]:
    return [
        e
        for e in desk.events
        if isinstance(e, OrderSubmitted)
        and e.request.strategy == strategy
        and read_tag(e.request.tag)[1] == purpose  # type: ignore[index]
    ]


def fills_of(desk: OptionDesk, order_ids: set[str]) -> list[tuple[int, OrderFilled]]:
    return [
        (at, e)
        for at, e in enumerate(desk.events)
        if isinstance(e, OrderFilled) and e.order_id in order_ids
    ]


def alarms(desk: OptionDesk) -> list[str]:
    """What the desk told the trader with a warning or an error."""
    return [
        e.text
        for e in desk.events
        if isinstance(e, EngineMessage) and e.severity in (Severity.WARNING, Severity.ERROR)
    ]


async def start_and_enter(desk: OptionDesk, data: dict[str, Any]) -> str:
    api = desk.api
    name = data["defaults"]["name"]
    assert api.save_portfolio(data) is None
    assert api.start_portfolio(name) is None
    assert view(desk, name).mode == desk.mode
    assert api.enter_portfolio(name) is None  # on a weekend too (run days are Mon to Fri)
    await desk.wait_until(
        lambda: view(desk, name).status is PortfolioStatus.STARTED,
        what=f"{name} entered (is {view(desk, name).status}: {view(desk, name).reason})",
    )
    return name


async def finish(desk: OptionDesk, name: str) -> None:
    await desk.wait_until(
        lambda: not view(desk, name).running,
        what=f"{name} done (is {view(desk, name).status}: {view(desk, name).reason})",
    )
    await desk.settle()


async def assert_pnl_is_the_journals(desk: OptionDesk, name: str) -> Decimal:
    """Completed, flat, nothing working here or at the broker; its MTM is the P&L per strategy
    and the journal's."""
    portfolio_view = view(desk, name)
    sid = portfolio_view.strategy_id
    assert portfolio_view.status is PortfolioStatus.COMPLETED, portfolio_view.reason
    assert [leg.state for leg in legs(desk, name)] == ["exited"] * len(legs(desk, name))
    assert all(o.status.is_terminal for o in orders_of(desk, sid)), orders_of(desk, sid)
    assert desk.working_at_broker() == 0
    [pnl] = [p for p in desk.api.strategy_pnl() if p.strategy == sid]
    assert (pnl.open_positions, pnl.unrealised) == (0, 0)
    assert portfolio_view.mtm == pnl.realised
    fills = sum(1 for e in desk.events if isinstance(e, OrderFilled))
    assert pnl.fills == fills
    await desk.close()
    assert Decimal(journal_cash(desk.db_path, sid)) / 100 == portfolio_view.mtm
    return portfolio_view.mtm


# -- the contract -----------------------------------------------------------------------------------


async def test_multileg_short_straddle_when_a_stop_at_the_broker_fills_and_then_the_target_hits(
    desk: OptionDesk,
) -> None:
    chain, spot = await open_market(desk)
    name = await start_and_enter(
        desk,
        portfolio(
            "Straddle",
            desk.mode,
            STRADDLE_LEGS,
            target={"combined": {"value": "1000"}},
            at_broker={"leg_stops": True},
        ),
    )
    sid = view(desk, name).strategy_id
    call, put = legs(desk, name)
    assert (call.strike, put.strike) == (spot, spot)
    assert (call.token, put.token) == (chain.token(spot, "CE"), chain.token(spot, "PE"))
    assert call.quantity == put.quantity == chain.lot_size

    # Each sold leg's 30 % stop rests at the broker as an SL order, waiting for its trigger.
    await desk.wait_until(
        lambda: [o.status for o in orders_of(desk, sid, "S")] == [OrderStatus.TRIGGER_PENDING] * 2,
        what="both stops resting at the broker",
    )
    stops = {o.instrument.token: o for o in orders_of(desk, sid, "S")}
    for leg in (call, put):
        stop = stops[leg.token]
        assert (stop.side, stop.order_type, stop.quantity) == (Side.BUY, OrderType.SL, leg.quantity)
        assert (
            stop.trigger_price
            == (leg.entry * Decimal("1.3") / TICK).to_integral_value("ROUND_CEILING") * TICK
        )
        assert stop.price > stop.trigger_price  # a stop-limit, its limit 5 % beyond the trigger

    # The call trades through its stop: the stop fills at the broker and that leg is out.
    call_stop = stops[call.token]
    through = int(call_stop.trigger_price * 100) + 10
    await desk.set_prices({call.token: through})
    await desk.wait_until(
        lambda: legs(desk, name)[0].state == "exited", what="the call's leg out by its stop"
    )
    assert desk.api.order(call_stop.order_id).status is OrderStatus.COMPLETE
    assert desk.api.order(call_stop.order_id).filled_quantity == call.quantity
    assert not orders_of(desk, sid, "X")  # its stop was its exit: nothing else was sent
    assert view(desk, name).status is PortfolioStatus.STARTED

    # The put collapses: the combined target is reached, and the put's resting stop is turned
    # into its exit (no second order is sent for the same units).
    await desk.set_prices({put.token: put_price(put.entry)})
    await finish(desk, name)
    assert view(desk, name).reason.startswith("combined target reached")
    put_stop = desk.api.order(stops[put.token].order_id)
    assert put_stop.status is OrderStatus.COMPLETE and put_stop.filled_quantity == put.quantity
    assert put_stop.order_type is not OrderType.SL  # converted to fill now
    assert not orders_of(desk, sid, "X")
    assert alarms(desk) == []
    mtm = await assert_pnl_is_the_journals(desk, name)
    assert mtm > 1000


def put_price(entry: Decimal) -> int:
    """A tenth of the entry, on the tick (paise)."""
    return int((entry / 10 / TICK).to_integral_value() * TICK * 100)


async def test_multileg_iron_condor_enters_hedges_first_and_on_square_off_exits_sold_legs_first(
    desk: OptionDesk,
) -> None:
    chain, spot = await open_market(desk)
    name = await start_and_enter(desk, portfolio("Condor", desk.mode, CONDOR_LEGS))
    sid = view(desk, name).strategy_id
    by_leg = legs(desk, name)
    step = chain.strikes[1] - chain.strikes[0]
    assert [leg.strike for leg in by_leg] == [
        spot + 2 * step,
        spot - 2 * step,
        spot + 5 * step,
        spot - 5 * step,
    ]
    assert [leg.state for leg in by_leg] == ["entered"] * 4

    # Hedges first: both bought legs filled before the first sold leg was sent.
    entries = submitted(desk, sid, "E")
    first_sell = next(desk.events.index(e) for e in entries if e.request.side is Side.SELL)
    bought = {e.order_id for e in entries if e.request.side is Side.BUY}
    hedge_fills = fills_of(desk, bought)
    assert sum(f.quantity for _, f in hedge_fills) == 2 * chain.lot_size
    assert max(at for at, _ in hedge_fills) < first_sell

    # The market moves; the trader squares the portfolio off.
    await desk.set_prices(
        {leg.token: premium(leg.strike, leg.instrument, spot + step) for leg in by_leg}
    )
    assert desk.api.square_off_portfolio(name) is None
    await finish(desk, name)
    assert view(desk, name).reason == "squared off by the trader"

    # Sold legs first: both bought back before the first hedge was sold.
    exits = submitted(desk, sid, "X")
    assert len(exits) == 4
    first_hedge_exit = next(desk.events.index(e) for e in exits if e.request.side is Side.SELL)
    bought_back = {e.order_id for e in exits if e.request.side is Side.BUY}
    buy_back_fills = fills_of(desk, bought_back)
    assert sum(f.quantity for _, f in buy_back_fills) == 2 * chain.lot_size
    assert max(at for at, _ in buy_back_fills) < first_hedge_exit
    assert alarms(desk) == []
    await assert_pnl_is_the_journals(desk, name)


async def test_multileg_entry_that_does_not_fill_is_re_priced_by_the_chase_and_fills_where_it_rests(
    desk: OptionDesk,
) -> None:
    chain, spot = await open_market(desk)
    call, put = chain.token(spot, "CE"), chain.token(spot, "PE")
    opening = {call: premium(spot, "CE", spot), put: premium(spot, "PE", spot)}
    await desk.set_prices(opening, liquid=False)  # no one bids: the sells rest
    data = portfolio(
        "Chased",
        desk.mode,
        STRADDLE_LEGS,
        execution={"chase_after": 1, "chase_retries": 1, "then_market": False},
    )
    assert desk.api.save_portfolio(data) is None
    assert desk.api.start_portfolio("Chased") is None
    assert desk.api.enter_portfolio("Chased") is None
    sid = view(desk, "Chased").strategy_id

    def entry_prices() -> dict[int, Decimal | None]:
        return {int(o.instrument.token): o.price for o in orders_of(desk, sid, "E")}

    # Each sell rests at its marketable limit: 1 % under the last price (no bid), on the tick.
    first = {token: below(ltp) for token, ltp in opening.items()}
    await desk.wait_until(lambda: entry_prices() == first, what=f"entries at {first}")
    await desk.wait_until(
        lambda: all(o.status is OrderStatus.OPEN for o in orders_of(desk, sid, "E")),
        what="entries open at the broker",
    )
    # The market falls 10 %, still without bids: the chase re-prices each sell once.
    fallen = {token: ltp * 9 // 10 // 5 * 5 for token, ltp in opening.items()}
    await desk.set_prices(fallen, liquid=False)
    second = {token: below(ltp) for token, ltp in fallen.items()}
    await desk.wait_until(lambda: entry_prices() == second, what=f"entries re-priced {second}")
    await asyncio.sleep(1.5)  # a chase period and more: its one re-pricing was its last
    assert entry_prices() == second
    assert view(desk, "Chased").status is PortfolioStatus.UNDER_EXECUTION
    for order in orders_of(desk, sid, "E"):
        assert order.status is OrderStatus.OPEN
        assert prices_it_had(desk, order.order_id) == [
            first[int(order.instrument.token)],
            second[int(order.instrument.token)],
        ]

    # Buyers come at the fallen price: each sell fills where it rests.
    await desk.set_prices(fallen)
    await desk.wait_until(
        lambda: view(desk, "Chased").status is PortfolioStatus.STARTED, what="entered"
    )
    assert {leg.token: leg.entry for leg in legs(desk, "Chased")} == second
    assert desk.api.square_off_portfolio("Chased") is None
    await finish(desk, "Chased")
    assert alarms(desk) == []
    await assert_pnl_is_the_journals(desk, "Chased")


async def test_multileg_square_off_while_entries_are_unacknowledged_cancels_them_when_it_can(
    desk: OptionDesk,
) -> None:
    chain, spot = await open_market(desk)
    call, put = chain.token(spot, "CE"), chain.token(spot, "PE")
    quiet = {call: premium(spot, "CE", spot), put: premium(spot, "PE", spot)}
    await desk.set_prices(quiet, liquid=False)  # the entries rest
    desk.answer_placements_after(0.5)  # a broker over a network: the cancel waits for the ack
    assert desk.api.save_portfolio(portfolio("Undone", desk.mode, STRADDLE_LEGS)) is None
    assert desk.api.start_portfolio("Undone") is None
    assert desk.api.enter_portfolio("Undone") is None
    sid = view(desk, "Undone").strategy_id
    await desk.wait_until(lambda: len(orders_of(desk, sid, "E")) == 2, what="entries sent")
    sent = [o.status for o in orders_of(desk, sid, "E")]
    # In process (paper) an order is acknowledged as it is placed; Kite's answer is late.
    assert sent == [OrderStatus.OPEN if desk.in_process else OrderStatus.PENDING_SUBMIT] * 2

    assert desk.api.square_off_portfolio("Undone") is None

    await finish(desk, "Undone")
    assert view(desk, "Undone").status is PortfolioStatus.COMPLETED
    assert view(desk, "Undone").reason == "squared off by the trader"
    assert [o.status for o in orders_of(desk, sid)] == [OrderStatus.CANCELLED] * 2
    assert not [e for e in desk.events if isinstance(e, OrderFilled)]
    assert desk.working_at_broker() == 0
    assert alarms(desk) == []
    assert view(desk, "Undone").mtm == 0
    assert view(desk, "Undone").strategy_id not in {p.strategy for p in desk.api.strategy_pnl()}


def below(ltp: int) -> Decimal:
    """A sell's marketable limit with no bid: 1 % under the last price, down to the tick."""
    return Decimal(ltp * 99 // 100 // 5 * 5) / 100


def prices_it_had(desk: OptionDesk, order_id: str) -> list[Decimal]:
    """The limit prices an order had, in order, as its events say (repeats dropped)."""
    seen: list[Decimal] = []
    for event in desk.api.order_history(order_id):
        if isinstance(event, OrderSubmitted):
            paise = event.request.price
        elif isinstance(event, OrderStatusChanged):
            paise = event.price
        else:
            continue
        if paise is not None and (not seen or seen[-1] != Decimal(paise) / 100):
            seen.append(Decimal(paise) / 100)
    return seen


# -- mode and session -------------------------------------------------------------------------------


async def test_multileg_portfolio_in_the_mode_the_desk_does_not_trade_is_refused_in_words(
    desk: OptionDesk,
) -> None:
    await open_market(desk)
    other = "live" if desk.mode == "paper" else "paper"
    api = desk.api
    assert api.save_portfolio(portfolio("Elsewhere", other, STRADDLE_LEGS)) is None

    refusal = api.start_portfolio("Elsewhere")

    assert refusal is not None
    if other == "live":
        assert refusal == (
            "Elsewhere trades live and the desk is on the paper market; live trading needs a "
            "broker login"
        )
    else:
        assert refusal == (
            "Elsewhere is a paper portfolio and this desk sends its orders to Kite: set its mode "
            "to live to trade it here, or run it on a paper desk"
        )
    assert not view(desk, "Elsewhere").running
    assert api.orders() == []


async def test_multileg_live_portfolio_when_the_kite_session_has_ended_is_refused_in_words(
    desk: OptionDesk,
) -> None:
    if desk.mode != "live":
        pytest.skip(f"{desk.name}: orders go to the paper venue: a live portfolio is refused")
    assert isinstance(desk, KiteOptionDesk)
    await open_market(desk)
    api = desk.api
    assert api.save_portfolio(portfolio("Live", "live", STRADDLE_LEGS)) is None
    waiting = portfolio("Waiting", "live", STRADDLE_LEGS, execution={"manual_start": False})
    waiting["execution"]["combined_premium_at_least"] = "100000"  # never: it waits
    assert api.save_portfolio(waiting) is None
    assert api.start_portfolio("Waiting") is None  # logged in: it starts, waiting to enter
    assert view(desk, "Waiting").status in (PortfolioStatus.PENDING, PortfolioStatus.MONITORING)

    await desk.end_session()

    assert api.start_portfolio("Live") == (
        "Live trades live and not logged in to Kite: log in before starting live"
    )
    assert not view(desk, "Live").running
    # The one already waiting does not enter either: it is refused at entry, in words.
    assert api.enter_portfolio("Waiting") is None
    assert view(desk, "Waiting").status is PortfolioStatus.REJECTED
    assert view(desk, "Waiting").reason == (
        "not entered: not logged in to Kite: log in before starting live"
    )
    assert api.orders() == []
    assert desk.kite.oms.placed == 0
