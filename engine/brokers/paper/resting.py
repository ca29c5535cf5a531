"""An order resting at the paper venue, and the exchange's rules for one: when a stop's trigger is
reached, which levels of a quote it takes and at what price, and where market protection puts
the limit of a market order's rest. The venue (``engine.brokers.paper.venue``) holds the resting
orders and reports what happens to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from engine.core.clock import ist_date_of
from engine.domain.events import OrderStatusChanged
from engine.domain.ids import BrokerOrderId, InstrumentToken, OrderId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource
from engine.domain.ticks import Tick
from engine.domain.values import Paise, rupees_text
from engine.options import expiry_moment

_STOPS = (OrderType.SL, OrderType.SL_M)

_NOT_RECEIVED = (
    "not placed: the desk stopped before the paper venue received it; place it again if you "
    "still want it"
)
_CANCELLED_AT_RESTART = (
    "cancelled by user (the desk stopped before the paper venue acted on the cancel; carried out "
    "as it restarted)"
)
MODIFY_UNREADABLE = (
    "the modification asked before the desk stopped does not read: the order works at its "
    "earlier terms; modify it again if you still want it"
)


@dataclass(slots=True)
class Resting:
    order_id: OrderId
    broker_order_id: BrokerOrderId
    token: InstrumentToken
    side: Side
    product: Product
    order_type: OrderType
    validity: Validity
    quantity: int
    filled: int
    price: Paise | None
    trigger_price: Paise | None
    triggered: bool
    day: date
    """The trading day it came on (IST): a DAY order ends with that day's session."""

    @classmethod
    def restored(cls, order: Order, broker_order_id: BrokerOrderId) -> Resting:
        """An open order of the journal back at the venue, at its journaled terms (a stop the
        market had triggered before a cancel or a modify made it pending works triggered)."""
        return cls(
            order.order_id,
            order.broker_order_id or broker_order_id,
            order.token,
            order.side,
            order.product,
            order.order_type,
            order.validity,
            order.quantity,
            order.filled_quantity,
            order.price,
            order.trigger_price,
            _last_live_status(order) is OrderStatus.OPEN,
            ist_date_of(order.created_ns).date(),
        )

    @classmethod
    def arriving(
        cls, order_id: OrderId, broker_order_id: BrokerOrderId, request: OrderRequest, day: date
    ) -> Resting:
        """A new order as the venue takes it, nothing filled, a stop not yet triggered."""
        return cls(
            order_id,
            broker_order_id,
            request.token,
            request.side,
            request.product,
            request.order_type,
            request.validity,
            request.quantity,
            0,
            request.price,
            request.trigger_price,
            triggered=False,
            day=day,
        )

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def live_status(self) -> OrderStatus:
        waiting = self.order_type in _STOPS and not self.triggered
        return OrderStatus.TRIGGER_PENDING if waiting else OrderStatus.OPEN

    @property
    def unprotected(self) -> bool:
        """A working order that would fill at any price: MARKET, or a triggered SL-M, unpriced."""
        market = self.order_type in (OrderType.MARKET, OrderType.SL_M)
        return market and self.price is None and self.live_status is OrderStatus.OPEN

    def takes(
        self, tick: Tick, *, aggressive: bool, taken: dict[tuple[int, int], int] | None = None
    ) -> Iterator[tuple[int, Paise]]:
        """The fills ``tick`` gives this order, as (quantity, price), best level first: a BUY
        takes the asks and a SELL the bids, within its limit. ``taken`` is what earlier orders
        took from the same levels this tick: two orders never both fill against the same
        displayed quantity. The caller books each fill before asking for the next."""
        market = self.order_type in (OrderType.MARKET, OrderType.SL_M) and self.price is None
        limit = None if market else self.price
        if self.side is Side.BUY:
            levels = tick.asks or ((tick.ask, tick.ask_qty, 1),)
        else:
            levels = tick.bids or ((tick.bid, tick.bid_qty, 1),)
        for price, available, _orders in levels:
            if self.remaining == 0:
                break
            if price <= 0 or available <= 0:
                break
            if limit is not None and (price > limit if self.side is Side.BUY else price < limit):
                break
            if taken is not None:
                level = (self.side.sign, price)
                available -= taken.get(level, 0)
                if available <= 0:
                    continue  # used up by an earlier order this tick: look one level deeper
                taken[level] = taken.get(level, 0) + min(available, self.remaining)
            # A resting order is passive: the market came to it, so it trades at its own price.
            yield (
                min(available, self.remaining),
                Paise(price if aggressive or limit is None else limit),
            )


@lru_cache(maxsize=64)
def packaged_expiry_close(expiry: date) -> datetime:
    """The F&O close of ``expiry`` by the packaged NSE calendar (which never changes while the
    desk runs, so each expiry is asked once)."""
    return expiry_moment(expiry)


