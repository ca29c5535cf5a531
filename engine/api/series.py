"""The values behind the options charts traders watch all day, sampled once a second.

The runtime calls ``SessionSeries.sample(ts_ns)`` once a second of the engine's clock; each value
the desk derives goes to a sink shaped like the candle store's ``add_value(key, ts_ns, value)``,
which makes bars of it as of any instrument's prices. Every value is a signed ``int``:

``straddle:<UNDERLYING>:<expiry ISO>`` (paise)
    The ATM call's plus the ATM put's last price, for each index's current expiry and any chain
    asked for with ``follow_straddle``. ATM is chosen again at every sample, so the series is the
    premium of whatever strike is at the money at that moment (the rolling straddle traders
    chart), and one candle can span two strikes; ``straddle_strike`` names the strike the last
    sample used, for the legend. ATM is the strike, listed as both a call and a put, nearest the
    forward the chain analytics use (the chain's future: its mid, else its last price; without
    one, the put–call-parity forward from bid/ask mids near the money), or the underlying's
    spot when the chain has neither; exactly between two strikes, the higher, as a multileg
    portfolio's ATM leg picks. A sample is skipped while either option has no last price.
``portfolio:<name>:premium`` (paise)
    A running multileg portfolio's combined premium at its legs' last prices: each leg's LTP ×
    its lots, sold legs + and bought legs −, so a short straddle's credit is positive and a
    2:1 ratio spread counts its sold leg twice. Per unit of a set of lots, like the straddle
    (the portfolio's multiplier and the lot size do not scale it). The legs counted are those
    with a contract that are waiting, entering, entered or exiting: before entry, the premium
    the structure would be entered for; once legs exit, what is still held. Skipped while a
    counted leg has no price, or no leg counts.
``portfolio:<name>:mtm`` (paise)
    The portfolio's MTM as its own view states it (realised and open); negative for a loss.
    A portfolio holding positions keeps running until it is flat, so "running" covers both.
``iv:<token>`` (basis points, 14.25 % is 1425)
    An option's implied volatility as the facade's ``contract_greeks`` solves it (the strike's
    smile IV), for each option asked for with ``follow_iv``; skipped while it is NaN.

Cost: a straddle is two ticks and, when its chain has a future, a third; only a chain without a
future (a weekly) reads its strikes' quotes for the parity forward. Chain analytics (an IV solve)
run only for followed IVs, once for all of them.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from engine.api.straddle_history import nearest_strike
from engine.core.clock import ist_day_number
from engine.domain.instruments import InstrumentType
from engine.domain.ticks import Tick
from engine.options.chain import PARITY_STRIKES
from engine.options.chain_layout import ChainLayout
from engine.strategies.multileg.status import LegState
from engine.strategies.multileg.views import LegView

if TYPE_CHECKING:
    from engine.api import EngineApi

log = logging.getLogger(__name__)

_K = TypeVar("_K")

ValueSink = Callable[[str, int, int], None]
"""Where samples go: ``(key, ts_ns, value)``, the candle store's ``add_value``."""

_BASIS_POINTS = 10_000
_NS = 1_000_000_000
_MINUTES_PER_YEAR = 365 * 24 * 60
_EPOCH = date(1970, 1, 1)
_PRICED_LEGS = frozenset(
    {
        LegState.WAITING.value,
        LegState.ENTERING.value,
        LegState.ENTERED.value,
        LegState.EXITING.value,
    }
)
"""Leg states whose prices make up a portfolio's combined premium (see the module's notes)."""


class SeriesKind(StrEnum):
    STRADDLE = "straddle"
    PORTFOLIO = "portfolio"
    IV = "iv"


@dataclass(frozen=True, slots=True)
class SeriesChoice:
    """A series that can be charted now: its key, a title for the chart's header and its kind
    (straddle and portfolio values are paise, IV values basis points)."""

    key: str
    title: str
    kind: SeriesKind


