"""Transaction charges of one fill: brokerage, STT, exchange, SEBI, stamp duty and GST.

Public entry point: :func:`charges`, the charges of one fill under :data:`DEFAULT_TARIFF` (Zerodha
brokerage on NSE/BSE statutory and exchange rates). Rates are date-aware, so a backtest of 2024
pays 2024's STT. Every amount is an exact, unrounded ``Decimal`` in rupees; round once, at the
end, with :meth:`Charges.rounded` or :func:`engine.domain.values.round_paisa` on a sum.

This module is the arithmetic (a :class:`Tariff` applied to one fill) and the checks on a fill's
terms; the rates themselves, the charge segments and the dated rate tables, are in
:mod:`engine.charge_rates`.

Sources: ``nse_market.md`` §3.3–3.4 (the formulas and their worked examples); the rates' sources
are named in :mod:`engine.charge_rates`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from engine.charge_rates import (
    DP_CHARGE,
    DP_GST_RATE,
    RATE_PERIODS,
    ZERODHA_BROKERAGE,
    ChargeSegment,
    OrderBrokerage,
    RatePeriod,
)
from engine.domain.charges import Charges
from engine.domain.values import ZERO

_SIDES = ("BUY", "SELL")
# Kite names the derivative segments of an exchange separately; the charges are the exchange's.
_EXCHANGE_ALIASES = {"NSE": "NSE", "NFO": "NSE", "BSE": "BSE", "BFO": "BSE"}


ChargeParts = tuple[Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]
"""A fill's brokerage, STT, exchange charges, SEBI fee, stamp duty and GST: the first fields of
``Charges``, in its order (``Charges(*parts)``)."""


@dataclass(frozen=True, slots=True)
class SegmentRates:
    """What a fill's charges need from a rate period, looked up once per (segment, trade date,
    exchange): fractions of the traded value, and GST's rate on brokerage and fees."""

    stt_buy: Decimal
    stt_sell: Decimal
    transaction: Decimal
    stamp_buy: Decimal
    sebi: Decimal
    gst: Decimal

    def parts(
        self, brokerage: OrderBrokerage, buying: bool, value: Decimal, paid: Decimal
    ) -> ChargeParts:
        """The arithmetic of :meth:`Tariff.charges` on a fill's checked value (price × quantity)."""
        fee = brokerage.for_fill(value, paid)
        stt = value * (self.stt_buy if buying else self.stt_sell)
        txn = value * self.transaction
        sebi = value * self.sebi
        stamp = value * self.stamp_buy if buying else ZERO
        gst = self.gst * (fee + txn + sebi)
        return (fee, stt, txn, sebi, stamp, gst)


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")
_CACHED_LOOKUPS = 4096
"""How many trade dates (or segment, date and exchange triples) a tariff remembers the rates of;
past that it forgets them all and starts again, so a desk that runs for years stays small."""


