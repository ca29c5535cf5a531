"""Signals through the facade: the approvals waiting for the trader, their decisions, the recent
signals and the audit trail of a date range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from engine.api.parts import Service
from engine.signals.audit import AuditRow, audit_rows, write_audit
from engine.signals.desk import PendingSignal, SignalDesk, SignalResult
from engine.signals.records import SignalStep
from engine.signals.terms import OrderTerms
from engine.signals.tradingview import SignalRefused


@dataclass(frozen=True, slots=True)
class PendingSignalView:
    """An approval card's contents."""

    signal_id: str
    strategy: str
    symbol: str
    """What the sender called it (``NSE:NIFTY1!``)."""
    instrument: str
    """The desk's instrument it maps to (``NIFTY26DECFUT``)."""
    token: int
    action: str
    lots: int
    """The signal's lots: what the trader may change before approving."""
    quantity: int
    """The units the order sends, all told (for an exit, the position as it stands; 0 when
    there is none to exit)."""
    order_type: str
    price: Decimal | None
    product: str
    received_ns: int
    expires_ns: int
    side: str = ""
    """BUY or SELL ('' for a portfolio's command or an exit with nothing to exit)."""
    multiplier: int = 1
    """The desk's lots multiplier: the lots that go are the signal's times this."""
    lot_size: int = 1
    closes: int = 0
    """The units of the opposite position an entry closes first (part of ``quantity``)."""


class SignalService(Service):
    def pending_signals(self) -> list[PendingSignalView]:
        desk = self._signal_desk()
        return [_view(p, desk) for p in desk.pending()]

    def approve_signal(
        self, signal_id: str, *, lots: int | None = None, price: Decimal | str | None = None
    ) -> SignalResult:
        """Approve a waiting signal, as it is or with the lots / limit price changed."""
        try:
            exact = None if price is None else Decimal(str(price))
        except ArithmeticError:
            return SignalResult(
                signal_id, SignalStep.PENDING, f"not approved: {price!r} is not a price"
            )
        return self._signal_desk().approve(signal_id, who="trader", lots=lots, price=exact)

    def reject_signal(self, signal_id: str, reason: str = "") -> SignalResult:
        return self._signal_desk().reject(signal_id, who="trader", reason=reason)

    def signal_audit(self, start: date, end: date) -> list[AuditRow]:
        journal = self._parts.journal
        return [] if journal is None else audit_rows(journal, start, end)

    def export_signal_audit(self, path: Path, start: date, end: date) -> str | None:
        """The audit trail of ``start`` to ``end`` as CSV or JSON (by the file's suffix); None,
        or why it was not written, in words."""
        return write_audit(path, self.signal_audit(start, end))

    def _signal_desk(self) -> SignalDesk:
        if self._parts.signals is None:
            raise ValueError("this desk runs without signals")
        return self._parts.signals


def _view(pending: PendingSignal, desk: SignalDesk) -> PendingSignalView:
    """The card of a waiting signal, from the terms its order would go with now."""
    alert, instrument = pending.alert, pending.instrument
    if instrument is None:  # a portfolio's start, stop or square-off
        return PendingSignalView(
            pending.signal_id, alert.strategy, alert.portfolio, alert.portfolio, 0, alert.action,
            0, 0, "", None, "", pending.received_ns, pending.expires_ns,
        )  # fmt: skip
    try:
        terms = desk.terms(alert, instrument)
    except SignalRefused:  # an exit with no position: approving it says so
        terms = OrderTerms("", 0, 0)
    return PendingSignalView(
        pending.signal_id, alert.strategy, alert.symbol, instrument.tradingsymbol,
        instrument.token, alert.action, alert.lots, terms.quantity, alert.order_type,
        alert.price, alert.product, pending.received_ns, pending.expires_ns, terms.side,
        desk.rules.lots_multiplier, instrument.lot_size, terms.closes,
    )  # fmt: skip
