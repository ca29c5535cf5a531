"""Pricing fills with the default tariff: which charge schedule an instrument and product fall under."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine import costs
from engine.costs import Charges
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType
from engine.domain.orders import Product, Side
from engine.domain.values import to_rupees

_CHARGE_EXCHANGE = {
    Exchange.NSE: "NSE",
    Exchange.NFO: "NSE",
    Exchange.BSE: "BSE",
    Exchange.BFO: "BSE",
}


def charge_segment(instrument: Instrument, product: Product) -> str:
    """The schedule of a fill taken alone; a CNC fill matched by an opposite CNC fill of the same
    scrip the same day is intraday after the fact (``DayChargeModel``)."""
    if instrument.instrument_type is InstrumentType.FUT:
        return "FUT"
    if instrument.is_option:
        return "OPT"
    return "EQ_INTRADAY" if product is Product.MIS else "EQ_DELIVERY"


def default_charge_model(
    instrument: Instrument, fill: OrderFilled, trade_date: date, brokerage_paid: Decimal
) -> Charges:
    return costs.charges(
        charge_segment(instrument, fill.product),
        fill.side.value,
        to_rupees(fill.price),
        fill.quantity,
        trade_date,
        exchange=_CHARGE_EXCHANGE[instrument.exchange],
        brokerage_paid=brokerage_paid,
    )


@dataclass(slots=True)
class _ScripDay:
    """One scrip's CNC fills of one day not yet matched by an opposite CNC fill."""

    buys: deque[list[Any]] = field(default_factory=deque)  # [price rupees, quantity, order id]
    sells: deque[list[Any]] = field(default_factory=deque)
    dp_paid: bool = False


class DayChargeModel:
    """The charge model of a book: each fill's charges, with what depends on the rest of the day.

    - **Same-day CNC is intraday.** A broker decides delivery or intraday after the fact: a CNC
      buy and sell of the same scrip on the same day is charged as intraday on the contract note
      (nse_market.md §3.3). Each fill is priced when it happens, so the matched quantity of a CNC
      fill is priced as intraday and the fill that completes a match also carries the correction
      of the earlier, opposite fill (its delivery STT and stamp duty given back as intraday's):
      the day's total is the contract note's, intraday brokerage included (per order, capped).
    - **DP charge.** A delivery sell (the part not matched the same day) pays the depository
      charge once per scrip per day (₹13.50 + GST, §3.1); a later same-day buy that matches the
      whole delivery sell gives it back.

    After a restart ``learn`` replays the day's fills (with the charges they were journaled
    with), so the state is rebuilt from the journal.
    """

    def __init__(self) -> None:
        self._days: dict[tuple[date, InstrumentToken], _ScripDay] = {}
        self._brokerage: dict[str, Decimal] = {}
        """Intraday brokerage charged so far to each CNC order turned intraday (its cap)."""

    def _intraday_brokerage(self, order_id: str) -> Decimal:
        return self._brokerage.get(order_id, Decimal(0))

    def __call__(
        self, instrument: Instrument, fill: OrderFilled, trade_date: date, brokerage_paid: Decimal
    ) -> Charges:
        if fill.product is not Product.CNC or instrument.instrument_type is not InstrumentType.EQ:
            return default_charge_model(instrument, fill, trade_date, brokerage_paid)
        exchange = _CHARGE_EXCHANGE[instrument.exchange]
        side = fill.side.value
        price = to_rupees(fill.price)
        day = self._day(trade_date, fill.token)
        own, opposite = (day.buys, day.sells) if fill.side is Side.BUY else (day.sells, day.buys)
        matched_lots = _take(opposite, fill.quantity)
        matched = sum(lot[1] for lot in matched_lots)
        rest = fill.quantity - matched

        def priced(segment: str, quantity: int, paid: Decimal) -> Charges:
            return costs.charges(
                segment, side, price, quantity, trade_date, exchange=exchange, brokerage_paid=paid
            )

        total = priced("EQ_DELIVERY", fill.quantity, brokerage_paid)
        if matched:
            nil = Decimal(0)
            now = priced("EQ_INTRADAY", matched, self._intraday_brokerage(fill.order_id))
            total += _change(priced("EQ_DELIVERY", matched, nil), now)
            self._brokerage[fill.order_id] = self._intraday_brokerage(fill.order_id) + now.brokerage
            other = fill.side.opposite.value
            for lot_price, quantity, order_id in matched_lots:  # the earlier fills matched
                was = costs.charges(
                    "EQ_DELIVERY", other, lot_price, quantity, trade_date, exchange=exchange
                )
                now = costs.charges(
                    "EQ_INTRADAY",
                    other,
                    lot_price,
                    quantity,
                    trade_date,
                    exchange=exchange,
                    brokerage_paid=self._intraday_brokerage(order_id),
                )
                self._brokerage[order_id] = self._intraday_brokerage(order_id) + now.brokerage
                total += _change(was, now)
        if rest:
            own.append([price, rest, fill.order_id])
        if fill.side is Side.SELL and day.sells and not day.dp_paid:
            day.dp_paid = True
            total += costs.dp_charge()
        elif fill.side is Side.BUY and day.dp_paid and not day.sells:
            day.dp_paid = False  # every delivery sell of the day was bought back: no delivery
            refund = costs.dp_charge()
            total += Charges(dp=-refund.dp, gst=-refund.gst)
        return total

    def learn(self, instrument: Instrument | None, fill: OrderFilled, trade_date: date) -> None:
        """Replay a fill restored from the journal (already priced) into the day's state."""
        if instrument is None or fill.product is not Product.CNC:
            return
        if instrument.instrument_type is not InstrumentType.EQ:
            return
        day = self._day(trade_date, fill.token)
        own, opposite = (day.buys, day.sells) if fill.side is Side.BUY else (day.sells, day.buys)
        rest = fill.quantity - sum(lot[1] for lot in _take(opposite, fill.quantity))
        if rest:
            own.append([to_rupees(fill.price), rest, fill.order_id])
        if fill.charges is not None and fill.charges.dp:
            day.dp_paid = fill.charges.dp > 0

    def _day(self, trade_date: date, token: InstrumentToken) -> _ScripDay:
        key = (trade_date, token)
        day = self._days.get(key)
        if day is None:
            # A new trading day: the earlier days' unmatched fills stay delivery for good.
            for old in [k for k in self._days if k[0] < trade_date]:
                del self._days[old]
            day = self._days[key] = _ScripDay()
        return day


def _take(lots: deque[list[Any]], quantity: int) -> list[tuple[Decimal, int, str]]:
    """Up to ``quantity`` units from the oldest lots (removed from ``lots``): (price, quantity,
    order id) each."""
    taken: list[tuple[Decimal, int, str]] = []
    while quantity and lots:
        lot = lots[0]
        used = min(quantity, lot[1])
        taken.append((lot[0], used, lot[2]))
        quantity -= used
        lot[1] -= used
        if not lot[1]:
            lots.popleft()
    return taken


def _change(was: Charges, now: Charges) -> Charges:
    """What repricing a quantity from delivery to intraday adds: brokerage (with its GST), STT and
    stamp duty differ; exchange and SEBI charges are the same."""
    return Charges(
        brokerage=now.brokerage - was.brokerage,
        stt=now.stt - was.stt,
        stamp=now.stamp - was.stamp,
        gst=now.gst - was.gst,
    )
