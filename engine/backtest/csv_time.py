"""Timestamps as CSV files write them, to epoch nanoseconds UTC (``engine.backtest.csv_import``).

ISO 8601 (with or without an offset or ``Z``), day first with ``-`` or ``/``, compact
(``20261123 091500``), a date alone, or epoch seconds / ms / µs / ns told apart by size. A time
with no zone is IST. Digits are ASCII only; moments outside 1970-2100 are refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from engine.core.clock import IST


class RowError(ValueError):
    """One row's problem, in words."""


_DAY_FIRST = re.compile(
    r"(\d{1,2})[-/](\d{1,2})[-/](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?",
    re.ASCII,
)
_COMPACT = re.compile(
    r"(\d{4})(\d{2})(\d{2})(?:[ T](\d{2}):?(\d{2}):?(\d{2})?(?:\.(\d{1,9}))?)?", re.ASCII
)
_EPOCH = re.compile(r"-?\d{9,19}", re.ASCII)
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
_PLAIN = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?", re.ASCII
)
"""The form most files write, an ISO time without a zone: read without a ``datetime`` a row."""
_DAY_STARTS: dict[str, int] = {}
"""IST midnight of each day a plain time was on, in epoch ns (IST keeps one offset all year)."""
_DAY_STARTS_KEPT = 10_000
_FIRST_NS = 1
_LAST_NS = 4_102_444_800 * 10**9
"""Timestamps are refused outside 1970-2100 (a typo, an epoch in the wrong unit)."""


def parse_timestamp(text: str) -> int:
    """Epoch nanoseconds UTC of one timestamp in any accepted form (naive = IST)."""
    raw = text.strip()
    plain = _PLAIN.fullmatch(raw)
    if plain is not None:
        ns = _plain_ns(*plain.groups())
        if ns is not None:
            return _in_range(ns, raw)
    if not raw:
        raise RowError("the timestamp is empty")
    if _EPOCH.fullmatch(raw) and not _COMPACT.fullmatch(raw):
        return _in_range(_epoch(int(raw)), raw)
    fraction_ns = 0
    moment: datetime | None = None
    match = _DAY_FIRST.fullmatch(raw)
    if match:
        day, month, year, hour, minute, second, fraction = match.groups()
        moment = _moment(year, month, day, hour, minute, second, raw)
        fraction_ns = _fraction_ns(fraction)
    elif (match := _COMPACT.fullmatch(raw)) is not None:
        year, month, day, hour, minute, second, fraction = match.groups()
        moment = _moment(year, month, day, hour, minute, second, raw)
        fraction_ns = _fraction_ns(fraction)
    else:
        if not _ISO.fullmatch(raw):
            raise RowError(f"{raw!r} is not a timestamp this import reads")
        iso = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
        iso, fraction_ns = _split_fraction(iso)
        try:
            moment = datetime.fromisoformat(iso)
        except ValueError as problem:  # its form is ISO (above): a value is out of its range
            raise RowError(f"{raw!r} is not a real date and time ({problem})") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=IST)
    try:
        ns = _whole_seconds_ns(moment) + fraction_ns
    except OverflowError:
        raise RowError(f"{raw!r} is out of range") from None
    return _in_range(ns, raw)


def _plain_ns(
    day: str, hour: str, minute: str, second: str | None, fraction: str | None
) -> int | None:
    """A plain time's epoch ns; None when a value is out of its range (the full parse then says
    which)."""
    h, m, s = int(hour), int(minute), int(second or 0)
    if h > 23 or m > 59 or s > 59:
        return None
    start = _DAY_STARTS.get(day)
    if start is None:
        try:
            start = _whole_seconds_ns(datetime.fromisoformat(day).replace(tzinfo=IST))
        except (ValueError, OverflowError):  # not a date, or year 1 (before it in UTC)
            return None
        if len(_DAY_STARTS) >= _DAY_STARTS_KEPT:
            _DAY_STARTS.clear()
        _DAY_STARTS[day] = start
    return start + ((h * 60 + m) * 60 + s) * 1_000_000_000 + _fraction_ns(fraction)


def _in_range(ns: int, raw: str) -> int:
    if not _FIRST_NS <= ns < _LAST_NS:
        raise RowError(f"{raw!r} is not a moment between 1970 and 2100")
    return ns


def _split_fraction(iso: str) -> tuple[str, int]:
    """Nanosecond fractions (which ``datetime`` cannot hold) taken out of an ISO text."""
    match = re.search(r"(\d{2}:\d{2}:\d{2})\.(\d{1,9})", iso, re.ASCII)
    if not match:
        return iso, 0
    return iso[: match.end(1)] + iso[match.end() :], _fraction_ns(match.group(2))


def _fraction_ns(fraction: str | None) -> int:
    return int(fraction.ljust(9, "0")) if fraction else 0


def _moment(
    year: str,
    month: str,
    day: str,
    hour: str | None,
    minute: str | None,
    second: str | None,
    raw: str,
) -> datetime:
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=IST,
        )
    except ValueError as problem:
        raise RowError(f"{raw!r} is not a real date and time ({problem})") from None


def _whole_seconds_ns(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _epoch(value: int) -> int:
    size = abs(value)
    if size < 10**11:
        ns = value * 10**9
    elif size < 10**14:
        ns = value * 10**6
    elif size < 10**17:
        ns = value * 10**3
    else:
        ns = value
    return ns
