"""The diagnostics bundle: one zip a trader can send when something goes wrong.

It holds ``about.txt`` (DalalDesk, Python, Qt, PySide6 and OS versions, the profile, the desk's
broker and book), the profile's recent log files (newest first, each capped to its last
``LOG_FILE_CAP`` bytes, all of them to ``LOGS_CAP``), its crash reports, its layout and settings
files and the calendar files the trader imported, ``book-check.txt`` (what
``dalaldesk book check`` says of the book, and its backups) and ``folders.txt`` (what is in the
desk's data, settings and log folders: names and sizes, no contents).

Secrets never go in it. Every file passes through the log redaction (``redact``) and then has
each secret the caller names (the profile's keyring entries, the local API's token) replaced by
``***``; what is left is checked once more before the zip is written. Nothing here uses Qt: the
window's Help menu and tests call ``write_bundle`` alike.
"""

from __future__ import annotations

import errno
import importlib
import importlib.metadata
import json
import logging
import os
import platform
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import platformdirs

from engine.alerts.delivery.settings import BOT_TOKEN, PASSWORD, SMTP, TELEGRAM
from engine.brokers.xts.credentials import (
    APP_KEY,
    MARKET_DATA_APP_KEY,
    MARKET_DATA_SECRET_KEY,
    SECRET_KEY,
    TOKEN,
    XTS,
)
from engine.calendar.locations import default_override_dir
from engine.core.clock import IST
from engine.core.logs import redact
from engine.credentials import (
    ACCESS_TOKEN,
    API_KEY,
    API_SECRET,
    KITE,
    CredentialStore,
    CredentialsUnavailable,
)
from engine.settings.store import SETTINGS_FILE_CAP
from engine.store import StoreError, book_file_of, open_database, redact_url
from engine.store.backup import list_backups
from engine.store.book import check_journal

log = logging.getLogger(__name__)

LOG_FILE_CAP = 2_000_000
"""The most of one log file the bundle keeps (its end: the most recent lines)."""
LOGS_CAP = 8_000_000
"""The most of all log files together."""
CRASH_REPORTS_KEPT = 10
FOLDER_LIST_CAP = 2_000
"""Entries listed per folder tree in ``folders.txt``."""
SETTINGS_SUFFIXES = (".ini", ".json", ".conf", ".yaml")
REDACTED = "***"
SECRET_ENVIRONMENT = ("DALALDESK_API_TOKEN", "DALALDESK_WEBHOOK_PASSPHRASE")
"""Where scripts and tests hand the desk its local API token and webhook passphrase."""
MIN_SECRET_LENGTH = 4
"""Shorter values are not searched for: they would blank ordinary words, and no real key is."""


class DiagnosticsError(Exception):
    """The bundle could not be written; the message says why and what to do, in words."""


@dataclass(frozen=True)
class DeskFacts:
    """What the bundle reports about one desk (a profile and its book)."""

    profile: str
    db_url: str | None
    """The book the desk trades in (redacted before it is written); None: no book to check."""
    log_dir: Path
    settings_dir: Path
    """The profile's settings folder (``layout.ini`` and friends)."""
    calendars_dir: Path | None = None
    data_dirs: Sequence[Path] = ()
    """Folders whose contents are listed (names and sizes only)."""
    details: Sequence[tuple[str, str]] = ()
    """Further lines for ``about.txt`` (broker, feed, ...)."""
    secrets: Iterable[str] = field(default=(), repr=False)
    """Values that must not appear anywhere in the bundle."""


@dataclass(frozen=True)
class BundleReport:
    path: Path
    files: tuple[str, ...]
    redactions: int
    """How many secret values were found in the files and replaced."""

    def describe(self) -> str:
        size = self.path.stat().st_size
        return (
            f"The diagnostics bundle was saved to {self.path} ({size / 1024:,.0f} KB, "
            f"{len(self.files)} files). It holds the desk's versions, recent logs, layout and "
            "settings, the book check and a list of the data folders; no API key, secret or "
            "token. Send it to support."
        )


