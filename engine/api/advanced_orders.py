"""Advanced orders through the facade: brackets, OCO exits, trailing stop-losses, conditional
orders and GTTs. Prices are rupees, as everywhere in the facade. Each command checks its terms
first and answers with an ``AdvancedOutcome``: the parent id (``bracket-0001``) or the reason in
words; nothing is placed for terms that do not make sense.

GTTs go to the broker's own GTT service where the desk trades through one (Kite), and are kept
by the desk otherwise (paper), with the same statuses; their commands are coroutines because a
broker's answer comes over the network."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.api.parts import EngineParts, Service
from engine.brokers.base import BrokerError
from engine.domain.events import EngineMessage, Severity, TradingState
from engine.domain.gtt import GttRecord, GttReport, GttRequest, GttStatus
from engine.domain.ids import InstrumentToken
from engine.domain.orders import OrderRequest, Product
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.requests import InputError, enum_of
from engine.domain.ticks import Quote
from engine.domain.values import rupees_text
from engine.strategies.halts import stop_on_halt
from engine.strategies.orders.bracket import bracket_spec
from engine.strategies.orders.conditional import conditional_spec
from engine.strategies.orders.desk import AdvancedOrderDesk, AdvancedOrderView
from engine.strategies.orders.gtt import gtt_request, request_as_dict
from engine.strategies.orders.oco import position_exit_spec
from engine.strategies.orders.terms import TermsError, price_of
from engine.strategies.orders.trail import Trail

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AdvancedOutcome:
    ok: bool
    parent_id: str = ""
    """``bracket-0001``, ``gtt-0002``, ... or a broker's GTT id."""
    reason: str = ""


def _trail(points: object, percent: object, step: object = None) -> Trail | None:
    if points is None and percent is None:
        return None
    try:
        return Trail(
            points=None if points is None else _paise(points, "trail points"),
            percent=None if percent is None else Decimal(str(percent)),
            step=0 if step is None else _paise(step, "trail step"),
        )
    except ArithmeticError:
        raise TermsError(f"the trail must be a number, not {percent!r}") from None
    except ValueError as problem:
        raise TermsError(str(problem)) from None


def _paise(value: object, what: str) -> int:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise TermsError(f"{what} must be rupees, not {value!r}") from None
    if not amount.is_finite() or amount <= 0 or amount * 100 != int(amount * 100):
        raise TermsError(f"{what} must be a positive amount in rupees to the paisa, not {value!r}")
    return int(amount * 100)


