"""The simulated NSE market: universe, determinism, prices, books, pacing, and run()."""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from scipy.optimize import brentq

from engine.calendar import MarketCalendar, load_calendar
from engine.core.clock import IST
from engine.domain.instruments import Instrument, InstrumentType, Segment, make_token
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.sim_spec import load_universe_spec
from engine.marketdata.sim_symbols import equity_tick_size, option_symbol
from engine.marketdata.sim_universe import derivative_exchange_token, former_contract
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.options import black76, years_to_expiry

# A Tuesday in October 2026, mid-session: NIFTY's weekly expires today at 15:30.
SESSION = datetime(2026, 10, 13, 10, 0, tzinfo=IST)
SUNDAY = datetime(2026, 10, 11, 11, 0, tzinfo=IST)
NIFTY_50 = 256265
STOCKS = {
    "RELIANCE",
    "HDFCBANK",
    "ICICIBANK",
    "INFY",
    "TCS",
    "SBIN",
    "BHARTIARTL",
    "ITC",
    "LT",
    "AXISBANK",
}


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return load_calendar(None)


def _market(calendar: MarketCalendar, at: datetime = SESSION, **config: object) -> SimulatedMarket:
    return SimulatedMarket(SimulatedMarketConfig(**config), lambda: at, calendar)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def market(calendar: MarketCalendar) -> SimulatedMarket:
    market = _market(calendar)
    for _ in range(20):
        market.step(0.5)
    return market


def _by_kind(market: SimulatedMarket) -> dict[InstrumentType, list[Instrument]]:
    kinds: dict[InstrumentType, list[Instrument]] = defaultdict(list)
    for instr in market.instruments():
        kinds[instr.instrument_type].append(instr)
    return kinds


def _years_to(expiry: date, now: datetime) -> float:
    return years_to_expiry(now, expiry)


# --------------------------------------------------------------------------------- determinism


def test_step_when_same_seed_and_same_steps_gives_identical_ticks(calendar: MarketCalendar) -> None:
    first, second = _market(calendar, seed=11), _market(calendar, seed=11)
    for seconds in (0.25, 1.0, 0.1, 3.0):
        assert first.step(seconds) == second.step(seconds)
    assert first.snapshot() == second.snapshot()


def test_step_when_seeds_differ_gives_different_ticks(calendar: MarketCalendar) -> None:
    first, second = _market(calendar, seed=1), _market(calendar, seed=2)
    assert [i.tradingsymbol for i in first.instruments()] == [
        i.tradingsymbol for i in second.instruments()
    ]
    assert first.step(1.0) != second.step(1.0)


def test_snapshot_and_quote_when_called_between_steps_do_not_change_later_ticks(
    calendar: MarketCalendar,
) -> None:
    watched, unwatched = _market(calendar), _market(calendar)
    watched.step(1.0)
    unwatched.step(1.0)
    watched.snapshot()
    watched.quote(watched.instruments()[5].token)
    watched.theoretical(watched.instruments()[7].token)
    assert watched.step(1.0) == unwatched.step(1.0)


# ------------------------------------------------------------------------------------ universe


def test_universe_when_default_config_lists_indices_futures_chains_and_stocks(
    calendar: MarketCalendar, market: SimulatedMarket
) -> None:
    kinds = _by_kind(market)
    indices = {i.tradingsymbol: i for i in kinds[InstrumentType.INDEX]}
    assert set(indices) == {"NIFTY 50", "NIFTY BANK", "NIFTY FIN SERVICE"}
    assert indices["NIFTY 50"].token == 256265 and indices["NIFTY 50"].exchange_token == 1001
    assert indices["NIFTY BANK"].token == 260105 and indices["NIFTY BANK"].exchange_token == 1016
    assert {i.underlying for i in indices.values()} == {"NIFTY", "BANKNIFTY", "FINNIFTY"}
    assert not any(i.tradable for i in indices.values())

    near_month = calendar.monthly_expiries(SESSION.date(), 1)[0]
    futures = kinds[InstrumentType.FUT]
    assert sorted(f.tradingsymbol for f in futures) == sorted(
        f"{u}{near_month:%y}{near_month.strftime('%b').upper()}FUT"
        for u in ("NIFTY", "BANKNIFTY", "FINNIFTY")
    )

    assert {i.tradingsymbol for i in kinds[InstrumentType.EQ]} == STOCKS

    monthly = calendar.monthly_expiries(SESSION.date(), 2)
    weekly = calendar.weekly_expiries(SESSION.date(), 2)
    expiries: dict[str, set[date]] = defaultdict(set)
    per_expiry = Counter()
    for option in kinds[InstrumentType.CE] + kinds[InstrumentType.PE]:
        assert option.expiry is not None
        expiries[option.underlying].add(option.expiry)
        per_expiry[(option.underlying, option.expiry)] += 1
    assert expiries["NIFTY"] == set(weekly) | set(monthly)
    # BANKNIFTY and FINNIFTY are monthly-only since Sep 2025.
    assert expiries["BANKNIFTY"] == expiries["FINNIFTY"] == set(monthly)
    assert set(per_expiry.values()) == {2 * 61}  # 30 strikes each side of ATM, CE and PE


