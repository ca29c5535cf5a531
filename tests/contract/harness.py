"""Brokers under the contract: one harness per broker, each building a whole engine on it.

A harness builds the engine as the app does (``Engine.build`` on a temporary SQLite book), hands
the tests its public facade (``EngineApi``) and plays the market and the broker's side through
neutral controls: ``move_market`` (the instrument trades at a price), ``fill`` (the broker fills
part of an order), ``reject_next`` (the broker refuses the next order), and, where the broker has
them, a connection (``disconnect`` / ``reconnect``), a session (``log_out`` / ``log_in``) and a
transport whose answers can be lost (``lose_next_response``). Each control hides how its broker
does it (the paper venue's quotes, the fake Kite server's controls).

A broker that lacks one of those declares it in ``capabilities``; the tests that need it are
skipped for that broker with the reason in words.

To run the whole contract against a new broker, write one ``BrokerHarness`` for it (over a fake
transport or a local fake server) and add its class to ``HARNESSES``.

Every harness trades one cash instrument at ₹400.00 with a 5-paise tick and a lot of 1, on one
day (no time-of-day behaviour), with the risk gate's duplicate window and order-rate throttle
off so that a test may send the same order twice and many orders at once.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from engine.api import EngineApi, OrderSnapshot
from engine.brokers.paper.config import PaperConfig
from engine.core.clock import IST, TestClock
from engine.credentials import CredentialStore
from engine.domain.events import ConnectionChanged, OrderFilled
from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderStatus, Side
from engine.domain.ticks import Tick
from engine.oms.order_manager import Outcome
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from tests.kite_desk import ADANIPORTS, KiteDesk, market, open_desk, redirect_url
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring
from tests.xts_desk import ADANIPORTS_TOKEN, FAST_LIMITS, XtsDesk, save_fake_account
from tests.xts_desk import open_desk as open_xts_desk
from tests.xts_fake import ADANIPORTS as XTS_ADANIPORTS
from tests.xts_fake import FakeXts

BASE = Decimal("400.00")
"""Where the market trades when a test starts (rupees)."""
STEP = Decimal("0.05")
"""The instrument's tick size (rupees)."""

CONTRACT_RISK = RiskSettings(
    defaults=RiskLimits(
        duplicate_window_seconds=None,
        max_orders_per_second=None,
        max_orders_per_minute=None,
        max_order_quantity=1_000,
    )
)
"""The desk's limits, except that the same order may be sent twice and orders are not paced; an
order above 1,000 shares is refused by the gate (the local risk check under test)."""

LIVE = (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)


@dataclass(frozen=True)
class Capabilities:
    connection: bool
    """A link to the broker that can drop and come back (updates can be missed meanwhile)."""
    session: bool
    """A login that can expire; orders wait for the next login."""
    lossy_transport: bool
    """Requests travel over a network: the answer to a placement can be lost."""


