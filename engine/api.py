"""The engine's facade: the one surface the UI, the headless runner and scripts use.

Commands go in (place, modify, cancel, square off); snapshots and events come out. Snapshots are
plain frozen values: reading them never reaches into engine state that can change underneath.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from engine.brokers.base import Modification
from engine.core.bus import EventBus
from engine.core.clock import IST
from engine.domain.events import (
    BreakerTripped,
    ConnectionChanged,
    EngineMessage,
    FundsChanged,
    OrderDenied,
    OrderFilled,
    OrderQueued,
    OrderStatusChanged,
    OrderSubmitted,
    PositionChanged,
    RiskDenied,
    RiskLimitsChanged,
    RiskStateChanged,
    TradingState,
    VarReport,
)
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.order import Order
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.positions import Position, PositionBook
from engine.domain.requests import (
    MAX_SOURCE_LENGTH,
    InputError,
    asked_text,
    checked_request,
    enum_of,
    name_of,
    note_of,
    quantity_of,
    request_from_rupees,
    rupees_to_paise,
    settings_of,
    text_of,
    token_of,
)
from engine.domain.ticks import Tick
from engine.domain.values import to_rupees
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.marketdata.quotes import QuoteCache
from engine.oms.order_manager import OrderManager, Outcome
from engine.options import (
    ChainAnalytics,
    ChainLayout,
    analyse_chains,
    chain_layouts,
    years_to_expiry,
)
from engine.options.portfolio import (
    GreeksGrouping,
    GreeksTotal,
    Holding,
    LegKind,
    OptionStrategy,
    PayoffLeg,
    PayoffProfile,
    PortfolioGreeks,
    PositionGreeks,
    ScenarioGrid,
    portfolio_greeks,
    strike_index,
)
from engine.risk.limits import ORDER_SCOPE, THROTTLE_MODES, RiskLimits, RiskSettings
from engine.risk.manager import KillSwitchReport, LimitUsage, RiskManager, TradingStatus

E = TypeVar("E")

__all__ = [
    "BreakerTripped",
    "ChainAnalytics",
    "ConnectionChanged",
    "EngineApi",
    "EngineMessage",
    "FundsChanged",
    "GreeksGrouping",
    "GreeksTotal",
    "KillSwitchReport",
    "LimitUsage",
    "MarginSnapshot",
    "Modification",
    "OptionStrategy",
    "OrderDenied",
    "OrderFilled",
    "OrderMargin",
    "OrderQueued",
    "OrderRequest",
    "OrderSnapshot",
    "OrderStatus",
    "OrderStatusChanged",
    "OrderSubmitted",
    "OrderType",
    "Outcome",
    "PayoffProfile",
    "PortfolioGreeks",
    "PositionChanged",
    "PositionGreeks",
    "PositionSnapshot",
    "Product",
    "RiskDenied",
    "RiskLimitField",
    "RiskLimits",
    "RiskLimitsChanged",
    "RiskSettings",
    "RiskStateChanged",
    "ScenarioGrid",
    "Side",
    "StrategyLeg",
    "Tick",
    "TradeSnapshot",
    "TradingState",
    "TradingStatus",
    "Validity",
    "VarReport",
]


@dataclass(frozen=True, slots=True)
class MarginSnapshot:
    required: Decimal
    """What the current exposure (open orders counted as filled) needs, rupees (estimate)."""
    available: Decimal
    """The most margin the desk may use: capital plus the day's MTM after charges (paper), or
    the broker's available margin plus what the desk holds (live)."""
    by_underlying: dict[str, Decimal]
    source: str = "capital"
    """Where ``available`` comes from: ``capital``, or the live broker (``kite``)."""
    as_of: datetime | None = None
    """When the broker gave its figure (live only)."""


@dataclass(frozen=True, slots=True)
class OrderMargin:
    """What one order would need before it is placed (the estimate the margin check uses)."""

    needed: Decimal
    """Rupees the order adds to the desk's margin (negative: it frees margin)."""
    free: Decimal
    """Rupees still free for new orders (the margin budget less what the desk holds)."""
    source: str
    """Where the budget comes from: ``capital`` (paper) or the live broker."""


