"""An offline SPAN-like margin estimate for the paper account (nse_market.md §5.2).

Each derivative gets a 16-value risk array, the loss of one long unit under the CME SPAN scenario
grid: price moves 0, ±⅓, ±⅔, ±1 × the price scan range, each with the vol up and down by the
volatility scan range, plus ±2 × PSR with no vol change counted at 35 %. Options are repriced with
Black-76 at their implied vol (:func:`engine.options.implied_vol`, the desk's one solver) and one
day less to expiry, the time counted to the expiry moment of the market calendar
(:func:`engine.options.years_to_expiry`). Per underlying:

    scanning risk = max over the 16 scenarios of Σ quantity × risk array   (floored at 0)
    SPAN          = max(scanning risk − net option value, 0)
    requirement   = SPAN + ELM (futures and short options) + premium of long options

Cash equity needs its delivery or intraday share of the value. Risk arrays are computed once per
instrument and refreshed off the order path (``refresh``), so checking an order costs 16
multiply-adds: the estimator keeps each underlying's summed array up to date as exposure moves.
On paper the estimate is checked against the capital plus the day's P&L. Live, the budget is
the broker's own figure of the margin still available (``FundsChanged``, read from the broker
every few seconds off the order path) plus what the desk holds, and this estimate prices only
what an order adds until the broker's next figure: no order waits for a broker round trip.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from engine.core.clock import Clock
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import Product
from engine.marketdata.quotes import QuoteCache
from engine.options import black76, implied_vol, years_to_expiry
from engine.options.expiry_time import SessionCalendar
from engine.risk.limits import MarginParameters
from engine.risk.price_rules import INDEX_UNDERLYINGS

log = logging.getLogger(__name__)

SCENARIOS = 16
_MOVES = (0, 0, 1 / 3, 1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3, 1, 1, -1, -1)
_VOLS = (1, -1) * 7

InstrumentLookup = Callable[[InstrumentToken], Instrument | None]
SpotLookup = Callable[[str], int | None]
"""Underlying symbol -> its last price in paise (index or stock), or None."""


@dataclass(slots=True)
class RiskArray:
    losses: list[float]
    """Rupees lost by one long unit in each scenario."""
    value: float
    """Rupees per unit now (option premium; futures and cash: price)."""
    notional: float
    """Rupees per unit on which exposure margin is charged."""
    elm_pct: float
    is_option: bool
    computed_ns: int
    vol: float = math.nan
    """The Black-76 vol the option was repriced at: its implied vol, or the fallback."""
    margin_base: float = field(init=False)
    """Exposure margin (ELM) per unit short, rupees: ``notional × elm_pct / 100``."""
    most_per_unit: float = field(init=False)
    """The most one unit more or less can add to its underlying's requirement, rupees: the
    largest scenario loss (scanning risk), plus twice the premium for an option (net option
    value and long premium), plus ELM. An order within the headroom by this bound needs no
    repricing."""

    def __post_init__(self) -> None:
        self.margin_base = self.notional * self.elm_pct / 100
        largest = max(max(self.losses), -min(self.losses))
        self.most_per_unit = (
            largest + (2 * abs(self.value) if self.is_option else 0.0) + self.margin_base
        )


@dataclass(slots=True)
class _Book:
    """One underlying's summed exposure."""

    vector: list[float] = field(default_factory=lambda: [0.0] * SCENARIOS)
    option_value: float = 0.0
    """Net option value: long premium minus short premium, rupees."""
    elm: float = 0.0
    premium: float = 0.0
    equity: float = 0.0
    requirement: float = 0.0

    def total(self) -> float:
        scan = max(max(self.vector), 0.0)
        return max(scan - self.option_value, 0.0) + self.elm + self.premium + self.equity


def years_left(
    expiry: date | None, now: datetime, calendar: SessionCalendar | None = None
) -> float:
    """Year fraction to the expiry moment (calendar ACT/365), 0 once expired or with no expiry."""
    if expiry is None:
        return 0.0
    return max(years_to_expiry(now, expiry, calendar=calendar), 0.0)


