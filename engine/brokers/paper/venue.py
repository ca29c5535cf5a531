"""The paper venue: a simulated exchange and broker that fills against any feed's quotes.

Marketable orders walk the visible depth (BUY takes the asks, SELL the bids) at each level's
price; what is left of a LIMIT order rests and fills, at its own price, when the market comes to
it; an IOC's rest is cancelled; a MARKET order's rest becomes a protected LIMIT (Kite's market
protection). SL and SL-M orders wait for the last traded price to reach the trigger. Intraday (MIS)
positions are squared off before the day's close; a future or index option held past its expiry
is settled at its index's close, in an order for each owning strategy
(``engine.brokers.paper.settlement``, ``engine.brokers.paper.holdings``). DAY orders still open when
their session closes are cancelled, as the exchange does (the venue takes no AMO). The venue
keeps no order objects of the OMS: it works on its own copy and reports every change through the
sink. A resting order and the exchange's rules for one (a stop's trigger, the levels it takes,
market protection, what is refused on arrival) are in ``engine.brokers.paper.resting``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Container, Mapping
from datetime import date, datetime

from engine.brokers.base import BrokerSink, Capabilities, Quotes
from engine.brokers.paper.config import PaperConfig
from engine.brokers.paper.day_end import DAY_END, closed_session_orders
from engine.brokers.paper.holdings import AccountKey, HoldingKey, Holdings
from engine.brokers.paper.resting import (
    MODIFY_UNREADABLE,
    Resting,
    arrival_refusal,
    ended_at_restart,
    protected_price,
    square_off_requests,
    trigger_reached,
)
from engine.brokers.paper.settlement import ExpirySettler, IndexQuote
from engine.core.clock import Clock
from engine.domain.charges import Charges
from engine.domain.events import OrderEvent, OrderFilled, OrderStatusChanged, OrderSubmitted
from engine.domain.ids import BrokerOrderId, IdFactory, InstrumentToken, OrderId, TradeId
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import (
    Modification,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from engine.domain.ticks import Tick
from engine.domain.values import Paise, rupees_text

log = logging.getLogger(__name__)

InstrumentLookup = Callable[[InstrumentToken], Instrument | None]
SessionCheck = Callable[[Instrument, datetime], bool]

_SECOND = 1_000_000_000


class PaperVenue:
    name = "paper"
    capabilities = Capabilities(order_types=frozenset(OrderType), modify=True, in_process=True)

    def __init__(
        self,
        *,
        instruments: InstrumentLookup,
        quotes: Quotes,
        clock: Clock,
        session_open: SessionCheck,
        config: PaperConfig | None = None,
        day_close: Callable[[date], datetime | None] | None = None,
        index_quote: IndexQuote | None = None,
        publish: Callable[[object], None] | None = None,
        expiry_close: Callable[[date], datetime] | None = None,
    ) -> None:
        self._instruments = instruments
        self._quotes = quotes
        self._clock = clock
        self._session_open = session_open
        self.config = config or PaperConfig()
        self._day_close = day_close
        self._settler = ExpirySettler(
            instruments, index_quote, clock, publish=publish, expiry_close=expiry_close
        )
        self._sink: BrokerSink | None = None
        self._resting: dict[int, list[Resting]] = {}
        self._by_order: dict[OrderId, Resting] = {}
        self.holdings = Holdings()
        self._broker_ids = IdFactory("P")
        self._trade_ids = IdFactory("T")
        self._order_ids = IdFactory("V")
        self._squared_off_on: date | None = None
        self._day_checked_s = -1
        """The clock second of the last look for closed sessions: one a second, tick or beat."""
        self.paused = False
        """No matching while paused (the journal cannot record fills): resting orders wait."""

    def salt_ids(self, salt: int) -> None:
        """Make this venue's broker, exchange and trade ids with ``salt`` (the desk's id slot on a
        shared book), so no other desk's venue makes the same ones."""
        self._broker_ids = IdFactory("P", salt)
        self._trade_ids = IdFactory("T", salt)
        self._order_ids = IdFactory("V", salt)

    # -- port ------------------------------------------------------------------------------------

    def bind(self, sink: BrokerSink) -> None:
        self._sink = sink

    def submit(self, order: Order) -> None:
        request = order.request()
        self._later(lambda: self._accept(order.order_id, request))

    def modify(self, order: Order, change: Modification) -> None:
        order_id = order.order_id
        self._later(lambda: self._modify(order_id, change))

    def cancel(self, order: Order) -> None:
        order_id = order.order_id
        self._later(lambda: self._cancel(order_id, "cancelled by user"))

    def restore(self, open_orders: list[Order]) -> None:
        """The open orders of the journal back at the venue. A cancel the trader was told was
        taken (CANCEL PENDING) is carried out now, not put back to work; an order MODIFY
        PENDING rests at its earlier terms until ``carry_out_modifications`` makes the change."""
        for order in open_orders:
            if (ended := ended_at_restart(order.status)) is not None:
                now = self._clock.time_ns()
                self._send(OrderStatusChanged(order.order_id, now, OrderStatus.CANCELLED, ended))
                continue
            resting = Resting.restored(order, BrokerOrderId(self._broker_ids.next()))
            self.holdings.working(order.order_id, order.strategy)
            self._rest(resting)

    def carry_out_modifications(self, changes: Mapping[OrderId, Modification | None]) -> None:
        """At a restart, after ``restore``: make the modifications the trader was told were taken
        and the venue had not made when the desk stopped (their delay has passed), each once;
        a modification whose request does not read is reported, and the order works on."""
        for order_id, change in changes.items():
            resting = self._by_order.get(order_id)
            if resting is None:
                continue
            if change is None:
                self._emit_status(
                    resting, resting.live_status, MODIFY_UNREADABLE, answers_modify=True
                )
                continue
            self._modify(order_id, change)

    def pause(self, paused: bool) -> None:
        """Stop (True) or resume (False) matching resting orders."""
        self.paused = paused

    def restore_positions(self, net_quantities: dict[AccountKey, int]) -> None:
        """The account's nets from the journal, as held by no strategy."""
        self.holdings.restore_account(net_quantities)

    def restore_holdings(self, nets: Mapping[HoldingKey, int]) -> None:
        """Each owner's holdings from the journal (``holdings_from_journal``)."""
        self.holdings.restore(nets)

    @property
    def resting_tokens(self) -> Container[int]:
        """The instruments with resting orders, kept current: the ticks ``on_tick`` needs."""
        return self._resting

    @property
    def resting_count(self) -> int:
        return len(self._by_order)

    # -- market data and time ------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        book = self._resting.get(tick.token)
        if not book or self.paused:
            return
        if self._end_closed_sessions_once_a_second():
            # Before matching: a tick after the close (or the next morning's first, on a desk
            # whose clock beat did not run overnight) must not fill yesterday's orders.
            book = self._resting.get(tick.token)
            if not book:
                return
        # What resting orders take from this tick's levels: two orders never both fill against
        # the same displayed quantity (first come, first filled).
        taken: dict[tuple[int, int], int] | None = {} if len(book) > 1 else None
        for resting in tuple(book):
            if resting.order_type in (OrderType.SL, OrderType.SL_M) and not resting.triggered:
                if not trigger_reached(resting.side, resting.trigger_price, tick):
                    continue
                resting.triggered = True
                self._emit_status(resting, OrderStatus.OPEN, "trigger reached")
                # A triggered stop arrives at the market now: what it does not fill is treated as
                # any arriving order's rest (IOC cancelled, SL-M protected), and it queues anew.
                self._unrest(resting)
                self._match(resting, tick, aggressive=True, taken=taken)
                self._after_arrival(resting, tick)
                continue
            if resting.unprotected:
                # Only an order restored from before market protection applied can rest unpriced.
                if tick.ltp <= 0:
                    continue
                self._protect(resting, tick.ltp)
            self._match(resting, tick, aggressive=False, taken=taken)
            if resting.remaining == 0:
                self._unrest(resting)

    def on_clock(self, now: datetime) -> None:
        """Called about once a second by the engine: runs the intraday square-off when due,
        settles contracts held past their expiry and cancels the orders whose session has
        closed."""
        if self.paused:
            return
        today = now.date()
        if (
            self.config.mis_square_off
            and self._squared_off_on != today
            and now >= self.square_off_due(today)
        ):
            # Also when the desk starts after the close: positions and MIS orders restored from
            # earlier today were never squared off (with nothing intraday open this does nothing).
            self._squared_off_on = today
            self.square_off_intraday()
        self._settle_expired(now)
        self._end_closed_sessions(now)

    def square_off_due(self, day: date) -> datetime:
        """When ``day``'s intraday square-off runs (IST), by the day's close when it is known."""
        return self.config.square_off_at(day, self._day_close and self._day_close(day))

    def _end_closed_sessions_once_a_second(self) -> bool:
        """``_end_closed_sessions`` unless it ran this clock second already; whether it ran."""
        if self._clock.time_ns() // _SECOND == self._day_checked_s:
            return False
        self._end_closed_sessions(self._clock.now())
        return True

    def _end_closed_sessions(self, now: datetime) -> None:
        """Cancel the resting orders whose session has closed since they came, as the exchange
        cancels DAY orders at the end of the trading day (``closed_session_orders``)."""
        self._day_checked_s = self._clock.time_ns() // _SECOND
        ended = closed_session_orders(self._resting, self._instruments, self._session_open, now)
        for resting, reason in ended:
            self._cancel(resting.order_id, reason)

    def square_off_intraday(self) -> None:
        """Cancel MIS orders and close MIS positions at the market, as the broker does. It runs
        also after the close (the desk was not running at the square-off time): the venue then
        closes at the last quote it has and says so on the order."""
        for resting in [r for r in self._by_order.values() if r.product is Product.MIS]:
            self._cancel(resting.order_id, "intraday square-off: MIS order cancelled")
        for (token, product), net in self.holdings.account().items():
            if product is not Product.MIS or net == 0:
                continue
            instrument = self._instruments(token)
            if instrument is None:
                log.error("cannot square off unknown instrument %s", token)
                continue
            for request in square_off_requests(token, product, net, instrument):
                order_id = OrderId(self._order_ids.next())
                self._send(OrderSubmitted(order_id, self._clock.time_ns(), request))
                self._accept(order_id, request)

    def _settle_expired(self, now: datetime) -> None:
        """Cancel the orders resting on contracts past their expiry, and settle the ones still
        held: the venue's own closing order, filled at once at the settlement price."""
        for token, reason in self._settler.expired_orders(list(self._resting), now):
            for resting in tuple(self._resting.get(token, ())):
                self._cancel(resting.order_id, reason)
        for due in self._settler.due(self.holdings.nets, now):
            order_id = OrderId(self._order_ids.next())
            self._send(OrderSubmitted(order_id, self._clock.time_ns(), due.request))
            broker_id = BrokerOrderId(self._broker_ids.next())
            settling = Resting.arriving(order_id, broker_id, due.request, now.date())
            self.holdings.working(order_id, due.request.strategy)
            self._emit_status(settling, OrderStatus.OPEN, due.words)
            for quantity, charges in due.fills:
                self._fill(settling, quantity, due.price, settles=True, charges=charges)

    # -- the exchange ----------------------------------------------------------------------------------

    def _later(self, action: Callable[[], None]) -> None:
        if self.config.latency_ms <= 0:
            action()
            return
        asyncio.get_running_loop().call_later(self.config.latency_ms / 1000, action)

    def _send(self, event: OrderEvent) -> None:
        if self._sink is None:
            raise RuntimeError("paper venue is not bound to an order manager")
        self._sink(event)

    def _reject(self, order_id: OrderId, reason: str) -> None:
        self._send(
            OrderStatusChanged(order_id, self._clock.time_ns(), OrderStatus.REJECTED, reason)
        )

    def _accept(self, order_id: OrderId, request: OrderRequest) -> None:
        instrument = self._instruments(request.token)
        if instrument is None:
            self._reject(order_id, f"unknown instrument {request.token}")
            return
        now = self._clock.now()
        closed = not self._session_open(instrument, now)
        tick = self._quotes.get(request.token)
        refused = arrival_refusal(
            request, instrument, tick, now, closed=closed, expiry_close=self._settler.expiry_close
        )
        if refused is not None:
            self._reject(order_id, refused)
            return
        self.holdings.working(order_id, request.strategy)
        note = ""
        if closed:
            note = (
                f"intraday square-off after the close: the desk was not running at "
                f"{self.square_off_due(now.date()):%H:%M}, so the position is "
                "closed at the last quote"
            )
        stop = request.order_type in (OrderType.SL, OrderType.SL_M)
        resting = Resting.arriving(
            order_id, BrokerOrderId(self._broker_ids.next()), request, now.date()
        )
        self._emit_status(resting, resting.live_status, note)
        if stop:
            self._rest(resting)
            return
        if tick is not None:
            self._match(resting, tick, aggressive=True)
        if closed and resting.remaining > 0:
            # The square-off after the close trades only what the last quote shows: the rest
            # cannot wait for a market that opens tomorrow at other prices.
            self._emit_status(
                resting,
                OrderStatus.CANCELLED,
                f"{DAY_END}: the market is closed and the last quote took {resting.filled} of "
                f"{resting.quantity}; close the rest of this {resting.product} position yourself",
            )
            return
        self._after_arrival(resting, tick)

    def _after_arrival(self, resting: Resting, tick: Tick | None) -> None:
        """What happens to the part of a just-arrived or just-triggered order that did not fill."""
        if resting.remaining == 0:
            return
        if resting.validity is Validity.IOC:
            self._emit_status(resting, OrderStatus.CANCELLED, "IOC: unfilled quantity cancelled")
            return
        if resting.price is None or resting.order_type in (OrderType.MARKET, OrderType.SL_M):
            self._protect(resting, tick.ltp if tick is not None else 0)
        self._rest(resting)

    def _protect(self, resting: Resting, reference: int) -> None:
        """Turn a market order's rest into a LIMIT ``market_protection_pct`` beyond ``reference``."""
        instrument = self._instruments(resting.token)
        tick_size = instrument.tick_size if instrument is not None else 5
        protection = self.config.market_protection_pct
        resting.price = protected_price(resting.side, reference, protection, tick_size)
        resting.order_type = OrderType.LIMIT
        self._emit_status(
            resting,
            OrderStatus.OPEN,
            f"market protection: rest of the order rests as LIMIT {rupees_text(resting.price)}",
            terms=True,
        )

    def _match(
        self,
        resting: Resting,
        tick: Tick,
        *,
        aggressive: bool,
        taken: dict[tuple[int, int], int] | None = None,
    ) -> None:
        for quantity, price in resting.takes(tick, aggressive=aggressive, taken=taken):
            self._fill(resting, quantity, price)

    def _fill(
        self,
        resting: Resting,
        quantity: int,
        price: Paise,
        *,
        settles: bool = False,
        charges: Charges | None = None,
    ) -> None:
        resting.filled += quantity
        self.holdings.filled(resting, quantity)
        self._send(
            OrderFilled(
                resting.order_id,
                self._clock.time_ns(),
                TradeId(self._trade_ids.next()),
                resting.token,
                resting.side,
                resting.product,
                quantity,
                price,
                charges=charges,
                settles=settles,
            )
        )

    def _emit_status(
        self,
        resting: Resting,
        status: OrderStatus,
        message: str,
        *,
        terms: bool = False,
        answers_modify: bool = False,
    ) -> None:
        if status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            self.holdings.ended(resting.order_id)
        self._send(
            OrderStatusChanged(
                resting.order_id,
                self._clock.time_ns(),
                status,
                message,
                broker_order_id=resting.broker_order_id,
                quantity=resting.quantity if terms else None,
                price=resting.price if terms else None,
                trigger_price=resting.trigger_price if terms else None,
                order_type=resting.order_type if terms else None,
                answers_modify=answers_modify,
            )
        )

    def _rest(self, resting: Resting) -> None:
        self._by_order[resting.order_id] = resting
        self._resting.setdefault(resting.token, []).append(resting)

    def _unrest(self, resting: Resting) -> None:
        self._by_order.pop(resting.order_id, None)
        book = self._resting.get(resting.token)
        if book is not None and resting in book:
            book.remove(resting)
            if not book:
                del self._resting[resting.token]

    def _cancel(self, order_id: OrderId, reason: str) -> None:
        resting = self._by_order.get(order_id)
        if resting is None:
            log.info("cancel of %s ignored: not open at the paper venue", order_id)
            return
        self._unrest(resting)
        self._emit_status(resting, OrderStatus.CANCELLED, reason)

    def _modify(self, order_id: OrderId, change: Modification) -> None:
        if not self.paused:
            self._end_closed_sessions_once_a_second()  # a modify matches: not on a closed day
        resting = self._by_order.get(order_id)
        if resting is None:
            log.info("modify of %s ignored: not open at the paper venue", order_id)
            return
        if change.quantity is not None and change.quantity <= resting.filled:
            self._emit_status(
                resting,
                resting.live_status,
                f"modify refused: quantity {change.quantity} is not above the filled {resting.filled}",
                answers_modify=True,
            )
            return
        stops = (OrderType.SL, OrderType.SL_M)
        if change.order_type in stops and resting.order_type not in stops:
            # The order book cannot take a working order back to TRIGGER PENDING: refuse here
            # too, in words, so venue and book never disagree about what is resting.
            self._emit_status(
                resting,
                resting.live_status,
                f"modify refused: a working {resting.order_type} order cannot become a "
                f"stop-loss ({change.order_type}); cancel it and place the stop-loss order",
                answers_modify=True,
            )
            return
        if change.quantity is not None:
            resting.quantity = change.quantity
        if change.order_type is not None:
            resting.order_type = change.order_type
        if change.price is not None:
            resting.price = change.price
        if resting.order_type is OrderType.SL_M:
            resting.price = None  # a stop-loss market order fills at the market, not a limit
        if change.trigger_price is not None:
            # A stop the market has triggered already works as a limit: a new trigger does not
            # put it back to waiting (the book cannot go from OPEN back to TRIGGER PENDING).
            resting.trigger_price = change.trigger_price
        if resting.order_type in (OrderType.MARKET, OrderType.LIMIT):
            resting.triggered = False
            if resting.order_type is OrderType.MARKET:
                resting.price = None
        self._emit_status(resting, resting.live_status, "modified", terms=True, answers_modify=True)
        tick = self._quotes.get(resting.token)
        if resting.live_status is OrderStatus.OPEN and tick is not None:
            self._unrest(resting)
            self._match(resting, tick, aggressive=True)
            self._after_arrival(resting, tick)
