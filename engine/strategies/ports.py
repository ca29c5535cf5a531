"""What a strategy may use of the engine: the facade's order entry and quotes, declared here so
strategies depend on this shape and not on ``engine.api`` (which sits above them and starts
them). Every order a strategy places goes through the facade, so through the one gate, and
names the strategy."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Protocol

from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.ticks import Quote
from engine.oms.order_manager import Outcome


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


class StrategyApi(Protocol):
    @property
    def instruments(self) -> Instruments: ...

    def quote(self, token: InstrumentToken | int) -> Quote | None: ...

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
