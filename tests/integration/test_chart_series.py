"""The chart series the desk samples once a second, on the simulated market with a test clock:
each value is worked out again here by hand from the same ticks (the ATM straddle at the strike
nearest the chain's forward), from the portfolio's own view and fills, and from the facade's
IV; followed series stop when unfollowed, and a sink that fails for one series is logged while
the others go on."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.api.series import SeriesChoice, SeriesKind, SessionSeries
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import Side
from engine.runtime import Engine
from engine.strategies.multileg.status import PortfolioStatus
from tests.multileg_support import build_desk, run_market, run_until, template_spec
from tests.support import atm_call

INDICES = ("BANKNIFTY", "FINNIFTY", "NIFTY")
TODAY = date(2026, 11, 23)
"""The desk's day (``MONDAY_0918``): every index's current expiry in the simulated market."""
WEEKLY = date(2026, 12, 1)
"""NIFTY's next weekly: a chain without a future, so its forward is the put–call parity one."""


@dataclass
class Sink:
    """What the series handed on, in order: (key, ts_ns, value)."""

    samples: list[tuple[str, int, int]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    def __call__(self, key: str, ts_ns: int, value: int) -> None:
        if key in self.refuse:
            raise OSError(f"the store is full ({key})")
        self.samples.append((key, ts_ns, value))

    def at(self, ts_ns: int) -> dict[str, int]:
        return {key: value for key, ts, value in self.samples if ts == ts_ns}


def _desk(tmp_path: Path) -> tuple[Engine, SessionSeries, Sink]:
    engine = build_desk(tmp_path)
    run_market(engine, 2)
    sink = Sink()
    return engine, SessionSeries(engine.api, sink), sink


def _sample(engine: Engine, series: SessionSeries, sink: Sink) -> dict[str, int]:
    now = engine.clock.time_ns()
    series.sample(now)
    return sink.at(now)


def _hand_straddle(engine: Engine, underlying: str, expiry: date) -> tuple[int, int]:
    """(strike, CE + PE last price), paise, at the strike nearest the forward the chain
    analytics solve with (the higher of two equally near)."""
    forward = engine.api.chain_analytics(underlying, expiry).forward
    rows = [
        (strike, call, put)
        for strike, call, put in engine.api.instruments.chain(underlying, expiry)
        if call is not None and put is not None
    ]
    strike, call, put = min(rows, key=lambda row: (abs(row[0] / 100 - forward), -row[0]))
    return strike, _ltp(engine, call) + _ltp(engine, put)


def _ltp(engine: Engine, instrument: Instrument) -> int:
    tick = engine.api.tick(instrument.token)
    assert tick is not None
    return tick.ltp


def _push(engine: Engine, instrument: Instrument, **prices: int) -> None:
    """A tick of ``instrument`` at ``prices`` (paise: ltp, bid, ask), now."""
    tick = engine.api.tick(instrument.token)
    assert tick is not None
    engine.on_tick(tick._replace(ts_ns=engine.clock.time_ns(), **prices))


def _choices(series: SessionSeries, kind: SeriesKind | None = None) -> list[SeriesChoice]:
    listed = series.keys()
    return [choice for choice in listed if kind is None or choice.kind is kind]


def _straddle_key(underlying: str, expiry: date) -> str:
    return f"straddle:{underlying}:{expiry.isoformat()}"


def _future(engine: Engine, underlying: str, expiry: date) -> Instrument:
    [future] = [
        i
        for i in engine.api.instruments.search(underlying=underlying, expiry=expiry)
        if i.instrument_type is InstrumentType.FUT
    ]
    return future


# -- straddles ---------------------------------------------------------------------------------------


def test_chart_straddle_when_sampled_is_atm_call_plus_put_at_the_strike_nearest_the_forward(
    tmp_path,
) -> None:
    engine, series, sink = _desk(tmp_path)
    for _ in range(5):
        run_market(engine, 1)
        values = _sample(engine, series, sink)
        for underlying in INDICES:
            key = _straddle_key(underlying, TODAY)
            strike, value = _hand_straddle(engine, underlying, TODAY)
            assert values[key] == value
            assert series.straddle_strike(key) == Decimal(strike) / 100
    assert len(sink.samples) == 5 * len(INDICES)
    engine.close()


def test_chart_straddle_when_the_chain_has_no_future_centres_on_the_parity_forward(
    tmp_path,
) -> None:
    engine, series, sink = _desk(tmp_path)
    series.follow_straddle("NIFTY", WEEKLY)
    key = _straddle_key("NIFTY", WEEKLY)
    analytics = engine.api.chain_analytics("NIFTY", WEEKLY)
    assert analytics.forward_source.value == "synthetic"
    for _ in range(10):
        run_market(engine, 1)
        strike, value = _hand_straddle(engine, "NIFTY", WEEKLY)
        assert _sample(engine, series, sink)[key] == value
        assert series.straddle_strike(key) == Decimal(strike) / 100
    engine.close()


def test_chart_straddle_when_parity_forwards_disagree_takes_their_median_as_analytics_do(
    tmp_path,
) -> None:
    engine, series, sink = _desk(tmp_path)
    series.follow_straddle("NIFTY", WEEKLY)
    key = _straddle_key("NIFTY", WEEKLY)
    chain = engine.api.instruments.chain("NIFTY", WEEKLY)
    strikes = [strike for strike, _, _ in chain]
    step = strikes[1] - strikes[0]
    at = min(
        range(len(strikes)),
        key=lambda n: abs(strikes[n] / 100 - engine.api.chain_analytics("NIFTY", WEEKLY).forward),
    )
    # The call and put cost most alike at this strike, whose parity says 15 above it; its four
    # neighbours say 30 above it, which is nearer the next strike up.
    for offset, above in ((-2, 3_000), (-1, 3_000), (0, 1_500), (1, 3_000), (2, 3_000)):
        strike, call, put = chain[at + offset]
        assert call is not None and put is not None
        put_mid = 100_00
        call_mid = put_mid + strikes[at] + above - strike
        _push(engine, call, ltp=call_mid, bid=call_mid - 50, ask=call_mid + 50)
        _push(engine, put, ltp=put_mid, bid=put_mid - 50, ask=put_mid + 50)
    engine.clock.advance(1)
    hand_strike, value = _hand_straddle(engine, "NIFTY", WEEKLY)
    assert hand_strike == strikes[at] + step
    assert _sample(engine, series, sink)[key] == value
    assert series.straddle_strike(key) == Decimal(hand_strike) / 100


def test_chart_straddle_when_the_underlying_moves_three_strikes_the_strike_follows(
    tmp_path,
) -> None:
    engine, series, sink = _desk(tmp_path)
    key = _straddle_key("NIFTY", TODAY)
    _sample(engine, series, sink)
    before = series.straddle_strike(key)
    assert before is not None
    future = _future(engine, "NIFTY", TODAY)
    strikes = [strike for strike, _, _ in engine.api.instruments.chain("NIFTY", TODAY)]
    step = strikes[1] - strikes[0]
    moved = int(before * 100) + 3 * step
    _push(engine, future, ltp=moved, bid=moved - 10, ask=moved + 10)
    engine.clock.advance(1)
    values = _sample(engine, series, sink)
    assert series.straddle_strike(key) == Decimal(moved) / 100
    [(_, call, put)] = [
        row for row in engine.api.instruments.chain("NIFTY", TODAY) if row[0] == moved
    ]
    assert call is not None and put is not None
    assert values[key] == _ltp(engine, call) + _ltp(engine, put)
    engine.close()


def test_chart_straddle_when_the_forward_is_exactly_between_two_strikes_takes_the_higher(
    tmp_path,
) -> None:
    engine, series, sink = _desk(tmp_path)
    key = _straddle_key("NIFTY", TODAY)
    _sample(engine, series, sink)
    before = series.straddle_strike(key)
    assert before is not None
    strikes = [strike for strike, _, _ in engine.api.instruments.chain("NIFTY", TODAY)]
    between = int(before * 100) + (strikes[1] - strikes[0]) // 2
    _push(engine, _future(engine, "NIFTY", TODAY), ltp=between, bid=between, ask=between)
    engine.clock.advance(1)
    values = _sample(engine, series, sink)
    hand_strike, value = _hand_straddle(engine, "NIFTY", TODAY)
    assert hand_strike == series.straddle_strike(key) * 100 == between + (between - before * 100)
    assert values[key] == value
    engine.close()


def test_chart_straddle_when_the_atm_put_has_no_price_skips_that_sample_only(tmp_path) -> None:
    engine, series, sink = _desk(tmp_path)
    key = _straddle_key("NIFTY", TODAY)
    strike, _ = _hand_straddle(engine, "NIFTY", TODAY)
    [(_, _, put)] = [
        row for row in engine.api.instruments.chain("NIFTY", TODAY) if row[0] == strike
    ]
    assert put is not None
    _push(engine, put, ltp=0)
    values = _sample(engine, series, sink)
    assert key not in values
    assert set(values) == {_straddle_key(u, TODAY) for u in INDICES if u != "NIFTY"}
    engine.close()


def test_chart_straddle_when_the_day_is_past_an_expiry_samples_the_next_one(tmp_path) -> None:
    engine, series, sink = _desk(tmp_path)
    tomorrow = engine.clock.time_ns() + 86_400 * 1_000_000_000
    series.sample(tomorrow)
    assert set(sink.at(tomorrow)) == {
        _straddle_key("BANKNIFTY", date(2026, 12, 29)),
        _straddle_key("FINNIFTY", date(2026, 12, 29)),
        _straddle_key("NIFTY", WEEKLY),
    }
    assert {choice.key for choice in _choices(series)} == set(sink.at(tomorrow))
    engine.close()


def test_chart_keys_when_nothing_is_followed_list_each_index_current_straddle(tmp_path) -> None:
    engine, series, _ = _desk(tmp_path)
    assert series.keys() == [
        SeriesChoice(_straddle_key(u, TODAY), f"{u} 23 Nov ATM straddle", SeriesKind.STRADDLE)
        for u in INDICES
    ]
    engine.close()


# -- portfolios --------------------------------------------------------------------------------------


def _entered(engine: Engine, template: str = "short_straddle", name: str = "Weekly short") -> str:
    data = template_spec(engine, template, name, execution={"manual_start": True})
    api = engine.api
    assert api.save_portfolio(data) is None
    assert api.start_portfolio(name) is None
    assert api.enter_portfolio(name) is None
    run_until(engine, lambda: _view(engine, name).status is PortfolioStatus.STARTED, limit=120)
    return name


def _view(engine: Engine, name: str = "Weekly short") -> Any:
    [view] = [v for v in engine.api.portfolios() if v.name == name]
    return view


def _hand_mtm(engine: Engine) -> int:
    """Paise: the fills' cash plus what they hold at the last prices (the desk trades only the
    portfolio here)."""
    cash, held = 0, {}
    for trade in engine.api.trades():
        signed = trade.quantity if trade.side is Side.BUY else -trade.quantity
        cash -= signed * int(trade.price * 100)
        held[trade.instrument] = held.get(trade.instrument, 0) + signed
    return cash + sum(quantity * _ltp(engine, i) for i, quantity in held.items())


def test_chart_portfolio_when_running_premium_and_mtm_match_its_legs_and_view(tmp_path) -> None:
    engine, series, sink = _desk(tmp_path)
    assert not [key for key in _sample(engine, series, sink) if key.startswith("portfolio:")]
    name = _entered(engine)
    run_market(engine, 5)
    values = _sample(engine, series, sink)
    legs = engine.api.portfolio_legs(name)
    sold = [engine.api.instruments.get(leg.token) for leg in legs]
    assert [leg.side for leg in legs] == ["SELL", "SELL"]
    assert values[f"portfolio:{name}:premium"] == sum(_ltp(engine, i) for i in sold)
    assert values[f"portfolio:{name}:mtm"] == _view(engine).mtm * 100 == _hand_mtm(engine)
    assert _choices(series, SeriesKind.PORTFOLIO) == [
        SeriesChoice(f"portfolio:{name}:premium", f"{name} premium", SeriesKind.PORTFOLIO),
        SeriesChoice(f"portfolio:{name}:mtm", f"{name} MTM", SeriesKind.PORTFOLIO),
    ]
    engine.close()


def test_chart_portfolio_when_a_ratio_spread_runs_premium_weighs_legs_by_side_and_lots(
    tmp_path,
) -> None:
    engine, series, sink = _desk(tmp_path)
    name = _entered(engine, "call_ratio_spread", "Ratio")
    run_market(engine, 5)
    values = _sample(engine, series, sink)
    bought, sold = engine.api.portfolio_legs(name)
    assert (bought.side, bought.lots, sold.side, sold.lots) == ("BUY", 1, "SELL", 2)
    assert values[f"portfolio:{name}:premium"] == 2 * _ltp(
        engine, engine.api.instruments.get(sold.token)
    ) - _ltp(engine, engine.api.instruments.get(bought.token))
    assert values[f"portfolio:{name}:mtm"] == _view(engine, name).mtm * 100 == _hand_mtm(engine)
    engine.close()


def test_chart_portfolio_when_the_sold_legs_rise_mtm_is_negative_and_premium_grows(
    tmp_path,
) -> None:
    engine, series, sink = _desk(tmp_path)
    name = _entered(engine)
    legs = engine.api.portfolio_legs(name)
    risen = []
    for leg in legs:
        assert leg.entry is not None
        price = int(leg.entry * 110)  # 10 % above entry: a loss, still inside the 30 % stop
        price -= price % 5
        risen.append(price)
        instrument = engine.api.instruments.get(leg.token)
        _push(engine, instrument, ltp=price, bid=price - 5, ask=price + 5)
    engine.clock.advance(1)
    values = _sample(engine, series, sink)
    assert _view(engine).status is PortfolioStatus.STARTED
    mtm = values[f"portfolio:{name}:mtm"]
    assert mtm < 0
    assert mtm == _view(engine).mtm * 100 == _hand_mtm(engine)
    assert values[f"portfolio:{name}:premium"] == sum(risen)
    engine.close()


def test_chart_portfolio_when_squared_off_and_finished_its_series_stop(tmp_path) -> None:
    engine, series, sink = _desk(tmp_path)
    name = _entered(engine)
    assert engine.api.square_off_portfolio(name) is None
    run_until(engine, lambda: not _view(engine).running, limit=120)
    assert not [key for key in _sample(engine, series, sink) if key.startswith("portfolio:")]
    assert not _choices(series, SeriesKind.PORTFOLIO)
    engine.close()


# -- implied volatility ------------------------------------------------------------------------------


def test_chart_iv_when_followed_is_the_facades_iv_in_basis_points(tmp_path) -> None:
    engine, series, sink = _desk(tmp_path)
    call = atm_call(engine)
    series.follow_iv(call.token)
    for _ in range(3):
        run_market(engine, 1)
        iv = engine.api.contract_greeks([call.token])[call.token].iv
        value = _sample(engine, series, sink)[f"iv:{call.token}"]
        assert value == round(iv * 10_000)
        assert 500 < value < 5_000  # a percent or two away would be a unit slip
    strike = call.strike // 100  # type: ignore[operator]
    assert series.keys()[-1] == SeriesChoice(
        f"iv:{call.token}", f"NIFTY 23 Nov {strike} CE IV", SeriesKind.IV
    )
    engine.close()


def test_chart_iv_when_the_option_has_no_price_skips_the_sample(tmp_path) -> None:
    engine, series, sink = _desk(tmp_path)
    forward = engine.api.chain_analytics("NIFTY", TODAY).forward
    [otm_call] = [
        call
        for strike, call, _ in engine.api.instruments.chain("NIFTY", TODAY)
        if call is not None and forward + 300 < strike / 100 <= forward + 350
    ]
    series.follow_iv(otm_call.token)
    _push(engine, otm_call, ltp=0, bid=0, ask=0)
    assert f"iv:{otm_call.token}" not in _sample(engine, series, sink)
    engine.close()


def test_chart_follow_when_given_no_option_or_no_chain_refuses(tmp_path) -> None:
    engine, series, _ = _desk(tmp_path)
    with pytest.raises(ValueError, match="is not an option"):
        series.follow_iv(_future(engine, "NIFTY", TODAY).token)
    with pytest.raises(LookupError):
        series.follow_iv(123)
    with pytest.raises(LookupError, match="no NIFTY option chain expires on 2026-11-24"):
        series.follow_straddle("NIFTY", date(2026, 11, 24))
    engine.close()


# -- following and failing ---------------------------------------------------------------------------


def test_chart_series_when_every_follower_unfollowed_stop(tmp_path) -> None:
    engine, series, sink = _desk(tmp_path)
    call = atm_call(engine)
    weekly = _straddle_key("NIFTY", WEEKLY)
    iv = f"iv:{call.token}"
    first, second = series.follow_iv(call.token), series.follow_iv(call.token)
    unfollow_weekly = series.follow_straddle("NIFTY", WEEKLY)
    assert {weekly, iv} <= set(_sample(engine, series, sink))
    first()
    first()  # an unfollow counts once, however often it is called
    run_market(engine, 1)
    assert iv in _sample(engine, series, sink)
    second()
    unfollow_weekly()
    run_market(engine, 1)
    values = _sample(engine, series, sink)
    assert iv not in values and weekly not in values
    assert set(values) == {_straddle_key(u, TODAY) for u in INDICES}
    assert {choice.key for choice in _choices(series)} == set(values)
    engine.close()


def test_chart_series_when_the_sink_raises_for_one_logs_it_once_and_samples_the_rest(
    tmp_path, caplog
) -> None:
    engine, series, sink = _desk(tmp_path)
    refused = _straddle_key("NIFTY", TODAY)
    sink.refuse.add(refused)
    others = {_straddle_key(u, TODAY) for u in INDICES} - {refused}
    caplog.set_level(logging.WARNING, logger="engine.api.series")
    for _ in range(3):
        run_market(engine, 1)
        assert set(_sample(engine, series, sink)) == others
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert refused in error.getMessage() and error.exc_info is not None
    sink.refuse.clear()
    run_market(engine, 1)
    assert refused in _sample(engine, series, sink)
    assert caplog.records[-1].getMessage() == (
        f"chart series {refused} works again after 3 failed samples"
    )
    engine.close()


def test_chart_series_when_one_family_fails_logs_it_and_samples_the_others(
    tmp_path, caplog, monkeypatch
) -> None:
    engine, series, sink = _desk(tmp_path)
    series.follow_iv(atm_call(engine).token)

    def unsolvable(tokens: Any) -> Any:
        raise FloatingPointError("the solver diverged")

    monkeypatch.setattr(engine.api, "contract_greeks", unsolvable)
    caplog.set_level(logging.WARNING, logger="engine.api.series")
    assert set(_sample(engine, series, sink)) == {_straddle_key(u, TODAY) for u in INDICES}
    # The series' own records: a thread of an earlier test in this process may log meanwhile.
    [error] = [r for r in caplog.records if r.name == "engine.api.series"]
    assert error.getMessage().startswith("chart series: the IVs could not be sampled")
    assert error.exc_info is not None and isinstance(error.exc_info[1], FloatingPointError)
    engine.close()
