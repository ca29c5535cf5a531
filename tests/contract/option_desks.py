"""Desks that list an option chain, for contracts that trade options (multileg portfolios).

Each desk is a whole engine built as the app builds it, on a live clock (timers, chases and
broker round trips run in real time), with its multileg portfolios in a temporary folder:

- ``PaperOptionDesk``: the paper venue on the simulated market's instruments, whose random walk is
  never run: the prices are the ones the test sets.
- ``KiteOptionDesk``: the Kite adapter, session and ticker over the fake Kite on 127.0.0.1, which
  lists NIFTY 50 and a weekly NIFTY chain in its instruments master, streams the prices the test
  sets over the ticker (Kite's binary packets) and matches orders against them as the exchange
  does (``exchange_matching``).
- ``PaperOnKiteDesk``: the paper venue trading on the fake Kite's prices (broker ``paper``, feed
  ``kite``): paper orders, live market data.

The chain is read through the facade (``EngineApi``), the same way on every desk; only
``set_prices`` (the market trades at these prices) and the session control differ.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from engine.api import EngineApi
from engine.brokers.paper.config import PaperConfig
from engine.core.clock import IST, LiveClock
from engine.credentials import CredentialStore
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import InstrumentType
from engine.domain.ticks import Tick
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.kite_desk import KiteDesk, open_desk
from tests.kite_fake import FakeKite, MarketState, OptionChain, next_weekly_expiry, nifty_chain
from tests.kite_fake.oms import OPEN_STATUSES
from tests.memory_keyring import MemoryKeyring

UNDERLYING = "NIFTY"
DEPTH = 5
DEPTH_QUANTITY = 1_800
"""Units shown at each of the five levels on each side: enough for any order a test sends."""


@dataclass(frozen=True)
class Chain:
    """The nearest option expiry of ``UNDERLYING`` as the desk lists it."""

    spot_token: int
    expiry: date
    strikes: list[Decimal]
    """Rupees, ascending."""
    tokens: dict[tuple[Decimal, str], int]
    """(strike, "CE" | "PE") -> instrument token."""
    lot_size: int

    def token(self, strike: Decimal, right: str) -> int:
        return self.tokens[(strike, right)]


def depth(ltp: int, tick: int = 5) -> tuple[tuple[int, int, int], ...]:
    """(price, quantity, orders) levels, best first: the bid side below ``ltp``."""
    return tuple((max(tick, ltp - tick * (n + 1)), DEPTH_QUANTITY, n + 1) for n in range(DEPTH))


def offers(ltp: int, tick: int = 5) -> tuple[tuple[int, int, int], ...]:
    return tuple((ltp + tick * (n + 1), DEPTH_QUANTITY, n + 1) for n in range(DEPTH))


class OptionDesk(ABC):
    name: ClassVar[str]
    mode: ClassVar[str]
    """The mode a portfolio trades in on this desk: 'paper' on the paper venue, 'live' at a
    live broker."""
    in_process: ClassVar[bool]
    """Orders reach a venue in the desk's process, acknowledged as they are placed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.db_path = workdir / "book.db"
        self.events: list[object] = []
        self.engine: Engine | None = None

    @property
    def api(self) -> EngineApi:
        assert self.engine is not None, "the desk is not open"
        return self.engine.api

    @abstractmethod
    async def open(self) -> None:
        """Build and start the engine on a fresh book."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def set_prices(self, prices: Mapping[int, int], *, liquid: bool = True) -> None:
        """The instruments trade at these prices (paise; token -> last price). ``liquid``: five
        levels a tick apart either side, and orders trade there (stops they reach trigger,
        resting limits they reach fill, marketable ones fill); not ``liquid``: no one bids or
        offers, and limit orders rest. Returns once the engine has every price."""

    @abstractmethod
    async def settle(self) -> None:
        """Wait until nothing the engine sent the broker is still in flight."""

    async def end_session(self) -> None:
        """The broker's session ends (the daily token expires)."""
        raise NotImplementedError(f"{self.name} has no session")

    @abstractmethod
    def answer_placements_after(self, seconds: float) -> None:
        """The broker acknowledges each placement this late (over a network; a venue in the
        process acknowledges as it is called)."""

    @abstractmethod
    def working_at_broker(self) -> int:
        """How many orders the broker itself holds open or waiting for their trigger."""

    def chain(self) -> Chain:
        api = self.api
        [spot] = api.instruments.search(
            underlying=UNDERLYING, instrument_type=InstrumentType.INDEX, limit=2
        )
        expiry = min(e for u, e in api.option_chains() if u == UNDERLYING)
        tokens: dict[tuple[Decimal, str], int] = {}
        lots = set()
        for kind in (InstrumentType.CE, InstrumentType.PE):
            for option in api.instruments.search(
                underlying=UNDERLYING, expiry=expiry, instrument_type=kind, limit=1_000
            ):
                assert option.strike is not None
                tokens[(Decimal(option.strike) / 100, kind.value)] = int(option.token)
                lots.add(option.lot_size)
        [lot_size] = lots
        strikes = sorted({strike for strike, _ in tokens})
        return Chain(int(spot.token), expiry, strikes, tokens, lot_size)

    def _watch(self) -> None:
        self.api.subscribe_all(self.events.append)

    async def wait_until(
        self, condition: Callable[[], bool], *, timeout: float = 10, what: str = ""
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"{self.name}: not within {timeout}s: {what or condition}")
            await asyncio.sleep(0.01)


