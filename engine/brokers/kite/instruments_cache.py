"""Kite's instruments master, downloaded once a day and kept in the user cache directory.

Kite regenerates the master once a day, early in the morning (kite_xts_apis.md §A.13); the file
of a day is ``kite-instruments-YYYY-MM-DD.csv`` in ``<user cache>/dalaldesk/kite``. Before
``fresh_after`` (08:30 IST) the previous day's master is still the current one. The file holds no
secret (it is public market data). Loading goes through ``engine.brokers.kite.instruments_csv``, which maps
lot and tick sizes and takes index F&O freeze quantities from DalalDesk's freeze table (the
master has no freeze column). Parsing ~100,000 rows runs in a worker thread, off the loop.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import platformdirs

from engine.brokers.kite.instruments_csv import (
    KITE_COLUMNS,
    LoadResult,
    load_kite_instruments,
)
from engine.brokers.kite.rest import KiteRest
from engine.core.clock import IST, Clock
from engine.domain.freeze import FreezeTable

log = logging.getLogger(__name__)

FRESH_AFTER = time(8, 30)
KEEP_FILES = 3
_PREFIX = "kite-instruments-"

FetchCsv = Callable[[], Awaitable[str]]


def default_directory() -> Path:
    return Path(platformdirs.user_cache_dir("dalaldesk")) / "kite"


def master_day(now: datetime, fresh_after: time = FRESH_AFTER) -> date:
    """The day whose master is current at ``now``: today's once Kite has published it."""
    local = now.astimezone(IST)
    return local.date() if local.time() >= fresh_after else local.date() - timedelta(days=1)


class InstrumentsCache:
    def __init__(
        self,
        fetch: FetchCsv,
        *,
        clock: Clock,
        directory: Path | None = None,
        freeze_table: FreezeTable | Mapping[str, int] | None = None,
        fresh_after: time = FRESH_AFTER,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self.directory = directory or default_directory()
        self._freeze_table = freeze_table
        self._fresh_after = fresh_after
        self.downloads = 0

    def path_for(self, day: date) -> Path:
        return self.directory / f"{_PREFIX}{day.isoformat()}.csv"

    def current_path(self) -> Path:
        return self.path_for(master_day(self._clock.now(), self._fresh_after))

    def cached(self) -> Path | None:
        """Today's master if it is on disk already."""
        path = self.current_path()
        return path if path.is_file() else None

    async def load(self, *, refresh: bool = False) -> LoadResult:
        """The current master: from the cache, or downloaded (once a day, or on ``refresh``)."""
        path = self.current_path()
        if refresh or not path.is_file():
            text = await self._fetch()
            if not text.strip():
                raise ValueError("Kite sent an empty instruments master")
            await asyncio.to_thread(self._store, path, text)
            self.downloads += 1
        result = await asyncio.to_thread(load_kite_instruments, path, self._freeze_table)
        if result.errors:
            log.warning(
                "instruments master %s: %d rows skipped, first: %s",
                path.name,
                len(result.errors),
                result.errors[0],
            )
        log.info("instruments master %s: %d instruments", path.name, len(result.instruments))
        return result

    def _store(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed: a reader never sees half a master.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".download-", suffix=".csv")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for old in sorted(path.parent.glob(f"{_PREFIX}*.csv"))[:-KEEP_FILES]:
            old.unlink(missing_ok=True)


def kite_csv_from_rows(rows: Iterable[Mapping[str, Any]]) -> str:
    """Kite's CSV again from the rows the official client parsed (dates and floats back to text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KITE_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in KITE_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def rest_fetch(rest: KiteRest) -> FetchCsv:
    """Download through the REST wrapper (rate-limited, retried, session-checked)."""

    async def fetch() -> str:
        rows = await rest.instruments()
        return kite_csv_from_rows(rows)

    return fetch