class BrokerHarness(ABC):
    """One broker, a whole engine on it, and the controls that play the broker's side."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.db_path = workdir / "book.db"
        self.events: list[object] = []
        """Every event the engine published (through ``EngineApi.subscribe_all``), in order."""
        self.engine: Engine | None = None

    # -- the engine ------------------------------------------------------------------------------

    @property
    def api(self) -> EngineApi:
        assert self.engine is not None, "the harness is not open"
        return self.engine.api

    @property
    @abstractmethod
    def token(self) -> InstrumentToken:
        """The instrument the contract trades."""

    @abstractmethod
    async def open(self) -> None:
        """Build and start the engine on a fresh book; the market is at ``BASE``."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def restart(self) -> None:
        """Stop the engine and build it again on the same book, as after closing the app."""

    def _watch(self) -> None:
        self.api.subscribe_all(self.events.append)

    # -- the market and the broker's side ----------------------------------------------------------

    @abstractmethod
    async def move_market(self, price: Decimal) -> None:
        """The instrument trades at ``price``: stops whose trigger it reaches trigger, resting
        limits it reaches fill at their own price. Returns once the engine has the price."""

    @abstractmethod
    def aggressive_price(self, side: Side) -> Decimal:
        """Where a marketable order of ``side`` trades while the market is at ``BASE``."""

    @abstractmethod
    async def fill(self, order_id: str, quantity: int, price: Decimal | None = None) -> None:
        """The broker fills ``quantity`` of an open order (at its limit price unless told),
        and the engine has booked it when this returns. A venue that matches on prices (paper)
        may fill other resting orders at or through that price too: tests that fill by hand keep
        one resting order per price."""

    @abstractmethod
    def reject_next(self, reason: str) -> None:
        """The broker refuses the next order it receives, saying ``reason``."""

    @abstractmethod
    def times_sent(self, order_id: str) -> int:
        """How many orders the broker received for this order of the desk."""

    @abstractmethod
    async def deliver_fill_again(self, order_id: str) -> None:
        """The broker reports the fills of an order once more (same trade ids)."""

    @abstractmethod
    async def settle(self) -> None:
        """Wait until nothing the engine sent to the broker is still in flight."""

    # -- connection, session, transport (only where ``capabilities`` says so) ---------------------

    async def disconnect(self) -> None:
        raise NotImplementedError(f"{self.name} has no connection")

    async def reconnect(self) -> None:
        raise NotImplementedError(f"{self.name} has no connection")

    async def fill_unheard(self, order_id: str, quantity: int) -> None:
        """The broker fills while the engine cannot hear it (after ``disconnect``)."""
        raise NotImplementedError(f"{self.name} has no connection")

    async def log_out(self) -> None:
        raise NotImplementedError(f"{self.name} has no session")

    async def log_in(self) -> None:
        raise NotImplementedError(f"{self.name} has no session")

    def lose_next_response(self) -> None:
        raise NotImplementedError(f"{self.name} has no network transport")

    # -- shared helpers ------------------------------------------------------------------------------

    def place(
        self,
        side: str,
        quantity: int,
        order_type: str = "LIMIT",
        *,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        product: str = "MIS",
        validity: str = "DAY",
    ) -> Outcome:
        return self.api.place_order(
            self.token,
            side,
            quantity,
            order_type,
            product=product,
            validity=validity,
            price=price,
            trigger_price=trigger_price,
        )

    async def place_live(self, side: str, quantity: int, **terms: Any) -> str:
        """Place an order that is accepted and wait until it is live at the broker (or done)."""
        outcome = self.place(side, quantity, **terms)
        assert outcome.ok, outcome.reason
        assert outcome.order_id is not None
        await self.wait_until(
            lambda: (
                self.order(outcome.order_id).status in LIVE
                or self.order(outcome.order_id).status.is_terminal
            ),
            what=f"{outcome.order_id} acknowledged",
        )
        return outcome.order_id

    def order(self, order_id: str | None) -> OrderSnapshot:
        assert order_id is not None
        snapshot = self.api.order(order_id)
        assert snapshot is not None, f"no order {order_id}"
        return snapshot

    async def wait_status(self, order_id: str, *statuses: OrderStatus, timeout: float = 5) -> None:
        await self.wait_until(
            lambda: self.order(order_id).status in statuses,
            timeout=timeout,
            what=f"{order_id} {'/'.join(s.value for s in statuses)} "
            f"(is {self.order(order_id).status.value})",
        )

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 5, what: str = ""
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"{self.name}: not within {timeout}s: {what or condition}")
            await asyncio.sleep(0.01)

    def fills_of(self, order_id: str) -> list[OrderFilled]:
        return [e for e in self.events if isinstance(e, OrderFilled) and e.order_id == order_id]


# -- paper --------------------------------------------------------------------------------------------

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
PAPER_SYMBOL = "ITC"
"""A cash stock of the simulated universe with a 5-paise tick; the harness sets its quotes."""