# -- paper --------------------------------------------------------------------------------------


class PaperOptionDesk(OptionDesk):
    name = "paper"
    mode = "paper"
    in_process = True

    async def open(self) -> None:
        config = EngineConfig(
            db_url=f"sqlite:///{self.db_path}",
            broker="paper",
            always_open=True,
            var_interval_seconds=0,
            paper=PaperConfig(mis_square_off=False),
            market=SimulatedMarketConfig(
                strikes_each_side=8, weekly_expiries=1, monthly_expiries=1
            ),
            portfolios_dir=self.workdir / "portfolios",
        )
        self.engine = Engine.build(config, clock=LiveClock())
        self._watch()
        # Not started: start() would run the simulated market's random walk over the prices the
        # test sets. The paper venue acts on the ticks and requests it is given.

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None

    def working_at_broker(self) -> int:
        assert self.engine is not None and self.engine.venue is not None
        return self.engine.venue.resting_count

    async def settle(self) -> None:
        pass  # the venue acts inside the call that reaches it: nothing is ever in flight

    def answer_placements_after(self, seconds: float) -> None:
        pass  # the venue answers inside the call that reaches it

    async def set_prices(self, prices: Mapping[int, int], *, liquid: bool = True) -> None:
        engine = self.engine
        assert engine is not None
        now = engine.clock.time_ns()
        for token, ltp in prices.items():
            instrument = engine.registry.get(InstrumentToken(token))
            quoted = liquid and instrument.instrument_type is not InstrumentType.INDEX
            bids, asks = (depth(ltp), offers(ltp)) if quoted else ((), ())
            engine.on_tick(
                Tick(
                    InstrumentToken(token),
                    ltp,
                    bids[0][0] if bids else 0,
                    asks[0][0] if asks else 0,
                    DEPTH_QUANTITY if bids else 0,
                    DEPTH_QUANTITY if asks else 0,
                    10_000,
                    0,
                    now,
                    75,
                    bids,
                    asks,
                    ltp,
                )
            )


# -- Kite ---------------------------------------------------------------------------------------