@dataclass(frozen=True, slots=True)
class Tariff:
    """A broker's brokerage plus the dated statutory/exchange rate tables; does the arithmetic.

    The dated rate tables are read once per trade date (and segment and exchange) and the rates
    remembered, so they must not change once the tariff is built (each is a read-only ``Mapping``).
    """

    name: str
    brokerage: Mapping[ChargeSegment, OrderBrokerage]
    periods: tuple[RatePeriod, ...]
    """Sorted by ``effective_from``; trades before the first period are refused."""
    _periods_on: dict[date, RatePeriod] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _rates: dict[tuple[ChargeSegment, date, str], SegmentRates] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        starts = [period.effective_from for period in self.periods]
        if not starts:
            raise ValueError(f"tariff {self.name!r} has no rate periods")
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError(f"tariff {self.name!r}: rate periods must have rising start dates")
        missing = set(ChargeSegment) - set(self.brokerage)
        if missing:
            raise ValueError(f"tariff {self.name!r} has no brokerage for {sorted(missing)}")

    def rates_on(self, on: date) -> RatePeriod:
        """The rate period in force on the trade date ``on``."""
        remember = type(on) is date  # a plain date: hashable, and equal only to the same day
        if remember:
            known = self._periods_on.get(on)
            if known is not None:
                return known
        _check_trade_date(on)
        current: RatePeriod | None = None
        for period in self.periods:
            if period.effective_from > on:
                break
            current = period
        if current is None:
            raise ValueError(
                f"tariff {self.name!r} has no rates for trades before "
                f"{self.periods[0].effective_from.isoformat()} (trade date {on.isoformat()})"
            )
        if remember:
            _remember(self._periods_on, on, current)
        return current

    def charges(
        self,
        segment: ChargeSegment | str,
        side: str,
        price: Decimal | int | str | float,
        quantity: int,
        on: date,
        *,
        exchange: str = "NSE",
        brokerage_paid: Decimal = ZERO,
    ) -> Charges:
        """Charges of one fill of ``quantity`` at ``price`` rupees (see :func:`charges`)."""
        seg = _check_segment(segment)
        buying = _check_side(side) == "BUY"
        value = _check_price(price) * _check_quantity(quantity)
        venue = _check_exchange(exchange)
        if not isinstance(brokerage_paid, Decimal | int) or brokerage_paid < 0:
            raise ValueError(
                f"brokerage_paid must be a non-negative amount, got {brokerage_paid!r}"
            )
        rates = self._segment_rates(seg, on, venue)
        paid = Decimal(brokerage_paid)
        return Charges(*rates.parts(self.brokerage[seg], buying, value, paid))

    def fill_parts(
        self,
        segment: ChargeSegment,
        side: str,
        price: Decimal,
        quantity: int,
        on: date,
        *,
        exchange: str,
        brokerage_paid: Decimal,
    ) -> ChargeParts:
        """The parts of :meth:`charges`, exactly, for a fill the engine is pricing.

        Terms of the kinds the engine makes (a ``ChargeSegment``, ``"BUY"``/``"SELL"``, a positive
        ``Decimal`` price, a positive ``int`` quantity, a ``date``, a known exchange, a
        non-negative ``Decimal`` paid) pass every check of :meth:`charges` as they are, so they go
        straight to the arithmetic; anything else goes through :meth:`charges` and is checked (and
        refused) there. A model that adds up several fills' charges sums the parts and makes one
        ``Charges`` at the end: making one per step was most of the cost of pricing a fill.
        """
        venue = _EXCHANGE_ALIASES.get(exchange) if type(exchange) is str else None
        if (
            venue is None
            or type(segment) is not ChargeSegment
            or type(on) is not date
            or not _is_engine_fill(side, price, quantity, brokerage_paid)
        ):
            checked = self.charges(
                segment, side, price, quantity, on, exchange=exchange, brokerage_paid=brokerage_paid
            )
            return (
                checked.brokerage,
                checked.stt,
                checked.exchange,
                checked.sebi,
                checked.stamp,
                checked.gst,
            )
        value = price * quantity
        rates = self._segment_rates(segment, on, venue)
        return rates.parts(self.brokerage[segment], side == "BUY", value, brokerage_paid)

    def _segment_rates(self, segment: ChargeSegment, on: date, venue: str) -> SegmentRates:
        """The rates of a checked segment and exchange on the trade date ``on``: the date is
        checked here, and a date or exchange without rates refused, as :meth:`charges` does."""
        remember = type(on) is date
        if remember:
            known = self._rates.get((segment, on, venue))
            if known is not None:
                return known
        rates = self.rates_on(on)
        exchange_rates = rates.transaction.get(venue)
        if exchange_rates is None:
            raise ValueError(
                f"tariff {self.name!r} has no {venue} transaction charges for trades on "
                f"{on.isoformat()}"
            )
        found = SegmentRates(
            stt_buy=rates.stt_buy.get(segment, ZERO),
            stt_sell=rates.stt_sell.get(segment, ZERO),
            transaction=exchange_rates[segment],
            stamp_buy=rates.stamp_buy[segment],
            sebi=rates.sebi,
            gst=rates.gst,
        )
        if remember:
            _remember(self._rates, (segment, on, venue), found)
        return found

    def exercise_stt(self, intrinsic_value: Decimal, on: date) -> Decimal:
        """STT on an exercised long option: rate × (settlement − strike) × quantity, in rupees."""
        if not isinstance(intrinsic_value, Decimal | int) or intrinsic_value < 0:
            raise ValueError(
                f"intrinsic value must be a non-negative amount, got {intrinsic_value!r}"
            )
        return Decimal(intrinsic_value) * self.rates_on(on).stt_option_exercise


