"""Pricing fills with the default tariff: which charge schedule an instrument and product fall under,
and the day's memory a contract note needs (same-day CNC is intraday, DP once per scrip per day)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from engine import costs
from engine.core.clock import ist_date_of
from engine.costs import DEFAULT_TARIFF, Charges, ChargeSegment, Tariff
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Exchange, Instrument, InstrumentType
from engine.domain.orders import Product, Side
from engine.domain.values import ZERO, to_rupees

_CHARGE_EXCHANGE = {
    Exchange.NSE: "NSE",
    Exchange.NFO: "NSE",
    Exchange.BSE: "BSE",
    Exchange.BFO: "BSE",
}


log = logging.getLogger(__name__)


def charge_segment(instrument: Instrument, product: Product) -> ChargeSegment:
    """The schedule of a fill taken alone; a CNC fill matched by an opposite CNC fill of the same
    scrip the same day is intraday after the fact (``DayChargeModel``)."""
    if instrument.instrument_type is InstrumentType.FUT:
        return ChargeSegment.FUT
    if instrument.is_option:
        return ChargeSegment.OPT
    return ChargeSegment.EQ_INTRADAY if product is Product.MIS else ChargeSegment.EQ_DELIVERY


def default_charge_model(
    instrument: Instrument, fill: OrderFilled, trade_date: date, brokerage_paid: Decimal
) -> Charges:
    """Each fill on its own schedule, with no memory of the day (tests and simple tools)."""
    if fill.settles:
        return settlement_charges(DEFAULT_TARIFF, instrument, fill, trade_date)
    parts = DEFAULT_TARIFF.fill_parts(
        charge_segment(instrument, fill.product),
        fill.side.value,
        to_rupees(fill.price),
        fill.quantity,
        trade_date,
        exchange=_CHARGE_EXCHANGE[instrument.exchange],
        brokerage_paid=brokerage_paid,
    )
    return Charges(*parts)


def settlement_charges(
    tariff: Tariff, instrument: Instrument, fill: OrderFilled, trade_date: date
) -> Charges:
    """What a contract's final settlement at expiry costs (``OrderFilled.settles``): it is not a
    trade, so no brokerage, exchange charges, SEBI fee, stamp duty or GST.

    An in-the-money long option (a SELL closing it, at its intrinsic value) is exercised: the
    buyer pays STT on the intrinsic value at the rate in force on the expiry day (nse_market.md
    §3.1/§3.3: 0.15 % from 1 Apr 2026, 0.125 % before), rounded to the rupee as the contract
    note shows STT. A short option assigned in the money pays none, nor one that expired out of
    the money (price 0). Futures' final settlement: the reference gives no charge for it, so
    none is taken."""
    if not instrument.is_option or fill.side is not Side.SELL or fill.price <= 0:
        return Charges()
    intrinsic_value = to_rupees(fill.price) * fill.quantity
    stt = tariff.exercise_stt(intrinsic_value, instrument.expiry or trade_date)
    return Charges(stt=stt).with_stt_rounded_to_rupee()


@dataclass(slots=True)
class _Lot:
    """Units of a CNC fill not (yet) matched by an opposite CNC fill of the same scrip that day."""

    price: Decimal
    quantity: int
    order_id: OrderId


@dataclass(slots=True)
class _ScripDay:
    buys: deque[_Lot] = field(default_factory=deque)
    sells: deque[_Lot] = field(default_factory=deque)
    dp_charged: Decimal = ZERO
    """The DP charge (before GST) charged so far for this scrip today: 0 or one charge."""


@dataclass(slots=True)
class _OrderDay:
    value: Decimal = ZERO
    """Rupee value of the order's CNC fills so far."""
    intraday: bool = False
    """Part of the order was matched the same day: the whole order pays intraday brokerage."""
    brokerage_charged: Decimal = ZERO


@dataclass(slots=True)
class _Day:
    trade_date: date
    scrips: dict[InstrumentToken, _ScripDay] = field(default_factory=dict)
    orders: dict[OrderId, _OrderDay] = field(default_factory=dict)


