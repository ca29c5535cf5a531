"""The signal pipeline: every external signal becomes an order only through these steps, each
journaled before anyone is told:

1. a duplicate of a signal seen within the window (a TradingView resend, a double-click in a
   script) is answered "duplicate" and goes no further: sent twice, placed once, also across a
   restart (the seen ids come back from the journal);
2. a stale signal (fired longer ago than ``max_age_s``, or from the future) is refused;
3. the symbol is mapped to an instrument of the desk's, or the signal is refused;
4. the strategy's mode decides: ``off`` refuses, ``approve`` waits for the trader (who approves,
   changes then approves, or rejects; unanswered, it expires, and a restart of the desk keeps
   it waiting for the rest of its time), ``auto`` goes on at once;
5. the order goes to the one risk gate with source ``signal``, the strategy's id, and the
   signal's id as its tag; the gate's answer is journaled against the order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from engine.core.clock import IST, Clock
from engine.domain.events import EngineMessage, Severity
from engine.domain.instruments import Instrument
from engine.domain.origin import OrderSource
from engine.marketdata.instrument_registry import InstrumentRegistry
from engine.signals.book_decisions import decided_words
from engine.signals.records import SignalRecord, SignalStep
from engine.signals.terms import OrderTerms, order_terms
from engine.signals.tradingview import SignalRefused, TradingViewAlert, resolve_symbol

log = logging.getLogger(__name__)

NS = 1_000_000_000
DECIDED = (SignalStep.APPROVED, SignalStep.REJECTED, SignalStep.EXPIRED)
"""The steps after which a signal no longer waits for the trader."""
ALERT_TERMS = ("symbol", "portfolio", "action", "lots", "order_type", "price", "product", "fired")
"""The alert's terms a journaled step keeps (``TradingViewAlert.detail``)."""


class SignalMode(StrEnum):
    AUTO = "auto"
    """Straight to the risk gate."""
    APPROVE = "approve"
    """A human approves each one (SEBI's manual-approval mode for retail algorithms)."""
    OFF = "off"


@dataclass(frozen=True, slots=True)
class SignalRules:
    default_mode: SignalMode = SignalMode.APPROVE
    modes: Mapping[str, SignalMode] = field(default_factory=dict)
    """A strategy's own mode, by its id; others take ``default_mode``."""
    max_age_s: float = 60.0
    duplicate_window_s: float = 24 * 3600.0
    approval_timeout_s: float = 60.0
    lots_multiplier: int = 1

    def __post_init__(self) -> None:
        if self.max_age_s <= 0 or self.duplicate_window_s <= 0 or self.approval_timeout_s <= 0:
            raise ValueError("signal ages, windows and timeouts must be positive")
        if not 1 <= self.lots_multiplier <= 100:
            raise ValueError("the lots multiplier is 1-100")

    def mode_for(self, strategy: str) -> SignalMode:
        return self.modes.get(strategy, self.default_mode)


class Placed(Protocol):
    """What the risk gate answers (``engine.oms.outcome.Outcome``)."""

    @property
    def ok(self) -> bool: ...

    @property
    def order_id(self) -> str | None: ...

    @property
    def reason(self) -> str: ...


class RecordSignal(Protocol):
    """Journal a signal's step, then publish it and ``published`` (``OrderLedger.record``)."""

    def __call__(self, record: SignalRecord, /, *published: object) -> None: ...


Place = Callable[..., Placed]
"""``EngineApi.place_order``."""
NetPosition = Callable[[int, str], int]
"""The desk's net quantity of an instrument (token) in a product."""
PortfolioCommand = Callable[[str, str], str | None]
"""(action, portfolio) → None when done, else why not: start, stop or square off."""
DecisionInBook = Callable[[str], SignalRecord | None]
"""The decision a shared book already records for a signal id (``BookDecisions.decision``)."""


@dataclass(frozen=True, slots=True)
class SignalResult:
    signal_id: str
    step: SignalStep
    reason: str = ""
    order_id: str | None = None

    refused_before: bool = False
    """For a duplicate: the first arrival was refused (a resend is refused the same way)."""

    @property
    def http_status(self) -> int:
        """What the webhook answers: 2xx for what was taken (placed, waiting, a duplicate of a
        signal taken, or refused by the risk gate: a resend would not change it), 4xx for what
        was not."""
        if self.step is SignalStep.DUPLICATE:
            return 422 if self.refused_before else 200
        if self.step in (SignalStep.PLACED, SignalStep.DENIED):
            return 200
        if self.step is SignalStep.PENDING:
            return 202
        return 422

    def to_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal_id,
            "status": self.step.value,
            "reason": self.reason,
            "order": self.order_id,
        }


