"""What the facade's services are built from: the engine's parts, handed in by the runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.core.bus import EventBus
from engine.core.clock import IST
from engine.domain.orders import OrderRequest
from engine.domain.positions import PositionBook
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.oms.order_manager import OrderManager
from engine.options.expiry_time import SessionCalendar
from engine.risk.manager import RiskManager
from engine.strategies.algos.desk import AlgoDesk
from engine.strategies.kernel import StrategyKernel
from engine.strategies.multileg.desk import MultilegDesk

if TYPE_CHECKING:
    from engine.alerts.book import AlertBook
    from engine.brokers.base import GttBook
    from engine.marketdata.candles import CandleBook
    from engine.marketdata.history import HistorySource
    from engine.signals.desk import SignalDesk
    from engine.store.journal import Journal
    from engine.strategies.orders.desk import AdvancedOrderDesk


def _ist_now() -> datetime:
    return datetime.now(IST)


@dataclass(frozen=True, slots=True)
class EngineParts:
    bus: EventBus
    orders: OrderManager
    positions: PositionBook
    quotes: QuoteCache
    registry: InstrumentRegistry
    risk: RiskManager | None = None
    broker_margin: Callable[[OrderRequest], Awaitable[Decimal]] | None = None
    """The broker's own margin calculator, when it has one (Kite)."""
    broker_name: str = ""
    """The broker's name as the trader knows it ("Kite"), for messages."""
    calendar: SessionCalendar | None = None
    """The market calendar expiry moments come from (None: the packaged NSE calendar)."""
    strategies: StrategyKernel | None = None
    """The strategies the desk runs (None: a desk without the kernel, as some tests build)."""
    multileg: MultilegDesk | None = None
    """The multileg portfolios (None: a desk without them)."""
    algos: AlgoDesk | None = None
    """The execution algos (None: a desk without them)."""
    session_problem: Callable[[], str | None] | None = None
    """Why live orders cannot go out now (not logged in), or None; None itself on a desk whose
    orders go to the paper venue (even on a live broker's prices)."""
    watcher: Callable[[list[int], bool], None] | None = None
    """When the feed streams only what is asked for (Kite): called with the tokens and True to
    stream them, False to stop. The simulated market streams everything."""
    reconnect_feed: Callable[[], str] | None = None
    """Ask the live feed to connect again (the trader's "Reconnect prices"); returns what was
    done, or why nothing needed doing, in words. None: the prices come from the simulated market
    (or a replay), with no connection to make again."""
    candles: CandleBook | None = None
    """The session's bars of what charts and strategies follow (None: a desk without charts)."""
    history: HistorySource | None = None
    """Where a chart's past comes from: the broker's history or the paper market's."""
    alerts: AlertBook | None = None
    """The trader's alert rules (None: a desk without alerts)."""
    signals: SignalDesk | None = None
    """External signals and the approvals waiting (None: a desk without them)."""
    journal: Journal | None = None
    """The book's journal, for the audit trail (None: a desk without one to read)."""
    advanced: AdvancedOrderDesk | None = None
    """Brackets, OCOs, trailing stops, conditional orders and paper GTTs (None: a desk without)."""
    gtt_book: GttBook | None = None
    """The broker's own GTT service (Kite), when the desk trades through one."""
    now: Callable[[], datetime] = _ist_now
    """The desk's clock (a test clock in tests, a replay's in a backtest)."""


class Service:
    """One part of the facade; every service reads the same engine parts."""

    def __init__(self, parts: EngineParts) -> None:
        self._parts = parts
        self._bus = parts.bus
        self._orders = parts.orders
        self._positions = parts.positions
        self._quotes = parts.quotes
        self.instruments = parts.registry
        self._risk = parts.risk