class DayChargeModel:
    """The charge model of a book: each fill's charges, with what depends on the rest of the day.

    Called per fill like any ``ChargeModel``; only CNC fills of equities need the memory, every
    other fill is priced on its own schedule (:func:`default_charge_model`).

    - **Same-day CNC is intraday** (nse_market.md §3.3: "a CNC buy and sell of the same scrip on
      the same day is charged as intraday"). STT and stamp duty follow the quantity: the units
      matched by an opposite CNC fill of the scrip that day (in either order: bought then sold, or
      sold from holdings then bought back) are intraday, the rest delivery. Brokerage follows the
      order: the reference is silent on partly matched orders, so this follows Zerodha's support
      page ("Why was the brokerage charged on delivery trades?"): once any part of a CNC order is
      squared off the same day, intraday brokerage (0.03 % or ₹20 per executed order) applies to
      that whole order, "regardless of the quantity bought back".
    - **DP charge** (§3.1): ₹13.50 + 18 % GST once per scrip per day on which shares leave the
      demat account, i.e. while some of the day's CNC sells of the scrip are not matched by its
      CNC buys. Units bought and sold the same day never reach the demat account.

    A fill is priced when it happens, so a fill that turns earlier fills intraday (or buys back a
    delivery sell) carries their correction too: the STT and stamp duty they paid as delivery given
    back as intraday's, the intraday brokerage of their orders, the DP charge given back. Such a
    correction can make a component of one fill negative; the day's sum is the contract note's
    (plus the ledger's DP charge), exact.

    After a restart, :meth:`learn` replays the day's fills from the journal, so the model
    continues exactly as if the desk had not stopped.

    Scrips are told apart by instrument token, so the same company on NSE and BSE counts as two
    scrips (instruments carry no ISIN): a same-day buy on one exchange and sell on the other is
    priced as delivery, with its own DP charge.
    """

    def __init__(self, tariff: Tariff = DEFAULT_TARIFF) -> None:
        self._tariff = tariff
        self._day: _Day | None = None

    def __call__(
        self, instrument: Instrument, fill: OrderFilled, trade_date: date, brokerage_paid: Decimal
    ) -> Charges:
        if fill.settles:
            return settlement_charges(self._tariff, instrument, fill, trade_date)
        if not _is_cnc_equity(instrument, fill):
            return default_charge_model(instrument, fill, trade_date, brokerage_paid)
        # ``brokerage_paid`` (the order manager's sum over the order's fills) is not used: a fill
        # here can carry other orders' brokerage, so the model keeps each order's own account.
        return self._advance(self._day_of(trade_date), instrument, fill)

    def learn(self, instrument: Instrument | None, fill: OrderFilled, trade_date: date) -> None:
        """Replay a fill restored from the journal (already priced) into the day's state.

        Call it for every restored fill, in journal order, with the fill's IST trade date.
        """
        if instrument is None or not _is_cnc_equity(instrument, fill):
            return
        day = self._day_of(trade_date)
        scrip = day.scrips.get(fill.token)
        dp_before = ZERO if scrip is None else scrip.dp_charged
        self._advance(day, instrument, fill)
        if fill.charges is not None:
            # What the journal says was charged is what the ledger holds (a row priced before DP
            # was modelled has none), so the next fill charges or gives back from there.
            day.scrips[fill.token].dp_charged = dp_before + fill.charges.dp

    # -- the day's arithmetic ----------------------------------------------------------------------

    def _advance(self, day: _Day, instrument: Instrument, fill: OrderFilled) -> Charges:
        trade_date = day.trade_date
        exchange = _CHARGE_EXCHANGE[instrument.exchange]
        gst = self._tariff.rates_on(trade_date).gst
        scrip = day.scrips.get(fill.token)
        if scrip is None:  # not setdefault, which builds a _ScripDay for every fill
            scrip = day.scrips[fill.token] = _ScripDay()
        price = to_rupees(fill.price)

        def statutory(segment: ChargeSegment, side: Side, lot_price: Decimal, qty: int) -> _Parts:
            if not qty:
                return _NOTHING
            # Brokerage is per order, settled below; "already paid the cap" leaves it out here.
            parts = self._tariff.fill_parts(
                segment,
                side.value,
                lot_price,
                qty,
                trade_date,
                exchange=exchange,
                brokerage_paid=self._tariff.brokerage[segment].cap,
            )
            return (*parts, ZERO)

        own, opposite = (
            (scrip.buys, scrip.sells) if fill.side is Side.BUY else (scrip.sells, scrip.buys)
        )
        matched_lots = _take(opposite, fill.quantity)
        matched = sum(lot.quantity for lot in matched_lots)
        rest = fill.quantity - matched
        if rest:
            own.append(_Lot(price, rest, fill.order_id))

        total = _plus(
            statutory(ChargeSegment.EQ_DELIVERY, fill.side, price, rest),
            statutory(ChargeSegment.EQ_INTRADAY, fill.side, price, matched),
        )
        order = day.orders.get(fill.order_id)
        if order is None:
            order = day.orders[fill.order_id] = _OrderDay()
        order.value += price * fill.quantity
        order.intraday = order.intraday or matched > 0
        touched = [fill.order_id]
        for lot in matched_lots:  # earlier fills, priced as delivery, now intraday
            was = statutory(ChargeSegment.EQ_DELIVERY, fill.side.opposite, lot.price, lot.quantity)
            now = statutory(ChargeSegment.EQ_INTRADAY, fill.side.opposite, lot.price, lot.quantity)
            total = _plus(total, _minus(now, was))
            day.orders[lot.order_id].intraday = True
            if lot.order_id not in touched:
                touched.append(lot.order_id)
        for order_id in touched:
            brokerage = self._settle_brokerage(day.orders[order_id])
            if brokerage:
                total = _plus(total, (brokerage, ZERO, ZERO, ZERO, ZERO, gst * brokerage, ZERO))

        dp_owed = costs.DP_CHARGE if scrip.sells else ZERO
        if dp_owed != scrip.dp_charged:
            dp = dp_owed - scrip.dp_charged
            scrip.dp_charged = dp_owed
            total = _plus(total, (ZERO, ZERO, ZERO, ZERO, ZERO, costs.DP_GST_RATE * dp, dp))
        return Charges(*total)

    def _settle_brokerage(self, order: _OrderDay) -> Decimal:
        """What the order's brokerage changes by: its schedule's brokerage on the order's whole
        value, less what was charged to it before."""
        segment = ChargeSegment.EQ_INTRADAY if order.intraday else ChargeSegment.EQ_DELIVERY
        owed = self._tariff.brokerage[segment].for_fill(order.value, ZERO)
        change = owed - order.brokerage_charged
        order.brokerage_charged = owed
        return change

    def _day_of(self, trade_date: date) -> _Day:
        if self._day is not None and trade_date < self._day.trade_date:
            # A late report of an earlier day's fill (that day is forgotten): priced on its own.
            return _Day(trade_date)
        if self._day is None or self._day.trade_date != trade_date:
            # A new trading day: the earlier days' unmatched fills stay delivery for good.
            self._day = _Day(trade_date)
        return self._day


