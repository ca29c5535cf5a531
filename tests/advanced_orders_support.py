"""What the advanced-order tests share: a paper desk on a test clock whose quotes the test writes
(the simulated market's random walk never runs), with the venue's requests held in flight until
the test lets them through (``flush``), so modifications, cancels and fills can race as they do
at a real exchange; and the bracket's fills read from the bus, independent of its own book."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from engine.brokers.paper.config import PaperConfig
from engine.core.clock import IST, TestClock
from engine.domain.events import OrderFilled, OrderSubmitted
from engine.domain.ids import InstrumentToken
from engine.domain.orders import Side
from engine.domain.ticks import Tick
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig

MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
SYMBOL = "ITC"
"""A cash stock of the simulated universe with a 5-paise tick and a lot of 1."""

RISK = RiskSettings(
    defaults=RiskLimits(
        duplicate_window_seconds=None,
        max_orders_per_second=None,
        max_orders_per_minute=None,
        max_order_quantity=10_000,
        daily_loss_limit=None,
    )
)


@dataclass
class PaperDesk:
    engine: Engine
    clock: TestClock
    token: InstrumentToken
    in_flight: list[Callable[[], None]] = field(default_factory=list)
    holding_requests: bool = False
    fills: list[OrderFilled] = field(default_factory=list)
    owner: dict[str, str] = field(default_factory=dict)
    """Order id -> the strategy that placed it (from the submitted events)."""
    orders_of: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    nets: Counter[str] = field(default_factory=Counter)

    def tick(
        self,
        ltp: int,
        *,
        depth: int = 1_000,
        bid: int | None = None,
        ask: int | None = None,
        token: int | None = None,
        seconds: float = 0.25,
    ) -> None:
        """The market trades at ``ltp`` paise with ``depth`` units at the touch on each side
        (``token``: another instrument than the desk's), ``seconds`` after the last tick."""
        bid = ltp - 5 if bid is None else bid
        ask = ltp + 5 if ask is None else ask
        self.clock.advance(seconds)
        self.engine.on_tick(
            Tick(
                token=InstrumentToken(token or self.token), ltp=ltp, bid=bid, ask=ask, bid_qty=depth, ask_qty=depth,
                volume=10_000, oi=0, ts_ns=self.clock.time_ns(), last_qty=5,
                bids=((bid, depth, 1),), asks=((ask, depth, 1),), close=40_000,
            )
        )  # fmt: skip

    def flush(self, count: int | None = None) -> None:
        """Let the first ``count`` requests in flight reach the venue (all: until none is left,
        including those the answers cause)."""
        if count is not None:
            for _ in range(min(count, len(self.in_flight))):
                self.in_flight.pop(0)()
            return
        for _ in range(10_000):
            if not self.in_flight:
                return
            self.in_flight.pop(0)()
        raise AssertionError("requests keep coming: a loop between the desk and the venue")

    def net_of(self, strategy: str) -> int:
        """The strategy's position from its fills as the bus carried them."""
        return self.nets[strategy]

    def _on_fill(self, fill: OrderFilled) -> None:
        self.fills.append(fill)
        owner = self.owner.get(fill.order_id, "")
        self.nets[owner] += fill.quantity * (1 if fill.side is Side.BUY else -1)

    def _on_submitted(self, event: OrderSubmitted) -> None:
        owner = "" if event.request is None else event.request.strategy or ""
        self.owner[event.order_id] = owner
        self.orders_of[owner].append(event.order_id)

    def open_orders_of(self, strategy: str, side: Side) -> list[tuple[str, int]]:
        """(order id, open quantity) of the strategy's open orders on ``side``."""
        api = self.engine.api
        orders = [api.order(i) for i in self.orders_of[strategy]]
        return [
            (o.order_id, o.pending_quantity)
            for o in orders
            if o is not None and o.side is side and o.status.is_open
        ]

    def working(self, parent: str) -> bool:
        return self.engine.strategies.instance(parent) is not None

    def close(self) -> None:
        self.engine.close()


def paper_desk(tmp_path: Path, *, hold_requests: bool = False, start: int = 40_000) -> PaperDesk:
    clock = TestClock(MONDAY_10AM)
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            broker="paper",
            always_open=True,
            var_interval_seconds=0,
            risk=RISK,
            paper=PaperConfig(mis_square_off=False),
            portfolios_dir=tmp_path / "portfolios",
        ),
        clock=clock,
    )
    instrument = engine.registry.by_symbol("NSE", SYMBOL)
    assert instrument is not None and instrument.tick_size == 5 and instrument.lot_size == 1
    desk = PaperDesk(engine, clock, instrument.token)
    engine.bus.subscribe(OrderFilled, desk._on_fill)
    engine.bus.subscribe(OrderSubmitted, desk._on_submitted)
    if hold_requests:
        venue = engine.venue
        assert venue is not None
        venue._later = desk.in_flight.append  # type: ignore[attr-defined,method-assign]
    desk.tick(start)
    return desk


def rupees(paise: int) -> Decimal:
    return Decimal(paise) / 100