@dataclass(frozen=True, slots=True)
class RiskLimitField:
    """One limit of the declared schema, with what a settings page needs to edit it."""

    name: str
    description: str
    unit: str
    default: Any
    kind: str
    """'bool', 'amount' (Decimal), 'integer', 'number' (float), 'choice' or 'text'."""
    optional: bool
    """``None`` switches the limit off."""
    choices: tuple[str, ...] = ()
    per_underlying: bool = False
    """An underlying may override it (order-level limits); otherwise it is the account's."""


def _risk_limit_schema() -> list[RiskLimitField]:
    types = {f.name: str(f.type) for f in fields(RiskLimits)}  # strings: future annotations
    schema = []
    for name, description, unit, default in RiskLimits.describe():
        annotation = types[name]
        choices: tuple[str, ...] = ()
        if annotation == "bool":
            kind = "bool"
        elif "Decimal" in annotation:
            kind = "amount"
        elif annotation.startswith("int"):
            kind = "integer"
        elif annotation.startswith("float"):
            kind = "number"
        elif annotation == "TradingState":
            kind, choices = "choice", (TradingState.REDUCING.value, TradingState.HALTED.value)
        elif name == "throttle_mode":
            kind, choices = "choice", THROTTLE_MODES
        else:
            kind = "text"
        schema.append(
            RiskLimitField(
                name,
                description,
                unit,
                default,
                kind,
                "None" in annotation,
                choices,
                name in ORDER_SCOPE,
            )
        )
    return schema


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    order_id: OrderId
    instrument: Instrument
    side: Side
    quantity: int
    filled_quantity: int
    pending_quantity: int
    order_type: OrderType
    product: Product
    validity: Validity
    price: Decimal | None
    trigger_price: Decimal | None
    average_price: Decimal
    status: OrderStatus
    status_message: str
    tag: str
    source: str
    created_ns: int
    updated_ns: int


@dataclass(frozen=True, slots=True)
class TradeSnapshot:
    trade_id: str
    order_id: OrderId
    instrument: Instrument
    side: Side
    product: Product
    quantity: int
    price: Decimal
    charges: Decimal
    ts_ns: int


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    instrument: Instrument
    product: Product
    net_quantity: int
    overnight_quantity: int
    average_price: Decimal
    ltp: Decimal | None
    buy_quantity: int
    sell_quantity: int
    realised: Decimal
    unrealised: Decimal
    pnl: Decimal
    """Total P&L before charges (realised + unrealised)."""
    charges: Decimal
    net_pnl: Decimal
    """P&L after charges."""
    day_pnl: Decimal
    """Today's P&L: overnight quantity from the previous close plus today's trades, before charges."""


@dataclass(frozen=True, slots=True)
class StrategyLeg:
    """A leg of an options strategy in a trader's terms: what, how many, at what price."""

    instrument: Instrument
    quantity: int
    """Signed units: + long, − short (lots × the contract's lot size)."""
    price: Decimal
    """Entry price per unit, rupees (the position's average, or where a new leg would fill)."""
    product: Product | None = None
    """The position's product when the leg is an open position."""

    @property
    def side(self) -> Side:
        return Side.BUY if self.quantity > 0 else Side.SELL

    @property
    def lots(self) -> float:
        return self.quantity / self.instrument.lot_size if self.instrument.lot_size else 0.0


DEFAULT_OPTION_RATE = 0.065
"""Continuous risk-free rate for option discounting (about the 91-day T-bill); the forward
(future or put-call parity) carries the rest."""