@dataclass(frozen=True, slots=True)
class _Straddle:
    """One chain's straddle, laid out once: the strikes listed as both a call and a put."""

    key: str
    title: str
    layout: ChainLayout
    strikes: tuple[int, ...]
    """Paise, ascending."""
    calls: tuple[int, ...]
    puts: tuple[int, ...]


class SessionSeries:
    """Samples the straddle, portfolio and IV series once a second into ``sink``."""

    def __init__(self, api: EngineApi, sink: ValueSink) -> None:
        self._api = api
        self._sink = sink
        self._straddle_follows: dict[tuple[str, date], int] = {}
        self._iv_follows: dict[int, int] = {}
        self._day = -1
        """IST day number of the last sample: the current expiries are chosen per day."""
        self._plan_for: tuple[int, int, frozenset[tuple[str, date]]] | None = None
        self._straddles: list[_Straddle] = []
        self._indices_for = -1
        self._indices: frozenset[str] = frozenset()
        self._strikes: dict[str, int] = {}
        self._expiry_ns: dict[date, int] = {}
        self._failing: dict[str, int] = {}
        """Sinks and families failing now, with how many samples they missed."""

    # -- what can be charted -----------------------------------------------------------------------

    def keys(self) -> list[SeriesChoice]:
        """The series ``sample`` publishes now: straddles (the current expiries as of the last
        sample's day; before any, the nearest listed), running portfolios, followed IVs."""
        choices = [SeriesChoice(s.key, s.title, SeriesKind.STRADDLE) for s in self._plan()]
        for view in self._api.portfolios():
            if view.running:
                base = f"portfolio:{view.name}"
                choices.append(
                    SeriesChoice(f"{base}:premium", f"{view.name} premium", SeriesKind.PORTFOLIO)
                )
                choices.append(
                    SeriesChoice(f"{base}:mtm", f"{view.name} MTM", SeriesKind.PORTFOLIO)
                )
        for token in sorted(self._iv_follows):
            choices.append(SeriesChoice(f"iv:{token}", self._iv_title(token), SeriesKind.IV))
        return choices

    def straddle_strike(self, key: str) -> Decimal | None:
        """The strike (rupees) the last published sample of a straddle series was at."""
        strike = self._strikes.get(key)
        return None if strike is None else Decimal(strike) / 100

    def follow_straddle(self, underlying: str, expiry: date) -> Callable[[], None]:
        """Sample this chain's ATM straddle from now on (the current expiries always are);
        returns the unfollow. LookupError for a chain that is not listed."""
        self._api.options_service.chain_layout(underlying, expiry)
        return _follow(self._straddle_follows, (underlying, expiry))

    def follow_iv(self, token: int) -> Callable[[], None]:
        """Sample this option's implied volatility as ``iv:<token>`` from now on; returns the
        unfollow. LookupError for an unknown token, ValueError for anything but an option."""
        instrument = self._api.instruments.get(int(token))
        if not instrument.is_option:
            raise ValueError(f"{instrument.tradingsymbol} is not an option: it has no IV")
        return _follow(self._iv_follows, int(token))

    # -- sampling ------------------------------------------------------------------------------------

    def sample(self, ts_ns: int) -> None:
        """Publish every series' value now. A family that fails, or a sink that refuses a
        sample, is logged and the rest still publish."""
        self._day = ist_day_number(ts_ns)
        for family, step in (
            ("straddles", self._sample_straddles),
            ("portfolios", self._sample_portfolios),
            ("IVs", self._sample_ivs),
        ):
            try:
                step(ts_ns)
            except Exception:
                self._failed(family, f"chart series: the {family} could not be sampled")
            else:
                self._recovered(family)

    def _publish(self, key: str, ts_ns: int, value: int) -> None:
        try:
            self._sink(key, ts_ns, value)
        except Exception:
            self._failed(key, f"chart series {key}: the sink refused a sample")
        else:
            self._recovered(key)

    def _failed(self, what: str, text: str) -> None:
        """Log the first failure with its traceback; count the rest until it works again (one
        a second would bury the log)."""
        missed = self._failing.get(what)
        if missed is None:
            log.exception("%s; its next failures are counted until it works again", text)
        self._failing[what] = (missed or 0) + 1

    def _recovered(self, what: str) -> None:
        if self._failing:
            missed = self._failing.pop(what, None)
            if missed is not None:
                log.warning("chart series %s works again after %d failed samples", what, missed)

    # -- straddles -----------------------------------------------------------------------------------

    def _sample_straddles(self, ts_ns: int) -> None:
        tick = self._api.tick
        for straddle in self._plan():
            reference = self._reference(straddle, ts_ns)
            if math.isnan(reference):
                continue
            at = nearest_strike(straddle.strikes, reference * 100)
            call, put = tick(straddle.calls[at]), tick(straddle.puts[at])
            if call is None or put is None or call.ltp <= 0 or put.ltp <= 0:
                continue
            self._strikes[straddle.key] = straddle.strikes[at]
            self._publish(straddle.key, ts_ns, call.ltp + put.ltp)

    def _reference(self, straddle: _Straddle, ts_ns: int) -> float:
        """Rupees: the price ATM is nearest (the module's notes); NaN when there is none."""
        layout = straddle.layout
        if layout.future is not None:
            future = _future_price(self._api.tick(layout.future))
            if future > 0.0:
                return future
        forward = self._parity_forward(straddle, ts_ns)
        if not math.isnan(forward):
            return forward
        spot = self._api.underlying_price(layout.underlying)
        return math.nan if spot is None else float(spot)

    def _parity_forward(self, straddle: _Straddle, ts_ns: int) -> float:
        """The synthetic forward as ``engine.options.chain`` works it out: K + (C − P)/DF over
        the strikes nearest the one where the call and the put cost most alike (mids only)."""
        tick = self._api.tick
        pairs: list[tuple[float, float]] = []
        for strike, call, put in zip(straddle.strikes, straddle.calls, straddle.puts, strict=True):
            call_mid, put_mid = _mid(tick(call)), _mid(tick(put))
            if not (math.isnan(call_mid) or math.isnan(put_mid)):
                pairs.append((strike / 100.0, call_mid - put_mid))
        if not pairs:
            return math.nan
        anchor = min(pairs, key=lambda pair: abs(pair[1]))[0]
        nearest = sorted(pairs, key=lambda pair: abs(pair[0] - anchor))[:PARITY_STRIKES]
        discount = math.exp(-self._api.option_rate * self._years(straddle.layout.expiry, ts_ns))
        return statistics.median(
            strike + call_less_put / discount for strike, call_less_put in nearest
        )

    def _years(self, expiry: date, ts_ns: int) -> float:
        """Calendar years to the expiry moment, as the chain analytics count them."""
        end = self._expiry_ns.get(expiry)
        if end is None:
            moment = self._api.expiry_moment(expiry)
            end = self._expiry_ns[expiry] = int(moment.timestamp()) * _NS
        return (end - ts_ns) / _NS / 60.0 / _MINUTES_PER_YEAR

    def _plan(self) -> list[_Straddle]:
        """The straddles sampled now: each index's current expiry and the followed chains,
        worked out again when the day, the instruments or the follows change."""
        wanted = frozenset(self._straddle_follows)
        stamp = (self._day, len(self._api.instruments), wanted)
        if stamp == self._plan_for:
            return self._straddles
        today = _ist_date(self._day)
        indices = self._index_underlyings()
        current: dict[str, date] = {}
        for underlying, expiry in self._api.option_chains():  # nearest expiry first
            is_current = underlying not in current and (today is None or expiry >= today)
            if is_current and underlying in indices:
                current[underlying] = expiry
        chains = sorted(set(current.items()) | wanted)
        options = self._api.options_service
        self._straddles = [_straddle(options.chain_layout(u, e)) for u, e in chains]
        self._plan_for = stamp
        return self._straddles

    def _index_underlyings(self) -> frozenset[str]:
        instruments = self._api.instruments
        if self._indices_for != len(instruments):
            self._indices = frozenset(
                i.underlying for i in instruments if i.instrument_type is InstrumentType.INDEX
            )
            self._indices_for = len(instruments)
        return self._indices

    # -- portfolios ----------------------------------------------------------------------------------

    def _sample_portfolios(self, ts_ns: int) -> None:
        for view in self._api.portfolios():
            if not view.running:
                continue
            base = f"portfolio:{view.name}"
            premium = _combined_premium(self._api.portfolio_legs(view.name))
            if premium is not None:
                self._publish(f"{base}:premium", ts_ns, premium)
            self._publish(f"{base}:mtm", ts_ns, int(view.mtm * 100))

    # -- implied volatility ----------------------------------------------------------------------------

    def _sample_ivs(self, ts_ns: int) -> None:
        if not self._iv_follows:
            return
        solved = self._api.contract_greeks(sorted(self._iv_follows))
        for token in sorted(self._iv_follows):
            greeks = solved.get(token)
            if greeks is not None and not math.isnan(greeks.iv):
                self._publish(f"iv:{token}", ts_ns, round(greeks.iv * _BASIS_POINTS))

    def _iv_title(self, token: int) -> str:
        instrument = self._api.instruments.get(token)
        if instrument.expiry is None or instrument.strike is None:
            return f"{instrument.tradingsymbol} IV"
        strike = _rupees_text(instrument.strike)
        return (
            f"{instrument.underlying} {_day_month(instrument.expiry)} {strike} "
            f"{instrument.instrument_type.value} IV"
        )