class PaperHarness(BrokerHarness):
    """The paper venue on quotes the harness writes (the simulated market is never stepped, the
    engine's background tasks never started), on a test clock held at a Monday morning."""

    name = "paper"
    capabilities = Capabilities(connection=False, session=False, lossy_transport=False)

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.clock = TestClock(MONDAY_10AM)
        self._token: InstrumentToken | None = None
        self._sent: Counter[str] = Counter()
        self._reject_next: str | None = None
        self._last = BASE

    @property
    def token(self) -> InstrumentToken:
        assert self._token is not None
        return self._token

    async def open(self) -> None:
        self._build()
        await self._quote(BASE)

    def _build(self) -> None:
        config = EngineConfig(
            db_url=f"sqlite:///{self.db_path}",
            broker="paper",
            always_open=True,
            var_interval_seconds=0,
            risk=CONTRACT_RISK,
            paper=PaperConfig(mis_square_off=False),
        )
        engine = Engine.build(config, clock=self.clock)
        self.engine = engine
        instrument = engine.registry.by_symbol("NSE", PAPER_SYMBOL)
        assert instrument is not None and instrument.tick_size == 5 and instrument.lot_size == 1
        self._token = instrument.token
        self._watch()
        self._count_sends(engine)
        # Not started: start() would run the simulated market, whose random walk would move the
        # quotes this harness sets. Paper needs no task of its own (fills happen on the tick).

    def _count_sends(self, engine: Engine) -> None:
        """Count what reaches the venue, and refuse there when told to: the venue refuses with
        its own rejection path, as it does an order it cannot accept."""
        venue = engine.venue
        assert venue is not None
        submit = venue.submit

        def counted(order):  # type: ignore[no-untyped-def]
            self._sent[order.order_id] += 1
            if self._reject_next is not None:
                reason, self._reject_next = self._reject_next, None
                venue._reject(order.order_id, reason)
                return
            submit(order)

        venue.submit = counted  # type: ignore[method-assign]

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None

    async def restart(self) -> None:
        await self.close()
        self._build()
        await self._quote(self._last)

    def _tick(
        self,
        ltp: Decimal,
        *,
        asks: tuple[tuple[int, int, int], ...] | None = None,
        bids: tuple[tuple[int, int, int], ...] | None = None,
    ) -> Tick:
        paise = int(ltp * 100)
        bids = bids or tuple((paise - 5 * (i + 1), 100 * (i + 1), i + 1) for i in range(5))
        asks = asks or tuple((paise + 5 * (i + 1), 120 * (i + 1), i + 1) for i in range(5))
        return Tick(
            token=self.token,
            ltp=paise,
            bid=bids[0][0],
            ask=asks[0][0],
            bid_qty=bids[0][1],
            ask_qty=asks[0][1],
            volume=10_000,
            oi=0,
            ts_ns=self.clock.time_ns(),
            last_qty=5,
            bids=bids,
            asks=asks,
            close=int(BASE * 100) - 50,
        )

    async def _quote(self, price: Decimal, tick: Tick | None = None) -> None:
        assert self.engine is not None
        self._last = price
        self.engine.on_tick(tick or self._tick(price))

    async def move_market(self, price: Decimal) -> None:
        await self._quote(price)

    def aggressive_price(self, side: Side) -> Decimal:
        return BASE + STEP if side is Side.BUY else BASE - STEP

    async def fill(self, order_id: str, quantity: int, price: Decimal | None = None) -> None:
        # Exactly ``quantity`` shows on the other side at the order's price: it trades that much.
        order = self.order(order_id)
        before = order.filled_quantity
        at = price if price is not None else order.price
        assert at is not None, "a fill price is needed for an order without a limit"
        paise = int(at * 100)
        if order.side is Side.BUY:
            tick = self._tick(at, asks=((paise, quantity, 1),), bids=((paise - 5, 100, 1),))
        else:
            tick = self._tick(at, bids=((paise, quantity, 1),), asks=((paise + 5, 120, 1),))
        await self._quote(at, tick)
        await self.wait_until(
            lambda: self.order(order_id).filled_quantity >= before + quantity,
            what=f"{quantity} of {order_id} filled",
        )

    def reject_next(self, reason: str) -> None:
        self._reject_next = reason

    async def settle(self) -> None:
        pass  # the venue acts inside the call that reaches it: nothing is ever in flight

    def times_sent(self, order_id: str) -> int:
        return self._sent[order_id]

    async def deliver_fill_again(self, order_id: str) -> None:
        assert self.engine is not None
        for fill in self.fills_of(order_id):
            self.engine.orders.on_broker_event(fill)  # the port the venue reports through


# -- live brokers over their fake servers --------------------------------------------------------------


