"""MarketCalendar: is the market open, when does it next open, and when do contracts expire.

Built from merged calendar data (:func:`engine.calendar.load_calendar`). A year whose holiday list
is not loaded yet (NSE publishes next year's in December) is *provisional*: every weekday has the
regular session of its date's timetable (F&O to 15:40 since 3 Aug 2026), except the fixed-date
national holidays (26 Jan, 1 May, 15 Aug, 2 Oct, 25 Dec) and any single day an override file
already lists (an ad-hoc closure, a Budget-day session), and ``coverage_warning`` says so in words
for the trader to see; the exchange's own rejection is then the authority on a holiday. Expiries
of such a year follow the same days. ``holidays(year)`` of such a year still raises
:class:`CalendarNotLoaded`: the list is not known. A special session whose hours are not yet
announced is closed. Per-date results are cached, so the
hot calls (``is_open``, ``session_state``) cost a zone conversion, a dict hit and two comparisons.
"""

from __future__ import annotations

import bisect
import calendar as stdlib_calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.calendar.data import CalendarData
from engine.calendar.errors import CalendarError, CalendarNotLoaded
from engine.calendar.locations import USER_DIRECTORY, OverrideDir
from engine.calendar.records import CalendarSegment, Holiday, SessionKind, Timetable
from engine.calendar.session import DayInfo, Session, SessionState

# Longer than any run of closed days the exchanges have had (Diwali + weekend is about four).
_MAX_CLOSED_RUN = 31
_ONE_DAY = timedelta(days=1)
# National holidays on fixed dates, closed every year; the only ones a provisional year assumes.
_FIXED_DATE_HOLIDAYS = frozenset({(1, 26), (5, 1), (8, 15), (10, 2), (12, 25)})

SegmentName = CalendarSegment | str


UNANNOUNCED_NOTICE = timedelta(days=30)
"""How long before a special session without announced hours the trader is told."""


