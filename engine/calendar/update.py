"""Updating the market calendar from inside the desk: import a file, or fetch NSE's published list.

NSE publishes next year's trading holidays in December; a trader cannot wait for a release. An
imported file (at most 1 MB, UTF-8 with or without a BOM) is checked against the calendar schema
before it is kept (an error names the line and the field); a year it declares covered must come
whole (both segments, the national holidays; see :mod:`engine.calendar.import_checks`). It is
saved to rank after every file already in the user override folder, so the file imported later
wins (:mod:`engine.calendar.locations`), and a year's list replaces that year's earlier lists
rather than adding to them; the answer says in words what it replaced. It is merged with the
packaged file and the other override files as the next start will merge them, so an import
never leaves a folder the desk refuses to start with, and written atomically, where every later
start reads it. A fetch converts NSE's holiday list (``{"CM": [{"tradingDate": "26-Jan-2027",
"description": ...}], "FO": [...]}``) into the same form and goes through the same checks.

The import takes no lock on the folder (two desks of different profiles share it), so it leaves
any temporary a killed writer left there alone: it cannot tell one from another writer's.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine.calendar import locations
from engine.calendar.data import merge_documents
from engine.calendar.errors import CalendarDataError
from engine.calendar.import_checks import (
    MAX_FILE_BYTES,
    contents,
    refuse_oversized,
    refuse_partial_years,
    replacements,
    wholly_replaced,
)
from engine.calendar.json_lines import FieldLines, field_lines
from engine.calendar.loader import _decode, load_calendar, read_override_dir, read_packaged
from engine.calendar.market_calendar import MarketCalendar
from engine.calendar.records import CalendarSegment
from engine.calendar.schema import SCHEMA_VERSION, CalendarDocument, parse_document
from engine.core.files import write_whole

log = logging.getLogger(__name__)

NSE_HOLIDAYS_URL = "https://www.nseindia.com/api/holiday-master?type=trading"
NSE_HOLIDAYS_PAGE = "/resources/exchange-communication-holidays"
FETCH_TIMEOUT_SECONDS = 10.0
_SEGMENTS = ("CM", "FO")
# NSE's site answers its API only to what looks like a browser session that has visited it.
_BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0 Safari/537.36"
    ),
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
}


class CalendarImportError(ValueError):
    """A calendar file or list that was not imported; the message says where and why."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    path: Path
    """Where the checked file was written."""
    years: tuple[int, ...]
    """The years whose whole holiday list the file holds."""
    holidays: int
    contents: str = ""
    """What the file holds, in words."""
    replaced: tuple[str, ...] = ()
    """Sentences saying what the import replaced: lists, files, days no longer closed."""

    def describe(self) -> str:
        said = f"{self.contents or 'nothing'} saved to {self.path}"
        return " ".join((said + ".", *self.replaced)) if self.replaced else said


def import_calendar_text(text: str, name: str, override_dir: Path | None = None) -> ImportResult:
    """Check ``text`` (a calendar override document) and keep it in the override folder as the
    file that applies last (see :mod:`engine.calendar.locations`), under ``name`` or, when other
    files are there, a sequence-numbered form of it."""
    directory = override_dir or locations.default_override_dir()
    own = _safe_name(locations.own_name(name))
    origin = str(directory / own)
    text = text.removeprefix("\ufeff")  # a BOM is how Windows Notepad starts a UTF-8 file
    try:
        refuse_oversized(len(text.encode("utf-8", "surrogatepass")), name)
    except CalendarDataError as error:
        raise CalendarImportError(f"{name} {_problem(error)}") from None
    try:
        fields = field_lines(text, name)
    except CalendarDataError as error:
        raise CalendarImportError(f"{name}: {_problem(error)}") from None
    if fields.repeated is not None:
        path, line = fields.repeated
        raise CalendarImportError(
            f"line {line}, field {path}: the same key appears twice in one object"
        )
    try:
        raw = _decode(text, origin)
        document = parse_document(raw, origin, is_base=False)
        assert isinstance(raw, dict)  # parse_document refuses anything else
        refuse_partial_years(document, raw)
    except CalendarDataError as error:
        raise CalendarImportError(_located(error, origin, fields)) from None
    if document.exchange != "NSE":
        raise CalendarImportError(f"the file is for {document.exchange}, not NSE")
    said = contents(document)
    if not said:
        raise CalendarImportError(
            "the file holds no holiday, special session or timetable change: nothing to load"
        )
    try:
        existing = read_override_dir(directory, exchange=document.exchange)
        # A file of the same name is the trader's earlier copy of this one; a holiday list this
        # one wholly takes over is kept no longer. Neither goes before the new file is written.
        redundant = [
            other
            for other in existing
            if locations.own_name(Path(other.origin).name) == own
            or wholly_replaced(document, other)
        ]
        staying = [other for other in existing if other not in redundant]
        names = [Path(other.origin).name for other in existing]
        target = directory / (locations.imported_name(own, names) if staying else own)
        packaged = read_packaged()
        before = merge_documents([packaged, *existing])
        after = merge_documents([packaged, *staying, document])
        # As the next start finds the folder if it stops before the redundant files are gone.
        merge_documents([packaged, *existing, document])
    except CalendarDataError as error:
        raise CalendarImportError(_located(error, origin, fields)) from None
    try:
        write_whole(target, text)
    except OSError as problem:
        raise CalendarImportError(
            f"the calendar could not be saved to {target}: {problem.strerror or problem}; "
            "nothing was changed (check the disk has space and the folder can be written)"
        ) from None
    removed, kept = _remove(other for other in redundant if Path(other.origin) != target)
    replaced = replacements(document, before, after, removed) + kept
    years = tuple(sorted(document.covered_years))
    days = len({h.day for h in document.holidays})
    return ImportResult(target, years, days, said, replaced)