class EngineApi:
    def __init__(
        self,
        *,
        bus: EventBus,
        orders: OrderManager,
        positions: PositionBook,
        quotes: QuoteCache,
        instruments: InstrumentRegistry,
        risk: RiskManager | None = None,
    ) -> None:
        self._bus = bus
        self._orders = orders
        self._positions = positions
        self._quotes = quotes
        self.instruments = instruments
        self._risk = risk
        self.option_rate = DEFAULT_OPTION_RATE
        """The rate options analytics discount at (configurable)."""
        self._chain_layouts: dict[tuple[str, date], ChainLayout] = {}
        self._spot_tokens: dict[str, InstrumentToken] = {}
        self._layouts_built_for = -1
        self.startup_messages: list[EngineMessage] = []
        """What the engine told the trader while it started (restoring the journal), before any
        window subscribed: the Messages panel shows these first."""

    # -- commands ----------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> Outcome:
        """Place an order; a request that is not a valid order is refused with the reason."""
        try:
            checked = checked_request(request)
        except InputError as problem:
            return self._orders.deny_input(str(problem), problem.check, asked_text(request))
        return self._orders.submit(checked)

    def place_order(
        self,
        token: InstrumentToken | int,
        side: Side | str,
        quantity: int,
        order_type: OrderType | str = OrderType.LIMIT,
        *,
        product: Product | str = Product.NRML,
        validity: Validity | str = Validity.DAY,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        tag: str = "",
        source: str = "api",
    ) -> Outcome:
        """Place an order with prices in rupees (``Decimal('101.05')`` or ``'101.05'``)."""
        try:
            request = request_from_rupees(
                token,
                side,
                quantity,
                order_type,
                product=product,
                validity=validity,
                price=price,
                trigger_price=trigger_price,
                tag=tag,
                source=source,
            )
        except InputError as problem:
            asked = asked_text(
                token=token,
                side=side,
                quantity=quantity,
                order_type=order_type,
                product=product,
                validity=validity,
                price=price,
                trigger_price=trigger_price,
                tag=tag,
                source=source,
            )
            return self._orders.deny_input(str(problem), problem.check, asked)
        return self._orders.submit(request)

    def modify(
        self,
        order_id: OrderId | str,
        *,
        quantity: int | None = None,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        order_type: OrderType | str | None = None,
    ) -> Outcome:
        try:
            order_id = OrderId(name_of(order_id, "order id", "order"))
        except InputError as problem:
            return Outcome(False, None, str(problem), check=problem.check)
        try:
            change = Modification(
                quantity=None if quantity is None else quantity_of(quantity),
                price=rupees_to_paise(price, "price"),
                trigger_price=rupees_to_paise(trigger_price, "trigger price"),
                order_type=None
                if order_type is None
                else enum_of(OrderType, order_type, "order type"),
            )
        except InputError as problem:
            return Outcome(False, order_id, str(problem), check=problem.check)
        return self._orders.modify(order_id, change)

    def cancel(self, order_id: OrderId | str) -> Outcome:
        try:
            order_id = OrderId(name_of(order_id, "order id", "order"))
        except InputError as problem:
            return Outcome(False, None, str(problem), check=problem.check)
        return self._orders.cancel(order_id)

    def cancel_all(self) -> list[Outcome]:
        return self._orders.cancel_all()

    def square_off(
        self, token: InstrumentToken | int, product: Product | str, *, source: str = "square-off"
    ) -> list[Outcome]:
        """Close one position with MARKET orders, sliced at the freeze quantity."""
        try:
            position = self._positions.get(token_of(token), enum_of(Product, product, "product"))
            source = text_of(source, "source", MAX_SOURCE_LENGTH)
        except InputError as problem:
            return [Outcome(False, None, str(problem), check=problem.check)]
        if position is None:
            return []
        return self._orders.square_off(position.token, position.product, source=source)

    def square_off_all(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for position in self._positions.open():
            outcomes += self.square_off(position.token, position.product)
        return outcomes

    # -- risk --------------------------------------------------------------------------------------

    def kill_switch(self, *, square_off: bool = False, reason: str = "") -> KillSwitchReport:
        """HALT trading, cancel every open and queued order, and square off every position if
        ``square_off`` is True; trading stays halted until ``rearm``. Never refused: a reason
        that is not text is journaled as its quotation."""
        return self._risk_layer().kill_switch(square_off=square_off is True, reason=note_of(reason))

    def rearm(self, reason: str = "re-armed by the trader") -> bool:
        """Back to ACTIVE after a kill switch or a breaker; False if already active."""
        return self._risk_layer().rearm(note_of(reason) or "re-armed by the trader")

    def set_trading_state(self, state: TradingState | str, reason: str) -> bool:
        """Tighten the trading state (REDUCING or HALTED); loosening is ``rearm``'s alone. A
        state that is not one raises ``ValueError`` with the reason, changing nothing."""
        checked = enum_of(TradingState, state, "trading state")
        return self._risk_layer().set_state(checked, note_of(reason), "trader")

    def trading_state(self) -> TradingStatus:
        return self._risk_layer().status()

    def risk_limits(self) -> RiskSettings:
        return self._risk_layer().settings

    def risk_limit_fields(self) -> list[tuple[str, str, str, Any]]:
        """(name, description, unit, default) of every limit, for a settings page."""
        return RiskLimits.describe()

    def risk_limit_schema(self) -> list[RiskLimitField]:
        """Every limit with its type, whether it can be switched off, its choices and whether an
        underlying may override it: what a settings page is generated from."""
        return _risk_limit_schema()

    def set_risk_limits(self, settings: RiskSettings | Mapping[str, Any], reason: str = "") -> None:
        """Replace the risk limits (a ``RiskSettings`` or its mapping form, validated: a bad key
        or value raises ValueError with the reason and changes nothing)."""
        if not isinstance(settings, RiskSettings):
            settings = RiskSettings.from_mapping(settings_of(settings))
        settings_of(settings.to_mapping())  # what the journal is given: values it holds
        self._risk_layer().configure(settings, note_of(reason))

    def risk_usage(self) -> list[LimitUsage]:
        return self._risk_layer().usage()

    def breaker_history(self) -> list[BreakerTripped]:
        return list(self._risk_layer().history)

    def var(self) -> VarReport | None:
        """The last VaR report (recomputed periodically off the event loop)."""
        return self._risk_layer().last_var

    def margin(self) -> MarginSnapshot:
        risk = self._risk_layer()
        estimator = risk.margin
        cents = Decimal("0.01")
        funds = risk.gate.broker_funds
        available = Decimal(repr(risk.gate.margin_budget())).quantize(cents)
        source = "capital" if funds is None else funds.broker
        as_of = None if funds is None else datetime.fromtimestamp(funds.ts_ns / 1e9, IST)
        if estimator is None:
            return MarginSnapshot(Decimal(0), available, {}, source, as_of)
        return MarginSnapshot(
            Decimal(repr(estimator.total)).quantize(cents),
            available,
            {u: Decimal(repr(v)).quantize(cents) for u, v in estimator.by_underlying().items()},
            source,
            as_of,
        )

    def order_margin(
        self,
        token: InstrumentToken,
        side: Side | str,
        quantity: int,
        product: Product | str = Product.NRML,
    ) -> OrderMargin | None:
        """What an order would need and what is free, before it is placed (None when there is
        no estimate: unknown instrument, no price yet, no risk layer)."""
        if self._risk is None:
            return None
        try:
            request = OrderRequest(
                token_of(token),
                enum_of(Side, side, "side"),
                quantity_of(quantity),
                OrderType.MARKET,
                enum_of(Product, product, "product"),
            )
        except InputError:
            return None
        gate = self._risk.gate
        needed = gate.margin_needed(request)
        if needed is None or not math.isfinite(needed):
            return None
        held = self._risk.margin.total if self._risk.margin is not None else 0.0
        cents = Decimal("0.01")
        funds = gate.broker_funds
        return OrderMargin(
            Decimal(repr(needed)).quantize(cents),
            Decimal(repr(gate.margin_budget() - held)).quantize(cents),
            "capital" if funds is None else funds.broker,
        )

    def _risk_layer(self) -> RiskManager:
        if self._risk is None:
            raise RuntimeError("this engine was built without the risk layer")
        return self._risk

    # -- snapshots ---------------------------------------------------------------------------------

    def orders(self) -> list[OrderSnapshot]:
        return [self._order_snapshot(o) for o in self._orders.orders.values()]

    def order(self, order_id: OrderId | str) -> OrderSnapshot | None:
        order = self._orders.orders.get(OrderId(order_id)) if isinstance(order_id, str) else None
        return None if order is None else self._order_snapshot(order)

    def order_history(self, order_id: OrderId | str) -> list[object]:
        order = self._orders.orders.get(OrderId(order_id)) if isinstance(order_id, str) else None
        return [] if order is None else list(order.events)

    def trades(self) -> list[TradeSnapshot]:
        return [
            TradeSnapshot(
                f.trade_id,
                f.order_id,
                self.instruments.get(f.token),
                f.side,
                f.product,
                f.quantity,
                to_rupees(f.price),
                f.charges.total if f.charges is not None else Decimal(0),
                f.ts_ns,
            )
            for f in self._orders.fills
        ]

    def positions(self) -> list[PositionSnapshot]:
        return [self._position_snapshot(p) for p in self._positions.all()]

    def quote(self, token: InstrumentToken | int) -> Tick | None:
        if type(token) is not int:
            try:
                token = token_of(token)
            except InputError:
                return None
        return self._quotes.get(InstrumentToken(token))

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        return self._bus.subscribe(event_type, handler)

    def subscribe_all(self, handler: Callable[[object], None]) -> Callable[[], None]:
        return self._bus.subscribe_all(handler)

    # -- the live broker's margin calculator -------------------------------------------------------

    broker_margin: Callable[[OrderRequest], Awaitable[Decimal]] | None = None
    """Set by the runtime when the broker has a margin calculator (Kite)."""
    broker_margin_name = ""

    async def broker_order_margin(
        self,
        token: InstrumentToken,
        side: Side | str,
        quantity: int,
        product: Product | str,
        order_type: OrderType | str = OrderType.LIMIT,
        price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None,
    ) -> Decimal:
        """What the broker's own calculator says an order needs, counting the positions held
        (a round trip to the broker: for a ticket, never on the order path). Raises LookupError
        without a broker calculator, the broker's error when it cannot answer."""
        if self.broker_margin is None:
            raise LookupError("this broker has no margin calculator")
        request = request_from_rupees(  # InputError (a ValueError) names a bad field
            token,
            side,
            quantity,
            order_type,
            product=product,
            validity=Validity.DAY,
            price=price,
            trigger_price=trigger_price,
            tag="",
            source="api",
        )
        return await self.broker_margin(request)

    # -- market data subscriptions -------------------------------------------------------------------

    market_data_watcher: Callable[[list[int], bool], None] | None = None
    """Set by the runtime when the feed streams only what is asked for (Kite): called with the
    tokens and True to stream them, False to stop. The simulated market streams everything."""

    def watch(self, tokens: Iterable[int]) -> None:
        """Stream these instruments (panels call this for what they show)."""
        if self.market_data_watcher is not None:
            self.market_data_watcher([int(t) for t in tokens], True)

    def unwatch(self, tokens: Iterable[int]) -> None:
        if self.market_data_watcher is not None:
            self.market_data_watcher([int(t) for t in tokens], False)

    # -- options analytics -------------------------------------------------------------------------
    #
    # Analytics are as of the quotes they are solved from: ``now`` defaults to the newest quote
    # among the instruments involved (the feed's clock, live or in a replay).

    def option_chains(self) -> list[tuple[str, date]]:
        """(underlying, expiry) of every option chain listed, sorted."""
        return sorted(self._layouts())

    def underlying_price(self, underlying: str) -> Decimal | None:
        """The last price of the underlying itself (its index or shares), rupees."""
        tick = self._spot_tick(underlying)
        return None if tick is None else to_rupees(tick.ltp)

    def chain_analytics(
        self,
        underlying: str,
        expiry: date,
        *,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> ChainAnalytics:
        """Forward, IVs, smile, Greeks, ATM IV, PCR and max pain of one chain: one batched solve.

        Raises LookupError for an unknown chain or one without any quote yet.
        """
        return self.chains_analytics([(underlying, expiry)], now=now, rate=rate)[0]

    def chains_analytics(
        self,
        chains: Sequence[tuple[str, date]],
        *,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> list[ChainAnalytics]:
        """Analytics of several chains from one IV solve and one Greeks pass over all of them."""
        layouts = [self._layout(underlying, expiry) for underlying, expiry in chains]
        if not layouts:
            return []
        if now is None:
            now = self._quote_time(
                (token for layout in layouts for token in _layout_tokens(layout)),
                f"{layouts[0].underlying} {layouts[0].expiry:%d %b %Y}",
            )
        rate = self.option_rate if rate is None else rate
        return analyse_chains(
            [
                layout.snapshot(
                    self._quotes.get, years=years_to_expiry(now, layout.expiry), rate=rate
                )
                for layout in layouts
            ]
        )

    def position_greeks(
        self,
        *,
        by_strategy: bool = False,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> PortfolioGreeks:
        """IV and Greeks of every open position and their totals per underlying.

        A position's Greeks are the per-unit Greeks of its chain (at the strike's smile IV) ×
        its signed quantity. ``by_strategy`` splits each position by the order source that
        built it (from the fills), so strategies net against each other only in the totals.
        """
        holdings = self._holdings(by_strategy)
        instruments = [self.instruments.get(h.token) for h in holdings]
        chains = sorted({key for i in instruments if (key := _chain_key(i)) is not None})
        if now is None and holdings:
            now = self._quote_time(
                [h.token for h in holdings]
                + [t for chain in chains for t in _layout_tokens(self._layout(*chain))],
                "the open positions",
            )
        analytics = dict(
            zip(chains, self.chains_analytics(chains, now=now, rate=rate), strict=True)
        )
        count = len(holdings)
        spot, iv = [math.nan] * count, [math.nan] * count
        unit = {name: [0.0] * count for name in ("delta", "gamma", "theta", "vega")}
        for n, instrument in enumerate(instruments):
            spot[n] = self._spot_or_nan(instrument.underlying)
            if not (instrument.is_option and instrument.expiry and instrument.strike):
                unit["delta"][n] = 1.0  # a future or shares: one unit of the underlying each
                continue
            chain = analytics[(instrument.underlying, instrument.expiry)]
            at = strike_index(chain, instrument.strike / 100)
            side = chain.call if instrument.instrument_type is InstrumentType.CE else chain.put
            iv[n] = float(chain.smile_iv[at])
            for name in unit:
                unit[name][n] = float(side[name][at])
            if math.isnan(spot[n]):
                spot[n] = chain.forward
        return portfolio_greeks(holdings, spot=spot, iv=iv, **unit)

    def strategy_leg(
        self,
        token: InstrumentToken | int,
        side: Side | str,
        lots: int = 1,
        *,
        price: Decimal | int | str | None = None,
    ) -> StrategyLeg:
        """A hypothetical leg: ``lots`` of the instrument bought or sold at ``price`` (rupees),
        by default where it would fill now (the ask to buy, the bid to sell, else the LTP)."""
        instrument = self.instruments.get(int(token))
        side = Side(side)
        if isinstance(lots, bool) or not isinstance(lots, int) or lots <= 0:
            raise ValueError(f"lots must be a positive int, got {lots!r}")
        if price is None:
            tick = self._quotes.get(instrument.token)
            touch = 0 if tick is None else (tick.ask if side is Side.BUY else tick.bid)
            paise = touch or (0 if tick is None else tick.ltp)
            if not paise:
                raise ValueError(f"{instrument.tradingsymbol} has no price yet; give one")
            entry = to_rupees(paise)
        else:
            entry = Decimal(str(price))
            if not entry.is_finite() or entry < 0:
                raise ValueError(f"price must be a non-negative amount, got {price!r}")
        sign = 1 if side is Side.BUY else -1
        return StrategyLeg(instrument, sign * lots * instrument.lot_size, entry)

    def position_legs(self, underlying: str | None = None) -> list[StrategyLeg]:
        """Open positions (of one underlying, or all) as strategy legs at their average price."""
        return [
            StrategyLeg(p.instrument, p.net_quantity, p.average_price, p.product)
            for p in self.positions()
            if p.net_quantity
            and p.instrument.tradable
            and (underlying is None or p.instrument.underlying == underlying)
        ]

    def option_strategy(
        self,
        legs: Sequence[StrategyLeg] | None = None,
        *,
        underlying: str | None = None,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> OptionStrategy:
        """Legs on one underlying priced against the market now (forwards, IVs, time), ready for
        payoffs and scenarios; ``legs`` None means the open positions of ``underlying``."""
        if legs is None:
            legs = self.position_legs(underlying)
            if not legs:
                raise ValueError(f"no open positions{f' in {underlying}' if underlying else ''}")
        names = sorted({leg.instrument.underlying for leg in legs})
        if len(names) != 1:
            raise ValueError(f"a strategy is on one underlying; these legs span {', '.join(names)}")
        name = names[0]
        chains = sorted({key for leg in legs if (key := _chain_key(leg.instrument)) is not None})
        if now is None:
            now = self._quote_time(
                [leg.instrument.token for leg in legs]
                + [t for chain in chains for t in _layout_tokens(self._layout(*chain))],
                f"the {name} legs",
            )
        rate = self.option_rate if rate is None else rate
        analytics = dict(
            zip(chains, self.chains_analytics(chains, now=now, rate=rate), strict=True)
        )
        payoff_legs = [self._payoff_leg(leg, analytics, now) for leg in legs]
        spot = self._spot_or_nan(name)
        if math.isnan(spot):  # no quote of the underlying itself: the nearest forward stands in
            forwards = [leg.forward for leg in sorted(payoff_legs, key=lambda x: x.years)]
            spot = next((f for f in forwards if math.isfinite(f)), math.nan)
        return OptionStrategy(name, spot, rate, tuple(payoff_legs))

    def payoff(
        self,
        legs: Sequence[StrategyLeg] | None = None,
        *,
        underlying: str | None = None,
        days_forward: float = 0.0,
        spot_shift: float = 0.0,
        iv_shift: float = 0.0,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> PayoffProfile:
        """P&L at expiry and ``days_forward`` days ahead (IVs + ``iv_shift`` points) against the
        underlying's price, breakevens, max profit and loss; ``legs`` None: the open positions."""
        strategy = self.option_strategy(legs, underlying=underlying, now=now, rate=rate)
        return strategy.payoff(days_forward=days_forward, spot_shift=spot_shift, iv_shift=iv_shift)

    # -- internals ---------------------------------------------------------------------------------

    def _order_snapshot(self, o: Order) -> OrderSnapshot:
        return OrderSnapshot(
            o.order_id,
            self.instruments.get(o.token),
            o.side,
            o.quantity,
            o.filled_quantity,
            o.pending_quantity,
            o.order_type,
            o.product,
            o.validity,
            None if o.price is None else to_rupees(o.price),
            None if o.trigger_price is None else to_rupees(o.trigger_price),
            o.average_price,
            o.status,
            o.status_message,
            o.tag,
            o.source,
            o.created_ns,
            o.updated_ns,
        )

    def _position_snapshot(self, p: Position) -> PositionSnapshot:
        tick = self._quotes.get(p.token)
        ltp = None if tick is None else tick.ltp
        mark = ltp if ltp is not None else 0
        pnl = p.pnl(mark) if ltp is not None or p.net_quantity == 0 else p.realised
        unrealised = pnl - p.realised
        return PositionSnapshot(
            self.instruments.get(p.token),
            p.product,
            p.net_quantity,
            p.overnight_quantity,
            p.average_price,
            None if ltp is None else to_rupees(ltp),
            p.buy_quantity,
            p.sell_quantity,
            p.realised,
            unrealised,
            pnl,
            p.charges,
            pnl - p.charges,
            p.day_pnl(mark, tick.close or mark) if tick is not None else p.realised,
        )

    def _layouts(self) -> dict[tuple[str, date], ChainLayout]:
        """Option chains by (underlying, expiry), worked out again when the registry grows."""
        if self._layouts_built_for != len(self.instruments):
            self._chain_layouts = {
                (layout.underlying, layout.expiry): layout
                for layout in chain_layouts(self.instruments)
            }
            spots: dict[str, InstrumentToken] = {}
            for instrument in self.instruments:
                if instrument.instrument_type is InstrumentType.INDEX:
                    spots[instrument.underlying] = instrument.token
                elif instrument.instrument_type is InstrumentType.EQ:
                    spots.setdefault(instrument.underlying, instrument.token)
            self._spot_tokens = spots
            self._layouts_built_for = len(self.instruments)
        return self._chain_layouts

    def _layout(self, underlying: str, expiry: date) -> ChainLayout:
        layout = self._layouts().get((underlying, expiry))
        if layout is None:
            raise LookupError(f"no {underlying} option chain expires on {expiry}")
        return layout

    def _spot_tokens_by_underlying(self) -> dict[str, InstrumentToken]:
        self._layouts()
        return self._spot_tokens

    def _spot_tick(self, underlying: str) -> Tick | None:
        token = self._spot_tokens_by_underlying().get(underlying)
        tick = None if token is None else self._quotes.get(token)
        return tick if tick is not None and tick.ltp > 0 else None

    def _spot_or_nan(self, underlying: str) -> float:
        tick = self._spot_tick(underlying)
        return math.nan if tick is None else tick.ltp / 100

    def _quote_time(self, tokens: Iterable[int | None], what: str) -> datetime:
        """The newest quote's exchange time among ``tokens``."""
        newest = 0
        for token in tokens:
            tick = None if token is None else self._quotes.get(InstrumentToken(token))
            if tick is not None and tick.ts_ns > newest:
                newest = tick.ts_ns
        if not newest:
            raise LookupError(f"no quotes yet for {what}")
        return datetime.fromtimestamp(newest / 1e9, tz=UTC).astimezone(IST)

    def _holdings(self, by_strategy: bool) -> list[Holding]:
        """Open positions (split by the order source that built them when ``by_strategy``)."""
        shares: dict[tuple[int, Product], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        if by_strategy:
            for fill in self._orders.fills:
                order = self._orders.orders.get(fill.order_id)
                signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
                shares[(fill.token, fill.product)][order.source if order else "unknown"] += signed
        holdings = []
        for position in self._positions.all():
            instrument = self.instruments.get(position.token)
            if by_strategy:
                split = dict(shares.get((position.token, position.product), {}))
                carried = position.net_quantity - sum(split.values())
                if carried:  # overnight, or from fills before this session's journal
                    split["carried forward"] = carried
            else:
                split = {"": position.net_quantity}
            for strategy, quantity in sorted(split.items()):
                if quantity:
                    holdings.append(
                        Holding(
                            token=instrument.token,
                            tradingsymbol=instrument.tradingsymbol,
                            underlying=instrument.underlying,
                            expiry=instrument.expiry,
                            product=position.product.value,
                            strategy=strategy,
                            quantity=quantity,
                            lot_size=instrument.lot_size,
                        )
                    )
        holdings.sort(key=_holding_order(self.instruments))
        return holdings

    def _payoff_leg(
        self,
        leg: StrategyLeg,
        analytics: Mapping[tuple[str, date], ChainAnalytics],
        now: datetime,
    ) -> PayoffLeg:
        instrument = leg.instrument
        entry = float(leg.price)
        label = instrument.tradingsymbol
        key = _chain_key(instrument)
        if key is not None and instrument.strike is not None:
            chain = analytics[key]
            at = strike_index(chain, instrument.strike / 100)
            is_call = instrument.instrument_type is InstrumentType.CE
            own = chain.call_iv[at] if is_call else chain.put_iv[at]
            iv = next(
                (float(v) for v in (chain.smile_iv[at], own, chain.atm_iv) if math.isfinite(v)),
                math.nan,
            )
            if chain.years > 0 and math.isnan(iv):
                raise ValueError(f"{label}: no implied volatility in its chain (no quotes)")
            if math.isnan(chain.forward):
                raise ValueError(f"{label}: its chain has no forward (no future, no parity pair)")
            return PayoffLeg(
                LegKind.CALL if is_call else LegKind.PUT,
                leg.quantity,
                entry,
                strike=instrument.strike / 100,
                years=chain.years,
                iv=iv,
                forward=chain.forward,
                label=label,
            )
        if instrument.instrument_type is InstrumentType.FUT and instrument.expiry is not None:
            tick = self._quotes.get(instrument.token)
            if tick is None:
                raise ValueError(f"{label}: no quote yet")
            mid = (tick.bid + tick.ask) / 200 if tick.bid and tick.ask else tick.ltp / 100
            return PayoffLeg(
                LegKind.FUTURE,
                leg.quantity,
                entry,
                years=years_to_expiry(now, instrument.expiry),
                forward=mid,
                label=label,
            )
        if instrument.instrument_type is InstrumentType.EQ:
            return PayoffLeg(LegKind.CASH, leg.quantity, entry, label=label)
        raise ValueError(f"{label} cannot be a strategy leg (an index is not traded)")


def _chain_key(instrument: Instrument) -> tuple[str, date] | None:
    """(underlying, expiry) of an option's chain; None for anything else."""
    if instrument.is_option and instrument.expiry is not None:
        return instrument.underlying, instrument.expiry
    return None


def _layout_tokens(layout: ChainLayout) -> list[InstrumentToken | None]:
    return [*layout.calls, *layout.puts, layout.future]


def _holding_order(registry: InstrumentRegistry) -> Callable[[Holding], tuple[Any, ...]]:
    def key(holding: Holding) -> tuple[Any, ...]:
        instrument = registry.get(holding.token)
        return (
            holding.strategy,
            holding.underlying,
            holding.expiry or date.max,
            instrument.strike or 0,
            instrument.instrument_type.value,
            holding.product,
        )

    return key
