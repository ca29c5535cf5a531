"""The order path wired once: exposure, margin estimate, gate, order manager and risk manager.

The runtime builds the desk's order path with ``build_order_path``; so do the tests that drive the
risk layer on their own instruments and broker, so that what they check is the wiring the app
runs. The caller supplies the broker, the journal, the market session rule and how to find an
underlying's spot price.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from engine.brokers.base import Broker
from engine.core.bus import EventBus
from engine.core.clock import Clock
from engine.domain.ids import IdFactory, InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.positions import PositionBook
from engine.marketdata.quotes import QuoteCache
from engine.oms.charging import DayChargeModel
from engine.oms.exposure import Exposure
from engine.oms.order_manager import OrderManager
from engine.options.expiry_time import SessionCalendar
from engine.risk.gate import InstrumentLookup, OrderGate, SessionCheck
from engine.risk.limits import MarginParameters, RiskSettings
from engine.risk.manager import RiskManager
from engine.risk.margin import MarginEstimator, SpotLookup
from engine.store import Journal


@dataclass(frozen=True, slots=True)
class OrderPath:
    exposure: Exposure
    margin: MarginEstimator
    gate: OrderGate
    orders: OrderManager
    risk: RiskManager


def build_order_path(
    *,
    bus: EventBus,
    clock: Clock,
    journal: Journal,
    broker: Broker,
    instruments: InstrumentLookup,
    universe: Iterable[Instrument],
    quotes: QuoteCache,
    positions: PositionBook,
    settings: RiskSettings,
    session_open: SessionCheck,
    spot: SpotLookup,
    today: Callable[[], date],
    account: str = "paper",
    margin_params: MarginParameters | None = None,
    calendar: SessionCalendar | None = None,
    ids: IdFactory | None = None,
) -> OrderPath:
    """Wire the order path. Every derivative of ``universe`` gets its margin risk array now, so
    no order waits for one. ``calendar`` gives the margin estimate its expiry moments (default:
    the packaged NSE calendar)."""

    def underlying_of(token: InstrumentToken) -> str | None:
        instrument = instruments(token)
        return None if instrument is None else instrument.underlying

    def lot_of(token: InstrumentToken) -> int | None:
        instrument = instruments(token)
        return None if instrument is None else instrument.lot_size

    exposure = Exposure(underlying_of, lot_of)
    margin = MarginEstimator(
        instruments=instruments,
        quotes=quotes,
        spot=spot,
        clock=clock,
        params=margin_params,
        calendar=calendar,
    )
    universe = list(universe)
    margin.prime(universe)
    gate = OrderGate(
        instruments,
        today,
        settings=settings,
        account=account,
        clock=clock,
        quotes=quotes,
        exposure=exposure,
        session_open=session_open,
        margin=margin,
        calendar=calendar,
    )
    orders = OrderManager(
        bus=bus,
        clock=clock,
        journal=journal,
        broker=broker,
        gate=gate,
        instruments=instruments,
        positions=positions,
        charge_model=DayChargeModel(),
        ids=ids,
        quotes=quotes.get,
    )
    risk = RiskManager(
        bus=bus,
        clock=clock,
        orders=orders,
        gate=gate,
        quotes=quotes,
        instruments=instruments,
        all_instruments=universe,
        margin=margin,
        spot=spot,
    )
    return OrderPath(exposure, margin, gate, orders, risk)