def test_universe_when_default_config_has_nse_lot_tick_and_freeze_sizes(
    market: SimulatedMarket,
) -> None:
    lots = {"NIFTY": 65, "BANKNIFTY": 30, "FINNIFTY": 60}
    freeze = {"NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800}
    future_ticks = {"NIFTY": 10, "BANKNIFTY": 20, "FINNIFTY": 10}
    for instr in market.instruments():
        if instr.is_derivative:
            assert instr.lot_size == lots[instr.underlying]
            assert instr.freeze_quantity == freeze[instr.underlying]
            expected_tick = 5 if instr.is_option else future_ticks[instr.underlying]
            assert instr.tick_size == expected_tick, instr
            assert instr.segment in (Segment.NFO_OPT, Segment.NFO_FUT)
        elif instr.instrument_type is InstrumentType.EQ:
            assert instr.lot_size == 1 and instr.freeze_quantity is None
            price, _ = market.theoretical(instr.token)
            assert 250 < price < 5000  # the bands the defaults sit in
            assert instr.tick_size == (5 if price < 1000 else 10)
    assert market.instruments()[0].max_order_quantity() is None  # an index


def test_universe_when_listed_has_unique_kite_style_tokens(market: SimulatedMarket) -> None:
    instruments = market.instruments()
    assert len({i.token for i in instruments}) == len(instruments)
    assert len({i.key for i in instruments}) == len(instruments)
    for instr in instruments:
        assert instr.token == make_token(instr.exchange_token, instr.segment)


def test_universe_tokens_when_listed_on_ten_days_across_expiries_name_one_contract_for_good(
    calendar: MarketCalendar,
) -> None:
    """A journal holds positions by token and the listing is made again at each start: a token
    must name the same contract every day it is listed (here across the weekly expiry of 1 Dec
    and the monthly of 23 Nov 2026), and never another."""
    contract_of: dict[int, str] = {}
    token_of: dict[str, int] = {}
    day = datetime(2026, 11, 20, 10, 0, tzinfo=IST)
    for _ in range(10):
        day += timedelta(days=1)
        for instr in SimulatedMarket(
            SimulatedMarketConfig(), lambda at=day: at, calendar
        ).instruments():
            assert contract_of.setdefault(instr.token, instr.tradingsymbol) == instr.tradingsymbol
            assert token_of.setdefault(instr.tradingsymbol, instr.token) == instr.token
            assert 0 < instr.token < 2**53
    assert len({c for c in contract_of.values() if "26NOV" in c}) > 0  # an expired expiry seen


def test_universe_former_contract_when_expired_names_each_contract_as_its_listing_did(
    calendar: MarketCalendar,
) -> None:
    """Every future and option listed on a day before an expiry is named again from its token
    alone once it has expired (weekly and monthly symbols alike), not tradable; a contract not
    yet expired, an index, a stock and a token of no contract are not."""
    listed_at = datetime(2026, 11, 20, 10, 0, tzinfo=IST)
    market = SimulatedMarket(SimulatedMarketConfig(), lambda: listed_at, calendar)
    later = datetime(2027, 6, 1, 10, 0, tzinfo=IST)  # past every contract listed on 20 Nov
    spec = load_universe_spec(SimulatedMarketConfig().universe_path)
    derivatives = [i for i in market.instruments() if i.is_derivative]
    assert {i.instrument_type for i in derivatives} == {
        InstrumentType.FUT,
        InstrumentType.CE,
        InstrumentType.PE,
    }
    for instr in derivatives:
        former = former_contract(spec, calendar, instr.token, later)
        assert former == replace(instr, listed=False, freeze_quantity=None), instr.key
        assert former is not None and not former.tradable
        assert former_contract(spec, calendar, instr.token, listed_at) is None  # still listed
    assert any("NIFTY26D01" in i.tradingsymbol for i in derivatives)  # a weekly among them
    for other in market.instruments():
        if not other.is_derivative:
            assert former_contract(spec, calendar, other.token, later) is None
    nowhere = derivative_exchange_token(7, date(2026, 12, 1), InstrumentType.CE, Paise(2_575_000))
    assert former_contract(spec, calendar, make_token(nowhere, Segment.NFO_OPT), later) is None


def test_universe_derivative_token_when_the_contract_does_not_fit_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="whole rupees"):
        derivative_exchange_token(0, date(2026, 12, 1), InstrumentType.CE, Paise(2_575_050))
    with pytest.raises(ValueError, match="index 8"):
        derivative_exchange_token(8, date(2026, 12, 1), InstrumentType.PE, Paise(2_575_000))
    assert derivative_exchange_token(0, date(2026, 12, 1), InstrumentType.FUT, None) != (
        derivative_exchange_token(1, date(2026, 12, 1), InstrumentType.FUT, None)
    )


