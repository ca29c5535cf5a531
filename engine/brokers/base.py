"""The broker port: what the order manager needs from any venue (paper, Kite, XTS), and what a
live broker brings besides (a login session, a feed, a margin calculator).

A broker receives orders, modifications and cancels, and reports back through one sink with
order events (``OrderStatusChanged``, ``OrderFilled``, and ``OrderSubmitted`` for orders the
broker itself originated, such as an intraday auto square-off). It never mutates an ``Order``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from engine.domain.events import OrderEvent
from engine.domain.gtt import GttReport, GttRequest
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderType, Product
from engine.domain.origin import StrategyId
from engine.domain.ticks import Tick

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


class Quotes(Protocol):
    """The latest tick per instrument, from whichever feed the desk runs on."""

    def get(self, token: InstrumentToken) -> Tick | None: ...


class LoginSession(Protocol):
    """A live broker's login: what a login window needs, whatever the broker."""

    title: str
    """The broker's name as the trader knows it ("Kite")."""
    login_errors: tuple[type[Exception], ...]
    """What a failed login raises; the window shows its text and lets the trader try again."""
    browser_login: bool
    """The trader logs in on the broker's web page (Kite); False: the stored keys are the login
    (XTS), and the window only offers to log in again."""

    @property
    def logged_in(self) -> bool: ...

    def login_url(self) -> str:
        """Where the trader logs in; the broker redirects to a URL carrying the request."""
        ...

    async def complete_login(self, redirect: str) -> None:
        """Finish the login from the redirect URL the window captured."""
        ...


class BrokerLink(Protocol):
    """A live broker's connection: its login session, its market-data feed, its order side and
    reconciliation, run as one engine task. Built by the broker's ``connect`` (registry)."""

    title: str

    @property
    def session(self) -> LoginSession: ...

    def make_broker(
        self,
        *,
        instruments: Callable[[InstrumentToken], Instrument | None],
        publish: Callable[[object], None],
    ) -> Broker:
        """The order port, when the desk trades through this broker (not only on its prices)."""
        ...

    def attach(
        self,
        *,
        publish: Callable[[object], None],
        orders: Callable[[], dict[OrderId, Order]],
        reconciliation: Reconciliation | None = None,
    ) -> None:
        """Where events go, the order manager's orders (read only), and the reconciliation
        to run at every login and reconnect (when the desk trades through this broker)."""
        ...

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        """The feed and the session until ``stop`` (the feed port's shape)."""
        ...

    async def watch(self, tokens: Iterable[int]) -> None: ...

    async def unwatch(self, tokens: Iterable[int]) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class MarginCalculator(Protocol):
    """A broker that can say what an order would need (Kite's order margins API)."""

    async def order_margin(self, request: OrderRequest) -> Decimal: ...


@runtime_checkable
class InProcessVenue(Protocol):
    """A venue that lives in this process (paper, or a test's toy): it matches on the desk's
    own ticks and clock, pauses while the journal cannot write, and takes back the positions
    the journal restored."""

    def on_tick(self, tick: Tick) -> None: ...

    def on_clock(self, now: datetime) -> None: ...

    def pause(self, paused: bool) -> None: ...

    def restore_positions(self, nets: dict[tuple[InstrumentToken, Product], int]) -> None: ...


class BrokerError(Exception):
    """A live broker refused a request or could not be reached; the text says why."""


class SessionEnded(BrokerError):
    """The broker's session has ended: nothing more goes through it until the next login."""


class OutcomeUnknown(BrokerError):
    """A place, modify or cancel whose result is unknown (no reply, a 5xx): it may have reached
    the broker, so it is never sent again; the broker's orderbook decides what happened."""


class Reconciliation(Protocol):
    """The desk's books compared with the broker's (built by the runtime for a live broker):
    run at every login and reconnect, and asked for when an order's outcome is unknown."""

    async def reconcile(self, reason: str) -> object: ...

    def request(self, reason: str) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class GttBook(Protocol):
    """A broker that keeps GTT orders itself (Kite's GTT service, kite_xts_apis.md §A.15): it
    watches the trigger and places the order, even while the desk is closed."""

    async def place_gtt(self, request: GttRequest, parent: StrategyId | None = None) -> str:
        """Kite's id of the new GTT; the order it places on trigger is ``parent``'s (by
        default ``gtt-<id>``'s), not one placed outside the desk."""
        ...

    def claim_gtt(self, gtt_id: str, parent: StrategyId) -> None:
        """The order GTT ``gtt_id`` places on its trigger is ``parent``'s (from the journal,
        after a restart)."""
        ...

    async def modify_gtt(self, gtt_id: str, request: GttRequest) -> None: ...

    async def delete_gtt(self, gtt_id: str) -> None: ...

    async def gtts(self) -> list[GttReport]: ...
