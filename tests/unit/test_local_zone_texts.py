"""Times the trader reads are IST, labelled, whatever zone the computer is set to.

A desk in Dubai, London or New York trades NSE: every other time it shows is IST, so the shared
book's desk list, the backup listings, the diagnostics bundle and the backups' names are too.
Copies named in the computer's zone by earlier versions are still listed and rotated.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.book_command import show_backups
from app.diagnostics import book_check, folders
from engine.core.clock import IST
from engine.store.backup import KEEP, backup_book, list_backups
from engine.store.book import describe_unreadable
from engine.store.desks import DeskInfo

MOMENT = datetime(2025, 12, 7, 18, 0, tzinfo=IST)
"""12:30 UTC: 07:30 in New York, where the tests put the computer."""


@pytest.fixture(autouse=True)
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The computer's zone set to New York (10 h 30 min behind IST in December)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    assert time.localtime(MOMENT.timestamp()).tm_hour == 7
    yield
    monkeypatch.undo()
    time.tzset()


def a_book(folder: Path) -> Path:
    book = folder / "paper.db"
    with sqlite3.connect(book) as connection:
        connection.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY)")
    connection.close()
    return book


def test_shared_desk_text_when_the_computer_is_in_another_zone_says_since_when_in_ist() -> None:
    desk = DeskInfo(7, 1, 0, "paper", "pc", 4242, "nri", int(MOMENT.timestamp()) * 10**9)
    assert desk.describe() == "desk 7 (process 4242 on pc, user nri, open since 07 Dec 18:00 IST)"


def test_backup_listings_when_the_computer_is_in_another_zone_show_ist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = a_book(tmp_path)
    copy = backup_book(book, "daily")
    os.utime(copy, (MOMENT.timestamp(), MOMENT.timestamp()))
    (listed,) = list_backups(book)

    assert show_backups(book) == 0
    assert "07 Dec 2025 18:00:00 IST" in capsys.readouterr().out
    assert "(07 Dec 2025 18:00 IST, " in describe_unreadable(book, "is damaged", [listed])
    assert f"{copy.name}  07 Dec 2025 18:00 IST" in book_check(f"sqlite:///{book}")
    assert f"{copy.name}  " in folders([tmp_path / "backups"])
    assert "07 Dec 2025 18:00 IST" in folders([tmp_path / "backups"])
    assert "07:30" not in folders([tmp_path / "backups"])


def test_backup_name_when_the_computer_is_in_another_zone_is_stamped_in_ist(
    tmp_path: Path,
) -> None:
    book = a_book(tmp_path)
    before = datetime.now(IST).replace(microsecond=0)
    copy = backup_book(book, "close")
    after = datetime.now(IST)

    stamp = re.fullmatch(r"paper-(\d{8}-\d{6})-\d{6}-close\.db", copy.name)
    assert stamp is not None, copy.name
    named = datetime.strptime(stamp.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=IST)
    assert before <= named <= after


def test_backup_rotation_when_older_copies_are_named_in_the_computers_zone_still_counts_them(
    tmp_path: Path,
) -> None:
    book = a_book(tmp_path)
    folder = tmp_path / "backups"
    folder.mkdir()
    old = []
    for days in range(KEEP["close"]):  # named by an earlier version, in New York's time
        made = datetime.now().astimezone() - timedelta(days=days + 1)
        path = folder / f"paper-{made:%Y%m%d-%H%M%S-%f}-close.db"
        path.write_bytes(book.read_bytes())
        os.utime(path, (made.timestamp(), made.timestamp()))
        old.append(path)

    newest = backup_book(book, "close")

    kept = [b.path for b in list_backups(book)]
    assert len(kept) == KEEP["close"]
    assert kept[0] == newest
    assert old[-1] not in kept and not old[-1].exists()  # the oldest copy made way
    assert old[0] in kept