def arrival_refusal(
    request: OrderRequest,
    instrument: Instrument,
    tick: Tick | None,
    now: datetime,
    *,
    closed: bool,
    expiry_close: Callable[[date], datetime] = packaged_expiry_close,
) -> str | None:
    """Why the exchange refuses an arriving order, in the words it says it in; None when it takes
    it. ``tick`` is the instrument's last quote; ``closed``: its market is closed at ``now`` (only
    the venue's own intraday square-off is taken then, to trade what the last quote shows).
    A contract past its expiry day's F&O close (``expiry_close``) trades no more, however long
    the paper market stays open; the venue's own square-off still closes an MIS position at the
    last quote, standing in for the one the broker would have run before that close."""
    venue_square_off = request.square_off and request.source is OrderSource.BROKER
    if not instrument.tradable:
        return f"{instrument.tradingsymbol} is an index and cannot be traded"
    expired = instrument.expired_at(now, expiry_close)
    if expired is not None and not venue_square_off:
        return instrument.expired_text(expired)
    if closed and not venue_square_off:
        return f"market is closed for {instrument.exchange} at {now:%H:%M:%S} IST"
    stop = request.order_type in _STOPS
    if (request.order_type is OrderType.MARKET or stop) and (tick is None or tick.ltp <= 0):
        if request.square_off:
            return (
                f"intraday square-off could not run: no price for {instrument.tradingsymbol} "
                "since the desk started; close this MIS position yourself"
            )
        return f"no market in {instrument.tradingsymbol}: no trade yet today"
    if stop and tick is not None and trigger_reached(request.side, request.trigger_price, tick):
        direction = "above" if request.side is Side.BUY else "below"
        return (
            f"trigger price for a stop-loss {request.side.value.lower()} order must be "
            f"{direction} the last traded price {rupees_text(tick.ltp)}"
        )
    return None


def trigger_reached(side: Side, trigger: int | None, tick: Tick) -> bool:
    """Whether the last traded price of ``tick`` reached a stop's trigger (at or above it for a
    BUY, at or below for a SELL)."""
    if trigger is None or tick.ltp <= 0:
        return False
    return tick.ltp >= trigger if side is Side.BUY else tick.ltp <= trigger


def protected_price(side: Side, reference: int, protection_pct: float, tick_size: int) -> Paise:
    """The limit a market order's rest works at: ``protection_pct`` beyond ``reference``, on the
    instrument's tick (never below one tick)."""
    band = reference * protection_pct / 100
    if side is Side.BUY:
        raw = int((reference + band) // tick_size) * tick_size
    else:
        raw = -int(-(reference - band) // tick_size) * tick_size
    return Paise(max(raw, tick_size))


def _last_live_status(order: Order) -> OrderStatus | None:
    """The order's status at the venue before a cancel or a modify made it pending: OPEN for a
    stop the market had triggered, TRIGGER PENDING for one still waiting."""
    if order.status in (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING):
        return order.status
    for event in reversed(order.events):
        if isinstance(event, OrderStatusChanged) and event.status in (
            OrderStatus.OPEN,
            OrderStatus.TRIGGER_PENDING,
        ):
            return event.status
    return None


def ended_at_restart(status: OrderStatus) -> str | None:
    """Why an order the journal holds open in ``status`` is cancelled as the desk restarts, not
    put back to work; None: it rests again. PENDING SUBMIT: the venue had not acted on it when
    the desk stopped, so the simulated exchange never held it, and working it now, at whatever
    the market has become, is not what the trader asked for. CANCEL PENDING: the trader was told
    the cancel was taken."""
    return {
        OrderStatus.PENDING_SUBMIT: _NOT_RECEIVED,
        OrderStatus.CANCEL_PENDING: _CANCELLED_AT_RESTART,
    }.get(status)


def square_off_requests(
    token: InstrumentToken, product: Product, net: int, instrument: Instrument
) -> list[OrderRequest]:
    """The venue's own MARKET orders that close a ``net`` holding in ``product`` (the intraday
    square-off), each within the exchange's freeze quantity, as a broker's square-off slices."""
    side = Side.SELL if net > 0 else Side.BUY
    remaining = abs(net)
    max_slice = instrument.max_order_quantity() or remaining
    requests = []
    while remaining > 0:
        quantity = min(remaining, max_slice)
        remaining -= quantity
        requests.append(
            OrderRequest(
                token=token,
                side=side,
                quantity=quantity,
                order_type=OrderType.MARKET,
                product=product,
                source=OrderSource.BROKER,
                square_off=True,
            )
        )
    return requests
