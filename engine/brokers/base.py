"""The broker port: what the order manager needs from any venue (paper, Kite, XTS).

A broker receives orders, modifications and cancels, and reports back through one sink with
order events (``OrderStatusChanged``, ``OrderFilled``, and ``OrderSubmitted`` for orders the
broker itself originated, such as an intraday auto square-off). It never mutates an ``Order``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from engine.domain.events import OrderEvent
from engine.domain.order import Order
from engine.domain.orders import OrderType
from engine.domain.values import Paise

BrokerSink = Callable[[OrderEvent], None]


@dataclass(frozen=True, slots=True)
class Capabilities:
    order_types: frozenset[OrderType]
    modify: bool = True
    iceberg: bool = False
    autoslice: bool = False
    market_protection: bool = True
    in_process: bool = False
    """The venue lives in this process (paper): it cannot act on an order after we crash."""


@dataclass(frozen=True, slots=True)
class Modification:
    quantity: int | None = None
    price: Paise | None = None
    trigger_price: Paise | None = None
    order_type: OrderType | None = None


class Broker(Protocol):
    name: str
    capabilities: Capabilities

    def bind(self, sink: BrokerSink) -> None:
        """Where the broker sends every order event it produces."""
        ...

    def submit(self, order: Order) -> None: ...

    def modify(self, order: Order, change: Modification) -> None: ...

    def cancel(self, order: Order) -> None: ...

    def restore(self, open_orders: list[Order]) -> None:
        """After a restart: the orders the journal says are still open at this broker."""
        ...
