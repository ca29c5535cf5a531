"""What a shared book already records as decided for a signal, read before a desk acts on it.

On a book several desks open at once, a signal waiting for approval could be shown on two of
them; whichever desk decides first journals it, and the other must then not place it again.
"""

from __future__ import annotations

import logging

from engine.signals.records import SignalRecord, SignalStep
from engine.store.journal import Journal, JournalEntry

log = logging.getLogger(__name__)

DECISIONS = (
    SignalStep.APPROVED,
    SignalStep.REJECTED,
    SignalStep.EXPIRED,
    SignalStep.PLACED,
    SignalStep.DENIED,
)
"""The steps that settle a waiting signal: after any of them it is not to be approved again."""


class BookDecisions:
    def __init__(self, journal: Journal, after_seq: int) -> None:
        self._journal = journal
        self._after_seq = after_seq
        """The rows the desk read as it opened end here; a decision there was applied then."""

    def decision(self, signal_id: str) -> SignalRecord | None:
        """The first decision the book records for ``signal_id`` since the desk opened, or None.
        Read again from the desk's opening each time: another desk's row can be committed after
        a later one was read, so no cursor is kept."""
        for entry in self._journal.read_tolerant(self._after_seq, kinds=[SignalRecord.kind]):
            # A row that does not decode was set aside, and said, by the desk's restore.
            if not isinstance(entry, JournalEntry) or entry.payload.get("signal_id") != signal_id:
                continue
            try:
                record = SignalRecord.from_payload(entry.ts_ns, entry.payload)
            except (KeyError, ValueError) as problem:
                log.warning(
                    "journal row %d of signal %s cannot be read: %s", entry.seq, signal_id, problem
                )
                continue
            if record.step in DECISIONS:
                return record
        return None


def decided_words(record: SignalRecord) -> str:
    """Why a signal decided on the book is not approved here, in words."""
    order = f" (order {record.order_id})" if record.order_id else ""
    return (
        f"not placed: it was already {record.step.value} on another desk of this shared book{order}"
    )
