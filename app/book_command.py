"""`dalaldesk book check | repair | backups | restore BACKUP`: the health of a book, in words.

check    lists what the desk cannot read (and what was set aside before); exit 0 healthy,
         1 problems found, 2 the book file itself is unreadable or not there
repair   sets aside every row the desk cannot read (kept in the journal: nothing is deleted)
backups  lists the copies taken at clean closes, at each day's first start and after its session
restore  puts a backup in place of the book; the file it replaces is moved aside, never deleted
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from app.main import book_url
from app.startup import StartupProblem
from engine.brokers.registry import broker_names, feed_names
from engine.core.clock import IST
from engine.store import (
    StoreError,
    book_file_of,
    open_database,
    redact_url,
)
from engine.store.backup import list_backups, restore_backup
from engine.store.book import BookUnreadable, check_journal
from engine.store.book_lock import lock_book

EXIT_HEALTHY, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dalaldesk book", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("check", "repair", "backups", "restore"))
    parser.add_argument("backup", nargs="?", type=Path, help="restore: the backup file")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--broker", default="paper", choices=broker_names())
    parser.add_argument("--feed", default=None, choices=feed_names())
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the book")
    # Intermixed: `book restore --profile NAME FILE` reads as `book restore FILE --profile NAME`.
    args = parser.parse_intermixed_args(argv)
    if args.action == "restore" and args.backup is None:
        parser.error("restore needs the backup file (see `dalaldesk book backups`)")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        url = book_url(args)
        if args.action in ("check", "repair"):
            return check(url, repair=args.action == "repair")
        path = book_file_of(url)
        if path is None:
            print("backups of a server book (PostgreSQL) are its database administrator's")
            return EXIT_PROBLEMS
        if args.action == "backups":
            return show_backups(path)
        aside = restore_backup(args.backup, path)
        print(f"restored {path} from {args.backup}")
        if aside is not None:
            print(f"the file it replaced is kept as {aside}")
        return EXIT_HEALTHY
    except (StartupProblem, StoreError, OSError) as problem:
        print(f"dalaldesk book: {problem}", file=sys.stderr)
        return EXIT_UNREADABLE if isinstance(problem, BookUnreadable) else EXIT_PROBLEMS


def check(url: str, *, repair: bool) -> int:
    path = book_file_of(url)
    if path is not None and not path.exists():
        # Opening would create an empty book and call it healthy, hiding a mistyped name.
        print(f"there is no book at {path}: check --profile, --broker, --feed or --db")
        return EXIT_UNREADABLE
    lock = lock_book(url) if repair else None  # repairing writes: no desk may hold the book
    try:
        with open_database(url) as database:
            report = check_journal(database.journal, redact_url(url), repair=repair)
    except BookUnreadable as unreadable:
        print(unreadable)
        return EXIT_UNREADABLE
    finally:
        if lock is not None:
            lock.release()
    print("\n".join(report.lines()))
    if repair and report.repaired:
        print(f"{report.repaired} row(s) set aside; the desk now opens the book without them")
    return EXIT_HEALTHY if report.healthy or repair else EXIT_PROBLEMS


def show_backups(path: Path) -> int:
    backups = list_backups(path)
    if not backups:
        print(
            f"no backups of {path} yet (one is taken at each clean close, at each day's start "
            "and after its session)"
        )
        return EXIT_HEALTHY
    print(f"backups of {path}, newest first:")
    for backup in backups:
        when = f"{datetime.fromtimestamp(backup.created, IST):%d %b %Y %H:%M:%S} IST"
        print(f"  {backup.path}  {when}  {backup.size / 1024:,.0f} KB  ({backup.reason})")
    return EXIT_HEALTHY