# --- Input checks: bad input is refused with a message that names it. ---


def _is_engine_fill(side: str, price: object, quantity: object, brokerage_paid: object) -> bool:
    """Whether these fill terms are of the exact kinds the engine makes and would pass every check
    of :meth:`Tariff.charges` unchanged (a positive, finite ``Decimal`` price, a positive ``int``
    quantity, a non-negative ``Decimal`` paid); ``is_finite`` comes first, as a NaN refuses to be
    compared."""
    return (
        type(price) is Decimal
        and type(quantity) is int
        and type(brokerage_paid) is Decimal
        and side in _SIDES
        and price.is_finite()
        and price > 0
        and quantity > 0
        and brokerage_paid.is_finite()
        and brokerage_paid >= 0
    )


def _remember(cache: dict[_Key, _Value], key: _Key, value: _Value) -> None:
    if len(cache) >= _CACHED_LOOKUPS:
        cache.clear()
    cache[key] = value


def _check_segment(segment: ChargeSegment | str) -> ChargeSegment:
    try:
        return ChargeSegment(segment)
    except ValueError:
        names = ", ".join(s.value for s in ChargeSegment)
        raise ValueError(f"unknown charge segment {segment!r}; expected one of {names}") from None


def _check_side(side: str) -> str:
    if side not in _SIDES:
        raise ValueError(f"unknown side {side!r}; expected 'BUY' or 'SELL'")
    return str(side)


def _check_exchange(exchange: str) -> str:
    venue = _EXCHANGE_ALIASES.get(str(exchange))
    if venue is None:
        raise ValueError(f"unknown exchange {exchange!r}; expected NSE or BSE (or NFO/BFO)")
    return venue


def _check_price(price: Decimal | int | str | float) -> Decimal:
    if isinstance(price, bool):
        raise TypeError(f"price must be a rupee amount, got {price!r}")
    if isinstance(price, float):
        # A float from JSON or a UI field: its repr is the shortest decimal that round-trips.
        price = repr(price)
    if not isinstance(price, Decimal | int | str):
        raise TypeError(
            f"price must be Decimal, int, str or float rupees, got {type(price).__name__}"
        )
    try:
        amount = Decimal(price)
    except InvalidOperation:
        raise ValueError(f"price {price!r} is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"price must be a positive, finite rupee amount, got {price!r}")
    return amount


def _check_quantity(quantity: int) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise TypeError(f"quantity must be an int, got {quantity!r}")
    if quantity <= 0:
        raise ValueError(f"quantity must be positive, got {quantity}")
    return quantity


def _check_trade_date(on: date) -> None:
    # A datetime is a date subclass; which calendar day it means depends on its zone, so refuse it.
    if isinstance(on, datetime) or not isinstance(on, date):
        raise TypeError(f"'on' must be the trade date (datetime.date), got {on!r}")


DEFAULT_TARIFF = Tariff(name="Zerodha", brokerage=ZERODHA_BROKERAGE, periods=RATE_PERIODS)


def charges(
    segment: ChargeSegment | str,
    side: str,
    price: Decimal | int | str | float,
    quantity: int,
    on: date,
    *,
    exchange: str = "NSE",
    brokerage_paid: Decimal = ZERO,
) -> Charges:
    """Charges of one fill under :data:`DEFAULT_TARIFF`, exact and unrounded.

    ``segment``: ``"EQ_DELIVERY"``, ``"EQ_INTRADAY"``, ``"FUT"`` or ``"OPT"``. ``side``: ``"BUY"`` or
    ``"SELL"``. ``price`` in **rupees** per unit (the option premium for options; convert integer
    paise with ``to_rupees`` first). ``quantity`` in units, not lots. ``on``: the trade date.
    ``brokerage_paid``: brokerage already charged to this order by its earlier partial fills;
    brokerage is per executed order, so the result holds only what is left under the order's cap.
    """
    return DEFAULT_TARIFF.charges(
        segment, side, price, quantity, on, exchange=exchange, brokerage_paid=brokerage_paid
    )


def dp_charge() -> Charges:
    """The depository charge of one scrip sold from delivery on one day: ₹13.50 + ₹2.43 GST."""
    return Charges(dp=DP_CHARGE, gst=DP_CHARGE * DP_GST_RATE)