class KiteOptionDesk(OptionDesk):
    name = "kite"
    mode = "live"
    in_process = False
    broker = "kite"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.kite = FakeKite(heartbeat_s=0.1)
        self.store = CredentialStore("multileg", backend=MemoryKeyring())
        self.desk: KiteDesk | None = None
        self.listed: OptionChain | None = None

    async def open(self) -> None:
        kite = self.kite
        await kite.start()
        kite.oms.exchange_matching = True
        kite.oms.push_on_open = False  # Kite sends no update for a placement (§A.8)
        kite.rest.equity_net = 5_000_000.0  # funds for short options at the fake's margins
        today = datetime.now(IST).date()
        self.listed = nifty_chain(next_weekly_expiry(today), spot=Decimal(24_000))
        kite.list_instruments(self.listed.rows, freeze_quantity=1_800)
        self.store.save_kite_keys(kite.api_key, kite.api_secret)
        self.desk = await open_desk(
            kite,
            self.store,
            self.db_path,
            cache_dir=self.workdir / "cache",
            broker=self.broker,
            engine_changes={
                "portfolios_dir": self.workdir / "portfolios",
                "paper": PaperConfig(mis_square_off=False),
            },
        )
        self.engine = self.desk.engine
        self._watch()
        await self._ready()

    async def _ready(self) -> None:
        assert self.desk is not None
        reconciler = self.desk.link.reconciler
        assert reconciler is not None
        await self.wait_until(lambda: reconciler.runs > 0, what="first reconciliation")

    async def close(self) -> None:
        if self.desk is not None:
            await self.desk.stop()
            self.desk = self.engine = None
        await self.kite.close()

    async def set_prices(self, prices: Mapping[int, int], *, liquid: bool = True) -> None:
        assert self.listed is not None
        rows = {row.instrument_token: row for row in self.listed.rows}
        self.kite.oms.exchange_matching = liquid
        states = []
        for token, ltp in prices.items():
            row = rows[token]
            quoted = liquid and row.segment != "INDICES"
            if row.segment != "INDICES":
                # The exchange trades there first: stops trigger, resting limits fill.
                self.kite.oms.move_market(row.exchange, row.tradingsymbol, Decimal(ltp) / 100)
            bids = tuple((q, p, n) for p, q, n in depth(ltp)) if quoted else ()
            asks = tuple((q, p, n) for p, q, n in offers(ltp)) if quoted else ()
            states.append(
                MarketState(
                    token=token,
                    last_price=ltp,
                    last_quantity=75,
                    average_price=ltp,
                    volume=10_000,
                    buy_quantity=DEPTH * DEPTH_QUANTITY,
                    sell_quantity=DEPTH * DEPTH_QUANTITY,
                    open=ltp,
                    high=ltp,
                    low=ltp,
                    close=ltp,
                    bids=bids or ((0, 0, 0),) * DEPTH,
                    asks=asks or ((0, 0, 0),) * DEPTH,
                )
            )
        self.kite.ticker.set_market(states)  # what a subscription's first snapshot sends
        self.kite.ticker.push(states)
        watched = self.kite.ticker.subscribed()
        await self.wait_until(
            lambda: all(
                (tick := self.api.tick(token)) is not None and tick.ltp == ltp
                for token, ltp in prices.items()
                if token in watched
            ),
            what="the prices set",
        )
        await self.settle()

    def answer_placements_after(self, seconds: float) -> None:
        self.kite.rest.place_reply_delay_s = seconds

    def working_at_broker(self) -> int:
        return sum(o["status"] in OPEN_STATUSES for o in self.kite.oms.orders.values())

    async def settle(self, timeout: float = 10) -> None:
        assert self.desk is not None
        tasks = self.desk.broker.tasks.running
        await self.wait_until(
            lambda: all(task.done() for task in tasks),
            timeout=timeout,
            what="Kite requests in flight",
        )

    async def end_session(self) -> None:
        await self.kite.expire_token()
        await self.wait_until(
            lambda: self.api.live_session_problem() is not None, what="the session seen ended"
        )


class PaperOnKiteDesk(KiteOptionDesk):
    name = "paper-on-kite"
    mode = "paper"
    in_process = True
    broker = "paper"

    async def _ready(self) -> None:
        await self.wait_until(
            lambda: (
                self.api.live_session_problem() is not None
                and bool(self.desk and self.desk.link.session.logged_in)
            ),
            what="logged in to Kite for its prices",
        )

    def working_at_broker(self) -> int:
        assert self.engine is not None and self.engine.venue is not None
        return self.engine.venue.resting_count

    def answer_placements_after(self, seconds: float) -> None:
        pass  # the orders go to the paper venue, in the process

    async def settle(self, timeout: float = 10) -> None:
        pass  # the venue acts inside the call that reaches it


OPTION_DESKS: list[type[OptionDesk]] = [PaperOptionDesk, KiteOptionDesk, PaperOnKiteDesk]