def _combined_premium(legs: list[LegView]) -> int | None:
    """Paise: Σ (sold +, bought −) LTP × lots over the legs that count (the module's notes);
    None while one of them has no price, or none counts."""
    total, counted = 0, 0
    for leg in legs:
        if leg.state not in _PRICED_LEGS or not leg.token:
            continue
        if leg.ltp is None:
            return None
        sign = 1 if leg.side == "SELL" else -1
        total += sign * int(leg.ltp * 100) * leg.lots
        counted += 1
    return total if counted else None


def _follow(counts: dict[_K, int], key: _K) -> Callable[[], None]:
    """Count one more follower of ``key``; the returned unfollow counts it off once."""
    counts[key] = counts.get(key, 0) + 1
    done = False

    def unfollow() -> None:
        nonlocal done
        if done:
            return
        done = True
        left = counts.get(key, 0) - 1
        if left > 0:
            counts[key] = left
        else:
            counts.pop(key, None)

    return unfollow


def _straddle(layout: ChainLayout) -> _Straddle:
    rows = [
        (strike, call, put)
        for strike, call, put in zip(layout.strikes, layout.calls, layout.puts, strict=True)
        if call is not None and put is not None
    ]
    return _Straddle(
        key=f"straddle:{layout.underlying}:{layout.expiry.isoformat()}",
        title=f"{layout.underlying} {_day_month(layout.expiry)} ATM straddle",
        layout=layout,
        strikes=tuple(int(strike) for strike, _, _ in rows),
        calls=tuple(int(call) for _, call, _ in rows),
        puts=tuple(int(put) for _, _, put in rows),
    )


def _mid(tick: Tick | None) -> float:
    """Rupees: the bid/ask midpoint as the chain analytics take it; NaN when one-sided."""
    if tick is None or tick.bid <= 0 or tick.ask < tick.bid:
        return math.nan
    return 0.5 * (tick.bid / 100.0 + tick.ask / 100.0)


def _future_price(tick: Tick | None) -> float:
    """Rupees: a future's mid, else its last price, as the chain analytics take it; NaN."""
    mid = _mid(tick)
    if not math.isnan(mid):
        return mid
    return math.nan if tick is None or tick.ltp <= 0 else tick.ltp / 100.0


def _ist_date(day: int) -> date | None:
    """The IST date of a day number (``ist_day_number``); None before any sample."""
    return None if day < 0 else _EPOCH + timedelta(days=day)


def _day_month(day: date) -> str:
    return f"{day.day} {day:%b}"


def _rupees_text(paise: int) -> str:
    return f"{paise // 100}" if paise % 100 == 0 else f"{Decimal(paise) / 100}"
