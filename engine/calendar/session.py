"""One segment's session on one date, with aware datetimes, and the state machine over it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from enum import StrEnum
from typing import NamedTuple

from engine.calendar.records import (
    CalendarSegment,
    Holiday,
    SessionKind,
    SpecialSession,
    Timetable,
    Window,
)


class SessionState(StrEnum):
    CLOSED = "closed"
    PRE_OPEN = "pre_open"
    """Pre-open call auction: order entry, modification and cancellation."""
    PRE_OPEN_MATCHING = "pre_open_matching"
    """Pre-open matching and the buffer before the normal market: no order entry."""
    OPEN = "open"
    """The continuous normal market."""
    CLOSING_AUCTION = "closing_auction"
    """CM closing auction session (CAS), for CAS-eligible stocks only."""
    POST_CLOSE = "post_close"
    """CM post-close session: trades at the closing price only."""


class TimeWindow(NamedTuple):
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        """Half-open: the start belongs to the window, the end does not."""
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Session:
    """A trading session. Windows are half-open; ``close`` is the end of the normal market.

    The F&O pre-open (from 8 Dec 2025) is for near-month futures only: options and far futures
    start at ``open``.
    """

    day: date
    segment: CalendarSegment
    kind: SessionKind
    open: datetime
    close: datetime
    pre_open: TimeWindow | None = None
    post_close: TimeWindow | None = None
    closing_auction: TimeWindow | None = None
    cas_stocks_close: datetime | None = None
    """When continuous trading ends for CAS-eligible stocks (CM, from 3 Aug 2026)."""
    note: str = ""

    @classmethod
    def from_timetable(
        cls,
        day: date,
        segment: CalendarSegment,
        kind: SessionKind,
        timetable: Timetable,
        zone: tzinfo,
        note: str = "",
    ) -> Session:
        def at(moment: time) -> datetime:
            return datetime.combine(day, moment, tzinfo=zone)

        def window(times: Window | None) -> TimeWindow | None:
            return None if times is None else TimeWindow(at(times[0]), at(times[1]))

        cas_close = timetable.cts_close_cas_stocks
        return cls(
            day=day,
            segment=segment,
            kind=kind,
            open=at(timetable.open),
            close=at(timetable.close),
            pre_open=window(timetable.pre_open),
            post_close=window(timetable.post_close),
            closing_auction=window(timetable.cas),
            cas_stocks_close=None if cas_close is None else at(cas_close),
            note=note,
        )

    def state_at(self, at: datetime, *, cas_eligible: bool = False) -> SessionState:
        """The segment's state at an aware moment on this session's date."""
        if at < self.open:
            if self.pre_open is None or at < self.pre_open.start:
                return SessionState.CLOSED
            if at < self.pre_open.end:
                return SessionState.PRE_OPEN
            return SessionState.PRE_OPEN_MATCHING
        if cas_eligible and self.cas_stocks_close is not None:
            if at < self.cas_stocks_close:
                return SessionState.OPEN
            if self.closing_auction is not None and self.closing_auction.contains(at):
                return SessionState.CLOSING_AUCTION
        elif at < self.close:
            return SessionState.OPEN
        if self.post_close is not None and self.post_close.contains(at):
            return SessionState.POST_CLOSE
        return SessionState.CLOSED


@dataclass(frozen=True, slots=True)
class DayInfo:
    """Everything the calendar knows about one date and segment, with where it came from."""

    day: date
    segment: CalendarSegment
    session: Session | None
    holiday: Holiday | None = None
    special: SpecialSession | None = None

    @property
    def is_trading_day(self) -> bool:
        return self.session is not None

    @property
    def times_to_be_announced(self) -> bool:
        """A special session is declared but its hours are not yet published (closed until then)."""
        return self.special is not None and self.special.times_to_be_announced

    @property
    def description(self) -> str:
        if self.special is not None:
            tba = " (timings to be announced)" if self.special.times_to_be_announced else ""
            return f"{self.special.note}{tba}"
        if self.holiday is not None:
            return self.holiday.name
        return "trading day" if self.session is not None else "weekend"