class LiveHarness(BrokerHarness):
    """What the harnesses of live brokers share: a desk on the broker's fake server, its
    reconciliation counted, the server going down and coming back, a session that ends and a
    login that brings it back. Each broker says how its fake does those things."""

    capabilities = Capabilities(connection=True, session=True, lossy_transport=True)
    desk: Any

    @property
    @abstractmethod
    def fake(self) -> Any:
        """The broker's fake server (``close``, ``go_down``, ``come_back``)."""

    @abstractmethod
    async def _build(self) -> None:
        """Build and start the desk on the fake, watching the contract's instrument."""

    @abstractmethod
    def _streams(self) -> list[Any]:
        """The fake's open streaming connections (the broker's order events come over them)."""

    @abstractmethod
    async def _end_session(self) -> None: ...

    @abstractmethod
    async def _log_in_again(self) -> None: ...

    def _reconciled(self) -> int:
        assert self.desk is not None and self.desk.link.reconciler is not None
        return int(self.desk.link.reconciler.runs)

    async def close(self) -> None:
        if self.desk is not None:
            await self.desk.stop()
            self.desk = self.engine = None
        await self.fake.close()

    async def restart(self) -> None:
        assert self.desk is not None
        await self.desk.stop()
        await self._build()

    def aggressive_price(self, side: Side) -> Decimal:
        return BASE  # the fake exchange matches a marketable order at the last price

    async def settle(self, timeout: float = 10) -> None:
        # Not the broker's drain(): it can spin without yielding to the loop when a request
        # task has finished but its done-callback has not run yet, freezing the loop (see
        # test_kite_drain.py). Polling yields, so the callbacks run.
        assert self.desk is not None
        tasks = self.desk.broker.tasks.running
        await self.wait_until(
            lambda: all(task.done() for task in tasks),
            timeout=timeout,
            what=f"{self.name} requests in flight: "
            f"{sorted(t.get_name() for t in tasks if not t.done())}",
        )

    async def disconnect(self) -> None:
        await self.fake.go_down()
        await self.wait_until(lambda: not self._streams(), what="the streaming connection cut")

    async def reconnect(self) -> None:
        runs = self._reconciled()
        await self.fake.come_back()
        await self.wait_until(lambda: self._reconciled() > runs, what="reconciled after reconnect")
        await self.settle()

    async def log_out(self) -> None:
        asked = len(self._connection("login required"))
        await self._end_session()
        await self.wait_until(
            lambda: len(self._connection("login required")) > asked, what="login asked"
        )

    async def log_in(self) -> None:
        connected = len(self._connection("connected"))
        await self._log_in_again()
        await self.wait_until(
            lambda: len(self._connection("connected")) > connected, what="connected again"
        )
        await self.settle()

    def _connection(self, state: str) -> list[ConnectionChanged]:
        return [
            e
            for e in self.events
            if isinstance(e, ConnectionChanged) and e.component == "broker" and e.state == state
        ]


# -- Kite ---------------------------------------------------------------------------------------------


class KiteHarness(LiveHarness):
    """The Kite adapter, session and ticker over the fake Kite on 127.0.0.1 (real REST and
    WebSocket wire formats), with the fake's exchange matching on."""

    name = "kite"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.kite = FakeKite(heartbeat_s=0.1)
        self.store = CredentialStore("contract", backend=MemoryKeyring())
        self.desk: KiteDesk | None = None

    @property
    def fake(self) -> FakeKite:
        return self.kite

    @property
    def token(self) -> InstrumentToken:
        return InstrumentToken(ADANIPORTS)

    async def open(self) -> None:
        await self.kite.start()
        self.kite.oms.exchange_matching = True
        self.kite.oms.set_last_price("NSE", "ADANIPORTS", BASE)
        self.kite.ticker.set_market([market(int(BASE * 100))])
        self.store.save_kite_keys(self.kite.api_key, self.kite.api_secret)
        await self._build()

    async def _build(self) -> None:
        desk = await open_desk(
            self.kite,
            self.store,
            self.db_path,
            cache_dir=self.workdir / "cache",
            engine_changes={"risk": CONTRACT_RISK},
        )
        self.desk, self.engine = desk, desk.engine
        self._watch()
        await desk.link.watch([ADANIPORTS])
        await self.wait_until(lambda: self.api.tick(ADANIPORTS) is not None, what="first tick")
        await self.wait_until(lambda: self._reconciled() > 0, what="first reconciliation")

    async def move_market(self, price: Decimal) -> None:
        paise = int(price * 100)
        self.kite.oms.move_market("NSE", "ADANIPORTS", price)
        self.kite.ticker.push([market(paise)])
        await self.wait_until(
            lambda: self.api.tick(ADANIPORTS).ltp == paise, what=f"the market at {price}"
        )
        await self.settle()

    def _at_kite(self, order_id: str) -> dict[str, Any]:
        [order] = self.kite.oms.find_by_tag(order_id)
        return order

    async def fill(self, order_id: str, quantity: int, price: Decimal | None = None) -> None:
        before = self.order(order_id).filled_quantity
        self.kite.oms.fill(self._at_kite(order_id)["order_id"], quantity, price)
        await self.wait_until(
            lambda: self.order(order_id).filled_quantity >= before + quantity,
            what=f"{quantity} of {order_id} filled",
        )

    def reject_next(self, reason: str) -> None:
        self.kite.oms.reject_next_reason = reason

    def times_sent(self, order_id: str) -> int:
        return len(self.kite.oms.find_by_tag(order_id))

    async def deliver_fill_again(self, order_id: str) -> None:
        assert self.desk is not None and self.desk.link.reconciler is not None
        self.kite.oms.repeat_update(self._at_kite(order_id)["order_id"])
        await self.desk.link.reconciler.reconcile("contract: fills read again")
        await self.settle()

    def _streams(self) -> list[Any]:
        return list(self.kite.ticker.sessions)

    async def fill_unheard(self, order_id: str, quantity: int) -> None:
        self.kite.oms.fill(self._at_kite(order_id)["order_id"], quantity)

    async def _end_session(self) -> None:
        await self.kite.expire_token()

    async def _log_in_again(self) -> None:
        assert self.desk is not None
        await self.desk.link.session.complete_login(redirect_url(self.kite))

    def lose_next_response(self) -> None:
        # The fake answers the next placement after the client's 1 s timeout: Kite has the order,
        # the desk never hears that it does.
        self.kite.rest.hang_next_place_s = 2.0


