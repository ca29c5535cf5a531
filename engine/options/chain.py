"""Option-chain analytics: forward, IVs, smile, ATM IV, Greeks, PCR and max pain per expiry.

The UI (or a strategy) builds one :class:`ChainSnapshot` per expiry from the quote cache on each
coalesced tick burst and passes them all to :func:`analyse_chains`, which solves every option of
every chain in one batched IV call and one batched Greeks call (the fixed cost of a numpy pass is
paid once per burst, not once per chain) and returns one :class:`ChainAnalytics` per snapshot.

Conventions (options_math.md): Black-76 on the expiry's forward, which is the matching future's
price when given, else the put-call-parity forward F = K + (C − P)/DF from bid/ask mids, the
median over the few strikes nearest the money (never last prices: they are asynchronous). The
smile takes each strike's IV from its out-of-the-money side (calls at and above the forward,
puts below), as Sensibull does: in-the-money quotes carry wide spreads and STT. Greeks of both
the call and the put of a strike are at that one smile IV, so they obey put-call parity.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from engine.domain.ticks import Tick
from engine.options.black76 import FloatArray
from engine.options.greeks import CALENDAR_DAYS_PER_YEAR, Greeks, greeks
from engine.options.iv import implied_vol

__all__ = [
    "ChainAnalytics",
    "ChainSnapshot",
    "ForwardSource",
    "QuotePrice",
    "analyse_chain",
    "analyse_chains",
]

PARITY_STRIKES = 5
"""Strikes nearest the money whose parity forwards are averaged (median) for the synthetic."""


class QuotePrice(StrEnum):
    """Which price of a quote the IV is solved from."""

    MID = "mid"
    """Bid/ask midpoint; no IV without a two-sided quote."""
    MID_ELSE_LTP = "mid_else_ltp"
    """The midpoint, else the last traded price (a one-sided or empty book)."""
    LTP = "ltp"
    """Last traded price, as nseindia.com does."""


class ForwardSource(StrEnum):
    FUTURE = "future"
    SYNTHETIC = "synthetic"
    """Put-call parity on bid/ask mids near the money."""
    NONE = "none"
    """No future and no strike with both a call and a put quoted both ways: no analytics."""


def _column(name: str, values: object) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"ChainSnapshot.{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, slots=True, eq=False)
class ChainSnapshot:
    """One expiry's chain at a moment: arrays aligned by strike, prices in rupees.

    A missing price (no bid, no ask, never traded) is NaN; open interest and volume are in
    units (contracts × lot size, as Kite reports them), NaN or 0 where unknown. ``years`` is the
    time to expiry (:func:`engine.options.years_to_expiry`), ``rate`` the continuous risk-free
    rate the prices are discounted at, ``future`` the price of the future expiring with these
    options, NaN when there is none (weeklies).
    """

    strikes: FloatArray
    call_bid: FloatArray
    call_ask: FloatArray
    call_ltp: FloatArray
    put_bid: FloatArray
    put_ask: FloatArray
    put_ltp: FloatArray
    call_oi: FloatArray
    put_oi: FloatArray
    call_volume: FloatArray
    put_volume: FloatArray
    years: float
    rate: float
    future: float = math.nan

    def __post_init__(self) -> None:
        length = None
        for name in _ARRAY_FIELDS:
            array = _column(name, getattr(self, name))
            if length is not None and array.shape[0] != length:
                raise ValueError(
                    f"ChainSnapshot.{name} has {array.shape[0]} entries, strikes have {length}"
                )
            length = array.shape[0]
            object.__setattr__(self, name, array)
        strikes = self.strikes
        if not (np.all(np.isfinite(strikes)) and np.all(strikes > 0.0)):
            raise ValueError("ChainSnapshot.strikes must be positive and finite")
        if np.any(np.diff(strikes) <= 0.0):
            raise ValueError("ChainSnapshot.strikes must be strictly increasing")
        for name in ("years", "rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"ChainSnapshot.{name} must be a finite number, got {value!r}")
        if not isinstance(self.future, int | float) or math.isinf(self.future):
            raise ValueError(f"ChainSnapshot.future must be a price or NaN, got {self.future!r}")

    def __len__(self) -> int:
        return int(self.strikes.shape[0])

    @classmethod
    def from_ticks(
        cls,
        strikes: Sequence[int],
        calls: Sequence[Tick | None],
        puts: Sequence[Tick | None],
        *,
        years: float,
        rate: float,
        future: Tick | None = None,
    ) -> ChainSnapshot:
        """A snapshot from the quote cache's ticks (prices in paise; 0 means none).

        ``strikes`` in paise, ascending, with the call and put tick of each strike (None when
        the cache has none yet). The future's price is its mid, else its last price.
        """
        if not (len(strikes) == len(calls) == len(puts)):
            raise ValueError(
                f"from_ticks needs one call and one put per strike, got {len(strikes)} strikes, "
                f"{len(calls)} calls and {len(puts)} puts"
            )
        call_book = _book(calls)
        put_book = _book(puts)
        future_price = math.nan
        if future is not None:
            future_book = _book([future])
            mid = _mid(future_book[0], future_book[1])[0]
            future_price = float(mid if math.isfinite(mid) else future_book[2][0])
        return cls(
            strikes=np.asarray(strikes, dtype=np.float64) / 100.0,
            call_bid=call_book[0],
            call_ask=call_book[1],
            call_ltp=call_book[2],
            put_bid=put_book[0],
            put_ask=put_book[1],
            put_ltp=put_book[2],
            call_oi=call_book[3],
            put_oi=put_book[3],
            call_volume=call_book[4],
            put_volume=put_book[4],
            years=years,
            rate=rate,
            future=future_price,
        )


_ARRAY_FIELDS = (
    "strikes",
    "call_bid",
    "call_ask",
    "call_ltp",
    "put_bid",
    "put_ask",
    "put_ltp",
    "call_oi",
    "put_oi",
    "call_volume",
    "put_volume",
)


def _book(ticks: Sequence[Tick | None]) -> FloatArray:
    """Rows bid, ask, ltp (rupees, NaN for none), oi, volume (units) of each tick."""
    rows = np.array(
        [
            (math.nan,) * 5
            if tick is None
            else (tick.bid, tick.ask, tick.ltp, tick.oi, tick.volume)
            for tick in ticks
        ],
        dtype=np.float64,
    ).reshape(-1, 5)
    prices = rows[:, :3]
    prices[prices <= 0.0] = np.nan  # 0 paise: no bid / no ask / never traded
    prices /= 100.0
    return np.ascontiguousarray(rows.T)


@dataclass(frozen=True, slots=True, eq=False)
class ChainAnalytics:
    """What :func:`analyse_chains` works out for one snapshot; arrays aligned with its strikes."""

    strikes: FloatArray
    forward: float
    """NaN when there is no future and no parity pair (then everything else is NaN)."""
    forward_source: ForwardSource
    years: float
    rate: float
    call_iv: FloatArray
    """Each call's IV from its own price; NaN where none exists."""
    put_iv: FloatArray
    smile_iv: FloatArray
    """One IV per strike, from its out-of-the-money side (calls at or above the forward)."""
    atm_iv: float
    """The smile interpolated linearly in strike at the forward."""
    call: Greeks
    """Per-unit price and Greeks of each call at the strike's smile IV."""
    put: Greeks
    pcr_oi: float
    """Put-call ratio of open interest (NaN with no call OI)."""
    pcr_volume: float
    max_pain: float
    """The strike at which option holders' total payoff is least (NaN with no OI)."""
    call_price: FloatArray = field(repr=False)
    """The prices the IVs were solved from (mid or last, per ``QuotePrice``)."""
    put_price: FloatArray = field(repr=False)


