"""What keeps a backtest run whole around the engine: its name (a folder of its own, claimed
before any long work and given up with nothing left behind when nothing was kept), and a replay
watched to its end, so a day that cannot be read stops the run in words naming its file instead
of leaving it waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.backtest.results import has_result
from engine.core.clock import IST, SimulatedClock
from engine.domain.ticks import Tick
from engine.marketdata.recording import TICKS as TICK_FILES
from engine.marketdata.recording import RecordedDay, RecordingError
from engine.marketdata.replay import BarReplayFeed, ReplayFeed
from engine.store.book_lock import BookHolder, BookLock, book_holder

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

NAME_MAX = 100
"""The longest run name, in characters (a folder's name; a sweep adds ``-001`` to it)."""


def run_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a run (its own folder in the runs folder), in words; None when
    it can."""
    if not isinstance(name, str) or not name.strip():
        return "a run needs a name"
    if name in (".", ".."):
        return f"a run cannot be named {name!r}: that is not a folder of its own"
    return folder_name_problem(name, "a run's name")


def folder_name_problem(name: str, what: str) -> str | None:
    """Why ``name`` cannot be a folder's own name inside another (``what`` says what it is,
    e.g. "a run's name"), in words; None when it can."""
    if name in ("", ".", ".."):
        return f"{what} cannot be {name!r}: that is not a folder of its own"
    if any(c in name for c in "/\\:"):
        return f"{what} cannot hold / \\ or : (it names a folder): {name!r}"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return f"{what} cannot hold a control character (a tab, a line break): {name!r}"
    if name != name.strip() or name.startswith(".") or name.endswith("."):
        return f"{what} cannot start or end with a space or a dot: {name!r}"
    if len(name) > NAME_MAX:
        return f"{what} is at most {NAME_MAX} characters, not {len(name)}"
    return None


def let_go(claim: BookLock, folders: list[Path]) -> None:
    """Give the claim up with its file (a kept run's book refuses the name from then on), then
    the run's folder and those the claim made, each while it is empty (nothing was kept). The
    file goes while still held where the system allows it (POSIX), so a run that opened it
    meanwhile is refused."""
    with contextlib.suppress(OSError):
        claim.path.unlink()
    claim.release()
    with contextlib.suppress(OSError):
        claim.path.unlink(missing_ok=True)
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or not there): kept, and so are those it is in
            return


@dataclass(slots=True)
class Reading:
    """The recorded day whose ticks the replay reads now (None before the first)."""

    day: RecordedDay | None = None


@dataclass(frozen=True, slots=True)
class TracedDay(RecordedDay):
    """A recorded day that tells ``reading`` when the replay comes to its ticks, so a day that
    cannot be replayed is named."""

    reading: Reading = field(default_factory=Reading, compare=False, repr=False)

    def tick_tables(self, batch_rows: int = 50_000) -> Iterator[pa.Table]:
        self.reading.day = self
        yield from RecordedDay.tick_tables(self, batch_rows)


class WatchedFeed:
    """The replay as the engine runs it, telling the run when it ends: whole, stopped, or
    failed (the engine only logs a failed feed, and the run would wait for its end forever)."""

    def __init__(self, feed: ReplayFeed | BarReplayFeed) -> None:
        self._feed = feed
        self.ended = asyncio.Event()
        self.failure: Exception | None = None

    async def run(self, on_tick: Callable[[Tick], None], stop: asyncio.Event) -> None:
        try:
            await self._feed.run(on_tick, stop)
        except Exception as exc:  # told to the trader by the run, with the traceback logged
            log.info("the replay failed", exc_info=exc)
            self.failure = exc
        finally:
            self.ended.set()


def replay_stopped(
    failure: Exception | None, reading: Reading, clock: SimulatedClock, folder: Path
) -> str:
    """Why a replay ended before its end, in one line naming the file it was reading."""
    what = "the replay ended before its end"
    if isinstance(failure, RecordingError):
        what = str(failure)  # the file and the reader's own words
    elif failure is not None:
        detail = str(failure.args[0]) if isinstance(failure, KeyError) else str(failure)
        reason = detail or type(failure).__name__
        day = reading.day
        files = [] if day is None else day.files(TICK_FILES)
        where = str(files[0]) if len(files) == 1 else f"the ticks in {day.folder}" if day else ""
        what = f"{where} cannot be replayed: {reason}" if where else f"the replay failed: {reason}"
    said = " ".join(line.strip() for line in what.splitlines())
    return (
        f"the run stopped at {clock.now().astimezone(IST):%Y-%m-%d %H:%M:%S} IST market time: "
        f"{said}. The book in {folder} keeps the run up to there; set the recording right (or "
        f"choose a range without that day) and run it again under another name (or remove "
        f"{folder} first)"
    )


def name_taken(name: str, folder: Path, book: Path, holder: BookHolder | None = None) -> str:
    """Why run ``name`` cannot have its book at ``book``, in words, with a name that is free."""
    other = f"choose another name than {name!r}, such as {_free_name(folder)!r}"
    if holder is not None or book_holder(book) is not None:
        by = f" ({holder.describe()})" if holder is not None else ""
        return f"a run is going on in {folder}: {other}{by}"
    if has_result(book):
        return f"a run is already kept in {folder}: {other}"
    return (
        f"{folder} holds a run that stopped before its end (no result was kept): remove that "
        f"folder or {other}"
    )


def _free_name(folder: Path) -> str:
    """The first of ``<name>-2``, ``<name>-3``... with no folder in the runs folder."""
    number = 2
    while (folder.parent / f"{folder.name}-{number}").exists():
        number += 1
    return f"{folder.name}-{number}"
