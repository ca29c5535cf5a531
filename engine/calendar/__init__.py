"""NSE/BSE equity (CM) and derivatives (FO) sessions, holidays and expiries, from data files.

``load_calendar()`` merges the packaged ``resources/calendars/nse.json`` with the user's override
files and returns a :class:`MarketCalendar`. BSE's equity holidays and session times are the same
as NSE's, so the same calendar serves both (BSE expiries are on other weekdays).
"""

from engine.calendar.errors import CalendarDataError, CalendarError, CalendarNotLoaded
from engine.calendar.loader import (
    load_calendar,
    packaged_calendar,
    read_override_file,
    read_packaged,
)
from engine.calendar.locations import USER_DIRECTORY, default_override_dir
from engine.calendar.market_calendar import MarketCalendar
from engine.calendar.records import (
    CalendarSegment,
    Holiday,
    Provenance,
    SessionKind,
    SpecialSession,
    Timetable,
)
from engine.calendar.session import DayInfo, Session, SessionState, TimeWindow

__all__ = [
    "USER_DIRECTORY",
    "CalendarDataError",
    "CalendarError",
    "CalendarNotLoaded",
    "CalendarSegment",
    "DayInfo",
    "Holiday",
    "MarketCalendar",
    "Provenance",
    "Session",
    "SessionKind",
    "SessionState",
    "SpecialSession",
    "TimeWindow",
    "Timetable",
    "default_override_dir",
    "load_calendar",
    "packaged_calendar",
    "read_override_file",
    "read_packaged",
]