# -- XTS ----------------------------------------------------------------------------------------------


class XtsHarness(LiveHarness):
    """The XTS adapter, session, interactive socket and market-data feed over the fake XTS on
    127.0.0.1 (real REST envelopes and Socket.IO v2 events), with the fake's exchange matching
    on. Prices reach the engine through XTS's own market-data feed (1502 events)."""

    name = "xts"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.xts = FakeXts(limits=FAST_LIMITS)
        self.store = CredentialStore("contract", backend=MemoryKeyring())
        self.desk: XtsDesk | None = None

    @property
    def fake(self) -> FakeXts:
        return self.xts

    @property
    def token(self) -> InstrumentToken:
        return InstrumentToken(ADANIPORTS_TOKEN)

    async def open(self) -> None:
        await self.xts.start()
        self.xts.oms.exchange_matching = True
        self.xts.set_market(XTS_ADANIPORTS, BASE)
        save_fake_account(self.xts, self.store)
        await self._build()

    async def _build(self) -> None:
        desk = await open_xts_desk(
            self.xts, self.store, self.db_path, engine_changes={"risk": CONTRACT_RISK}
        )
        self.desk, self.engine = desk, desk.engine
        self._watch()
        await desk.link.watch([ADANIPORTS_TOKEN])
        await self.wait_until(
            lambda: self.api.tick(ADANIPORTS_TOKEN) is not None, what="first tick"
        )
        await self.wait_until(lambda: self._reconciled() > 0, what="first reconciliation")
        await self.wait_until(lambda: desk.link.socket_connected, what="order socket open")

    async def move_market(self, price: Decimal) -> None:
        paise = int(price * 100)
        self.xts.set_market(XTS_ADANIPORTS, price)
        await self.xts.market_data.push(1, XTS_ADANIPORTS.instrument_id)
        await self.wait_until(
            lambda: self.api.tick(ADANIPORTS_TOKEN).ltp == paise, what=f"the market at {price}"
        )
        await self.settle()

    def _app_order_id(self, order_id: str) -> int:
        [order] = self.xts.oms.find(order_id)
        return int(order["AppOrderID"])

    async def fill(self, order_id: str, quantity: int, price: Decimal | None = None) -> None:
        before = self.order(order_id).filled_quantity
        self.xts.oms.fill(self._app_order_id(order_id), quantity, price)
        await self.wait_until(
            lambda: self.order(order_id).filled_quantity >= before + quantity,
            what=f"{quantity} of {order_id} filled",
        )

    def reject_next(self, reason: str) -> None:
        self.xts.oms.reject_next_reason = reason

    def times_sent(self, order_id: str) -> int:
        return len(self.xts.oms.find(order_id))

    async def deliver_fill_again(self, order_id: str) -> None:
        assert self.desk is not None and self.desk.link.reconciler is not None
        self.xts.oms.repeat(self._app_order_id(order_id))
        await self.desk.link.reconciler.reconcile("contract: fills read again")
        await self.settle()

    def _streams(self) -> list[Any]:
        return list(self.xts.interactive.socket.sessions)

    async def fill_unheard(self, order_id: str, quantity: int) -> None:
        self.xts.oms.fill(self._app_order_id(order_id), quantity)

    async def _end_session(self) -> None:
        await self.xts.interactive.expire_tokens()

    async def _log_in_again(self) -> None:
        assert self.desk is not None
        await self.desk.link.session.login()

    def lose_next_response(self) -> None:
        # The fake answers the next placement after the client's 1 s time-out: XTS has the
        # order, the desk never hears that it does.
        self.xts.interactive.hang_next_place_s = 2.0


HARNESSES: list[type[BrokerHarness]] = [PaperHarness, KiteHarness, XtsHarness]
"""Every broker the contract runs against: add a harness here to hold a new broker to it."""

__all__ = [
    "BASE",
    "HARNESSES",
    "LIVE",
    "STEP",
    "BrokerHarness",
    "Capabilities",
    "KiteHarness",
    "LiveHarness",
    "PaperHarness",
    "XtsHarness",
]
