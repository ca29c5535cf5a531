"""Reading one calendar file (schema 1) into records, refusing anything it does not understand.

Layout (``resources/calendars/nse.json`` is the reference)::

    schema: 1, exchange: "NSE", tz: "Asia/Kolkata", covered_years: [2025, 2026],
    segments: {CM: {regular: {...}, timetable_changes: [...], expiry_weekdays: [...]}, FO: {...}},
    holidays: [{date, segments, kind: "full", name, source}],
    special_sessions: [{date, segments, kind: "full_day"|"muhurat", times, note, source}]

An override file (a user's) has the same shape but carries only what it adds or replaces: it needs
``schema`` and ``exchange``, may give ``covered_years``, ``holidays``, ``special_sessions`` and
per-segment ``timetable_changes`` / ``expiry_weekdays``, and may not redefine ``tz`` or ``regular``.
Every record needs a ``source``. Errors name the file and the field (``holidays[3].date``).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.calendar.errors import CalendarDataError
from engine.calendar.records import (
    TIMETABLE_FIELDS,
    CalendarSegment,
    ExpiryWeekday,
    Holiday,
    Provenance,
    SessionKind,
    SpecialSession,
    Timetable,
    TimetableChange,
    Window,
)

SCHEMA_VERSION = 1
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_WINDOW_FIELDS = frozenset({"pre_open", "post_close", "cas"})
_BASE_KEYS = frozenset(
    {"schema", "exchange", "tz", "covered_years", "segments", "holidays", "special_sessions"}
)
_OVERRIDE_OPTIONAL = _BASE_KEYS - {"schema", "exchange", "tz"} | {"description"}


@dataclass(frozen=True)
class CalendarDocument:
    """One parsed calendar file. Holidays and special sessions are one record per date × segment."""

    origin: str
    exchange: str
    is_base: bool
    """True for the packaged file, which defines the zone and the regular timetables."""
    tz: ZoneInfo | None = None
    covered_years: frozenset[int] = frozenset()
    regular: Mapping[CalendarSegment, Timetable] = field(default_factory=dict)
    timetable_changes: Mapping[CalendarSegment, tuple[TimetableChange, ...]] = field(
        default_factory=dict
    )
    expiry_weekdays: Mapping[CalendarSegment, tuple[ExpiryWeekday, ...]] = field(
        default_factory=dict
    )
    holidays: tuple[Holiday, ...] = ()
    special_sessions: tuple[SpecialSession, ...] = ()


def parse_document(raw: object, origin: str, *, is_base: bool) -> CalendarDocument:
    """Validate a decoded JSON document; raise :class:`CalendarDataError` on the first problem."""
    return _Parser(origin).document(raw, is_base=is_base)


class _Parser:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, path: str, problem: str) -> NoReturn:
        raise CalendarDataError(self.origin, path, problem)

    # --- Structure ---

    def document(self, raw: object, *, is_base: bool) -> CalendarDocument:
        if is_base:
            doc = self.mapping(raw, "(top level)", required=_BASE_KEYS, optional={"description"})
        else:
            doc = self.mapping(
                raw, "(top level)", required={"schema", "exchange"}, optional=_OVERRIDE_OPTIONAL
            )
        if doc["schema"] != SCHEMA_VERSION or isinstance(doc["schema"], bool):
            self.fail("schema", f"unsupported version {doc['schema']!r}; expected {SCHEMA_VERSION}")
        known = {s.value for s in CalendarSegment}
        segments = self.mapping(
            doc.get("segments", {}),
            "segments",
            required=known if is_base else set(),
            optional=set() if is_base else known,
        )
        regular: dict[CalendarSegment, Timetable] = {}
        changes: dict[CalendarSegment, tuple[TimetableChange, ...]] = {}
        weekdays: dict[CalendarSegment, tuple[ExpiryWeekday, ...]] = {}
        for name, body in segments.items():
            segment, path = CalendarSegment(name), f"segments.{name}"
            seg = self.mapping(
                body,
                path,
                required={"regular"} if is_base else set(),
                optional={"timetable_changes", "expiry_weekdays"},
            )
            if is_base:
                regular[segment] = self.regular(seg["regular"], f"{path}.regular")
            changes[segment] = tuple(
                self.timetable_change(item, where)
                for item, where in self.items(seg, "timetable_changes", path)
            )
            weekdays[segment] = tuple(
                self.expiry_weekday(item, where)
                for item, where in self.items(seg, "expiry_weekdays", path)
            )
        return CalendarDocument(
            origin=self.origin,
            exchange=self.text(doc["exchange"], "exchange"),
            is_base=is_base,
            tz=self.zone(doc["tz"], "tz") if is_base else None,
            covered_years=self.years(doc.get("covered_years", []), "covered_years"),
            regular=regular,
            timetable_changes=changes,
            expiry_weekdays=weekdays,
            holidays=self.holidays(doc.get("holidays", []), "holidays"),
            special_sessions=self.special_sessions(
                doc.get("special_sessions", []), "special_sessions"
            ),
        )

    def regular(self, raw: object, path: str) -> Timetable:
        obj = self.mapping(
            raw, path, required={"open", "close", "source"}, optional=set(TIMETABLE_FIELDS)
        )
        self.text(obj["source"], f"{path}.source")
        return self.timetable(obj, path)

    def timetable(self, obj: Mapping[str, Any], path: str) -> Timetable:
        cas_close = obj.get("cts_close_cas_stocks")
        timetable = Timetable(
            open=self.clock_time(obj["open"], f"{path}.open"),
            close=self.clock_time(obj["close"], f"{path}.close"),
            pre_open=self.window(obj.get("pre_open"), f"{path}.pre_open"),
            post_close=self.window(obj.get("post_close"), f"{path}.post_close"),
            cas=self.window(obj.get("cas"), f"{path}.cas"),
            cts_close_cas_stocks=(
                None
                if cas_close is None
                else self.clock_time(cas_close, f"{path}.cts_close_cas_stocks")
            ),
        )
        problem = timetable.problem()
        if problem is not None:
            self.fail(path, problem)
        return timetable

    def timetable_change(self, raw: object, path: str) -> TimetableChange:
        obj = self.mapping(raw, path, required={"from", "source"}, optional=set(TIMETABLE_FIELDS))
        changed = {
            name: self.timetable_value(name, obj[name], f"{path}.{name}")
            for name in TIMETABLE_FIELDS
            if name in obj
        }
        if not changed:
            self.fail(path, f"changes nothing; give at least one of {', '.join(TIMETABLE_FIELDS)}")
        return TimetableChange(
            effective_from=self.day(obj["from"], f"{path}.from"),
            changes=changed,
            provenance=self.provenance(obj, path),
        )

    def expiry_weekday(self, raw: object, path: str) -> ExpiryWeekday:
        obj = self.mapping(raw, path, required={"from", "weekday", "source"})
        name = obj["weekday"]
        if name not in _WEEKDAYS:
            self.fail(f"{path}.weekday", f"{name!r} is not one of {', '.join(_WEEKDAYS)}")
        return ExpiryWeekday(
            effective_from=self.day(obj["from"], f"{path}.from"),
            weekday=_WEEKDAYS.index(name),
            provenance=self.provenance(obj, path),
        )

    def holidays(self, raw: object, path: str) -> tuple[Holiday, ...]:
        result: list[Holiday] = []
        dates: list[tuple[date, CalendarSegment, str]] = []
        for i, item in enumerate(self.array(raw, path)):
            where = f"{path}[{i}]"
            obj = self.mapping(item, where, required={"date", "segments", "kind", "name", "source"})
            if obj["kind"] != "full":
                self.fail(
                    f"{where}.kind",
                    f"{obj['kind']!r} is not supported; CM and FO holidays are 'full' days",
                )
            day = self.day(obj["date"], f"{where}.date")
            name = self.text(obj["name"], f"{where}.name")
            provenance = self.provenance(obj, where)
            for segment in self.segment_list(obj["segments"], f"{where}.segments"):
                result.append(Holiday(day, segment, name, provenance))
                dates.append((day, segment, f"{where}.date"))
        self.refuse_duplicates(dates)
        return tuple(result)

    def special_sessions(self, raw: object, path: str) -> tuple[SpecialSession, ...]:
        result: list[SpecialSession] = []
        dates: list[tuple[date, CalendarSegment, str]] = []
        for i, item in enumerate(self.array(raw, path)):
            where = f"{path}[{i}]"
            obj = self.mapping(
                item,
                where,
                required={"date", "segments", "kind", "times", "source"},
                optional={"note"},
            )
            kinds = {SessionKind.FULL_DAY.value, SessionKind.MUHURAT.value}
            if obj["kind"] not in kinds:
                self.fail(f"{where}.kind", f"{obj['kind']!r} is not one of {sorted(kinds)}")
            times = self.special_times(obj["times"], f"{where}.times")
            day = self.day(obj["date"], f"{where}.date")
            note = self.text(obj.get("note", ""), f"{where}.note", allow_empty=True)
            provenance = self.provenance(obj, where)
            for segment in self.segment_list(obj["segments"], f"{where}.segments"):
                result.append(
                    SpecialSession(day, segment, SessionKind(obj["kind"]), times, note, provenance)
                )
                dates.append((day, segment, f"{where}.date"))
        self.refuse_duplicates(dates)
        return tuple(result)

    def special_times(self, raw: object, path: str) -> Timetable | Literal["regular"] | None:
        if raw is None:
            return None
        if raw == "regular":
            return "regular"
        if not isinstance(raw, dict):
            self.fail(path, 'must be "regular", null (to be announced) or an object of times')
        obj = self.mapping(raw, path, required={"open", "close"}, optional=set(TIMETABLE_FIELDS))
        return self.timetable(obj, path)

    # --- Values ---

    def mapping(
        self,
        raw: object,
        path: str,
        *,
        required: AbstractSet[str],
        optional: AbstractSet[str] = frozenset(),
    ) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.fail(path, f"must be an object, got {type(raw).__name__}")
        missing = sorted(required - raw.keys())
        if missing:
            self.fail(path, f"missing {', '.join(missing)}")
        unknown = sorted(raw.keys() - required - optional)
        if unknown:
            self.fail(path, f"unknown field(s) {', '.join(unknown)}")
        return raw

    def array(self, raw: object, path: str) -> list[Any]:
        if not isinstance(raw, list):
            self.fail(path, f"must be a list, got {type(raw).__name__}")
        return raw

    def items(self, obj: Mapping[str, Any], key: str, path: str) -> list[tuple[Any, str]]:
        """The entries of an optional list field, each with its path for error messages."""
        entries = self.array(obj.get(key, []), f"{path}.{key}")
        return [(item, f"{path}.{key}[{i}]") for i, item in enumerate(entries)]

    def text(self, raw: object, path: str, *, allow_empty: bool = False) -> str:
        if not isinstance(raw, str) or (not allow_empty and not raw.strip()):
            self.fail(path, f"must be a non-empty string, got {raw!r}")
        return raw

    def provenance(self, obj: Mapping[str, Any], path: str) -> Provenance:
        return Provenance(self.origin, self.text(obj["source"], f"{path}.source"))

    def day(self, raw: object, path: str) -> date:
        if isinstance(raw, str) and len(raw) == 10:
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        self.fail(path, f"{raw!r} is not a date (YYYY-MM-DD)")

    def clock_time(self, raw: object, path: str) -> time:
        if isinstance(raw, str) and len(raw) == 5 and raw[2] == ":":
            try:
                return time.fromisoformat(raw)
            except ValueError:
                pass
        self.fail(path, f"{raw!r} is not a time of day (HH:MM)")

    def window(self, raw: object, path: str) -> Window | None:
        if raw is None:
            return None
        if not isinstance(raw, list) or len(raw) != 2:
            self.fail(path, f'must be ["HH:MM", "HH:MM"] or null, got {raw!r}')
        start = self.clock_time(raw[0], f"{path}[0]")
        end = self.clock_time(raw[1], f"{path}[1]")
        return start, end

    def timetable_value(self, name: str, raw: object, path: str) -> object:
        if name in _WINDOW_FIELDS:
            return self.window(raw, path)
        if raw is None and name == "cts_close_cas_stocks":
            return None
        return self.clock_time(raw, path)

    def years(self, raw: object, path: str) -> frozenset[int]:
        years = self.array(raw, path)
        for i, year in enumerate(years):
            if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2200:
                self.fail(f"{path}[{i}]", f"{year!r} is not a year")
        return frozenset(years)

    def segment_list(self, raw: object, path: str) -> tuple[CalendarSegment, ...]:
        items = self.array(raw, path)
        if not items:
            self.fail(path, "must name at least one segment")
        known = [s.value for s in CalendarSegment]
        for i, item in enumerate(items):
            if item not in known:
                self.fail(f"{path}[{i}]", f"{item!r} is not a known segment ({', '.join(known)})")
        return tuple(CalendarSegment(item) for item in items)

    def zone(self, raw: object, path: str) -> ZoneInfo:
        name = self.text(raw, path)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(path, f"{name!r} is not an IANA time zone")

    def refuse_duplicates(self, dates: list[tuple[date, CalendarSegment, str]]) -> None:
        """Refuse a date given twice for one segment, naming the second entry."""
        seen: set[tuple[date, CalendarSegment]] = set()
        for day, segment, where in dates:
            if (day, segment) in seen:
                self.fail(where, f"{day.isoformat()} is listed twice for {segment}")
            seen.add((day, segment))