def _remove(documents: Iterable[CalendarDocument]) -> tuple[list[str], tuple[str, ...]]:
    """Delete the files of ``documents``: the names removed, and a sentence for each that
    could not be (it stays, ranked below the new file, which decides every day it lists)."""
    removed, kept = [], []
    for document in documents:
        path = Path(document.origin)
        try:
            path.unlink(missing_ok=True)
        except OSError as problem:
            log.warning("calendar file %s not removed: %s", path, problem)
            kept.append(
                f"{path} could not be removed ({problem.strerror or problem}); the new file "
                "applies over it."
            )
        else:
            removed.append(path.name)
    return removed, tuple(kept)


def import_calendar_file(path: Path, override_dir: Path | None = None) -> ImportResult:
    """Check the calendar file at ``path`` and keep a copy in the override folder."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                refuse_oversized(os.fstat(file.fileno()).st_size, str(path))
        text = data.decode("utf-8-sig")
    except CalendarDataError as error:
        raise CalendarImportError(f"{path} {_problem(error)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarImportError(f"{path} cannot be read: {exc}") from None
    return import_calendar_text(text, path.name, override_dir)


def fetch_nse_holidays(
    year: int,
    url: str = NSE_HOLIDAYS_URL,
    *,
    override_dir: Path | None = None,
    timeout: float = FETCH_TIMEOUT_SECONDS,
) -> ImportResult:
    """Fetch NSE's trading-holiday list, keep ``year``'s as an override file; raises
    ``CalendarImportError`` with a readable reason when offline or the answer is not a list.

    Blocking (network): call it off the event loop."""
    directory = override_dir or locations.default_override_dir()
    try:
        known = load_calendar(directory).data.special_sessions
    except CalendarDataError as error:
        raise CalendarImportError(
            f"a calendar file already in the folder is wrong ({error}); fix or remove it first"
        ) from None
    try:
        body = _download(url, timeout)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CalendarImportError(
            f"NSE's holiday list could not be fetched ({reason}); import a file instead"
        ) from None
    try:
        published = json.loads(body)
    except ValueError:
        raise CalendarImportError("NSE's answer is not a holiday list (not JSON)") from None
    document = nse_list_to_document(published, year, source=url, special_days=known.keys())
    text = json.dumps(document, indent=1, ensure_ascii=False)
    return import_calendar_text(text, f"nse-{year}.json", directory)


def _download(url: str, timeout: float) -> bytes:
    """The body at ``url``, asked for as a browser would: the site's page first (for the session
    cookies NSE's API wants), then the API with that page as the referrer."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    parts = urllib.parse.urlsplit(url)
    page = f"{parts.scheme}://{parts.netloc}{NSE_HOLIDAYS_PAGE}"
    # A refused page still leaves the API to answer for itself; no network fails here already.
    visit = urllib.request.Request(page, headers=_BROWSER_HEADERS)
    with contextlib.suppress(urllib.error.HTTPError), opener.open(visit, timeout=timeout):
        pass
    request = urllib.request.Request(url, headers={**_BROWSER_HEADERS, "Referer": page})
    with opener.open(request, timeout=timeout) as response:
        body: bytes = response.read(MAX_FILE_BYTES + 1)
    if len(body) > MAX_FILE_BYTES:
        raise CalendarImportError(
            f"NSE's answer is over {MAX_FILE_BYTES // 1_000_000} MB: not a holiday list"
        )
    return body