class MarketCalendar:
    """Sessions, holidays and expiries of one exchange's equity segments (CM and FO)."""

    def __init__(self, data: CalendarData) -> None:
        self._data = data
        self._covered = frozenset(data.covered_years)
        self._days: dict[tuple[date, SegmentName], DayInfo] = {}
        self._day_of: dict[SegmentName, tuple[datetime, datetime, Session | None]] = {}
        """The last day asked of each segment, from its midnight to the next, and its session:
        the heartbeat asks about the same day every second."""
        # Per segment: the dates timetables change and the timetable in force from each.
        self._timetables: dict[CalendarSegment, tuple[list[date], list[Timetable]]] = {}
        for segment, regular in data.regular.items():
            starts, tables = [date.min], [regular]
            for change in data.timetable_changes.get(segment, ()):
                starts.append(change.effective_from)
                tables.append(change.apply(tables[-1]))
            self._timetables[segment] = (starts, tables)

    @classmethod
    def load(cls, override_dir: OverrideDir = USER_DIRECTORY) -> MarketCalendar:
        """The packaged NSE calendar plus overrides; same as :func:`engine.calendar.load_calendar`."""
        from engine.calendar import loader  # the loader builds MarketCalendars: import it late

        return loader.load_calendar(override_dir)

    # --- What the calendar holds ---

    @property
    def exchange(self) -> str:
        return self._data.exchange

    @property
    def tz(self) -> ZoneInfo:
        return self._data.tz

    @property
    def covered_years(self) -> frozenset[int]:
        """Years whose holiday lists are loaded; any other year is provisional."""
        return self._covered

    def is_provisional(self, year: int) -> bool:
        """True when the year's holiday list is not loaded (weekday sessions are assumed)."""
        return year not in self._covered

    def coverage_warning(self, on: date) -> str | None:
        """What the trader must know on ``on`` about missing holiday lists, or None."""
        _check_date(on)
        if self.is_provisional(on.year):
            return (
                f"{self._data.exchange}'s holiday list for {on.year} is not loaded: every weekday "
                "except the fixed national holidays is treated as a trading day, and an order on "
                "an unlisted holiday will be rejected by the exchange. Load the list in Help → "
                "Update market calendar…"
            )
        if on.month == 12 and self.is_provisional(on.year + 1):
            return (
                f"{self._data.exchange}'s holiday list for {on.year + 1} is not loaded yet (NSE "
                "publishes it in December); load it in Help → Update market calendar… when it is."
            )
        return self.unannounced_warning(on)

    def unannounced_warning(self, on: date) -> str | None:
        """What the trader must know on ``on`` about a special session within
        ``UNANNOUNCED_NOTICE`` whose hours are still to be announced, or None: the desk holds
        such a day closed, so an order in the session would be refused as after hours."""
        _check_date(on)
        waiting = sorted(
            {
                (special.day, special.kind is SessionKind.MUHURAT, special.note)
                for special in self._data.special_sessions.values()
                if special.times_to_be_announced and on <= special.day <= on + UNANNOUNCED_NOTICE
            }
        )
        if not waiting:
            return None
        sessions = "; ".join(
            f"the {'Muhurat' if muhurat else 'special'} session on {day:%a %d %b %Y}"
            + (f" ({note})" if note else "")
            for day, muhurat, note in waiting
        )
        return (
            f"No hours are in the calendar yet for {sessions}: the desk treats the day as "
            "closed and refuses orders on it. Load the hours in Help → Update market calendar… "
            "once NSE announces them."
        )

    @property
    def data(self) -> CalendarData:
        """The merged records with their provenance (for display and audit)."""
        return self._data

    def holidays(self, year: int, segment: SegmentName = CalendarSegment.FO) -> list[Holiday]:
        """The declared holidays of a covered year, in date order (Muhurat days included)."""
        self._require_covered(year)
        seg = _segment(segment)
        found = [h for (day, s), h in self._data.holidays.items() if s is seg and day.year == year]
        return sorted(found, key=lambda h: h.day)

    # --- Days ---

    def day_info(self, day: date, segment: SegmentName = CalendarSegment.FO) -> DayInfo:
        """The session (or why there is none) of one date, with the entries that decided it."""
        key = (day, segment)
        info = self._days.get(key)
        if info is None:
            info = self._resolve(day, _segment(segment))
            self._days[key] = info
        return info

    def session_times(self, day: date, segment: SegmentName = CalendarSegment.FO) -> Session | None:
        """The day's session, or None when closed (including Muhurat with times still TBA)."""
        return self.day_info(day, segment).session

    def is_trading_day(self, day: date, segment: SegmentName = CalendarSegment.FO) -> bool:
        return self.day_info(day, segment).session is not None

    def previous_trading_day(self, day: date, segment: SegmentName = CalendarSegment.FO) -> date:
        """The last trading day strictly before ``day``."""
        return self._step_to_trading_day(day, segment, -_ONE_DAY)

    def next_trading_day(self, day: date, segment: SegmentName = CalendarSegment.FO) -> date:
        """The first trading day strictly after ``day``."""
        return self._step_to_trading_day(day, segment, _ONE_DAY)

    def sessions(
        self, start: date, end: date, segment: SegmentName = CalendarSegment.FO
    ) -> list[Session]:
        """Every session from ``start`` to ``end``, both included."""
        found = []
        day = start
        while day <= end:
            session = self.session_times(day, segment)
            if session is not None:
                found.append(session)
            day += _ONE_DAY
        return found

    # --- Moments ---

    def session_state(
        self, at: datetime, segment: SegmentName = CalendarSegment.FO, *, cas_eligible: bool = False
    ) -> SessionState:
        """The segment's state at an aware moment.

        ``cas_eligible``: for a CM stock in the closing auction (F&O stocks from 3 Aug 2026), whose
        continuous trading ends at the timetable's ``cts_close_cas_stocks``; other stocks trade on to
        the segment's close.
        """
        last = self._day_of.get(segment)
        if last is not None and at.tzinfo is self._data.tz and last[0] <= at < last[1]:
            session = last[2]
        else:
            day = self._local(at).date()
            session = self.day_info(day, segment).session
            midnight = datetime.combine(day, time.min, tzinfo=self._data.tz)
            self._day_of[segment] = (midnight, midnight + _ONE_DAY, session)
        if session is None:
            return SessionState.CLOSED
        return session.state_at(at, cas_eligible=cas_eligible)

    def is_open(
        self, at: datetime, segment: SegmentName = CalendarSegment.FO, *, cas_eligible: bool = False
    ) -> bool:
        """True only in the continuous normal market (not pre-open, auctions or post-close)."""
        return self.session_state(at, segment, cas_eligible=cas_eligible) is SessionState.OPEN

    def next_open(self, at: datetime, segment: SegmentName = CalendarSegment.FO) -> datetime:
        """The start of the next normal market strictly after ``at`` (today's if still ahead)."""
        day = self._local(at).date()
        for _ in range(_MAX_CLOSED_RUN + 1):
            session = self.session_times(day, segment)
            if session is not None and session.open > at:
                return session.open
            day += _ONE_DAY
        raise CalendarError(f"no {segment} session within {_MAX_CLOSED_RUN} days after {at}")

    # --- Expiries (NSE index derivatives: NIFTY weekly, monthlies on the last expiry weekday) ---

    def expiry_close(self, day: date) -> datetime:
        """The aware moment F&O contracts expiring on ``day`` stop trading.

        The close of the day's F&O session when contracts can expire in it (a regular day, or a
        full-day special session on a weekday, with whatever hours the calendar gives it). On any
        other day (a holiday, a Muhurat hour, a session whose hours are not announced, a weekend)
        the close the F&O timetable in force on ``day`` sets: a listed expiry on such a day is
        the exchange's word against the calendar, and the regular close is its nearest reading.
        """
        _check_date(day)
        session = self.session_times(day, CalendarSegment.FO)
        if session is not None and self._is_expiry_session(session):
            return session.close
        close = self._timetable_on(day, CalendarSegment.FO).close
        return datetime.combine(day, close, tzinfo=self._data.tz)

    def weekly_expiries(self, after: date, count: int, *, provisional: bool = False) -> list[date]:
        """The next ``count`` weekly expiries on or after ``after``.

        Each week's expiry weekday (Tuesday from 1 Sep 2025, Thursday before), moved to the
        previous trading day when that is a holiday. In a year without a holiday list that is a
        provisional date (see the module's note): a live broker's instrument master carries the
        exchange's own. ``provisional`` is accepted for older callers and changes nothing.
        """
        _check_count(count)
        _check_date(after)
        found: list[date] = []
        day = after
        while len(found) < count:
            if day.weekday() == self._expiry_weekday(day):
                expiry = self._expiry_on_or_before(day)
                if expiry >= after and (not found or expiry != found[-1]):
                    found.append(expiry)
            day += _ONE_DAY
        return found

    def monthly_expiry(self, year: int, month: int, *, provisional: bool = False) -> date:
        """The last expiry weekday of the month, or the trading day before it on a holiday."""
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1..12, got {month}")
        last = date(year, month, stdlib_calendar.monthrange(year, month)[1])
        weekday = self._expiry_weekday(last)
        nominal = last - timedelta(days=(last.weekday() - weekday) % 7)
        return self._expiry_on_or_before(nominal)

    def monthly_expiries(self, after: date, count: int, *, provisional: bool = False) -> list[date]:
        """The next ``count`` monthly expiries on or after ``after``."""
        _check_count(count)
        _check_date(after)
        found: list[date] = []
        year, month = after.year, after.month
        while len(found) < count:
            expiry = self.monthly_expiry(year, month, provisional=provisional)
            if expiry >= after:
                found.append(expiry)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found

    # --- Internals ---

    def _resolve(self, day: date, segment: CalendarSegment) -> DayInfo:
        _check_date(day)
        key = (day, segment)
        holiday = self._data.holidays.get(key)
        special = self._data.special_sessions.get(key)
        session: Session | None = None
        if special is not None:
            if special.times is not None:
                times = (
                    self._timetable_on(day, segment)
                    if special.times == "regular"
                    else special.times
                )
                session = Session.from_timetable(
                    day, segment, special.kind, times, self._data.tz, note=special.note
                )
        elif holiday is None and self._is_regular_weekday(day):
            session = Session.from_timetable(
                day, segment, SessionKind.REGULAR, self._timetable_on(day, segment), self._data.tz
            )
        return DayInfo(day, segment, session, holiday, special)

    def _is_regular_weekday(self, day: date) -> bool:
        """Mon–Fri; in a year without a holiday list, less the fixed-date national holidays."""
        if day.weekday() >= 5:
            return False
        return day.year in self._covered or (day.month, day.day) not in _FIXED_DATE_HOLIDAYS

    def _timetable_on(self, day: date, segment: CalendarSegment) -> Timetable:
        starts, tables = self._timetables[segment]
        return tables[bisect.bisect_right(starts, day) - 1]

    def _require_covered(self, year: int) -> None:
        if year not in self._covered:
            raise CalendarNotLoaded(year, self._data.exchange, self._covered)

    def _local(self, at: datetime) -> datetime:
        if not isinstance(at, datetime):
            raise TypeError(f"expected an aware datetime, got {at!r}")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(
                f"naive datetime {at.isoformat()}: give a time zone (IST is Asia/Kolkata)"
            )
        return at.astimezone(self._data.tz)

    def _step_to_trading_day(self, day: date, segment: SegmentName, step: timedelta) -> date:
        _check_date(day)
        for _ in range(_MAX_CLOSED_RUN):
            day += step
            if self.is_trading_day(day, segment):
                return day
        raise CalendarError(f"no {segment} trading day within {_MAX_CLOSED_RUN} days of {day}")

    def _expiry_weekday(self, day: date) -> int:
        rules = self._data.expiry_weekdays.get(CalendarSegment.FO, ())
        in_force = [rule for rule in rules if rule.effective_from <= day]
        if not in_force:
            raise CalendarError(f"the calendar has no FO expiry weekday for {day.isoformat()}")
        return in_force[-1].weekday

    def _is_expiry_day(self, day: date) -> bool:
        session = self.session_times(day, CalendarSegment.FO)
        return session is not None and self._is_expiry_session(session)

    @staticmethod
    def _is_expiry_session(session: Session) -> bool:
        # Contracts do not expire in a Muhurat hour or on a weekend special session.
        return session.kind is SessionKind.REGULAR or (
            session.kind is SessionKind.FULL_DAY and session.day.weekday() < 5
        )

    def _expiry_on_or_before(self, nominal: date) -> date:
        day = nominal
        for _ in range(_MAX_CLOSED_RUN):
            if self._is_expiry_day(day):
                return day
            day -= _ONE_DAY
        raise CalendarError(f"no trading day within {_MAX_CLOSED_RUN} days before {nominal}")


def _segment(segment: SegmentName) -> CalendarSegment:
    try:
        return CalendarSegment(segment)
    except ValueError:
        names = ", ".join(s.value for s in CalendarSegment)
        raise ValueError(f"unknown calendar segment {segment!r}; expected one of {names}") from None


def _check_date(day: date) -> None:
    # A datetime is a date too, but which day it means depends on its zone: refuse the ambiguity.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a datetime.date, got {day!r}")


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
