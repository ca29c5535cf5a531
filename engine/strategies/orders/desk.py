"""The desk's advanced orders: each one a strategy instance on the kernel named by its kind and a
number (``bracket-0001``, ``oco-0002``, ``trail-0003``, ``cond-0004``, ``gtt-0005``), so its
orders carry that id through the gate and its P&L is attributable from the journal. Its terms are
saved with its state: after a restart the kernel's records bring every one back (those running
resume protecting their positions; the finished ones stay listed).

A halt (the kill switch, a breaker) ends every order waiting to open a position (a GTT kept here,
a conditional order, a bracket's entry), journaled and said once: neither a re-arm nor a restart
sends it. An order protecting a position (OCO, trailing stop, a bracket's exits) only reduces
risk: it stays, holds its exit back while the gate takes no strategy order, places it again at
the re-arm, and ends when the position it protects is gone (squared off, closed by hand)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.core.bus import EventBus
from engine.domain.events import OrderFilled, RiskStateChanged, Severity, TradingState
from engine.domain.gtt import GttReport, GttRequest
from engine.domain.orders import Product, Side
from engine.domain.strategy_records import StrategyStatus
from engine.strategies.algos.quality import ExecutionQuality
from engine.strategies.halts import stop_on_halt
from engine.strategies.kernel import Strategy, StrategyContext, StrategyKernel
from engine.strategies.orders.bracket import BracketOrder, BracketSpec
from engine.strategies.orders.conditional import ConditionalOrder, ConditionalSpec
from engine.strategies.orders.gtt import PaperGtt, report_from_state, request_from_dict
from engine.strategies.orders.oco import PositionExitOrder, PositionExitSpec
from engine.strategies.orders.quality import bracket_quality

ORIGIN = "advanced orders"
_ID = re.compile(r"^(bracket|oco|trail|cond|gtt)-(\d{4,})$")

KIND_TITLES = {
    "bracket": "Bracket",
    "oco": "OCO",
    "trail": "Trailing SL",
    "cond": "Conditional",
    "gtt": "GTT",
}


def _maker(kind: str, spec: dict[str, Any]) -> Callable[[StrategyContext], Strategy]:
    if kind == "bracket":
        bracket = BracketSpec.from_dict(spec)
        return lambda ctx: BracketOrder(ctx, bracket)
    if kind in ("oco", "trail"):
        exit_spec = PositionExitSpec.from_dict(spec)
        return lambda ctx: PositionExitOrder(ctx, exit_spec)
    if kind == "cond":
        conditional = ConditionalSpec.from_dict(spec)
        return lambda ctx: ConditionalOrder(ctx, conditional)
    gtt = request_from_dict(spec)
    return lambda ctx: PaperGtt(ctx, gtt)


@dataclass(frozen=True, slots=True)
class AdvancedOrderView:
    parent_id: str
    kind: str
    """bracket, oco, trail, cond or gtt."""
    title: str
    token: int
    working: bool
    state: str
    """What it is doing now (running) or how it ended."""
    detail: str


class AdvancedOrderDesk:
    def __init__(self, kernel: StrategyKernel) -> None:
        self._kernel = kernel
        self._specs: dict[str, tuple[str, dict[str, Any]]] = {}
        self._net_of: Callable[[int, Product], int] | None = None

    def watch_trading(self, bus: EventBus, net_of: Callable[[int, Product], int]) -> None:
        """Follow the halts and re-arms on ``bus``, and the positions the orders protect
        (``net_of``: the net quantity held of an instrument in a product)."""
        if self._net_of is not None:
            return
        self._net_of = net_of
        stop_on_halt(bus, self.halt)
        bus.subscribe(RiskStateChanged, self._on_rearm)
        bus.subscribe(OrderFilled, self._on_fill)

    def _running(self) -> list[tuple[str, str, Strategy]]:
        return [
            (parent_id, kind, running)
            for parent_id, (kind, _spec) in sorted(self._specs.items())
            if (running := self._kernel.instance(parent_id)) is not None
        ]

    def halt(self, why: str) -> None:
        """Trading halted (``why``): the orders waiting to open a position end, said once in
        words; the protective ones hold their exits back until the re-arm."""
        ended = []
        for parent_id, kind, running in self._running():
            describe = getattr(running, "describe", None)
            what = "" if describe is None else f" ({describe()})"
            hold_back = getattr(running, "hold_back", None)
            if hold_back is not None:
                hold_back()
            halt = getattr(running, "halt", None)
            if halt is not None and halt(why):
                ended.append(f"{KIND_TITLES[kind]} {parent_id}{what}")
        if ended:
            self._kernel.say(
                ORIGIN,
                Severity.WARNING,
                f"trading halted: cancelled before opening a position, nothing sent: "
                f"{'; '.join(ended)}. A re-arm brings none of them back ({why})",
            )

    def _on_rearm(self, event: RiskStateChanged) -> None:
        if event.state is not TradingState.ACTIVE:
            return
        for _parent_id, _kind, running in self._running():
            release = getattr(running, "release", None)
            if release is not None:
                release()

    def _on_fill(self, event: OrderFilled) -> None:
        """A fill that moved a position some protective order covers: the order ends if the
        position is gone (its own exits' fills are its own to count)."""
        if self._net_of is None:
            return
        order = self._kernel.api.order(event.order_id)
        owner = None if order is None else order.strategy
        for parent_id, _kind, running in self._running():
            protected = getattr(running, "protected", None)
            held = None if protected is None or parent_id == owner else protected()
            if held is None:
                continue
            token, product, side = held
            net = self._net_of(token, product)
            if net == 0 or (net > 0) != (side is Side.BUY):
                instrument = self._kernel.api.instruments.find(token)
                symbol = instrument.tradingsymbol if instrument else str(token)
                running.position_closed(  # type: ignore[attr-defined]
                    f"the {symbol} {product.value} position it protected is closed (net {net}): "
                    "nothing left to protect, its exit cancelled"
                )

    def restore(self) -> list[str]:
        """Bring back every advanced order the journal names (before the kernel resumes the
        running ones); the ids whose terms could not be read."""
        unreadable: list[str] = []
        for record in self._kernel.records():
            match = _ID.match(record.strategy)
            spec = record.state.get("spec") or record.state.get("request")
            if match is None or record.strategy in self._specs:
                continue
            if not isinstance(spec, dict):
                unreadable.append(record.strategy)
                continue
            try:
                maker = _maker(match.group(1), spec)
            except (KeyError, TypeError, ValueError):
                unreadable.append(record.strategy)
                continue
            self._specs[record.strategy] = (match.group(1), spec)
            if record.status is StrategyStatus.RUNNING:
                self._register(record.strategy, match.group(1), maker)
        return unreadable

    def tidy(self) -> None:
        """Take the advanced orders that have ended off the kernel's catalogue (they stay
        listed here, from the journal's records): an ended one is never started again, so a
        bracket's entry is not sent twice. One that was working when the desk stopped is not
        ended: it stays for the kernel to resume as the desk starts (the window lists the
        advanced orders before that, and a GTT taken off here would never be back)."""
        for parent_id in self._specs:
            if self._kernel.instance(parent_id) is None and not self._kernel.will_resume(parent_id):
                self._kernel.remove(parent_id)

    def _next_id(self, kind: str) -> str:
        numbers = [int(m.group(2)) for key in self._specs if (m := _ID.match(key))]
        numbers += [int(m.group(2)) for r in self._kernel.records() if (m := _ID.match(r.strategy))]
        # An id whose orders are in the book is taken, even if its own record never was written.
        owners = {o.strategy for o in self._kernel.api.orders() if o.strategy}
        numbers += [int(m.group(2)) for owner in owners if (m := _ID.match(owner))]
        return f"{kind}-{max(numbers, default=0) + 1:04d}"

    def _add(self, parent_id: str, kind: str, spec: dict[str, Any]) -> None:
        self._register(parent_id, kind, _maker(kind, spec))
        self._specs[parent_id] = (kind, spec)

    def _register(
        self, parent_id: str, kind: str, maker: Callable[[StrategyContext], Strategy]
    ) -> None:
        self._kernel.add_instance(
            parent_id, maker, title=f"{KIND_TITLES[kind]} {parent_id}", origin=ORIGIN
        )

    def start(self, kind: str, spec: dict[str, Any]) -> tuple[str, str | None]:
        """Start a new advanced order of ``kind`` with checked ``spec``: its id, and None or
        why it did not start (a start that failed is still listed, with the reason)."""
        self.tidy()
        parent_id = self._next_id(kind)
        self._add(parent_id, kind, spec)
        problem = self._kernel.start(parent_id)
        self.tidy()
        return parent_id, problem

    def place_gtt(self, request: GttRequest) -> tuple[str, str | None]:
        from engine.strategies.orders.gtt import request_as_dict

        return self.start("gtt", request_as_dict(request))

    def instance(self, parent_id: str) -> Strategy | None:
        return self._kernel.instance(parent_id)

    def cancel(self, parent_id: str) -> str | None:
        if parent_id not in self._specs:
            return f"no advanced order {parent_id!r}"
        running = self._kernel.instance(parent_id)
        if running is None:
            return f"{parent_id} is no longer working"
        cancel = getattr(running, "cancel", None)
        return cancel() if cancel is not None else self._kernel.stop(parent_id)

    def amend(self, parent_id: str, *, stop: int | None, target: int | None) -> str | None:
        running = self._kernel.instance(parent_id)
        amend = getattr(running, "amend", None)
        if running is None or amend is None:
            return f"{parent_id} is not a working bracket, OCO or trailing stop"
        result: str | None = amend(stop=stop, target=target)
        return result

    def gtt_reports(self) -> list[GttReport]:
        out = []
        for parent_id, (kind, _spec) in sorted(self._specs.items()):
            if kind != "gtt":
                continue
            running = self._kernel.instance(parent_id)
            if isinstance(running, PaperGtt):
                out.append(running.report(parent_id))
                continue
            record = self._kernel.last_state(parent_id)
            report = None if record is None else report_from_state(parent_id, record.state)
            if report is not None:
                out.append(report)
        return out

    def modify_gtt(self, parent_id: str, request: GttRequest) -> str | None:
        running = self._kernel.instance(parent_id)
        if not isinstance(running, PaperGtt):
            return f"{parent_id} is not an active GTT"
        return running.modify(request)

    def views(self) -> list[AdvancedOrderView]:
        self.tidy()
        out = []
        for parent_id, (kind, spec) in sorted(self._specs.items()):
            running = self._kernel.instance(parent_id)
            describe = getattr(running, "describe", None)
            if running is not None and describe is not None:
                state, detail, working = "working", describe(), True
            elif self._kernel.will_resume(parent_id):
                state, detail, working = "resuming", "works again as the desk starts", False
            else:
                record = self._kernel.last_state(parent_id)
                failed = record is not None and record.status is StrategyStatus.FAILED
                state = "failed" if failed else "ended"
                detail = "" if record is None else record.reason
                working = False
            out.append(
                AdvancedOrderView(
                    parent_id,
                    kind,
                    KIND_TITLES[kind],
                    int(spec.get("token", 0)),
                    working,
                    state,
                    detail,
                )
            )
        return out

    def quality(self) -> list[ExecutionQuality]:
        """The execution quality of each bracket's entry (the running ones as they stand)."""
        rows = []
        for parent_id, (kind, spec) in sorted(self._specs.items()):
            if kind != "bracket":
                continue
            running = self._kernel.instance(parent_id)
            if isinstance(running, BracketOrder):
                state, status = running.snapshot(), "working"
            else:
                record = self._kernel.last_state(parent_id)
                if record is None:
                    continue
                state = record.state
                status = "failed" if record.status is StrategyStatus.FAILED else "ended"
            row = bracket_quality(self._kernel.api, parent_id, spec, state, status)
            if row is not None:
                rows.append(row)
        return rows
