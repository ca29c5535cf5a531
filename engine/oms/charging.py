"""Pricing fills with the default tariff: which charge schedule an instrument and product fall under."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine import costs
from engine.costs import Charges
from engine.domain.events import OrderFilled
from engine.domain.instruments import Exchange, Instrument, InstrumentType
from engine.domain.orders import Product
from engine.domain.values import to_rupees

_CHARGE_EXCHANGE = {
    Exchange.NSE: "NSE",
    Exchange.NFO: "NSE",
    Exchange.BSE: "BSE",
    Exchange.BFO: "BSE",
}


def charge_segment(instrument: Instrument, product: Product) -> str:
    if instrument.instrument_type is InstrumentType.FUT:
        return "FUT"
    if instrument.is_option:
        return "OPT"
    # Equity: delivery unless intraday. (A CNC buy sold the same day is charged as intraday by
    # brokers on the contract note; the paper book charges it as delivery, the safer estimate.)
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