class AdvancedOrderService(Service):
    def __init__(self, parts: EngineParts) -> None:
        super().__init__(parts)
        self._gtt_reads: set[asyncio.Task[None]] = set()
        if parts.advanced is not None:
            parts.advanced.watch_trading(parts.bus, self._net)
        if parts.gtt_book is not None:
            stop_on_halt(parts.bus, self._tell_broker_gtts)

    # -- a halt and the broker's GTTs --------------------------------------------------------------

    def _tell_broker_gtts(self, why: str) -> None:
        """Trading halted: the GTTs the broker keeps stay active there, and it triggers them by
        itself, past the desk's gate, halted or not. They are not deleted (a GTT may be the
        stop-loss of a holding, or placed outside the desk, and a deleted one cannot come back at
        the re-arm): the trader is told which are active, to delete those that must not fire."""
        if self._gtt_reads:
            return  # the read under way answers this halt too (the press and the HALTED state)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._say(Severity.WARNING, f"trading halted, but {self._broker()}'s active GTTs "
                      "stay active there and trigger past the desk's gate: check them")  # fmt: skip
            return
        task = loop.create_task(self._say_active_gtts(), name="gtts-on-halt")
        self._gtt_reads.add(task)
        task.add_done_callback(self._gtt_read_done)

    async def _say_active_gtts(self) -> None:
        book = self._parts.gtt_book
        assert book is not None
        broker = self._broker()
        try:
            reports = await book.gtts()
        except (BrokerError, ValueError) as problem:
            self._say(Severity.ERROR, f"trading halted, but {broker}'s GTTs could not be read "
                      f"({problem}): those active there still trigger, past the desk's gate; "
                      f"check them at {broker}")  # fmt: skip
            return
        active = [self._gtt_text(r) for r in reports if r.status is GttStatus.ACTIVE]
        if active:
            self._say(Severity.WARNING, f"trading halted, but {broker} still holds {len(active)} "
                      f"active GTT{'s' if len(active) > 1 else ''} it triggers by itself, past "
                      f"the desk's gate, halted or re-armed: {'; '.join(active)}. Delete those "
                      "that must not fire in the GTT list")  # fmt: skip

    def _gtt_read_done(self, task: asyncio.Task[None]) -> None:
        self._gtt_reads.discard(task)
        if task.cancelled() or (problem := task.exception()) is None:
            return
        log.error("reading the GTTs on a halt failed", exc_info=problem)
        self._say(Severity.ERROR, f"trading halted, but {self._broker()}'s GTTs could not be "
                  f"read ({type(problem).__name__}: {problem}): check them there")  # fmt: skip

    def _gtt_text(self, report: GttReport) -> str:
        instrument = self.instruments.find(report.request.token)
        symbol = instrument.tradingsymbol if instrument else str(report.request.token)
        triggers = " / ".join(rupees_text(t) for t in report.request.triggers)
        legs = ", ".join(
            f"{leg.side.value} {leg.quantity} @ {rupees_text(leg.price)}"
            for leg in report.request.legs
        )
        return f"{report.gtt_id}: {symbol} at {triggers}, {legs}"

    def _broker(self) -> str:
        return self._parts.broker_name or "the broker"

    def _say(self, severity: Severity, text: str) -> None:
        now = self._parts.now()
        ts_ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1_000
        self._bus.publish(EngineMessage(ts_ns, severity, text, "advanced orders"))

    def _desk(self) -> AdvancedOrderDesk:
        desk = self._parts.advanced
        if desk is None:
            raise RuntimeError("this engine was built without advanced orders")
        return desk

    def _quote(self, token: object) -> Quote | None:
        if isinstance(token, bool) or not isinstance(token, int):
            return None
        tick = self._quotes.get(InstrumentToken(token))
        return None if tick is None else Quote.of(tick)

    def _start(self, kind: str, spec: dict[str, Any]) -> AdvancedOutcome:
        parent_id, problem = self._desk().start(kind, spec)
        if problem is not None:
            return AdvancedOutcome(False, parent_id, problem)
        return AdvancedOutcome(True, parent_id)

    def place_bracket(
        self,
        token: int,
        side: str,
        quantity: int,
        *,
        stop: Decimal | str,
        target: Decimal | str,
        entry_price: Decimal | str | None = None,
        product: str = "MIS",
        trail_points: Decimal | str | None = None,
        trail_percent: Decimal | str | None = None,
        use_touch: bool = False,
    ) -> AdvancedOutcome:
        """Enter (at ``entry_price``, or at the market), then protect what fills with a target
        and a stop-loss, one cancelling the other; the stop trails when a trail is given."""
        try:
            spec = bracket_spec(
                self.instruments, self._quote(token), token=token, side=side,
                quantity=quantity, stop=stop, target=target, entry_price=entry_price,
                product=product, trail=_trail(trail_points, trail_percent), use_touch=use_touch,
            )  # fmt: skip
        except TermsError as problem:
            return AdvancedOutcome(False, reason=f"bracket not placed: {problem}")
        return self._start("bracket", spec.as_dict())

    def _net(self, token: object, product: object) -> int:
        try:
            kind = enum_of(Product, product, "product")
        except InputError:
            return 0
        if isinstance(token, bool) or not isinstance(token, int):
            return 0
        position = self._positions.get(InstrumentToken(token), kind)
        return 0 if position is None else position.net_quantity

    def place_oco(
        self,
        token: int,
        quantity: int,
        *,
        stop: Decimal | str,
        target: Decimal | str,
        product: str = "MIS",
    ) -> AdvancedOutcome:
        """A target and a stop-loss, one cancelling the other, on ``quantity`` of the position
        held (long or short, as the book has it)."""
        try:
            spec = position_exit_spec(
                self.instruments, self._quote(token), self._net(token, product), token=token,
                quantity=quantity, stop=stop, target=target, product=product,
            )  # fmt: skip
        except TermsError as problem:
            return AdvancedOutcome(False, reason=f"OCO not placed: {problem}")
        return self._start("oco", spec.as_dict())

    def place_trailing_stop(
        self,
        token: int,
        quantity: int,
        *,
        stop: Decimal | str,
        trail_points: Decimal | str | None = None,
        trail_percent: Decimal | str | None = None,
        trail_step: Decimal | str | None = None,
        use_touch: bool = False,
        product: str = "MIS",
    ) -> AdvancedOutcome:
        """A stop-loss on ``quantity`` of the position held that follows the market by points or
        a percentage, on the last price or (``use_touch``) on the side the exit fills on; it
        only ever tightens."""
        try:
            trail = _trail(trail_points, trail_percent, trail_step)
            if trail is None:
                raise TermsError("a trailing stop needs trail points or a trail percentage")
            spec = position_exit_spec(
                self.instruments, self._quote(token), self._net(token, product), token=token,
                quantity=quantity, stop=stop, product=product, trail=trail, use_touch=use_touch,
            )  # fmt: skip
        except TermsError as problem:
            return AdvancedOutcome(False, reason=f"trailing stop not placed: {problem}")
        return self._start("trail", spec.as_dict())

    def place_conditional(
        self,
        condition: dict[str, Any],
        token: int,
        side: str,
        quantity: int,
        *,
        order_type: str = "MARKET",
        price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None,
        product: str = "MIS",
    ) -> AdvancedOutcome:
        """Place an order when ``condition`` holds (``engine.strategies.orders.conditional``:
        kind ``price`` / ``time`` / ``indicator``)."""
        if not isinstance(condition, dict):
            return AdvancedOutcome(False, reason="conditional order not placed: no condition")
        try:
            spec = conditional_spec(
                self.instruments, condition, token=token, side=side, quantity=quantity,
                order_type=order_type, price=price, trigger_price=trigger_price, product=product,
            )  # fmt: skip
        except TermsError as problem:
            return AdvancedOutcome(False, reason=f"conditional order not placed: {problem}")
        return self._start("cond", spec.as_dict())

    def advanced_orders(self) -> list[AdvancedOrderView]:
        desk = self._parts.advanced
        return [] if desk is None else desk.views()

    def cancel_advanced(self, parent_id: str) -> AdvancedOutcome:
        """Cancel: an entry not yet filled is cancelled; what is held is exited at the market."""
        problem = self._desk().cancel(str(parent_id))
        return AdvancedOutcome(problem is None, str(parent_id), problem or "")

    def amend_advanced(
        self,
        parent_id: str,
        *,
        stop: Decimal | str | None = None,
        target: Decimal | str | None = None,
    ) -> AdvancedOutcome:
        desk = self._desk()
        running = desk.instance(str(parent_id))
        token = getattr(getattr(running, "spec", None), "token", None)
        instrument = None if token is None else self.instruments.find(token)
        if instrument is None:
            return AdvancedOutcome(False, str(parent_id), f"{parent_id} is not working")
        try:
            new_stop = None if stop is None else price_of(stop, "stop-loss", instrument)
            new_target = None if target is None else price_of(target, "target", instrument)
        except TermsError as problem:
            return AdvancedOutcome(False, str(parent_id), str(problem))
        refused = desk.amend(str(parent_id), stop=new_stop, target=new_target)
        return AdvancedOutcome(refused is None, str(parent_id), refused or "")

    # -- GTT ---------------------------------------------------------------------------------------

    async def place_gtt(
        self,
        token: int,
        triggers: list[Any],
        legs: list[dict[str, Any]],
        strategy: str | None = None,
    ) -> AdvancedOutcome:
        """A GTT: one trigger and one order, or a lower and an upper trigger (OCO) with one
        order each (``side``, ``quantity``, ``price``, ``product``). Where the broker keeps it
        (Kite), each leg's order must pass the risk gate now, as it would when triggered, and
        the order the broker places is the GTT's: ``strategy``'s, or ``gtt-<id>``'s."""
        try:
            request = gtt_request(
                self.instruments, self._quote(token), token=token, triggers=triggers, legs=legs
            )
        except TermsError as problem:
            return AdvancedOutcome(False, reason=f"GTT not placed: {problem}")
        book = self._parts.gtt_book
        if book is None:
            return self._start_gtt(request)  # its order passes the gate when triggered
        state = None if self._risk is None else self._risk.state
        if state is not None and state is not TradingState.ACTIVE:
            # The broker places a triggered GTT's order itself, past the desk's gate: none is
            # left with it while the desk is not trading freely.
            return AdvancedOutcome(
                False, reason=f"GTT not placed: trading is {state.value.lower()} on this desk"
            )
        parent = None if strategy is None else StrategyId(str(strategy))
        refusal = self._gate_refusal(request, parent)
        if refusal is not None:
            return AdvancedOutcome(False, reason=f"GTT not placed: {refusal}")
        try:
            gtt_id = await book.place_gtt(request, parent)
        except (BrokerError, ValueError) as problem:
            return AdvancedOutcome(False, reason=f"GTT not placed: {problem}")
        self._journal(gtt_id, "placed", request, parent)
        return AdvancedOutcome(True, gtt_id)

    def _gate_refusal(self, request: GttRequest, parent: StrategyId | None) -> str | None:
        """Why the gate would refuse one of the GTT's orders when its trigger is crossed (the
        broker places it past the desk), in words; None when it would let each through."""
        if self._risk is None:
            return None
        for n, (leg, trigger) in enumerate(zip(request.legs, request.triggers, strict=True)):
            order = OrderRequest(
                token=request.token,
                side=leg.side,
                quantity=leg.quantity,
                order_type=leg.order_type,
                product=leg.product,
                price=leg.price,
                source=OrderSource.STRATEGY if parent else OrderSource.MANUAL,
                strategy=parent,
            )
            decision = self._risk.gate.decide_later(order, trigger)
            if not decision.allowed:
                which = f"leg {n + 1}'s order" if len(request.legs) > 1 else "its order"
                return f"the risk gate would refuse {which} when triggered: {decision.reason}"
        return None

    def _journal(
        self,
        gtt_id: str,
        action: str,
        request: GttRequest | None = None,
        parent: StrategyId | None = None,
    ) -> None:
        terms = {} if request is None else request_as_dict(request)
        if parent is not None:
            terms["strategy"] = str(parent)
        now = self._parts.now()
        ts_ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1_000
        self._orders.record(GttRecord(ts_ns, gtt_id, action, terms))

    def restore_gtt_parents(self, entries: Iterable[tuple[str, Any, int, dict[str, Any]]]) -> None:
        """The strategies the desk's GTTs at the broker were placed for, from the journal's
        (kind, order, ts, payload) rows: a GTT triggered while the desk was closed still books
        its order to its strategy."""
        book = self._parts.gtt_book
        if book is None:
            return
        for kind, _order, _ts, payload in entries:
            if kind != GttRecord.kind or payload.get("action") != "placed":
                continue
            terms = payload.get("terms")
            strategy = terms.get("strategy") if isinstance(terms, dict) else None
            if isinstance(strategy, str) and strategy:
                book.claim_gtt(str(payload.get("gtt")), StrategyId(strategy))

    def _start_gtt(self, request: GttRequest) -> AdvancedOutcome:
        parent_id, problem = self._desk().place_gtt(request)
        return AdvancedOutcome(problem is None, parent_id, problem or "")

    async def gtts(self) -> list[GttReport]:
        """Every GTT with its status (the broker's list on Kite)."""
        book = self._parts.gtt_book
        if book is None:
            desk = self._parts.advanced
            return [] if desk is None else desk.gtt_reports()
        return await book.gtts()

    async def modify_gtt(
        self, gtt_id: str, token: int, triggers: list[Any], legs: list[dict[str, Any]]
    ) -> AdvancedOutcome:
        try:
            request = gtt_request(
                self.instruments, self._quote(token), token=token, triggers=triggers, legs=legs
            )
        except TermsError as problem:
            return AdvancedOutcome(False, str(gtt_id), f"GTT not modified: {problem}")
        book = self._parts.gtt_book
        if book is None:
            problem_text = self._desk().modify_gtt(str(gtt_id), request)
            return AdvancedOutcome(problem_text is None, str(gtt_id), problem_text or "")
        refusal = self._gate_refusal(request, None)
        if refusal is not None:
            return AdvancedOutcome(False, str(gtt_id), f"GTT not modified: {refusal}")
        try:
            await book.modify_gtt(str(gtt_id), request)
        except (BrokerError, ValueError) as problem:
            return AdvancedOutcome(False, str(gtt_id), f"GTT not modified: {problem}")
        self._journal(str(gtt_id), "modified", request)
        return AdvancedOutcome(True, str(gtt_id))

    async def cancel_gtt(self, gtt_id: str) -> AdvancedOutcome:
        book = self._parts.gtt_book
        if book is None:
            problem = self._desk().cancel(str(gtt_id))
            return AdvancedOutcome(problem is None, str(gtt_id), problem or "")
        try:
            await book.delete_gtt(str(gtt_id))
        except (BrokerError, ValueError) as problem:
            return AdvancedOutcome(False, str(gtt_id), f"GTT not cancelled: {problem}")
        self._journal(str(gtt_id), "deleted")
        return AdvancedOutcome(True, str(gtt_id))
