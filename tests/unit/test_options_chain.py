"""Chain analytics: forward, IVs, smile, ATM IV, Greeks, PCR, max pain; on the simulated market."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest

from engine.calendar import MarketCalendar, load_calendar
from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.marketdata.simulated import SimulatedMarket, SimulatedMarketConfig
from engine.options import (
    ChainSnapshot,
    ForwardSource,
    QuotePrice,
    analyse_chain,
    analyse_chains,
    chain_layouts,
    greeks,
    years_to_expiry,
)

NOW = datetime(2026, 10, 12, 11, 0, tzinfo=IST)  # a Monday session


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return load_calendar(None)


def _snapshot(
    strikes: np.ndarray,
    call: np.ndarray,
    put: np.ndarray,
    *,
    years: float = 20 / 365,
    rate: float = 0.065,
    future: float = math.nan,
    spread: float = 0.0,
    call_oi: object = 0.0,
    put_oi: object = 0.0,
) -> ChainSnapshot:
    n = len(strikes)
    return ChainSnapshot(
        strikes=strikes,
        call_bid=call - spread / 2,
        call_ask=call + spread / 2,
        call_ltp=call,
        put_bid=put - spread / 2,
        put_ask=put + spread / 2,
        put_ltp=put,
        call_oi=np.broadcast_to(call_oi, n),
        put_oi=np.broadcast_to(put_oi, n),
        call_volume=np.broadcast_to(call_oi, n),
        put_volume=np.broadcast_to(put_oi, n),
        years=years,
        rate=rate,
        future=future,
    )


def _priced_chain(forward: float = 24_037.5, years: float = 20 / 365, rate: float = 0.065):
    strikes = np.arange(23_000.0, 25_001.0, 50.0)
    vol = 0.12 + 0.25 * np.log(strikes / forward) ** 2 - 0.05 * np.log(strikes / forward)
    call = greeks(forward, strikes, years, rate, vol, True).price
    put = greeks(forward, strikes, years, rate, vol, False).price
    return strikes, call, put, vol


# ------------------------------------------------------------------------ exact chains


def test_analyse_chain_when_prices_are_exact_recovers_forward_and_smile() -> None:
    strikes, call, put, vol = _priced_chain()
    result = analyse_chain(_snapshot(strikes, call, put))
    assert result.forward_source is ForwardSource.SYNTHETIC
    assert result.forward == pytest.approx(24_037.5, abs=1e-8)
    np.testing.assert_allclose(result.smile_iv, vol, atol=1e-9)
    # ATM IV: the smile interpolated between 24,000 and 24,050 at the forward.
    expected = np.interp(24_037.5, strikes, vol)
    assert result.atm_iv == pytest.approx(expected, abs=1e-9)


def test_analyse_chain_when_future_is_given_uses_it_as_the_forward() -> None:
    strikes, call, put, _ = _priced_chain(forward=24_037.5)
    result = analyse_chain(_snapshot(strikes, call, put, future=24_040.0))
    assert result.forward_source is ForwardSource.FUTURE
    assert result.forward == 24_040.0


def test_analyse_chain_when_smile_is_taken_uses_the_out_of_the_money_side() -> None:
    strikes, call, put, _ = _priced_chain()
    # Spoil every in-the-money quote: the smile must not notice.
    itm_call = strikes < 24_037.5
    call = np.where(itm_call, call * 0.9, call)
    put = np.where(~itm_call, put * 0.9, put)
    result = analyse_chain(_snapshot(strikes, call, put, future=24_037.5))
    np.testing.assert_array_equal(result.smile_iv[itm_call], result.put_iv[itm_call])
    np.testing.assert_array_equal(result.smile_iv[~itm_call], result.call_iv[~itm_call])
    assert np.all(
        np.isnan(result.call_iv[itm_call]) | (result.call_iv[itm_call] != result.smile_iv[itm_call])
    )


def test_analyse_chain_when_greeks_are_read_call_and_put_share_the_smile_vol() -> None:
    strikes, call, put, _ = _priced_chain()
    result = analyse_chain(_snapshot(strikes, call, put))
    discount = math.exp(-0.065 * 20 / 365)
    np.testing.assert_allclose(result.call.delta - result.put.delta, discount, rtol=1e-12)
    np.testing.assert_allclose(result.call.gamma, result.put.gamma, rtol=1e-12)
    np.testing.assert_allclose(result.call.price, call, rtol=1e-9)
    assert result.call.delta.shape == strikes.shape


def test_analyse_chain_when_oi_is_known_gives_pcr_and_max_pain() -> None:
    strikes = np.array([100.0, 110.0, 120.0])
    call_oi, put_oi = np.array([5.0, 20.0, 40.0]), np.array([50.0, 20.0, 5.0])
    # Payout to holders settling at 100 / 110 / 120: 300 / 100 / 300, so max pain is 110.
    result = analyse_chain(
        _snapshot(
            strikes,
            np.array([12.0, 5.0, 1.0]),
            np.array([1.0, 5.0, 12.0]),
            call_oi=call_oi,
            put_oi=put_oi,
        )
    )
    assert result.pcr_oi == pytest.approx(75 / 65)
    assert result.pcr_volume == pytest.approx(75 / 65)
    assert result.max_pain == 110.0


def test_analyse_chain_when_there_is_no_oi_pcr_and_max_pain_are_nan() -> None:
    strikes, call, put, _ = _priced_chain()
    result = analyse_chain(_snapshot(strikes, call, put))
    assert math.isnan(result.pcr_oi) and math.isnan(result.max_pain)


def test_analyse_chain_when_no_future_and_no_two_sided_quote_has_no_forward() -> None:
    strikes, call, put, _ = _priced_chain()
    snapshot = _snapshot(strikes, call, put)
    empty = ChainSnapshot(
        **{
            **{
                name: getattr(snapshot, name)
                for name in (
                    "strikes",
                    "call_ltp",
                    "put_ltp",
                    "call_oi",
                    "put_oi",
                    "call_volume",
                    "put_volume",
                )
            },
            "call_bid": np.full(len(strikes), np.nan),
            "call_ask": np.full(len(strikes), np.nan),
            "put_bid": np.full(len(strikes), np.nan),
            "put_ask": np.full(len(strikes), np.nan),
            "years": snapshot.years,
            "rate": snapshot.rate,
        }
    )
    result = analyse_chain(empty)
    assert result.forward_source is ForwardSource.NONE
    assert math.isnan(result.forward) and math.isnan(result.atm_iv)
    assert np.isnan(result.smile_iv).all() and np.isnan(result.call.delta).all()


def test_analyse_chain_when_quote_is_one_sided_falls_back_to_ltp_only_if_asked() -> None:
    strikes, call, put, vol = _priced_chain()
    snapshot = _snapshot(strikes, call, put)
    one_sided = ChainSnapshot(
        **{
            **{name: getattr(snapshot, name) for name in snapshot.__dataclass_fields__},
            "call_bid": np.where(strikes == 24_500.0, np.nan, snapshot.call_bid),
        }
    )
    at = int(np.flatnonzero(strikes == 24_500.0)[0])
    assert math.isnan(analyse_chain(one_sided, quote=QuotePrice.MID).call_iv[at])
    assert analyse_chain(one_sided).call_iv[at] == pytest.approx(vol[at], abs=1e-9)
    assert analyse_chain(one_sided, quote="ltp").call_iv[at] == pytest.approx(vol[at], abs=1e-9)


def test_analyse_chains_when_batched_matches_one_by_one() -> None:
    first = _snapshot(*_priced_chain(forward=24_037.5)[:3])
    second = _snapshot(*_priced_chain(forward=23_990.0, years=48 / 365)[:3], years=48 / 365)
    together = analyse_chains([first, second])
    for snapshot, batched in zip((first, second), together, strict=True):
        alone = analyse_chain(snapshot)
        assert batched.forward == alone.forward
        np.testing.assert_array_equal(batched.smile_iv, alone.smile_iv)
        np.testing.assert_array_equal(batched.put.theta, alone.put.theta)
    assert analyse_chains([]) == []


def test_chain_snapshot_when_arrays_disagree_raises() -> None:
    strikes, call, put, _ = _priced_chain()
    with pytest.raises(ValueError, match="entries"):
        _snapshot(strikes, call, put[:-1])
    with pytest.raises(ValueError, match="increasing"):
        _snapshot(strikes[::-1], call, put)
    with pytest.raises(ValueError, match="years"):
        _snapshot(strikes, call, put, years=math.nan)


def test_analyse_chains_when_parity_strikes_invalid_raises() -> None:
    strikes, call, put, _ = _priced_chain()
    with pytest.raises(ValueError, match="parity_strikes"):
        analyse_chain(_snapshot(strikes, call, put), parity_strikes=0)


def test_chain_snapshot_from_ticks_when_sides_are_empty_reads_them_as_missing() -> None:
    def tick(token: int, ltp: int, bid: int, ask: int) -> Tick:
        return Tick(token, ltp, bid, ask, 75, 75, 1_000, 6_500, 0)

    snapshot = ChainSnapshot.from_ticks(
        [2_400_000, 2_405_000],
        [tick(1, 12_000, 11_990, 12_010), tick(2, 9_000, 0, 9_050)],
        [None, tick(4, 0, 10_000, 10_020)],
        years=0.01,
        rate=0.065,
        future=tick(5, 2_404_500, 2_404_000, 2_405_000),
    )
    np.testing.assert_array_equal(snapshot.strikes, [24_000.0, 24_050.0])
    np.testing.assert_array_equal(snapshot.call_bid, [119.9, np.nan])
    np.testing.assert_array_equal(snapshot.put_ltp, [np.nan, np.nan])
    np.testing.assert_array_equal(snapshot.put_oi, [np.nan, 6_500.0])
    assert snapshot.future == 24_045.0


# --------------------------------------------------------------------- simulated market


@pytest.fixture(scope="module")
def market(calendar: MarketCalendar) -> SimulatedMarket:
    market = SimulatedMarket(SimulatedMarketConfig(seed=3), lambda: NOW, calendar)
    for _ in range(8):
        market.step(0.5)
    return market


def test_chain_layouts_when_built_from_the_simulated_market_pair_calls_puts_and_futures(
    market: SimulatedMarket,
) -> None:
    layouts = chain_layouts(market.instruments())
    nifty = [layout for layout in layouts if layout.underlying == "NIFTY"]
    assert [layout.expiry for layout in nifty] == sorted(layout.expiry for layout in nifty)
    assert len(nifty) >= 3
    by_token = {instr.token: instr for instr in market.instruments()}
    for layout in nifty:
        assert len(layout.strikes) == 61 and list(layout.strikes) == sorted(layout.strikes)
        for strike, call, put in zip(layout.strikes, layout.calls, layout.puts, strict=True):
            assert call is not None and put is not None
            assert (by_token[call].strike, by_token[call].instrument_type) == (
                strike,
                InstrumentType.CE,
            )
            assert (by_token[put].strike, by_token[put].expiry) == (strike, layout.expiry)
    # Only the monthly expiry has a future.
    assert sum(layout.future is not None for layout in nifty) == 1


def test_chain_layouts_when_a_strike_lists_one_side_leaves_the_other_empty() -> None:
    def option(token: int, strike: int, kind: InstrumentType) -> Instrument:
        return Instrument(
            token=InstrumentToken(token),
            exchange=Exchange.NFO,
            segment=Segment.NFO_OPT,
            tradingsymbol=f"X{token}",
            name="NIFTY",
            instrument_type=kind,
            underlying="NIFTY",
            tick_size=Paise(5),
            lot_size=65,
            expiry=date(2026, 10, 13),
            strike=Paise(strike),
        )

    (layout,) = chain_layouts(
        [
            option(3, 2_410_000, InstrumentType.CE),
            option(1, 2_400_000, InstrumentType.CE),
            option(2, 2_400_000, InstrumentType.PE),
        ]
    )
    assert layout.strikes == (2_400_000, 2_410_000)
    assert layout.calls == (1, 3) and layout.puts == (2, None) and layout.future is None
    snapshot = layout.snapshot(lambda token: None, years=0.01, rate=0.065)
    assert np.isnan(snapshot.put_bid).all()


def test_analyse_chains_when_fed_the_simulated_market_recovers_its_smile(
    market: SimulatedMarket,
) -> None:
    quotes = {tick.token: tick for tick in market.snapshot()}
    layouts = [
        layout for layout in chain_layouts(market.instruments()) if layout.underlying == "NIFTY"
    ]
    snapshots = [
        layout.snapshot(
            quotes.get, years=years_to_expiry(market.now, layout.expiry), rate=market.config.rate
        )
        for layout in layouts
    ]

    results = analyse_chains(snapshots, quote=QuotePrice.MID)

    (index,) = [i for i in market.instruments() if i.tradingsymbol == "NIFTY 50"]
    spot = market.theoretical(index.token)[0]
    assert {r.forward_source for r in results} == {ForwardSource.FUTURE, ForwardSource.SYNTHETIC}
    checked = 0
    for layout, snapshot, result in zip(layouts, snapshots, results, strict=True):
        true_forward = spot * math.exp(market.config.rate * result.years)
        # The forward is off by at most the quotes' half spreads (parity) or the future's.
        call_half = (snapshot.call_ask - snapshot.call_bid) / 2
        put_half = (snapshot.put_ask - snapshot.put_bid) / 2
        if layout.future is not None:
            future = quotes[layout.future]
            forward_bound = (future.ask - future.bid) / 2 / 100
        else:
            forward_bound = float(np.max(call_half + put_half)) / math.exp(
                -result.rate * result.years
            )
        assert abs(result.forward - true_forward) <= forward_bound

        is_call = snapshot.strikes >= result.forward
        otm = np.where(is_call, layout.calls, layout.puts)
        theoretical = np.array([market.theoretical(int(token))[1] for token in otm])
        at_theory = greeks(
            true_forward, snapshot.strikes, result.years, result.rate, theoretical, is_call
        )
        # Tick-rounding tolerance: the mid is within half the spread of the theoretical price,
        # and a forward error moves the price by delta times it; over vega, that is the IV slack.
        half_spread = np.where(is_call, call_half, put_half)
        price_slack = half_spread + np.abs(at_theory.delta) * abs(result.forward - true_forward)
        tolerance = 1.2 * price_slack / (100.0 * at_theory.vega) + 1e-9
        error = np.abs(result.smile_iv - theoretical)
        assert np.isfinite(result.smile_iv).all()
        assert (error <= tolerance).all(), (layout.expiry, np.max(error / tolerance))
        liquid = tolerance < 0.005  # within half a vol point: the strikes the test really pins
        assert liquid.sum() >= 15
        checked += int(liquid.sum())
        assert abs(result.atm_iv - np.interp(result.forward, snapshot.strikes, theoretical)) < 0.003
    assert checked >= 60
