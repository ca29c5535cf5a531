"""The desk and its book across a session: brought back from the journal at the start (after a
restart or a crash: orders, fills, positions, the trading state, strategies, advanced orders,
algos and signals, each from its own rows), backed up, and what it could not write said as it
closes.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.brokers.paper.holdings import holdings_from_journal
from engine.brokers.paper.venue import PaperVenue
from engine.core.clock import IST
from engine.domain.events import EngineMessage, Severity
from engine.signals.book_decisions import BookDecisions
from engine.signals.records import SignalRecord
from engine.store.backup import backup_book, copied_since, has_backup_of
from engine.store.book import scan_journal, set_aside_text
from engine.store.journal import JournalEntry

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)


def restore_engine(engine: Engine) -> int:
    """Bring back orders, fills, positions and the trading state from the journal (after a
    restart or crash)."""
    # What the restore tells the trader is kept for the windows that open after it.
    stop_keeping = engine.bus.subscribe(EngineMessage, engine.api.startup_messages.append)
    scan = scan_journal(engine.journal, record=True)
    entries = [(e.kind, e.order_id, e.ts_ns, e.payload) for e in scan.entries]
    try:
        if scan.newly_set_aside:
            engine.warn(set_aside_text(scan.newly_set_aside), "store")
        if engine.alerts.problem is not None:
            engine.warn(f"Alerts: {engine.alerts.problem}", "alerts")
        warning = engine.calendar.coverage_warning(engine.clock.now().date())
        if warning is not None:
            engine.bus.publish(
                EngineMessage(engine.clock.time_ns(), Severity.WARNING, warning, "calendar")
            )
        other_desks = _other_desks(engine, scan.entries)
        applied = engine.orders.restore(
            entries, today=engine.clock.now().date(), other_desks=other_desks
        )
        if engine.risk is not None:
            engine.risk.restore(entries)
        owners = {o.order_id: o.strategy for o in engine.orders.orders.values() if o.strategy}
        engine.strategies.restore(entries, owners)
        for parent_id in engine.advanced.restore():
            engine.warn(f"advanced order {parent_id}: its saved terms cannot be read", "orders")
        engine.algos.restore(entries)
        engine.api.advanced_service.restore_gtt_parents(entries)
        desks = _other_open_desks(engine)
        _restore_signals(engine, entries, scan.entries, desks)
        if desks:
            # The book does not say which desk ran a strategy: resuming one another desk
            # runs would send its orders twice.
            engine.strategies.hold_back_resume(
                f"it was running on this shared book and {desks} is open on it too, so it "
                "may be running there; start it here if it is this desk's"
            )
    finally:
        stop_keeping()
    nets = {(p.token, p.product): p.net_quantity for p in engine.positions.all()}
    for fill in engine.orders.fills:
        if fill.order_id in other_desks:
            # Another open desk's venue holds (and squares off) what its own orders bought.
            key = (fill.token, fill.product)
            nets[key] = nets.get(key, 0) - fill.quantity * fill.side.sign
    if isinstance(engine.venue, PaperVenue):
        # Each strategy's holdings apart: the venue settles each owner's at expiry.
        own = [f for f in engine.orders.fills if f.order_id not in other_desks]
        engine.venue.restore_holdings(holdings_from_journal(nets, own, owners))
    elif engine.venue is not None:
        engine.venue.restore_positions(nets)
    if applied:
        log.info("restored %d order events from the journal", applied)
    return applied


def _other_open_desks(engine: Engine) -> str:
    """The other desks open on this shared book now, in words; '' when there are none."""
    if engine.desk_lease is None:
        return ""
    return ", ".join(d.describe() for d in engine.desk_lease.others())


def _restore_signals(
    engine: Engine,
    entries: list[tuple[str, str | None, int, dict[str, Any]]],
    scanned: list[JournalEntry],
    desks: str,
) -> None:
    """The signals' seen ids and waiting approvals; on a shared book, approvals another open desk
    shows are left to it (said in words), and each approval first looks at what the book
    records for its signal."""
    held = engine.signals.restore(
        (SignalRecord.from_payload(ts, payload)
         for kind, _order, ts, payload in entries if kind == SignalRecord.kind),
        held_by=desks,
    )  # fmt: skip
    if engine.desk_lease is not None:
        opened_at = scanned[-1].seq if scanned else 0
        engine.signals.follow_book(BookDecisions(engine.journal, opened_at).decision)
    if held:
        engine.warn(_held_words(held, desks), "signals")


def _held_words(held: list[str], desks: str) -> str:
    shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
    if len(held) == 1:
        return (
            f"Signal {shown} waits for approval on {desks}, open on this shared book too: "
            "approve or reject it there (it is not shown here, so that it is not placed twice)."
        )
    return (
        f"Signals {shown} wait for approval on {desks}, open on this shared book too: approve "
        "or reject them there (they are not shown here, so that none is placed twice)."
    )


def _other_desks(engine: Engine, entries: list[JournalEntry]) -> dict[str, str]:
    """Orders of the book that another desk open now placed (order id -> that desk)."""
    if engine.desk_lease is None:
        return {}
    submitted = ((e.order_id, e.seq) for e in entries if e.kind == "order_submitted")
    held = engine.desk_lease.held_elsewhere((i, seq) for i, seq in submitted if i)
    if held:
        desks = ", ".join(sorted({d.describe() for d in held.values()}))
        engine.bus.publish(
            EngineMessage(
                engine.clock.time_ns(),
                Severity.INFO,
                f"This book is shared with {desks}. Their orders and fills are shown as they "
                "stood when this desk opened; they are worked there, not here.",
                "store",
            )
        )
    return {order_id: desk.describe() for order_id, desk in held.items()}


def back_up(engine: Engine, reason: str) -> Path | None:
    """A copy of the book (at a clean close, at the first start of a day); a failure is
    reported, never fatal. Nothing is copied for an empty journal."""
    book = engine.book_file
    if book is None or engine.database.closed or engine.journal.last_seq() == 0:
        return None
    # Backups follow the wall clock (a replay's clock is not the day's), and days are IST's.
    today = datetime.now(IST).date()
    if reason == "daily" and has_backup_of(book, today, "daily"):
        return None
    try:
        return backup_book(book, reason)
    except (OSError, sqlite3.Error) as exc:
        engine.warn(f"the {reason} backup of the book failed: {exc}", "store")
        return None


def back_up_after_session(engine: Engine, close: datetime) -> str:
    """The day's copy after its session closed at ``close``, in words: it holds the day's
    trading, so a copy taken when the desk opened that morning does not count; only a daily copy
    made after the close does (a desk opened after it copies the book then). A failed copy
    raises ``OSError`` or ``sqlite3.Error`` (the schedule says it and tries again)."""
    book = engine.book_file
    if book is None:
        return "no backup: the book is not a file (a server's book is backed up there)"
    if engine.database.closed:
        return "no backup: the book is closed"
    if engine.journal.last_seq() == 0:
        return "no backup needed: the book is empty"
    taken = copied_since(book, close, "daily")
    if taken is not None:
        return (
            f"no backup needed: {taken.path.name} was copied after the close at "
            f"{close.astimezone(IST):%H:%M} IST"
        )
    return f"book copied to {backup_book(book, 'daily')}"


def journal_left_unwritten(engine: Engine) -> int:
    """The journal rows still held as the desk closes, after one last try; what they recorded
    was never shown, and the book is whole without them."""
    orders = engine.orders
    if not orders.journal_waiting or engine.database.closed or orders.retry_journal():
        return 0
    waiting = orders.journal_waiting
    log.critical(
        "the desk closes with %d journal entries it could not write: what they recorded was "
        "never shown and is not in the book; a broker's fills among them come back at the "
        "next start's reconciliation",
        waiting,
    )
    return waiting