def _is_cnc_equity(instrument: Instrument, fill: OrderFilled) -> bool:
    return fill.product is Product.CNC and instrument.instrument_type is InstrumentType.EQ


def _take(lots: deque[_Lot], quantity: int) -> list[_Lot]:
    """Up to ``quantity`` units from the oldest lots, removed from ``lots``."""
    taken: list[_Lot] = []
    while quantity and lots:
        lot = lots[0]
        used = min(quantity, lot.quantity)
        taken.append(_Lot(lot.price, used, lot.order_id))
        quantity -= used
        lot.quantity -= used
        if not lot.quantity:
            lots.popleft()
    return taken


_Parts = tuple[Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]
"""Charges while a fill's are being added up: its fields in order (brokerage, STT, exchange, SEBI,
stamp, GST, DP), added field by field as ``Charges.__add__`` adds them, and made one ``Charges`` at
the end (a ``Charges`` per step cost more than all the arithmetic of a fill)."""
_NOTHING: _Parts = (ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)


def _plus(left: _Parts, right: _Parts) -> _Parts:
    return (
        left[0] + right[0],
        left[1] + right[1],
        left[2] + right[2],
        left[3] + right[3],
        left[4] + right[4],
        left[5] + right[5],
        left[6] + right[6],
    )


def _minus(left: _Parts, right: _Parts) -> _Parts:
    return (
        left[0] - right[0],
        left[1] - right[1],
        left[2] - right[2],
        left[3] - right[3],
        left[4] - right[4],
        left[5] - right[5],
        left[6] - right[6],
    )


ChargeModel = Callable[[Instrument, OrderFilled, date, Decimal], Charges]
"""(instrument, fill, trade date, brokerage already paid by this order) -> charges of the fill."""


class FillPricer:
    """Gives each fill its charges, remembering the brokerage every order has paid (a per-order
    cap or flat fee is paid once across its fills) and, at a restart, rebuilding what a model
    with a memory of the day (``DayChargeModel``) knew."""

    def __init__(
        self,
        model: ChargeModel,
        instruments: Callable[[InstrumentToken], Instrument | None],
    ) -> None:
        self._model = model
        self._instruments = instruments
        self._brokerage_paid: dict[OrderId, Decimal] = {}

    def priced(self, fill: OrderFilled) -> OrderFilled:
        """The fill with its charges (zero, and logged, for an instrument the desk lacks)."""
        instrument = self._instruments(fill.token)
        if instrument is None:
            log.error(
                "no instrument %s to price fill %s; charges left at zero", fill.token, fill.trade_id
            )
            return replace(fill, charges=Charges())
        paid = self._brokerage_paid.get(fill.order_id, ZERO)
        trade_date = ist_date_of(fill.ts_ns).date()
        return replace(fill, charges=self._model(instrument, fill, trade_date, paid))

    def booked(self, fill: OrderFilled) -> None:
        """A priced fill was booked: its brokerage counts as paid by its order."""
        if fill.charges is not None:
            paid = self._brokerage_paid.get(fill.order_id, ZERO)
            self._brokerage_paid[fill.order_id] = paid + fill.charges.brokerage

    def restored(self, fill: OrderFilled) -> None:
        """A fill replayed from the journal (already priced) is booked again."""
        self.booked(fill)
        learn = getattr(self._model, "learn", None)
        if learn is not None:
            learn(self._instruments(fill.token), fill, ist_date_of(fill.ts_ns).date())
