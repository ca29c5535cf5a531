"""Units of work on the journal: what one command changes is written in one transaction, and the
events it caused are published only after that write (journal before publish).

When the journal refuses a write (a full disk, a lost database connection) the unit is held in
memory, order entry pauses with a reason, and the held rows are retried (every second, by the
runtime's heartbeat) until the journal takes them; later units queue behind, in order. A value
the journal cannot hold at all is a defect, not a passing fault: order entry then halts for good.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from engine.core.bus import EventBus
from engine.core.clock import Clock
from engine.domain.events import EngineMessage, Severity
from engine.store import JournalWriteError, NewJournalEntry
from engine.store.errors import write_failure_in_words
from engine.store.journal import EncodedEntry, Journal

log = logging.getLogger(__name__)


class Journaled(Protocol):
    """What the journal records: an order event or a risk decision."""

    @property
    def kind(self) -> str: ...

    @property
    def order_id(self) -> str | None: ...

    @property
    def ts_ns(self) -> int: ...

    def to_payload(self) -> dict[str, Any]: ...


class JournalUnit:
    def __init__(
        self,
        *,
        journal: Journal,
        bus: EventBus,
        clock: Clock,
        writable: Callable[[bool], None],
    ) -> None:
        self._journal = journal
        self._bus = bus
        self._clock = clock
        self._writable = writable
        """Told False when the journal stops taking writes and True when it takes them again."""
        self._depth = 0
        self._staged_rows: list[Journaled] = []
        self._staged_events: list[object] = []
        self._held_rows: list[EncodedEntry] = []
        """Encoded once: a retry every second costs the write alone."""
        self._held_events: list[object] = []
        self.halted_reason = ""
        """Why order entry is stopped (the journal refused a write); '' while it runs."""
        self.first_refusal: tuple[int, str] | None = None
        """When the journal first refused a write and its word on why (kept after it writes
        again: what was paused meanwhile is not undone)."""
        self._refused_a_row = False
        self._scope = _UnitScope(self)

    def unit(self) -> _UnitScope:
        """Everything staged inside is one journal write, committed as the outermost unit ends
        (also when it ends with an exception)."""
        return self._scope

    @property
    def open(self) -> bool:
        """Whether a unit is being staged (events published now would overtake it)."""
        return self._depth > 0

    def stage(self, row: Journaled, *published: object) -> None:
        """Write ``row`` with the unit, then publish ``published``."""
        self._staged_rows.append(row)
        self._staged_events.extend(published)
        if self._depth == 0:
            self.commit()

    def after(self, event: object) -> None:
        """Publish ``event`` after the unit's own events (now, when no unit is open)."""
        if self._depth:
            self._staged_events.append(event)
        else:
            self._bus.publish(event)

    def commit(self) -> None:
        rows, events = self._staged_rows, self._staged_events
        if not rows and not events:
            return
        self._staged_rows, self._staged_events = [], []
        try:
            encoded = self._encode(rows)
        except (TypeError, ValueError) as exc:
            self._refused(str(exc))
            self._refused_a_row = True
            self.halted_reason = f"order entry halted: the journal refused a write ({exc})"
            log.critical("%s; %d events not published", self.halted_reason, len(events))
            self._bus.publish(
                EngineMessage(self._clock.time_ns(), Severity.ERROR, self.halted_reason, "oms")
            )
            return
        if self._held_rows:
            # Still behind on an earlier unit: this one waits behind it, in order.
            self._held_rows += encoded
            self._held_events += events
            return
        try:
            self._journal.append_encoded(encoded)  # one unit, one transaction: all or none
        except JournalWriteError as exc:
            self._hold(encoded, events, exc)
            return
        publish = self._bus.publish
        for event in events:
            publish(event)

    def _encode(self, rows: list[Journaled]) -> list[EncodedEntry]:
        """The staged rows as the journal writes them (``TypeError``/``ValueError`` if one
        cannot be)."""
        return self._journal.encode(
            [NewJournalEntry(e.kind, e.to_payload(), e.order_id, e.ts_ns) for e in rows]
        )

    def write_ahead(self) -> bool:
        """Write the rows staged so far now, inside the unit, and keep their events to publish as
        the unit ends; whether the journal took them. When it did not, they are held (and order
        entry paused) as ``commit`` holds a unit: what the caller was about to do on the strength
        of those rows must not be done."""
        if self._held_rows or self._refused_a_row:
            self.commit()  # behind rows already held, or halted for good: not written now
            return False
        rows = self._staged_rows
        if not rows:
            return True
        try:
            encoded = self._encode(rows)
        except (TypeError, ValueError):
            self.commit()  # says why, and halts order entry
            return False
        try:
            self._journal.append_encoded(encoded)
        except JournalWriteError as exc:
            events, self._staged_rows, self._staged_events = self._staged_events, [], []
            self._hold(encoded, events, exc)
            return False
        self._staged_rows = []
        return True

    @property
    def waiting(self) -> int:
        """Journal rows held because the journal could not write them (0 when all is well)."""
        return len(self._held_rows)

    def retry(self, *, then: str = "") -> bool:
        """Write the held rows if the journal takes them now and publish what they recorded;
        True when nothing is held any more. ``then`` adds to the message that says so."""
        if not self._held_rows:
            return True
        rows = self._held_rows
        try:
            self._journal.append_encoded(rows)
        except JournalWriteError as exc:
            log.debug("journal still refuses writes: %s", exc)
            return False
        events, self._held_rows, self._held_events = self._held_events, [], []
        if not self._refused_a_row:  # a row it can never take keeps order entry halted
            self.halted_reason = ""
        publish = self._bus.publish
        for event in events:
            publish(event)
        publish(
            EngineMessage(
                self._clock.time_ns(),
                Severity.INFO,
                f"The journal writes again: {len(rows)} held entries recorded{then}; "
                "order entry resumed.",
                "oms",
            )
        )
        self._writable(True)
        return True

    def _refused(self, cause: str) -> None:
        if self.first_refusal is None:
            self.first_refusal = (self._clock.time_ns(), cause)

    def _hold(
        self, rows: list[EncodedEntry], events: list[object], error: JournalWriteError
    ) -> None:
        """The journal did not take a unit: keep it to retry, stop order entry and say so."""
        self._held_rows, self._held_events = rows, events
        cause = write_failure_in_words(error)
        remedy = error.remedy or "free disk space (or restore the database connection)"
        self._refused(cause)
        self.halted_reason = (
            f"order entry paused: the journal cannot write ({cause}); it is retried every "
            "second and trading resumes by itself once it writes"
        )
        log.critical("%s; %d journal rows held", self.halted_reason, len(rows))
        self._bus.publish(
            EngineMessage(
                self._clock.time_ns(),
                Severity.ERROR,
                f"The journal cannot write ({cause}). Order entry and paper matching are paused "
                f"and {len(rows)} entries are held in memory; {remedy} and trading resumes by "
                "itself.",
                "oms",
            )
        )
        self._writable(False)


class _UnitScope:
    """``with unit.unit():`` the scope of a unit of work; nests. One object per journal unit, not a
    generator-based context manager per scope: every order opens several, and each of those cost
    about 4 µs against 1 µs here."""

    __slots__ = ("_unit",)

    def __init__(self, unit: JournalUnit) -> None:
        self._unit = unit

    def __enter__(self) -> None:
        self._unit._depth += 1

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        unit = self._unit
        unit._depth -= 1
        if unit._depth == 0:
            unit.commit()
