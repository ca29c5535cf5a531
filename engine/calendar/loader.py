"""Finding and reading calendar files: the packaged NSE file plus the user's override files."""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from engine.calendar import locations
from engine.calendar.data import merge_documents
from engine.calendar.errors import CalendarDataError
from engine.calendar.json_lines import TOO_DEEP
from engine.calendar.locations import USER_DIRECTORY, OverrideDir, UseDefault
from engine.calendar.market_calendar import MarketCalendar
from engine.calendar.schema import CalendarDocument, parse_document

log = logging.getLogger(__name__)

PACKAGED_ORIGIN: Final = "packaged:resources/calendars/nse.json"


def load_calendar(override_dir: OverrideDir = USER_DIRECTORY) -> MarketCalendar:
    """The NSE calendar: the packaged file merged with the ``*.json`` files of ``override_dir``.

    ``USER_DIRECTORY`` (the default) reads :func:`~engine.calendar.locations.default_override_dir`.
    Override files apply in :func:`~engine.calendar.locations.rank` order (files kept by hand in
    name order, then imports in the order they were made; the later wins); ``None`` reads none.
    A missing directory means no overrides. An unreadable or invalid file (nested too deeply
    included) raises :class:`CalendarDataError` naming the file and the field: a calendar that
    is silently wrong is worse than none.
    """
    base = read_packaged()
    documents = [base]
    if override_dir is not None:
        directory = (
            locations.default_override_dir()
            if isinstance(override_dir, UseDefault)
            else Path(override_dir)
        )
        documents += read_override_dir(directory, exchange=base.exchange)
    return MarketCalendar(merge_documents(documents))


@cache
def packaged_calendar() -> MarketCalendar:
    """The packaged NSE calendar alone, read once: for code given no calendar of its own.

    It holds the exchange's timetables and their dated changes, so it answers what time a session
    closes on any date; the trader's override files (holiday lists, special sessions) are in
    :func:`load_calendar`'s calendar, which callers that have one should pass instead.
    """
    return MarketCalendar(merge_documents([read_packaged()]))


def read_packaged() -> CalendarDocument:
    text = (resources.files("resources") / "calendars" / "nse.json").read_text(encoding="utf-8")
    return parse_document(_decode(text, PACKAGED_ORIGIN), PACKAGED_ORIGIN, is_base=True)


def read_override_dir(directory: Path, *, exchange: str) -> list[CalendarDocument]:
    """The override files in ``directory`` that are about ``exchange``, lowest rank first."""
    if not directory.is_dir():
        return []
    documents = []
    for path in sorted(directory.glob("*.json"), key=locations.rank):
        document = read_override_file(path)
        if document.exchange != exchange:
            log.info(
                "calendar override %s is for %s, not %s: skipped", path, document.exchange, exchange
            )
            continue
        documents.append(document)
    return documents


def read_override_file(path: Path) -> CalendarDocument:
    origin = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows Notepad starts a file with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarDataError(origin, "(file)", f"cannot be read: {exc}") from exc
    return parse_document(_decode(text, origin), origin, is_base=False)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys without a word; in a hand-edited file that hides a typo.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _decode(text: str, origin: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise CalendarDataError(
            origin, f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}"
        ) from exc
    except _DuplicateKey as exc:
        raise CalendarDataError(
            origin, exc.key, "the same key appears twice in one object"
        ) from exc
    except RecursionError:
        raise CalendarDataError(origin, "(file)", TOO_DEEP) from None