@dataclass(frozen=True, slots=True)
class PendingSignal:
    """A signal waiting for the trader: what it asks, why, and until when."""

    signal_id: str
    alert: TradingViewAlert
    instrument: Instrument | None
    """None for a portfolio's signal (start, stop, square off)."""
    received_ns: int
    expires_ns: int

    @property
    def quantity_lots(self) -> int:
        return self.alert.lots


class SignalDesk:
    def __init__(
        self,
        *,
        registry: InstrumentRegistry,
        clock: Clock,
        record: RecordSignal,
        rules: SignalRules | None = None,
        unit: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._record = record
        self._unit = unit
        """One journal write for a signal's steps and its order: a signal received is never
        journaled without what became of it, so a crash between the two loses neither."""
        self.rules = rules or SignalRules()
        self._place: Place | None = None
        self._net: NetPosition = lambda _token, _product: 0
        self._portfolio: PortfolioCommand | None = None
        self._seen: dict[str, int] = {}
        """Signal id → when it was first received (ns), within the duplicate window."""
        self._refusals: dict[str, str] = {}
        """Why a signal seen was refused (a resend is answered with the same reason)."""
        self._pending: dict[str, PendingSignal] = {}
        self._decided_in_book: DecisionInBook = lambda _signal_id: None

    def bind(
        self,
        place: Place,
        *,
        net: NetPosition | None = None,
        portfolio: PortfolioCommand | None = None,
    ) -> None:
        self._place = place
        if net is not None:
            self._net = net
        self._portfolio = portfolio

    def follow_book(self, decided: DecisionInBook) -> None:
        """On a book shared with other desks: before approving, look up what the book already
        records for the signal (another desk may have decided it)."""
        self._decided_in_book = decided

    def restore(self, records: Iterable[SignalRecord], *, held_by: str = "") -> list[str]:
        """Seen ids from the journal (a resend after a restart is still a duplicate), and the
        approvals left waiting when the desk stopped: each waits again until its own window
        closes (a restart neither adds time nor takes any away). One whose window closed while
        the desk was down, or that can no longer be acted on, is expired in words (journaled
        and said in Messages), never acted on later.

        ``held_by`` names the other desks open on a shared book: the approvals waiting are
        theirs to decide (approved on two desks, a signal would be placed twice), so none comes
        back here; their ids are returned, for the trader to be told where they wait."""
        waiting: dict[str, SignalRecord] = {}
        received: set[str] = set()
        """Ids whose next step is what the pipeline made of them (a refusal then counts; one
        written later under the same id, a wrong passphrase, is the sender's, not the signal's)."""
        for record in records:
            if record.step is SignalStep.RECEIVED:
                self._seen.setdefault(record.signal_id, record.ts_ns)
                received.add(record.signal_id)
                continue
            if record.signal_id in received:
                received.discard(record.signal_id)
                if record.step is SignalStep.REFUSED:
                    self._refusals[record.signal_id] = record.reason
            if record.step is SignalStep.PENDING:
                waiting[record.signal_id] = record
            elif record.step in DECIDED:
                waiting.pop(record.signal_id, None)
        if held_by:
            return list(waiting)
        for record in waiting.values():
            try:
                card = self._waiting_again(record)
            except SignalRefused as lapsed:
                message = EngineMessage(
                    self._clock.time_ns(), Severity.WARNING,
                    f"Signal {record.signal_id} from {record.strategy}, waiting for your "
                    f"approval when the desk stopped, expired unplaced: {lapsed.reason}",
                    "signals",
                )  # fmt: skip
                self._write(
                    record.signal_id, SignalStep.EXPIRED, record.strategy, lapsed.reason,
                    published=(message,),
                )  # fmt: skip
                continue
            self._pending[card.signal_id] = card
        return []

    def _waiting_again(self, record: SignalRecord) -> PendingSignal:
        """The card a journaled "pending" step describes, with the time it had left;
        ``SignalRefused`` saying why it cannot wait any more."""
        detail = record.detail
        expires = detail.get("expires_ns")
        if not isinstance(expires, int) or isinstance(expires, bool):
            # Journaled before the card's end was: the approval window set now, from its arrival.
            expires = record.ts_ns + int(self.rules.approval_timeout_s * NS)
        if expires <= self._clock.time_ns():
            closed = datetime.fromtimestamp(expires / NS, IST)
            raise SignalRefused(
                f"not approved in time: its approval window closed at {closed:%H:%M:%S} IST "
                f"({closed:%d %b}) while the desk was closed"
            )
        terms = {key: detail[key] for key in ALERT_TERMS if detail.get(key) is not None}
        try:
            alert = TradingViewAlert.model_validate(
                {**terms, "id": record.signal_id, "strategy": record.strategy}
            )
        except ValueError as problem:
            raise SignalRefused(f"its terms in the book cannot be read ({problem})") from None
        instrument = None
        if not alert.on_portfolio:
            token = detail.get("token")
            instrument = self._registry.find(token) if isinstance(token, int) else None
            if instrument is None:
                name = detail.get("instrument") or alert.symbol
                raise SignalRefused(f"{name} is no longer listed, so it cannot be approved")
        return PendingSignal(record.signal_id, alert, instrument, record.ts_ns, expires)

    # -- receiving -----------------------------------------------------------------------------

    def receive(self, alert: TradingViewAlert, *, origin: str = "") -> SignalResult:
        with self._unit():
            return self._receive(alert, origin)

    def _receive(self, alert: TradingViewAlert, origin: str) -> SignalResult:
        signal_id = alert.signal_id()
        now = self._clock.time_ns()
        self._forget_old(now)
        detail = {**alert.detail(), "from": origin}
        if signal_id in self._seen:
            refusal = self._refusals.get(signal_id)
            reason = "already received" + (f" and refused: {refusal}" if refusal else "")
            result = self._write(signal_id, SignalStep.DUPLICATE, alert.strategy, reason, detail)
            return replace(result, refused_before=refusal is not None)
        self._seen[signal_id] = now
        self._write(signal_id, SignalStep.RECEIVED, alert.strategy, "", detail)
        try:
            self._check_age(alert, now)
            instrument = (
                None
                if alert.on_portfolio
                else resolve_symbol(self._registry, alert.symbol, self._clock.now().date())
            )
            mode = self.rules.mode_for(alert.strategy)
            if mode is SignalMode.OFF:
                raise SignalRefused(f"strategy {alert.strategy} is off")
        except SignalRefused as refused:
            self._refusals[signal_id] = refused.reason
            return self._write(signal_id, SignalStep.REFUSED, alert.strategy, refused.reason)
        if mode is SignalMode.APPROVE:
            expires = now + int(self.rules.approval_timeout_s * NS)
            self._pending[signal_id] = PendingSignal(signal_id, alert, instrument, now, expires)
            return self._write(
                signal_id,
                SignalStep.PENDING,
                alert.strategy,
                f"waiting for approval for {self.rules.approval_timeout_s:g} s",
                {
                    **detail,
                    "instrument": instrument.tradingsymbol if instrument else alert.portfolio,
                    "token": instrument.token if instrument else 0,
                    "expires_ns": expires,  # a restart brings the card back with its time left
                },
            )
        return self._send(signal_id, alert, instrument)

    def refuse(self, signal_id: str, reason: str, detail: Mapping[str, Any] | None = None) -> None:
        """Journal a signal turned away before the pipeline (wrong passphrase, an address not
        allowed, a body that is not a signal)."""
        self._write(signal_id, SignalStep.REFUSED, "", reason, dict(detail or {}))

    def _check_age(self, alert: TradingViewAlert, now_ns: int) -> None:
        if alert.fired is None:
            return
        age = now_ns / NS - alert.fired.timestamp()
        if age > self.rules.max_age_s:
            raise SignalRefused(
                f"stale: fired {age:,.0f} s ago, more than the {self.rules.max_age_s:g} s allowed"
            )
        if age < -self.rules.max_age_s:
            raise SignalRefused(f"fired {-age:,.0f} s in the future: check the sender's clock")

    def _forget_old(self, now: int) -> None:
        window = int(self.rules.duplicate_window_s * NS)
        if self._seen and next(iter(self._seen.values())) < now - window:
            self._seen = {k: t for k, t in self._seen.items() if t >= now - window}
            self._refusals = {k: r for k, r in self._refusals.items() if k in self._seen}

    # -- the trader's decision -----------------------------------------------------------------

    def pending(self) -> list[PendingSignal]:
        return sorted(self._pending.values(), key=lambda p: p.received_ns)

    def approve(
        self,
        signal_id: str,
        *,
        who: str = "trader",
        lots: int | None = None,
        price: Decimal | None = None,
    ) -> SignalResult:
        """Approve a waiting signal (with the lots or the limit price changed, if given)."""
        waiting = self._pending.get(signal_id)
        if waiting is None:
            return SignalResult(signal_id, SignalStep.REFUSED, "no signal waits with that id")
        if (elsewhere := self._decided_elsewhere(signal_id)) is not None:
            return elsewhere
        if waiting.expires_ns <= self._clock.time_ns():
            self.expire()  # its time was up, whether or not the heartbeat has said so yet
            return SignalResult(signal_id, SignalStep.EXPIRED, "not approved in time")
        alert = waiting.alert
        changes: dict[str, Any] = {}
        if lots is not None:
            changes["lots"] = lots
        if price is not None:
            changes["price"] = price
            changes["order_type"] = "LIMIT"
        try:
            if changes:
                alert = TradingViewAlert.model_validate({**alert.model_dump(), **changes})
        except ValueError as problem:  # it keeps waiting
            return SignalResult(signal_id, SignalStep.PENDING, f"not approved: {problem}")
        del self._pending[signal_id]
        what = {"by": who, **({k: str(v) for k, v in changes.items()} if changes else {})}
        with self._unit():
            self._write(signal_id, SignalStep.APPROVED, alert.strategy, "", what)
            return self._send(signal_id, alert, waiting.instrument)

    def reject(self, signal_id: str, *, who: str = "trader", reason: str = "") -> SignalResult:
        if signal_id in self._pending and (elsewhere := self._decided_elsewhere(signal_id)):
            return elsewhere
        waiting = self._pending.pop(signal_id, None)
        if waiting is None:
            return SignalResult(signal_id, SignalStep.REFUSED, "no signal waits with that id")
        return self._write(
            signal_id, SignalStep.REJECTED, waiting.alert.strategy, reason, {"by": who}
        )

    def _decided_elsewhere(self, signal_id: str) -> SignalResult | None:
        """A waiting signal the shared book records as decided (by another desk): its card goes,
        and the answer says what became of it."""
        decided = self._decided_in_book(signal_id)
        if decided is None:
            return None
        del self._pending[signal_id]
        return SignalResult(signal_id, SignalStep.REFUSED, decided_words(decided))

    def expire(self) -> list[str]:
        """Lapse the approvals whose time is up (the heartbeat calls this)."""
        if not self._pending:
            return []
        now = self._clock.time_ns()
        lapsed = [p for p in self._pending.values() if p.expires_ns <= now]
        for waiting in lapsed:
            del self._pending[waiting.signal_id]
            self._write(
                waiting.signal_id,
                SignalStep.EXPIRED,
                waiting.alert.strategy,
                "not approved in time",
            )
        return [w.signal_id for w in lapsed]

    # -- the order -----------------------------------------------------------------------------

    def _send(
        self, signal_id: str, alert: TradingViewAlert, instrument: Instrument | None
    ) -> SignalResult:
        if self._place is None:
            return self._write(
                signal_id, SignalStep.REFUSED, alert.strategy, "the desk is starting"
            )
        if instrument is None:
            return self._command_portfolio(signal_id, alert)
        try:
            terms = self.terms(alert, instrument)
        except SignalRefused as refused:
            return self._write(signal_id, SignalStep.REFUSED, alert.strategy, refused.reason)
        limit = alert.order_type == "LIMIT"
        if limit and alert.price is None:
            return self._write(
                signal_id, SignalStep.REFUSED, alert.strategy, "a LIMIT signal needs a price"
            )
        outcome = self._place(
            instrument.token,
            terms.side,
            terms.quantity,
            alert.order_type,
            product=alert.product,
            price=alert.price if limit else None,
            source=OrderSource.SIGNAL,
            strategy=alert.strategy,
            tag=signal_id[:20],
        )
        step = SignalStep.PLACED if outcome.ok else SignalStep.DENIED
        detail = {"instrument": instrument.tradingsymbol, "quantity": terms.quantity}
        return self._write(
            signal_id, step, alert.strategy, "" if outcome.ok else outcome.reason, detail,
            order_id=outcome.order_id,
        )  # fmt: skip

    def terms(self, alert: TradingViewAlert, instrument: Instrument) -> OrderTerms:
        """The order ``alert`` would send now (``order_terms``); ``SignalRefused`` for an exit
        with no position to exit."""
        net = self._net(instrument.token, alert.product)
        return order_terms(alert, instrument, multiplier=self.rules.lots_multiplier, net=net)

    def _command_portfolio(self, signal_id: str, alert: TradingViewAlert) -> SignalResult:
        if self._portfolio is None:
            problem: str | None = "this desk runs no multileg portfolios"
        else:
            problem = self._portfolio(alert.action, alert.portfolio)
        detail = {"portfolio": alert.portfolio, "action": alert.action}
        step = SignalStep.PLACED if problem is None else SignalStep.DENIED
        return self._write(signal_id, step, alert.strategy, problem or "", detail)

    def _write(
        self,
        signal_id: str,
        step: SignalStep,
        strategy: str,
        reason: str = "",
        detail: dict[str, Any] | None = None,
        *,
        order_id: str | None = None,
        published: tuple[object, ...] = (),
    ) -> SignalResult:
        record = SignalRecord(
            self._clock.time_ns(), signal_id, step, strategy, reason, detail or {}, order_id
        )
        self._record(record, *published)
        if step in (SignalStep.REFUSED, SignalStep.DENIED):
            log.info("signal %s %s: %s", signal_id, step.value, reason)
        return SignalResult(signal_id, step, reason, order_id)


def with_mode(rules: SignalRules, strategy: str, mode: SignalMode) -> SignalRules:
    return replace(rules, modes={**rules.modes, strategy: mode})