def analyse_chain(
    snapshot: ChainSnapshot,
    *,
    quote: QuotePrice | str = QuotePrice.MID_ELSE_LTP,
    parity_strikes: int = PARITY_STRIKES,
    days_per_year: float = CALENDAR_DAYS_PER_YEAR,
) -> ChainAnalytics:
    """One chain; :func:`analyse_chains` is the same for many, batched."""
    return analyse_chains(
        [snapshot], quote=quote, parity_strikes=parity_strikes, days_per_year=days_per_year
    )[0]


def analyse_chains(
    snapshots: Sequence[ChainSnapshot],
    *,
    quote: QuotePrice | str = QuotePrice.MID_ELSE_LTP,
    parity_strikes: int = PARITY_STRIKES,
    days_per_year: float = CALENDAR_DAYS_PER_YEAR,
) -> list[ChainAnalytics]:
    """Analytics of every snapshot, in order, from one IV solve and one Greeks pass over all.

    ``quote`` picks the price each IV is solved from; ``parity_strikes`` how many strikes near
    the money the synthetic forward takes the median over; ``days_per_year`` the day theta is
    quoted per (365 with calendar-time ``years``, 252 with trading time).
    """
    quote = QuotePrice(quote)
    if isinstance(parity_strikes, bool) or not (
        isinstance(parity_strikes, int) and parity_strikes > 0
    ):
        raise ValueError(f"parity_strikes must be a positive int, got {parity_strikes!r}")
    if not snapshots:
        return []
    counts = [len(snapshot) for snapshot in snapshots]
    bounds = np.concatenate([[0], np.cumsum(counts)])

    def joined(name: str) -> FloatArray:
        return np.concatenate([getattr(snapshot, name) for snapshot in snapshots])

    strikes = joined("strikes")
    years = np.repeat([snapshot.years for snapshot in snapshots], counts)
    rate = np.repeat([snapshot.rate for snapshot in snapshots], counts)
    call_mid = _mid(joined("call_bid"), joined("call_ask"))
    put_mid = _mid(joined("put_bid"), joined("put_ask"))
    call_price = _quote_price(call_mid, joined("call_ltp"), quote)
    put_price = _quote_price(put_mid, joined("put_ltp"), quote)

    forwards: list[tuple[float, ForwardSource]] = []
    for i, snapshot in enumerate(snapshots):
        chain = slice(bounds[i], bounds[i + 1])
        forwards.append(_forward(snapshot, call_mid[chain], put_mid[chain], parity_strikes))
    forward = np.repeat([value for value, _ in forwards], counts)

    both_forward = np.concatenate([forward, forward])
    both_strikes = np.concatenate([strikes, strikes])
    both_years = np.concatenate([years, years])
    both_rate = np.concatenate([rate, rate])
    is_call = np.repeat([True, False], strikes.shape[0])
    iv = implied_vol(
        np.concatenate([call_price, put_price]),
        both_forward,
        both_strikes,
        both_years,
        both_rate,
        is_call,
    )
    total = strikes.shape[0]
    call_iv, put_iv = iv[:total], iv[total:]
    with np.errstate(invalid="ignore"):
        smile = np.where(strikes >= forward, call_iv, put_iv)
    every = greeks(
        both_forward,
        both_strikes,
        both_years,
        both_rate,
        np.concatenate([smile, smile]),
        is_call,
        days_per_year=days_per_year,
    )

    results = []
    for i, snapshot in enumerate(snapshots):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        chain = slice(lo, hi)
        value, source = forwards[i]
        results.append(
            ChainAnalytics(
                strikes=snapshot.strikes,
                forward=value,
                forward_source=source,
                years=float(snapshot.years),
                rate=float(snapshot.rate),
                call_iv=call_iv[chain],
                put_iv=put_iv[chain],
                smile_iv=smile[chain],
                atm_iv=_atm_iv(snapshot.strikes, smile[chain], value),
                call=_greeks_slice(every, slice(lo, hi)),
                put=_greeks_slice(every, slice(total + lo, total + hi)),
                pcr_oi=_ratio(snapshot.put_oi, snapshot.call_oi),
                pcr_volume=_ratio(snapshot.put_volume, snapshot.call_volume),
                max_pain=_max_pain(snapshot.strikes, snapshot.call_oi, snapshot.put_oi),
                call_price=call_price[chain],
                put_price=put_price[chain],
            )
        )
    return results


