"""What a strategy may use of the engine: the facade's order entry and quotes, declared here so
strategies depend on this shape and not on ``engine.api`` (which sits above them and starts
them). Every order a strategy places goes through the facade, so through the one gate, and
names the strategy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.ticks import Quote, Tick
from engine.oms.order_manager import Outcome
from engine.options.chain import ChainAnalytics


class Instruments(Protocol):
    def find(self, token: int) -> Instrument | None: ...

    def search(
        self,
        text: str = "",
        *,
        underlying: str | None = None,
        expiry: date | None = None,
        strike: int | None = None,
        instrument_type: InstrumentType | None = None,
        limit: int = 50,
    ) -> list[Instrument]: ...


class OrderView(Protocol):
    """What a strategy reads of an order (the facade's ``OrderSnapshot``)."""

    @property
    def order_id(self) -> OrderId: ...
    @property
    def instrument(self) -> Instrument: ...
    @property
    def side(self) -> Side: ...
    @property
    def quantity(self) -> int: ...
    @property
    def filled_quantity(self) -> int: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def status(self) -> OrderStatus: ...
    @property
    def tag(self) -> str: ...
    @property
    def source(self) -> OrderSource: ...
    @property
    def strategy(self) -> StrategyId | None: ...


class TradeView(Protocol):
    """One fill as a strategy reads it (the facade's ``TradeSnapshot``; price in rupees)."""

    @property
    def order_id(self) -> OrderId: ...
    @property
    def side(self) -> Side: ...
    @property
    def quantity(self) -> int: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def ts_ns(self) -> int: ...


class StrategyApi(Protocol):
    @property
    def instruments(self) -> Instruments: ...

    def quote(self, token: InstrumentToken | int) -> Quote | None: ...

    def tick(self, token: InstrumentToken | int) -> Tick | None: ...

    def place(self, request: OrderRequest) -> Outcome: ...

    def watch(self, tokens: Iterable[int]) -> None:
        """Ask a feed that streams on demand (a live broker's) to stream these instruments."""
        ...

    def modify(
        self,
        order_id: OrderId | str,
        *,
        quantity: int | None = None,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        order_type: OrderType | str | None = None,
    ) -> Outcome: ...

    def cancel(self, order_id: OrderId | str) -> Outcome: ...

    def order(self, order_id: OrderId | str) -> OrderView | None: ...

    def orders(self) -> Sequence[OrderView]: ...

    def trades(self) -> Sequence[TradeView]: ...

    def option_chains(self) -> list[tuple[str, date]]: ...

    def underlying_price(self, underlying: str) -> Decimal | None: ...

    def chain_analytics(
        self,
        underlying: str,
        expiry: date,
        *,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> ChainAnalytics: ...

    def live_session_problem(self) -> str | None:
        """Why live orders cannot be sent now (no broker session), or None."""
        ...

    def paper_problem(self) -> str | None:
        """Why orders placed here are not paper orders (the desk trades live), or None."""
        ...

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
        source: OrderSource | str = OrderSource.API,
        strategy: StrategyId | str | None = None,
    ) -> Outcome: ...