def write_bundle(out: Path, desk: DeskFacts, *, now: datetime | None = None) -> BundleReport:
    """Write the diagnostics zip to ``out``; ``DiagnosticsError`` says why it could not be."""
    moment = now or datetime.now().astimezone()
    secrets = sorted(
        {s for s in desk.secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
    )
    entries = gather(desk, moment)
    cleaned: dict[str, bytes] = {}
    redactions = 0
    for name, data in entries.items():
        data, found = scrub(data, secrets)
        redactions += found
        cleaned[name] = data
    leaked = [name for name, data in cleaned.items() if any(s.encode() in data for s in secrets)]
    if leaked:  # scrub() makes this impossible; never send a bundle if it ever is not
        raise DiagnosticsError(f"a secret was still found in {', '.join(leaked)}; nothing written")
    _write_zip(out, cleaned)
    log.info("diagnostics bundle written to %s (%d files)", out, len(cleaned))
    return BundleReport(out, tuple(cleaned), redactions)


def scrub(data: bytes, secrets: Sequence[str]) -> tuple[bytes, int]:
    """``data`` with credentials in log form redacted and each of ``secrets`` replaced; the
    number of secret values replaced."""
    text = data.decode("utf-8", "surrogateescape")  # any byte survives the round trip
    text = redact(text)
    found = 0
    for secret in secrets:
        found += text.count(secret)
        text = text.replace(secret, REDACTED)
    return text.encode("utf-8", "surrogateescape"), found


def gather(desk: DeskFacts, now: datetime) -> dict[str, bytes]:
    """Every file of the bundle, by its name in the zip, before scrubbing."""
    entries: dict[str, bytes] = {"about.txt": about(desk, now).encode()}
    entries.update(_log_files(desk.log_dir))
    entries.update(_settings_files(desk.settings_dir, "settings"))
    if desk.calendars_dir is not None:
        entries.update(_settings_files(desk.calendars_dir, "calendars"))
    entries["book-check.txt"] = book_check(desk.db_url).encode()
    entries["folders.txt"] = folders([*desk.data_dirs, desk.settings_dir, desk.log_dir]).encode()
    return entries


KEYRING_SECRETS = (
    *((KITE, name) for name in (API_KEY, API_SECRET, ACCESS_TOKEN)),
    *(
        (XTS, name)
        for name in (APP_KEY, SECRET_KEY, TOKEN, MARKET_DATA_APP_KEY, MARKET_DATA_SECRET_KEY)
    ),
    (TELEGRAM, BOT_TOKEN),
    (SMTP, PASSWORD),
    ("signals", "webhook_passphrase"),
    ("api", "token"),
)
"""Every keyring entry of a profile that holds a secret (service, name)."""


def known_secrets(store: CredentialStore) -> list[str]:
    """Every secret the desk may hold for the store's profile: its keyring entries (``KEYRING_
    SECRETS``: the brokers' keys and tokens, the notification channels', the webhook passphrase
    and the local API token) and the local API's and webhook's values from the environment. A
    keyring that cannot be read yields none: the desk could not have used what it cannot read
    either."""
    found: list[str] = []
    try:
        for service, name in KEYRING_SECRETS:
            value = store.get(service, name)
            if value:
                found.append(value)
                found += _json_strings(value)  # the bare token, as a log could show it
    except CredentialsUnavailable as exc:
        log.warning("diagnostics: the keyring could not be read (%s)", redact(str(exc)))
    found += [os.environ[v] for v in SECRET_ENVIRONMENT if os.environ.get(v)]
    return found


def _json_strings(value: str) -> list[str]:
    """The token inside a keyring entry kept as JSON (the access token with its expiry)."""
    try:
        data = json.loads(value)
    except ValueError:
        return []
    token = data.get("token") if isinstance(data, dict) else None
    return [token] if isinstance(token, str) else []


def desk_facts(
    profile: str,
    db_url: str | None,
    *,
    store: CredentialStore | None = None,
    details: Sequence[tuple[str, str]] = (),
) -> DeskFacts:
    """The facts of the desk running ``profile`` on the book ``db_url``, where this machine
    keeps its files."""
    from app.gui import settings_path
    from engine.core.logs import log_dir

    return DeskFacts(
        profile=profile,
        db_url=db_url,
        log_dir=log_dir(profile),
        settings_dir=settings_path(profile).parent,
        calendars_dir=default_override_dir(),
        data_dirs=(Path(platformdirs.user_data_dir("dalaldesk")),),
        details=details,
        secrets=known_secrets(store or CredentialStore(profile)),
    )


# -- about -----------------------------------------------------------------------------------------


def about(desk: DeskFacts, now: datetime) -> str:
    lines = [
        f"DalalDesk diagnostics, {now.isoformat(timespec='seconds')}",
        "",
        f"DalalDesk: {dalaldesk_version()}",
        f"Python: {sys.version.split()[0]} ({platform.python_implementation()}, "
        f"{'frozen bundle' if getattr(sys, 'frozen', False) else 'installed package'})",
        f"PySide6: {_package_version('PySide6')}",
        f"Qt: {qt_version()}",
        f"OS: {platform.platform()} ({platform.machine()})",
        f"Profile: {desk.profile}",
        f"Book: {redact_url(desk.db_url) if desk.db_url else 'none'}",
    ]
    lines += [f"{key}: {value}" for key, value in desk.details]
    lines += [
        "",
        f"Logs: {desk.log_dir}",
        f"Settings: {desk.settings_dir}",
        *(f"Data: {folder}" for folder in desk.data_dirs),
    ]
    return "\n".join(lines) + "\n"


def dalaldesk_version() -> str:
    return _package_version("dalaldesk")


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


def qt_version() -> str:
    """The Qt library's version, read without starting any Qt application."""
    try:
        core = importlib.import_module("PySide6.QtCore")
    except ImportError as exc:
        return f"unavailable ({exc})"
    return str(core.qVersion())


# -- logs and settings -----------------------------------------------------------------------------


def _log_files(directory: Path) -> dict[str, bytes]:
    """The newest log files first, each cut to its end, until the total cap; crash reports (the
    newest few) and the fault log."""
    if not directory.is_dir():
        return {"logs/README.txt": f"No log folder at {directory}.\n".encode()}
    files = sorted(
        (p for p in directory.iterdir() if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    crashes = [p for p in files if p.name.startswith("crash-")][:CRASH_REPORTS_KEPT]
    logs = [p for p in files if p.name.startswith(("dalaldesk.log", "faults.log"))]
    chosen: dict[str, bytes] = {}
    budget = LOGS_CAP
    for path in [*crashes, *logs]:
        if budget <= 0:
            break
        data = _tail(path, min(LOG_FILE_CAP, budget))
        budget -= len(data)
        chosen[f"logs/{path.name}"] = data
    return chosen


def _tail(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size <= limit:
            return handle.read()
        handle.seek(size - limit)
        data = handle.read()
    cut = data.find(b"\n") + 1  # start on a whole line
    note = f"[the first {size - limit + cut:,} bytes of this file are left out]\n".encode()
    return note + data[cut:]


def _settings_files(directory: Path, prefix: str) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    chosen = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in SETTINGS_SUFFIXES:
            if path.stat().st_size <= SETTINGS_FILE_CAP:
                chosen[f"{prefix}/{path.name}"] = path.read_bytes()
            else:
                chosen[f"{prefix}/{path.name}.txt"] = b"left out: larger than 1 MB\n"
    return chosen


# -- the book and the folders ----------------------------------------------------------------------


def book_check(db_url: str | None) -> str:
    """What ``dalaldesk book check`` says of the book, and its backups; never creates a book."""
    if db_url is None:
        return "No book to check.\n"
    path = book_file_of(db_url)
    if path is not None and not path.exists():
        return f"No book yet at {path}.\n"
    try:
        with open_database(db_url) as database:
            report = check_journal(database.journal, redact_url(db_url), repair=False)
        lines = report.lines()
    except (StoreError, OSError) as problem:  # an unreadable book is what support must see
        lines = [f"book {redact_url(db_url)}", f"the book could not be checked: {problem}"]
    if path is not None:
        backups = list_backups(path)
        lines.append(f"backups: {len(backups)}")
        lines += [
            f"  {b.path.name}  {datetime.fromtimestamp(b.created, IST):%d %b %Y %H:%M} IST"
            f"  {b.size / 1024:,.0f} KB  ({b.reason})"
            for b in backups
        ]
    return "\n".join(lines) + "\n"


def folders(roots: Iterable[Path]) -> str:
    """Each folder's files with their sizes and times (names only, never contents)."""
    lines = []
    seen: set[Path] = set()
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        if not root.is_dir():
            lines += [f"{root}: not there", ""]
            continue
        lines.append(f"{root}:")
        entries = sorted(root.rglob("*"))
        for path in entries[:FOLDER_LIST_CAP]:
            if path.is_file():
                stat = path.stat()
                when = datetime.fromtimestamp(stat.st_mtime, IST)
                lines.append(
                    f"  {path.relative_to(root)}  {stat.st_size:,} bytes  {when:%d %b %Y %H:%M} IST"
                )
        if len(entries) > FOLDER_LIST_CAP:
            lines.append(f"  ... and {len(entries) - FOLDER_LIST_CAP:,} more")
        lines.append("")
    return "\n".join(lines)


# -- writing ---------------------------------------------------------------------------------------


def _write_zip(out: Path, entries: dict[str, bytes]) -> None:
    """Write to a temporary file beside ``out`` and move it in place: a failed write leaves no
    half a bundle behind."""
    partial = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for name, data in entries.items():
                bundle.writestr(f"dalaldesk-diagnostics/{name}", data)
        os.replace(partial, out)
    except OSError as exc:
        try:
            partial.unlink(missing_ok=True)
        except OSError as cleanup:
            log.warning("could not remove the partial bundle %s: %s", partial, cleanup)
        raise DiagnosticsError(_explain_write_error(out, exc)) from exc


def _explain_write_error(out: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        advice = "The disk is full: free some space or choose another drive."
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "DalalDesk may not write there: choose another folder (your home or Desktop)."
    elif exc.errno == errno.ENOENT:
        advice = "That folder does not exist: choose another one."
    else:
        advice = "Choose another folder and try again."
    return f"The diagnostics bundle could not be saved to {out}: {reason}. {advice}"


# -- from a terminal -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m app.diagnostics [OUT.zip] [--profile P] [--broker B] [--feed F] [--db URL]``:
    the same bundle as Help → Save diagnostics bundle…, for a desk that does not start."""
    import argparse

    from app.main import book_url, profile_name
    from app.startup import StartupProblem
    from engine.brokers.registry import broker_names, feed_names

    stamp = datetime.now(IST).strftime("%Y%m%d-%H%M")
    parser = argparse.ArgumentParser(prog="dalaldesk diagnostics", description=main.__doc__)
    parser.add_argument(
        "out", nargs="?", type=Path, default=Path.home() / f"dalaldesk-diagnostics-{stamp}.zip"
    )
    parser.add_argument("--profile", default="default", type=profile_name)
    parser.add_argument("--broker", default="paper", choices=broker_names())
    parser.add_argument("--feed", default=None, choices=feed_names())
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of the book")
    args = parser.parse_args(argv)
    try:
        url = book_url(args)
        details = (("Broker", args.broker), ("Feed", args.feed or "default"))
        report = write_bundle(args.out, desk_facts(args.profile, url, details=details))
    except (DiagnosticsError, StartupProblem) as problem:
        print(f"dalaldesk diagnostics: {problem}", file=sys.stderr)
        return 1
    print(report.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