def _mid(bid: FloatArray, ask: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        two_sided = (bid > 0.0) & (ask >= bid)
        return np.where(two_sided, 0.5 * (bid + ask), np.nan)


def _quote_price(mid: FloatArray, ltp: FloatArray, quote: QuotePrice) -> FloatArray:
    if quote is QuotePrice.MID:
        return mid
    if quote is QuotePrice.LTP:
        return ltp
    return np.where(np.isfinite(mid), mid, ltp)


def _forward(
    snapshot: ChainSnapshot, call_mid: FloatArray, put_mid: FloatArray, parity_strikes: int
) -> tuple[float, ForwardSource]:
    if math.isfinite(snapshot.future) and snapshot.future > 0.0:
        return float(snapshot.future), ForwardSource.FUTURE
    pairs = np.flatnonzero(np.isfinite(call_mid) & np.isfinite(put_mid))
    if not pairs.size:
        return math.nan, ForwardSource.NONE
    strikes = snapshot.strikes[pairs]
    call_less_put = call_mid[pairs] - put_mid[pairs]
    parity = strikes + call_less_put / math.exp(-snapshot.rate * snapshot.years)
    # Nearest the money: around the strike where the call and the put cost the most alike.
    anchor = strikes[np.argmin(np.abs(call_less_put))]
    nearest = np.argsort(np.abs(strikes - anchor), kind="stable")[:parity_strikes]
    # statistics.median, not np.median: the same value, and numpy's median imports numpy.ma
    # (~20 ms), on the path to the desk's first paint.
    return statistics.median(parity[nearest].tolist()), ForwardSource.SYNTHETIC


def _atm_iv(strikes: FloatArray, smile: FloatArray, forward: float) -> float:
    finite = np.isfinite(smile)
    if not (math.isfinite(forward) and finite.any()):
        return math.nan
    k, v = strikes[finite], smile[finite]
    above = int(np.searchsorted(k, forward))
    if above < k.size and k[above] == forward:
        return float(v[above])
    if above == 0 or above == k.size:
        return math.nan  # the forward is outside the quoted smile
    weight = (forward - k[above - 1]) / (k[above] - k[above - 1])
    return float(v[above - 1] + weight * (v[above] - v[above - 1]))


def _greeks_slice(every: Greeks, part: slice) -> Greeks:
    return Greeks(**{name: values[part] for name, values in every.items()})


def _ratio(numerator: FloatArray, denominator: FloatArray) -> float:
    below = float(np.nansum(denominator))
    return float(np.nansum(numerator)) / below if below > 0.0 else math.nan


def _max_pain(strikes: FloatArray, call_oi: FloatArray, put_oi: FloatArray) -> float:
    calls = np.nan_to_num(call_oi)
    puts = np.nan_to_num(put_oi)
    if calls.sum() + puts.sum() <= 0.0:
        return math.nan
    # Payout to holders if the underlying settles at each strike (rows) from every strike's OI.
    settle_less_strike = strikes[:, None] - strikes[None, :]
    payout = (
        np.maximum(settle_less_strike, 0.0) @ calls + np.maximum(-settle_less_strike, 0.0) @ puts
    )
    return float(strikes[np.argmin(payout)])