class MarginEstimator:
    def __init__(
        self,
        *,
        instruments: InstrumentLookup,
        quotes: QuoteCache,
        spot: SpotLookup,
        clock: Clock,
        params: MarginParameters | None = None,
        index_underlyings: frozenset[str] = INDEX_UNDERLYINGS,
        calendar: SessionCalendar | None = None,
    ) -> None:
        """``calendar`` gives expiry moments (default: the packaged NSE calendar)."""
        self._instruments = instruments
        self._calendar = calendar
        self._quotes = quotes
        self._spot = spot
        self._clock = clock
        self.params = params or MarginParameters()
        self._index = index_underlyings
        self._arrays: dict[InstrumentToken, RiskArray] = {}
        self._cursor = 0
        self._quantity: dict[tuple[InstrumentToken, Product], int] = {}
        self._books: dict[str, _Book] = {}
        self.total = 0.0
        """Rupees the current exposure needs."""

    # -- the order path ----------------------------------------------------------------------------

    def bound_after(
        self, instrument: Instrument, product: Product, quantity: int
    ) -> tuple[float, float]:
        """Upper bounds of ``requirement_after`` at the cost of two lookups: an order whose bound
        fits the account's limits fits them exactly too, so it needs no scenario repricing.
        Exact where no bound is kept (cash)."""
        array = self._arrays.get(instrument.token)
        if array is None:
            return self.requirement_after(instrument, product, quantity)
        change = quantity - self._quantity.get((instrument.token, product), 0)
        most = (change if change > 0 else -change) * array.most_per_unit
        book = self._books.get(instrument.underlying)
        return self.total + most, (book.requirement if book is not None else 0.0) + most

    def requirement_after(
        self, instrument: Instrument, product: Product, quantity: int
    ) -> tuple[float, float]:
        """(whole account, this underlying) in rupees if the margin quantity of (instrument,
        product) became ``quantity``."""
        old = self._quantity.get((instrument.token, product), 0)
        book = self._books.get(instrument.underlying)
        before = book.requirement if book is not None else 0.0
        if quantity == old:
            return self.total, before
        after = self._with_delta(book or _Book(), instrument, product, old, quantity, apply=False)
        return self.total - before + after, after

    def update(self, instrument: Instrument, product: Product, quantity: int) -> None:
        """The margin quantity of (instrument, product) is now ``quantity``."""
        key = (instrument.token, product)
        old = self._quantity.get(key, 0)
        if quantity == old:
            return
        book = self._books.get(instrument.underlying)
        if book is None:
            book = self._books[instrument.underlying] = _Book()
        before = book.requirement
        book.requirement = self._with_delta(book, instrument, product, old, quantity, apply=True)
        self._quantity[key] = quantity
        self.total += book.requirement - before

    def by_underlying(self) -> dict[str, float]:
        return {u: b.requirement for u, b in self._books.items() if b.requirement}

    # -- off the order path ----------------------------------------------------------------------

    def prime(self, instruments: Iterable[Instrument]) -> int:
        """Compute the risk arrays of many derivatives in one vectorised pass.

        Run off the order path (start-up, periodic refresh) so the gate only looks arrays up: one
        option priced alone over the 16 scenarios costs about half a millisecond, a whole
        3,000-contract universe priced together a few milliseconds.
        """
        # A contract with no price yet is left for ``risk_array`` to price once it has one: an
        # array computed without a price would stand for the contract until the next refresh.
        derivatives = [i for i in instruments if i.is_derivative and self._quotes.ltp(i.token)]
        for future in (i for i in derivatives if not i.is_option):
            self._arrays[future.token] = self._compute(future)
        options = [i for i in derivatives if i.is_option]
        if not options:
            return len(derivatives)
        p = self.params
        now_ns = self._clock.time_ns()
        now = self._clock.now()
        years_of: dict[date | None, float] = {}
        for i in options:
            if i.expiry not in years_of:
                years_of[i.expiry] = years_left(i.expiry, now, self._calendar)
        years = np.array([years_of[i.expiry] for i in options])
        strike = np.array([(i.strike or 0) / 100 for i in options])
        own = np.array([self._price_rupees(i) for i in options])
        spot_of: dict[str, float] = {}
        for i in options:
            if i.underlying not in spot_of:
                spot_of[i.underlying] = (self._spot(i.underlying) or 0) / 100
        spot = np.array([spot_of[i.underlying] for i in options])
        spot = np.where(spot > 0, spot, strike)
        is_call = np.array([i.instrument_type is InstrumentType.CE for i in options])
        is_index = np.array([i.underlying in self._index for i in options])
        forward = spot * np.exp(p.rate * years)
        with np.errstate(invalid="ignore", divide="ignore"):
            vol = implied_vol(own, forward, strike, years, p.rate, is_call)
        vol = np.where(np.isfinite(vol), vol, p.fallback_vol)
        vol_floor = np.where(is_index, p.index_vol_scan_min, p.stock_vol_scan_min)
        vol_scan = np.maximum(vol_floor, p.vol_scan_share * vol)
        psr = np.where(is_index, p.index_price_scan_pct, p.stock_price_scan_pct)
        elm = np.where(is_index, p.index_elm_pct, p.stock_elm_pct)
        scan = spot * psr / 100
        moves = np.array([*_MOVES, p.extreme_move_multiple, -p.extreme_move_multiple])
        shifts = np.array([*_VOLS, 0, 0])
        scenario_years = np.maximum(years - 1 / 365, 0.0)
        scenario_forward = (spot[:, None] + moves * scan[:, None]) * np.exp(
            p.rate * scenario_years
        )[:, None]
        values = black76.price(
            np.maximum(scenario_forward, 1e-6),
            strike[:, None],
            scenario_years[:, None],
            p.rate,
            np.maximum(vol[:, None] + shifts * vol_scan[:, None], 1e-4),
            is_call[:, None],
        )
        value_now = np.where(
            own > 0, own, black76.price(forward, strike, years, p.rate, vol, is_call)
        )
        losses = value_now[:, None] - values
        losses[:, -2:] *= p.extreme_move_cover
        for row, instrument in enumerate(options):
            self._arrays[instrument.token] = RiskArray(
                losses[row].tolist(), float(value_now[row]), float(spot[row]),
                float(elm[row]), True, now_ns, float(vol[row]),
            )  # fmt: skip
        return len(derivatives)

    def refresh(self) -> None:
        """Reprice what is held at today's prices and rebuild the books (a few contracts: cheap).

        The rest of the universe is repriced a slice at a time by ``refresh_some``, so no single
        refresh holds the event loop for the whole universe.
        """
        quantities = dict(self._quantity)
        held = [self._instruments(token) for token, _ in quantities]
        if any(i is not None and i.is_derivative for i in held):
            self.prime(i for i in held if i is not None)
        self._books.clear()
        self._quantity.clear()
        self.total = 0.0
        for (token, product), quantity in quantities.items():
            instrument = self._instruments(token)
            if instrument is not None:
                self.update(instrument, product, quantity)

    def refresh_some(self, universe: list[Instrument], count: int) -> int:
        """Reprice the next ``count`` contracts of ``universe`` (round robin); returns how many."""
        if not universe:
            return 0
        start = self._cursor % len(universe)
        chunk = universe[start : start + count]
        self._cursor = start + len(chunk)
        return self.prime(chunk)

    def risk_array(self, instrument: Instrument) -> RiskArray:
        """The contract's array: kept once it is priced from a quote, else an estimate from the
        underlying (or the strike) computed again until a quote comes."""
        array = self._arrays.get(instrument.token)
        if array is None:
            array = self._compute(instrument)
            if self._quotes.ltp(instrument.token):
                self._arrays[instrument.token] = array
        return array

    # -- internals ---------------------------------------------------------------------------------

    def _with_delta(
        self,
        book: _Book,
        instrument: Instrument,
        product: Product,
        old: int,
        new: int,
        *,
        apply: bool,
    ) -> float:
        """The underlying's requirement once the margin quantity moves from ``old`` to ``new``;
        ``apply`` keeps the change in ``book``, else it is only priced."""
        if instrument.instrument_type is InstrumentType.EQ:
            return self._equity_delta(book, instrument, product, old, new, apply=apply)
        delta = new - old
        array = self.risk_array(instrument)
        vector = [v + delta * loss for v, loss in zip(book.vector, array.losses, strict=True)]
        if apply:
            book.vector = vector
        option_value = book.option_value
        elm = book.elm
        premium = book.premium
        if array.is_option:
            option_value += delta * array.value
            premium += ((new if new > 0 else 0) - (old if old > 0 else 0)) * array.value
            elm += ((-new if new < 0 else 0) - (-old if old < 0 else 0)) * array.margin_base
        else:
            elm += (abs(new) - abs(old)) * array.margin_base
        if apply:
            book.option_value, book.elm, book.premium = option_value, elm, premium
        scan = max(vector)
        span = scan - option_value if scan > 0.0 else -option_value
        return (span if span > 0.0 else 0.0) + elm + premium + book.equity

    def _equity_delta(
        self,
        book: _Book,
        instrument: Instrument,
        product: Product,
        old: int,
        new: int,
        *,
        apply: bool,
    ) -> float:
        share = (
            self.params.equity_delivery_margin_pct
            if product is Product.CNC
            else self.params.equity_intraday_margin_pct
        )
        change = (abs(new) - abs(old)) * self._price_rupees(instrument) * share / 100
        if apply:
            book.equity += change
            return book.total()
        saved = book.equity
        book.equity += change
        result = book.total()
        book.equity = saved
        return result

    def _price_rupees(self, instrument: Instrument) -> float:
        ltp = self._quotes.ltp(instrument.token)
        return (ltp or 0) / 100

    def _compute(self, instrument: Instrument) -> RiskArray:
        p = self.params
        is_index = instrument.underlying in self._index
        psr_pct = p.index_price_scan_pct if is_index else p.stock_price_scan_pct
        elm_pct = p.index_elm_pct if is_index else p.stock_elm_pct
        now = self._clock.now()
        years = years_left(instrument.expiry, now, self._calendar)
        own = self._price_rupees(instrument)
        spot_paise = self._spot(instrument.underlying)
        if instrument.instrument_type is InstrumentType.FUT:
            price = own or (spot_paise or 0) / 100
            scan = price * psr_pct / 100
            moves = [-m * scan for m in _MOVES] + [
                -p.extreme_move_multiple * scan * p.extreme_move_cover,
                p.extreme_move_multiple * scan * p.extreme_move_cover,
            ]
            return RiskArray(moves, price, price, elm_pct, False, self._clock.time_ns())
        strike = (instrument.strike or 0) / 100
        spot = (spot_paise or 0) / 100 or strike
        is_call = instrument.instrument_type is InstrumentType.CE
        forward = spot * math.exp(p.rate * years)
        vol = float(implied_vol(own, forward, strike, years, p.rate, is_call))
        if not math.isfinite(vol):
            vol = p.fallback_vol
        vol_floor = p.index_vol_scan_min if is_index else p.stock_vol_scan_min
        vol_scan = max(vol_floor, p.vol_scan_share * vol)
        scan = spot * psr_pct / 100
        scenario_years = max(years - 1 / 365, 0.0)
        move = np.array([*_MOVES, p.extreme_move_multiple, -p.extreme_move_multiple]) * scan
        shift = np.array([*_VOLS, 0, 0]) * vol_scan
        value_now = own or float(black76.price(forward, strike, years, p.rate, vol, is_call))
        scenario_forward = (spot + move) * math.exp(p.rate * scenario_years)
        values = black76.price(
            np.maximum(scenario_forward, 1e-6),
            strike,
            scenario_years,
            p.rate,
            np.maximum(vol + shift, 1e-4),
            is_call,
        )
        losses = value_now - values
        losses[-2:] *= p.extreme_move_cover
        return RiskArray(
            [float(x) for x in losses], value_now, spot, elm_pct, True, self._clock.time_ns(), vol
        )
