"""One running execution algo: a kernel strategy whose id is the parent's (``algo-twap-0001``).

Every child goes through the gate by the strategy context, so each carries the parent's id in
the journal and its P&L is the parent's. A child is sized from the target less what is filled
less what is working, never above the instrument's freeze quantity, and sent only when the
desk's algos together have room under 10 orders a second. What the parent saves (its spec, start,
pauses, arrival price, the volume it saw) is journaled with the kernel's records; at a restart
its children are read back from the order manager, so a parent never over-fills after a crash,
and it resumes or stops as the trader set.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from engine.domain.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.instruments import Instrument
from engine.domain.orders import OrderStatus, OrderType, Side
from engine.domain.origin import OrderSource
from engine.domain.ticks import Tick
from engine.strategies.algos.children import ChildBook
from engine.strategies.algos.pacer import AlgoPacer
from engine.strategies.algos.plans import Plan, Progress, plan_for
from engine.strategies.algos.quality import ExecutionQuality, day_of, measure, mid_of
from engine.strategies.algos.spec import AlgoSpec, OnRestart
from engine.strategies.algos.view import LIVE, AlgoStatus, AlgoView
from engine.strategies.kernel import Strategy, StrategyContext

NS = 1_000_000_000
RECHECK_NS = 250_000_000
"""Between two looks at the schedule when nothing is due sooner."""
SAVE_EVERY_NS = 5 * NS
MAX_MOVES = 20
"""Chases of one child before it is cancelled and sent afresh (Kite allows 25 modifications)."""
MAX_REFUSALS = 3
"""Children refused in a row before the parent stops and says why."""


class AlgoStrategy(Strategy):
    def __init__(
        self,
        ctx: StrategyContext,
        spec: AlgoSpec,
        pacer: AlgoPacer,
        profile: Sequence[float] | None = None,
    ) -> None:
        super().__init__(ctx)
        self.spec = spec
        self.parent_id = str(ctx.strategy_id)
        self._pacer = pacer
        self._profile = profile
        self.book = ChildBook()
        self.status = AlgoStatus.WORKING
        self.reason = ""
        self.target = spec.quantity
        self.started_ns = 0
        self.paused_ns = 0
        self.paused_since: int | None = None
        self.arrival: Decimal | None = None
        """The mid at the start, paise."""
        self.vwap_value = 0
        self.vwap_volume = 0
        self.ticks_from_ns = 0
        self.ticks_to_ns = 0
        self._resize_to: int | None = None
        """A lowered rest waiting for the cancels of the children it asked to be answered."""
        """The exchange times of the first and last ticks the parent saw (its VWAP window)."""
        self.resumed = False
        self._last_volume = -1
        self._tick: Tick | None = None
        self._next_ns = 0
        self._last_child_ns = 0
        self._last_save_ns = 0
        self._dirty = False
        self._instrument: Instrument | None = None
        self._lot = 1
        self._freeze: int | None = None
        self._plan: Plan | None = None

    # -- the kernel's calls --------------------------------------------------------------------------

    def on_start(self, state: dict[str, Any]) -> None:
        ctx = self.ctx
        instrument = ctx.instruments.find(self.spec.token)
        if instrument is None or not instrument.tradable:
            raise ValueError(f"instrument {self.spec.token} is not listed or not tradable")
        self._instrument = instrument
        self._lot = instrument.lot_size if instrument.is_derivative else 1
        self._freeze = instrument.max_order_quantity()
        now = ctx.time_ns()
        self.resumed = "started_ns" in state
        if self.resumed:
            self._restore(state)
        else:
            self.started_ns = now
            tick = ctx.api.tick(self.spec.token)
            self.arrival = None if tick is None else mid_of(tick)
        self._adopt_children()
        profile = self.spec.volume_profile or self._profile
        self._plan = plan_for(self.spec, self.parent_id, self._lot, self.started_ns, profile)
        ctx.watch([self.spec.token])
        if self.resumed and self.status in LIVE and self.spec.on_restart is OnRestart.STOP:
            self._end(AlgoStatus.STOPPED, "stopped at the restart, as set (on restart: stop)")
            return
        if self.status not in LIVE:
            ctx.finish(self.reason or self.status.value)
            return
        if ctx.loop_running():
            ctx.every(0.5, "work")
        # Journaled before any child: a crash can never leave children of a parent the book
        # does not know (the kernel's own record of the start comes after on_start).
        ctx.save()
        self._last_save_ns = now
        self._work(now)

    def on_tick(self, tick: Tick) -> None:
        volume = tick.volume
        last = self._last_volume
        if volume > last >= 0:
            traded = volume - last
            self.vwap_value += traded * tick.ltp
            self.vwap_volume += traded
        if not self.ticks_from_ns:
            self.ticks_from_ns = tick.ts_ns
        self.ticks_to_ns = tick.ts_ns
        self._last_volume = volume
        self._tick = tick
        if self.arrival is None:
            self.arrival = mid_of(tick)
        now = self.ctx.time_ns()
        if now >= self._next_ns:
            self._work(now)

    def on_timer(self, name: str) -> None:
        now = self.ctx.time_ns()
        if now >= self._next_ns:
            self._work(now)

    def on_order(self, event: OrderEvent) -> None:
        book = self.book
        if isinstance(event, OrderFilled):
            book.fill(event.order_id, event.ts_ns, event.quantity, event.price)
            self._dirty = True
            if book.filled >= self.target and self.status is AlgoStatus.WORKING:
                self._end(AlgoStatus.COMPLETED, f"completed: {book.filled} filled")
        elif isinstance(event, OrderSubmitted):
            request = event.request
            if request.source is OrderSource.BROKER:
                return  # the venue's own order in its name (an expiry settlement): no child
            book.add(event.order_id, request.quantity, event.ts_ns, request.price)
        elif isinstance(event, OrderStatusChanged):
            if event.status is OrderStatus.REJECTED:
                book.refuse(event.message or "rejected")
            if event.status.is_terminal:
                book.close(event.order_id)
            elif event.price is not None and (child := book.children.get(event.order_id)):
                child.price = event.price
        elif isinstance(event, OrderDenied):
            book.refuse(event.reason)
        self._resize()

    def on_stop(self) -> None:
        if self.status in LIVE:
            self.status, self.reason = AlgoStatus.CANCELLED, "stopped"
        self._cancel_working()

    def keeps_running(self) -> bool:
        return self.status in LIVE and self.spec.on_restart is OnRestart.RESUME

    def snapshot(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_state(),
            "status": self.status.value,
            "reason": self.reason,
            "target": self.target,
            "started_ns": self.started_ns,
            "paused_ns": self.paused_ns,
            "paused_since": self.paused_since,
            "arrival": None if self.arrival is None else str(self.arrival),
            "vwap_value": self.vwap_value,
            "vwap_volume": self.vwap_volume,
            "last_volume": self._last_volume,
            "ticks_from_ns": self.ticks_from_ns,
            "ticks_to_ns": self.ticks_to_ns,
            "filled": self.book.filled,
            "children": self.book.count,
            "resize_to": self._resize_to,
        }

    # -- the trader's commands -----------------------------------------------------------------------

    def pause(self) -> str | None:
        if self.status is not AlgoStatus.WORKING:
            return f"{self.parent_id} is {self.status.value}, not working"
        self.status = AlgoStatus.PAUSED
        self.paused_since = self.ctx.time_ns()
        self._cancel_working()
        self.ctx.save()
        return None

    def resume(self) -> str | None:
        if self.status is not AlgoStatus.PAUSED:
            return f"{self.parent_id} is {self.status.value}, not paused"
        now = self.ctx.time_ns()
        self.paused_ns += now - (self.paused_since or now)
        self.paused_since = None
        self.status = AlgoStatus.WORKING
        self.ctx.save()
        self._work(now)
        return None

    def cancel(self) -> str | None:
        if self.status not in LIVE:
            return f"{self.parent_id} has already ended ({self.status.value})"
        self._end(AlgoStatus.CANCELLED, "cancelled by the trader")
        return None

    def modify_remaining(self, remaining: int) -> str | None:
        """Make the parent's unfilled rest ``remaining`` (its target becomes filled + that)."""
        if self.status not in LIVE:
            return f"{self.parent_id} has already ended ({self.status.value})"
        if isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0:
            return f"the remaining quantity must be a whole number 0 or more, not {remaining!r}"
        if remaining % self._lot:
            return f"the remaining quantity must be a multiple of the lot ({self._lot})"
        if self.book.working > remaining:
            # On a live broker a child may fill before its cancel lands: the rest is sized once
            # the cancels are answered (nothing new goes out meanwhile), never past the target.
            self._resize_to = remaining
            self._cancel_working()
            self._resize()
        else:
            self._resize_to, self.target = None, self.book.filled + remaining
        self.ctx.save()
        if remaining == 0:
            self._end(
                AlgoStatus.COMPLETED,
                f"completed: the rest was set to 0 ({self.book.filled} filled)",
            )
        else:
            self._work(self.ctx.time_ns())
        return None

    def _resize(self) -> None:
        """Apply a lowered rest once what still works fits in it (a cap: never raised)."""
        rest = self._resize_to
        if rest is not None and self.book.working <= rest:
            self._resize_to = None
            self.target = min(self.target, self.book.filled + rest)
            self._dirty = True

    # -- what the panel and the reports read ---------------------------------------------------------

    def progress(self, now_ns: int) -> Progress:
        since = now_ns - self._last_child_ns if self._last_child_ns else 1 << 62
        return Progress(
            active_ns=self._active_ns(now_ns),
            target=self.target,
            planned=self.spec.quantity,
            filled=self.book.filled,
            working=self.book.working,
            market_volume=self.vwap_volume,
            since_last_child_ns=since,
        )

    def view(self, now_ns: int) -> AlgoView:
        quality = self.quality()
        scheduled = None
        if self._plan is not None and self.status in LIVE:
            scheduled = self._plan.scheduled(self.progress(now_ns))
        duration = self.spec.duration_seconds * NS
        elapsed = (
            100.0
            if self.status not in LIVE
            else min(100.0, 100.0 * self._active_ns(now_ns) / duration)
        )
        assert self._instrument is not None
        return AlgoView(
            self.parent_id,
            self.spec.kind.value,
            self._instrument.tradingsymbol,
            self.spec.side.value,
            self.target,
            self.book.filled,
            self.book.working,
            scheduled,
            self.status,
            self.reason,
            self.started_ns,
            elapsed,
            self.book.count,
            quality.average_fill,
            quality.slippage_arrival_bp,
            self.spec.on_restart.value,
            self.spec.owner,
        )

    def quality(self) -> ExecutionQuality:
        symbol = "" if self._instrument is None else self._instrument.tradingsymbol
        return measure(
            parent_id=self.parent_id,
            kind=self.spec.kind.value,
            owner=self.spec.owner,
            symbol=symbol,
            side=self.spec.side,
            day=day_of(self.started_ns),
            status=self.status.value,
            target=self.target,
            started_ns=self.started_ns,
            arrival_paise=self.arrival,
            fills=self.book.fills,
            vwap_value_paise=self.vwap_value,
            vwap_volume=self.vwap_volume,
            children=self.book.count,
            ticks_from_ns=self.ticks_from_ns,
            ticks_to_ns=self.ticks_to_ns,
        )

    # -- working the parent --------------------------------------------------------------------------

    def _active_ns(self, now_ns: int) -> int:
        paused = self.paused_ns + (now_ns - self.paused_since if self.paused_since else 0)
        return max(now_ns - self.started_ns - paused, 0)

    def _work(self, now: int) -> None:
        if self.status is not AlgoStatus.WORKING or self._plan is None:
            return
        self._next_ns = now + RECHECK_NS
        book = self.book
        if book.filled >= self.target:
            self._end(AlgoStatus.COMPLETED, f"completed: {book.filled} filled")
            return
        progress = self.progress(now)
        if self._plan.expired(progress):
            self._end(
                AlgoStatus.STOPPED, f"ran its time out with {book.filled} of {self.target} filled"
            )
            return
        if book.denied >= MAX_REFUSALS:
            self._end(
                AlgoStatus.STOPPED,
                f"stopped: {book.denied} children refused in a row ({book.last_refusal})",
            )
            return
        if self.spec.chase_seconds > 0 and self.spec.order_type is OrderType.LIMIT:
            self._chase(now)
        self._send(now, progress)
        if self._dirty and now - self._last_save_ns >= SAVE_EVERY_NS and self.status in LIVE:
            self._save(now)

    def _send(self, now: int, progress: Progress) -> None:
        assert self._plan is not None
        wanted = min(self._plan.wanted(progress), self.target)
        cap = self._plan.child_limit()
        while self.status is AlgoStatus.WORKING and self._resize_to is None:
            need = min(wanted, self.target) - self.book.filled - self.book.working
            need = need // self._lot * self._lot
            if need <= 0:
                break
            quantity = need if cap is None else min(need, cap)
            if self._freeze is not None:
                quantity = min(quantity, self._freeze)
            price = self._price()
            if price is None and self.spec.order_type is OrderType.LIMIT:
                break  # no quote yet: the next tick brings one
            if not self._pacer.take(now):
                self._next_ns = self._pacer.next_second_ns(now)
                break
            if not self._place(now, quantity, price):
                break
            # Children need no save: a restart reads them back from the order manager.
            self._dirty = True

    def _place(self, now: int, quantity: int, price: int | None) -> bool:
        spec = self.spec
        number = self.book.count + 1
        outcome = self.ctx.place(
            spec.token,
            spec.side,
            quantity,
            spec.order_type,
            price=None if price is None else Decimal(price) / 100,
            product=spec.product,
            tag=f"{self._short()}.{number}",
        )
        self._last_child_ns = now
        if not outcome.ok or outcome.order_id is None:
            if self.book.denied == 0 or self.book.last_refusal != outcome.reason:
                self.book.refuse(outcome.reason)
            return False
        self.book.add(outcome.order_id, quantity, now, price)
        return True

    def _chase(self, now: int) -> None:
        chase_ns = int(self.spec.chase_seconds * NS)
        price = None
        for child in self.book.open_children():
            if child.cancelling or now - child.placed_ns < chase_ns:
                continue
            if price is None:
                price = self._price()
                if price is None:
                    return
            if child.price == price:
                continue
            if not self._pacer.take(now):
                self._next_ns = self._pacer.next_second_ns(now)
                return
            child.placed_ns = now
            if child.moves >= MAX_MOVES:
                child.cancelling = True
                self.ctx.api.cancel(child.order_id)
                continue
            child.moves += 1
            outcome = self.ctx.api.modify(child.order_id, price=Decimal(price) / 100)
            if outcome.ok:
                child.price = price

    def _price(self) -> int | None:
        """A child's limit now, paise: the touch plus the buffer, within the trader's cap."""
        if self.spec.order_type is OrderType.MARKET:
            return None
        tick = self._tick or self.ctx.api.tick(self.spec.token)
        if tick is None:
            return None
        assert self._instrument is not None
        step = int(self._instrument.tick_size)
        buffer = self.spec.limit_buffer_ticks * step
        if self.spec.side is Side.BUY:
            price = (tick.ask or tick.ltp) + buffer
        else:
            price = max((tick.bid or tick.ltp) - buffer, step)
        if price <= 0:
            return None
        cap = self.spec.limit_price
        if cap is not None:
            cap_paise = int(cap * 100)
            if self.spec.side is Side.BUY:
                price = min(price, cap_paise // step * step)
            else:
                price = max(price, -(-cap_paise // step) * step)
        return price

    def _end(self, status: AlgoStatus, reason: str) -> None:
        self.status, self.reason = status, reason
        self._cancel_working()
        severity = Severity.WARNING if status is AlgoStatus.STOPPED else Severity.INFO
        self.ctx.say(f"{self.parent_id} {reason}", severity)
        self.ctx.finish(reason)

    def _cancel_working(self) -> None:
        for child in self.book.open_children():
            if not child.cancelling:
                child.cancelling = True
                self.ctx.api.cancel(child.order_id)

    def _save(self, now: int) -> None:
        self._last_save_ns = now
        self._dirty = False
        self.ctx.save()

    def _short(self) -> str:
        kind, number = self.parent_id.split("-")[1:3]
        return f"{kind[:2].upper()}{number}"

    # -- restart ---------------------------------------------------------------------------------------

    def _restore(self, state: dict[str, Any]) -> None:
        self.status = AlgoStatus(state.get("status", AlgoStatus.WORKING.value))
        self.reason = str(state.get("reason", ""))
        self.target = int(state.get("target", self.spec.quantity))
        self.started_ns = int(state["started_ns"])
        self.paused_ns = int(state.get("paused_ns", 0))
        since = state.get("paused_since")
        self.paused_since = None if since is None else int(since)
        arrival = state.get("arrival")
        self.arrival = None if arrival is None else Decimal(str(arrival))
        self.vwap_value = int(state.get("vwap_value", 0))
        self.vwap_volume = int(state.get("vwap_volume", 0))
        self._last_volume = int(state.get("last_volume", -1))
        self.ticks_from_ns = int(state.get("ticks_from_ns", 0))
        self.ticks_to_ns = int(state.get("ticks_to_ns", 0))
        resize = state.get("resize_to")
        self._resize_to = None if resize is None else int(resize)

    def _adopt_children(self) -> None:
        """The parent's children and fills as the order manager has them (after a restart, the
        book's: the truth whatever the last save said)."""
        api = self.ctx.api
        last = self.book.adopt(api.orders(), api.trades(), self.parent_id, self.started_ns)
        if last is not None:
            self._last_child_ns = last