def nse_list_to_document(
    published: Any,
    year: int,
    *,
    source: str,
    special_days: Iterable[tuple[date, CalendarSegment]] = (),
) -> dict[str, Any]:
    """NSE's holiday-master answer as a calendar override document covering ``year``.

    Weekend dates are left out: those days are closed anyway, and listing one would cancel a
    weekend session another file holds (Muhurat on a Sunday Diwali). So is a day and segment in
    ``special_days`` (the calendar's special sessions): NSE's list names Diwali but not its
    Muhurat hour, which stays as the file that announced it says."""
    held = set(special_days)
    if not isinstance(published, dict):
        raise CalendarImportError("NSE's answer is not a holiday list")
    days: dict[date, dict[str, Any]] = {}
    for segment in _SEGMENTS:
        # A cash-only answer taken for the whole list would leave F&O open on every holiday.
        if segment not in published:
            raise CalendarImportError(
                f"NSE's answer has no {segment} list; a year's list needs both the CM and the "
                "FO holidays, so nothing was loaded (try again later, or import a file)"
            )
        entries = published[segment]
        if not isinstance(entries, list):
            raise CalendarImportError(f"NSE's {segment} holidays are not a list")
        for n, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise CalendarImportError(f"NSE's {segment} entry {n + 1} is not a holiday")
            try:
                day = _nse_date(str(entry["tradingDate"]))
            except (KeyError, ValueError, TypeError):
                raise CalendarImportError(
                    f"NSE's {segment} entry {n + 1}: tradingDate "
                    f"{entry.get('tradingDate')!r} is not a date like 26-Jan-2027"
                ) from None
            if day.year != year or day.weekday() >= 5 or (day, CalendarSegment(segment)) in held:
                continue
            holiday = days.setdefault(
                day,
                {
                    "date": day.isoformat(),
                    "segments": [],
                    "kind": "full",
                    "name": str(entry.get("description", "")).strip() or "Trading holiday",
                    "source": f"NSE holiday-master ({source}), fetched {datetime.now(UTC):%d %b %Y}",
                },
            )
            holiday["segments"].append(segment)
    if not days:
        raise CalendarImportError(f"NSE's list has no {year} holidays yet")
    for segment in _SEGMENTS:
        if not any(segment in holiday["segments"] for holiday in days.values()):
            raise CalendarImportError(f"NSE's list has no {year} {segment} holidays yet")
    return {
        "schema": SCHEMA_VERSION,
        "exchange": "NSE",
        "covered_years": [year],
        "holidays": [days[d] for d in sorted(days)],
    }


def reload(override_dir: Path | None = None) -> MarketCalendar:
    """The calendar as it is now on disk (after an import)."""
    return MarketCalendar.load(override_dir or locations.USER_DIRECTORY)


_MONTHS = {
    m: n
    for n, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}


def _nse_date(text: str) -> date:
    """NSE's ``26-Jan-2027``; ValueError if not."""
    day, month, year = text.strip().split("-")
    return date(int(year), _MONTHS[month.title()], int(day))


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).stem).strip(".-") or "calendar"
    return f"{stem}.json"


def _located(error: CalendarDataError, origin: str, fields: FieldLines) -> str:
    """The error as "line N, field F: problem", the line found in the imported text."""
    problem = _problem(error)
    if error.origin != origin:  # about the packaged data or another override file
        return f"{error.field} ({error.origin}): {problem}"
    if error.field == "(file)":  # about the whole text, not one field of it
        return f"the file is {problem}" if problem.startswith("nested") else problem
    if error.field.startswith("line "):  # a JSON syntax error already says where
        return f"{error.field}: {problem}"
    line = fields.line_of(error.field)
    where = f"line {line}, field {error.field}" if line else f"field {error.field}"
    return f"{where}: {problem}"


def _problem(error: CalendarDataError) -> str:
    """The error's words without the file and field it names."""
    return str(error).removeprefix(f"{error.origin}: {error.field}: ")
