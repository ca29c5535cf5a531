"""What a signal's order is: its side and quantity, worked out once, for the order itself and for
the approval card that shows it to the trader beforehand (the card must say what will go)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.instruments import Instrument
from engine.signals.tradingview import SignalRefused, TradingViewAlert


@dataclass(frozen=True, slots=True)
class OrderTerms:
    side: str
    """BUY or SELL."""
    quantity: int
    """The units that go, all told."""
    lots: int
    """The lots an order or an entry asks for (the signal's times the lots multiplier); 0 for an
    exit, which takes the position as it stands."""
    closes: int = 0
    """The units of the opposite position an entry closes first (part of ``quantity``)."""


def order_terms(
    alert: TradingViewAlert, instrument: Instrument, *, multiplier: int, net: int
) -> OrderTerms:
    """The order ``alert`` makes on ``instrument`` with a net position of ``net`` units: the lots
    for an order or an entry (plus the opposite position an entry reverses), the position itself
    for an exit. ``SignalRefused`` when there is no position to exit."""
    lots = alert.lots * multiplier
    units = lots * instrument.lot_size
    match alert.action:
        case "buy":
            return OrderTerms("BUY", units, lots)
        case "sell":
            return OrderTerms("SELL", units, lots)
        case "le":
            return OrderTerms("BUY", units + max(0, -net), lots, max(0, -net))
        case "se":
            return OrderTerms("SELL", units + max(0, net), lots, max(0, net))
        case "lx" if net > 0:
            return OrderTerms("SELL", net, 0)
        case "sx" if net < 0:
            return OrderTerms("BUY", -net, 0)
        case "exit" if net != 0:
            return OrderTerms("SELL", net, 0) if net > 0 else OrderTerms("BUY", -net, 0)
    side = {"lx": "long ", "sx": "short "}.get(alert.action, "")
    raise SignalRefused(f"no {side}{alert.product} position in {instrument.tradingsymbol} to exit")