def test_universe_when_listed_uses_kite_tradingsymbol_formats(
    calendar: MarketCalendar, market: SimulatedMarket
) -> None:
    monthly_format = re.compile(r"^(NIFTY|BANKNIFTY|FINNIFTY)\d{2}[A-Z]{3}\d+(CE|PE)$")
    weekly_format = re.compile(r"^NIFTY\d{2}[1-9OND]\d{2}\d+(CE|PE)$")
    monthly = set(calendar.monthly_expiries(SESSION.date(), 2))
    for instr in market.instruments():
        if not instr.is_option:
            continue
        assert instr.expiry is not None and instr.strike is not None
        strike_text = str(instr.strike // 100)
        assert instr.tradingsymbol.endswith(f"{strike_text}{instr.instrument_type}")
        if instr.expiry in monthly:
            assert monthly_format.match(instr.tradingsymbol), instr.tradingsymbol
        else:
            assert weekly_format.match(instr.tradingsymbol), instr.tradingsymbol


def test_option_symbol_when_weekly_uses_single_character_month_code() -> None:
    assert (
        option_symbol(
            "NIFTY", date(2026, 12, 1), Paise(2_600_000), InstrumentType.CE, monthly=False
        )
        == "NIFTY26D0126000CE"
    )
    assert (
        option_symbol(
            "NIFTY", date(2026, 10, 6), Paise(2_505_000), InstrumentType.PE, monthly=False
        )
        == "NIFTY26O0625050PE"
    )
    assert (
        option_symbol(
            "NIFTY", date(2026, 12, 29), Paise(2_600_000), InstrumentType.CE, monthly=True
        )
        == "NIFTY26DEC26000CE"
    )
    assert (
        option_symbol("ITC", date(2026, 12, 29), Paise(41_250), InstrumentType.CE, monthly=True)
        == "ITC26DEC412.5CE"
    )


def test_equity_tick_size_when_price_in_each_band_follows_nse_table() -> None:
    assert [equity_tick_size(p) for p in (99.5, 250, 999.95, 1000, 4999, 5000, 12000, 25000)] == [
        1,
        5,
        5,
        10,
        10,
        50,
        100,
        500,
    ]
    assert equity_tick_size(Decimal("249.99")) == 1


def test_universe_when_strikes_configured_lists_that_many_at_that_step(
    calendar: MarketCalendar,
) -> None:
    market = _market(calendar, strikes_each_side=5, strike_steps={"NIFTY": 100})
    strikes = sorted(
        {i.strike for i in market.instruments() if i.underlying == "NIFTY" and i.is_option}
    )
    assert len(strikes) == 11
    assert {b - a for a, b in itertools.pairwise(strikes)} == {10_000}
    spot, _ = market.theoretical(NIFTY_50)
    assert abs(strikes[5] / 100 - spot) <= 50  # centred on the money


def test_universe_when_grown_for_benchmarks_exceeds_3000_instruments(
    calendar: MarketCalendar,
) -> None:
    market = _market(calendar, strikes_each_side=110)
    assert len(market.instruments()) > 3000
    assert len(market.snapshot()) == len(market.instruments())


def test_universe_when_loaded_into_registry_gives_full_option_chains(
    market: SimulatedMarket,
) -> None:
    registry = InstrumentRegistry(market.instruments())
    assert registry.underlyings() == ["BANKNIFTY", "FINNIFTY", "NIFTY"]
    for underlying in registry.underlyings():
        for expiry in registry.expiries(underlying):
            chain = registry.chain(underlying, expiry)
            if not chain:
                continue  # the futures' expiry may carry no options of its own
            assert len(chain) == 61
            assert all(call is not None and put is not None for _, call, put in chain)
    assert registry.search("NIFTY 50")[0].token == NIFTY_50


# --------------------------------------------------------------------------------- quotes, books


def _check_book(tick: Tick, instr: Instrument) -> None:
    tick_size = instr.tick_size
    assert tick.ltp > 0 and tick.ltp % tick_size == 0, (instr, tick)
    if instr.instrument_type is InstrumentType.INDEX:
        assert tick.bid == tick.ask == 0 and tick.bids == tick.asks == ()
        return
    assert tick.bid % tick_size == 0 and tick.ask % tick_size == 0
    assert 0 < tick.bid < tick.ask
    if instr.is_option:
        assert tick.bid >= 5  # a quoted option bids at least 0.05
    assert len(tick.asks) == 5 and 1 <= len(tick.bids) <= 5
    assert tick.bids[0][:2] == (tick.bid, tick.bid_qty)
    assert tick.asks[0][:2] == (tick.ask, tick.ask_qty)
    bid_prices = [level[0] for level in tick.bids]
    ask_prices = [level[0] for level in tick.asks]
    assert bid_prices == sorted(bid_prices, reverse=True) and len(set(bid_prices)) == len(
        bid_prices
    )
    assert ask_prices == sorted(ask_prices) and len(set(ask_prices)) == len(ask_prices)
    for price, quantity, orders in tick.bids + tick.asks:
        assert price > 0 and price % tick_size == 0
        assert quantity > 0 and quantity % instr.lot_size == 0
        assert 1 <= orders <= quantity // instr.lot_size
    assert tick.volume >= tick.last_qty >= 0
    assert tick.close > 0 and tick.close % tick_size == 0
    if instr.is_derivative:
        assert tick.oi % instr.lot_size == 0


def test_snapshot_when_taken_quotes_every_instrument_on_its_tick_grid(
    market: SimulatedMarket,
) -> None:
    instruments = {i.token: i for i in market.instruments()}
    snapshot = market.snapshot()
    assert sorted(t.token for t in snapshot) == sorted(instruments)
    for tick in snapshot:
        _check_book(tick, instruments[tick.token])


def test_step_when_ticks_emitted_books_are_valid_and_timestamped(calendar: MarketCalendar) -> None:
    market = _market(calendar, ticks_per_second=2000)
    instruments = {i.token: i for i in market.instruments()}
    start_ns = int(SESSION.timestamp()) * 1_000_000_000
    for step_no in range(1, 6):
        ticks = market.step(0.5)
        assert ticks
        for tick in ticks:
            _check_book(tick, instruments[tick.token])
            assert tick.ts_ns == start_ns + step_no * 500_000_000
            if instruments[tick.token].tradable:
                assert tick.last_qty > 0 and tick.bid <= tick.ltp <= tick.ask


def test_quote_when_token_known_matches_snapshot_prices(market: SimulatedMarket) -> None:
    snapshot = {t.token: t for t in market.snapshot()}
    option = next(i for i in market.instruments() if i.is_option)
    quote = market.quote(option.token)
    assert (quote.ltp, quote.bid, quote.ask, quote.volume, quote.oi) == (
        snapshot[option.token].ltp,
        snapshot[option.token].bid,
        snapshot[option.token].ask,
        snapshot[option.token].volume,
        snapshot[option.token].oi,
    )
    with pytest.raises(KeyError, match="no instrument with token 12345"):
        market.quote(12345)


def test_spread_when_option_far_out_of_the_money_is_relatively_wider(
    market: SimulatedMarket,
) -> None:
    spot, _ = market.theoretical(NIFTY_50)
    calls = [
        i
        for i in market.instruments()
        if i.underlying == "NIFTY" and i.instrument_type is InstrumentType.CE
    ]
    monthly_calls = [i for i in calls if i.expiry == max(c.expiry or date.min for c in calls)]
    at_the_money = min(monthly_calls, key=lambda i: abs((i.strike or 0) / 100 - spot))
    far_out = max(monthly_calls, key=lambda i: i.strike or 0)
    near_quote, far_quote = market.quote(at_the_money.token), market.quote(far_out.token)
    assert far_quote.ask < near_quote.bid  # the wing is the cheap one
    # Relative to price, the cheap wing's spread is several times the at-the-money one.
    assert (far_quote.ask - far_quote.bid) / far_quote.ask > 3 * (
        (near_quote.ask - near_quote.bid) / near_quote.ask
    )


# ----------------------------------------------------------------------------- option pricing


def test_theoretical_when_future_is_spot_with_carry(market: SimulatedMarket) -> None:
    future = next(
        i
        for i in market.instruments()
        if i.instrument_type is InstrumentType.FUT and i.underlying == "NIFTY"
    )
    spot, _ = market.theoretical(NIFTY_50)
    price, iv = market.theoretical(future.token)
    assert future.expiry is not None
    assert price == pytest.approx(spot * math.exp(0.065 * _years_to(future.expiry, market.now)))
    assert math.isnan(iv)


def test_theoretical_when_call_and_put_share_a_strike_put_call_parity_holds(
    market: SimulatedMarket,
) -> None:
    spot = {
        i.underlying: market.theoretical(i.token)[0]
        for i in market.instruments()
        if i.instrument_type is InstrumentType.INDEX
    }
    snapshot = {t.token: t for t in market.snapshot()}
    pairs: dict[tuple[str, date, int], dict[InstrumentType, Instrument]] = defaultdict(dict)
    for instr in market.instruments():
        if instr.is_option and instr.expiry is not None and instr.strike is not None:
            pairs[(instr.underlying, instr.expiry, instr.strike)][instr.instrument_type] = instr
    checked = 0
    for (underlying, expiry, strike), legs in pairs.items():
        years = _years_to(expiry, market.now)
        forward = spot[underlying] * math.exp(0.065 * years)
        parity = math.exp(-0.065 * years) * (forward - strike / 100)
        call, put = legs[InstrumentType.CE], legs[InstrumentType.PE]
        theo_gap = market.theoretical(call.token)[0] - market.theoretical(put.token)[0]
        assert theo_gap == pytest.approx(parity, abs=1e-6)
        # Quotes: the synthetic forward's bid/ask brackets parity within a tick or two.
        c, p = snapshot[call.token], snapshot[put.token]
        synthetic_bid, synthetic_ask = (c.bid - p.ask) / 100, (c.ask - p.bid) / 100
        assert synthetic_bid - 0.1 <= parity <= synthetic_ask + 0.1, (call, put)
        checked += 1
    assert checked > 400


def _price_error(
    vol: float, forward: float, strike: float, years: float, is_call: bool, target: float
) -> float:
    return float(black76.price(forward, strike, years, 0.065, vol, is_call)) - target


def test_theoretical_when_iv_solved_from_price_recovers_the_smile(market: SimulatedMarket) -> None:
    spot = {
        i.underlying: market.theoretical(i.token)[0]
        for i in market.instruments()
        if i.instrument_type is InstrumentType.INDEX
    }
    solved = 0
    for instr in market.instruments():
        if not instr.is_option or instr.expiry is None or instr.strike is None:
            continue
        price, smile_iv = market.theoretical(instr.token)
        if price < 0.05:
            continue  # below a tick the price carries too little vega to pin a vol down
        years = _years_to(instr.expiry, market.now)
        forward = spot[instr.underlying] * math.exp(0.065 * years)
        is_call = instr.instrument_type is InstrumentType.CE
        strike = instr.strike / 100
        intrinsic = math.exp(-0.065 * years) * max((forward - strike) * (1 if is_call else -1), 0)
        if price - intrinsic < 1e-4:
            continue  # deep in the money: no time value left to invert

        recovered = brentq(
            _price_error, 1e-4, 5.0, args=(forward, strike, years, is_call, price), xtol=1e-12
        )
        assert recovered == pytest.approx(smile_iv, abs=1e-5), instr
        solved += 1
    assert solved > 300


def test_theoretical_when_chain_priced_has_skew_and_no_butterfly_arbitrage(
    market: SimulatedMarket,
) -> None:
    chains: dict[tuple[str, date, InstrumentType], list[tuple[int, float, float]]] = defaultdict(
        list
    )
    for instr in market.instruments():
        if instr.is_option and instr.expiry is not None and instr.strike is not None:
            price, iv = market.theoretical(instr.token)
            chains[(instr.underlying, instr.expiry, instr.instrument_type)].append(
                (instr.strike, price, iv)
            )
    for (_, _, kind), rows in chains.items():
        rows.sort()
        prices = np.array([price for _, price, _ in rows])
        ivs = np.array([iv for _, _, iv in rows])
        slopes = np.diff(prices)
        assert np.all(slopes <= 1e-9) if kind is InstrumentType.CE else np.all(slopes >= -1e-9)
        assert np.all(prices[:-2] - 2 * prices[1:-1] + prices[2:] >= -1e-9)  # convex in strike
        assert ivs[0] > ivs[len(ivs) // 2]  # low strikes trade at a higher vol (put skew)


def test_theoretical_when_token_unknown_raises_key_error(market: SimulatedMarket) -> None:
    with pytest.raises(KeyError):
        market.theoretical(1)


# ----------------------------------------------------------------------------- trading activity


def test_step_when_run_for_a_while_ticks_near_the_configured_rate(calendar: MarketCalendar) -> None:
    market = _market(calendar, ticks_per_second=400)
    counts = [len(market.step(0.5)) for _ in range(200)]
    assert np.mean(counts) == pytest.approx(200, rel=0.1)


def test_step_when_options_trade_they_cluster_near_the_money(calendar: MarketCalendar) -> None:
    market = _market(calendar, ticks_per_second=400)
    spot, _ = market.theoretical(NIFTY_50)
    instruments = {i.token: i for i in market.instruments()}
    distances = []
    for _ in range(50):
        for tick in market.step(1.0):
            instr = instruments[tick.token]
            if instr.underlying == "NIFTY" and instr.is_option and instr.strike is not None:
                distances.append(abs(instr.strike / 100 - spot))
    assert distances
    listed = [
        abs(i.strike / 100 - spot)
        for i in instruments.values()
        if i.underlying == "NIFTY" and i.is_option and i.strike is not None
    ]
    assert np.median(distances) < 0.6 * np.median(listed)


def test_step_when_market_trades_volume_grows_and_open_interest_moves(
    calendar: MarketCalendar,
) -> None:
    market = _market(calendar)
    before = {t.token: t for t in market.snapshot()}
    for _ in range(40):
        market.step(1.0)
    after = {t.token: t for t in market.snapshot()}
    future = next(i for i in market.instruments() if i.instrument_type is InstrumentType.FUT)
    stock = next(i for i in market.instruments() if i.instrument_type is InstrumentType.EQ)
    assert after[future.token].volume > before[future.token].volume == 0
    assert after[stock.token].volume > 0 and after[stock.token].oi == 0
    assert before[future.token].oi > 0
    moved = sum(after[t].oi != before[t].oi for t in after)
    assert moved > 20
    assert after[future.token].ltp != before[future.token].ltp


def test_step_when_indices_move_they_move_together(calendar: MarketCalendar) -> None:
    market = _market(calendar)
    nifty_bank = next(i.token for i in market.instruments() if i.tradingsymbol == "NIFTY BANK")
    levels = []
    for _ in range(400):
        market.step(5.0)
        levels.append((market.theoretical(NIFTY_50)[0], market.theoretical(nifty_bank)[0]))
    returns = np.diff(np.log(np.array(levels)), axis=0)
    assert np.corrcoef(returns.T)[0, 1] > 0.5


def test_step_when_seconds_not_positive_raises(calendar: MarketCalendar) -> None:
    market = _market(calendar)
    for bad in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="positive number of seconds"):
            market.step(bad)


def test_step_when_past_expiry_stops_trading_expired_contracts(calendar: MarketCalendar) -> None:
    market = _market(calendar)
    todays = {i.token for i in market.instruments() if i.is_option and i.expiry == SESSION.date()}
    assert todays  # NIFTY's weekly expires on the session date
    market.step(6 * 3600.0)  # past 15:30
    traded = {t.token for _ in range(20) for t in market.step(1.0)}
    assert not traded & todays
    price, iv = market.theoretical(next(iter(todays)))
    assert math.isnan(iv) and price >= 0


# ----------------------------------------------------------------------------- config, run()


def test_config_when_values_invalid_raises_naming_them() -> None:
    with pytest.raises(ValueError, match="ticks_per_second must be a positive number"):
        SimulatedMarketConfig(ticks_per_second=0)
    with pytest.raises(ValueError, match="strikes_each_side must be a non-negative int"):
        SimulatedMarketConfig(strikes_each_side=-1)
    with pytest.raises(ValueError, match=r"strike_steps\['NIFTY'\]"):
        SimulatedMarketConfig(strike_steps={"NIFTY": 0})
    with pytest.raises(TypeError):
        SimulatedMarketConfig(unknown_setting=1)  # type: ignore[call-arg]


def test_market_when_clock_naive_refuses(calendar: MarketCalendar) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        naive = datetime(2026, 10, 13, 10, 0)  # noqa: DTZ001 - the mistake under test
        SimulatedMarket(SimulatedMarketConfig(), lambda: naive, calendar)


async def _run_for(market: SimulatedMarket, seconds: float) -> tuple[list[Tick], bool]:
    published: list[Tick] = []
    stop = asyncio.Event()
    task = asyncio.create_task(market.run(published.append, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, timeout=2.0)
    return published, task.done()


def test_run_when_market_open_publishes_ticks_and_stops_on_the_event(
    calendar: MarketCalendar,
) -> None:
    market = _market(calendar, batch_interval=0.02, ticks_per_second=2000)
    published, finished = asyncio.run(_run_for(market, 0.2))
    assert finished
    assert len(published) > 50
    assert market.now > SESSION


def test_run_when_calendar_closed_publishes_nothing(calendar: MarketCalendar) -> None:
    assert not calendar.is_open(SUNDAY, "FO")
    market = _market(calendar, SUNDAY, batch_interval=0.02, closed_poll_seconds=0.02)
    published, finished = asyncio.run(_run_for(market, 0.15))
    assert finished
    assert published == []


def test_run_when_always_open_publishes_while_calendar_closed(calendar: MarketCalendar) -> None:
    market = _market(calendar, SUNDAY, batch_interval=0.02, always_open=True, ticks_per_second=2000)
    published, finished = asyncio.run(_run_for(market, 0.15))
    assert finished
    assert published
    assert {t.ts_ns for t in published} != {published[0].ts_ns}


def test_run_when_stop_already_set_returns_at_once(calendar: MarketCalendar) -> None:
    market = _market(calendar, always_open=True)
    stop = asyncio.Event()
    stop.set()
    published: list[Tick] = []
    asyncio.run(asyncio.wait_for(market.run(published.append, stop), timeout=1.0))
    assert published == []


def test_market_when_built_after_todays_expiry_lists_only_live_expiries(
    calendar: MarketCalendar,
) -> None:
    after_close = SESSION.replace(hour=16)
    market = _market(calendar, after_close)
    expiries = {i.expiry for i in market.instruments() if i.underlying == "NIFTY" and i.is_option}
    assert SESSION.date() not in expiries
    assert len(expiries) >= 3
    assert min(e for e in expiries if e is not None) > SESSION.date()
    assert min(e for e in expiries if e is not None) - SESSION.date() < timedelta(days=8)
