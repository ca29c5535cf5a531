"""The diagnostics bundle: what it holds, that it never holds a secret, and that a bundle that
cannot be written is explained in words and leaves nothing half-written behind."""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from app import diagnostics
from app.diagnostics import (
    LOG_FILE_CAP,
    DeskFacts,
    DiagnosticsError,
    book_check,
    desk_facts,
    write_bundle,
)
from app.gui import settings_path
from engine.core.logs import log_dir, setup_logging
from engine.credentials import CredentialStore
from engine.domain.orders import OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.kite_desk import ADANIPORTS, market, open_desk, wait_for
from tests.kite_fake import FakeKite
from tests.memory_keyring import MemoryKeyring

PREFIX = "dalaldesk-diagnostics/"


def bundle_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as bundle:
        return {name.removeprefix(PREFIX): bundle.read(name) for name in bundle.namelist()}


@pytest.fixture
def profile() -> str:
    return f"diag-{secrets.token_hex(4)}"


@pytest.fixture
def desk_logging(profile: str) -> Iterator[Path]:
    """The profile's log file at DEBUG, as a running desk writes it; handlers put back after."""
    root = logging.getLogger()
    handlers_before, level_before = list(root.handlers), root.level
    path = setup_logging(profile, "DEBUG", console=False)
    yield path
    for handler in set(root.handlers) - set(handlers_before):
        handler.flush()
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level_before)


def paper_book(tmp_path: Path) -> str:
    """A paper book with an order and its fill in it."""
    url = f"sqlite:///{tmp_path / 'book.db'}"
    engine = Engine.build(
        EngineConfig(
            db_url=url,
            market=SimulatedMarketConfig(seed=3, strikes_each_side=3, always_open=True),
            always_open=True,
        )
    )
    try:
        stock = engine.api.instruments.by_symbol("NSE", "RELIANCE")
        assert stock is not None
        for tick in engine.market.step(1.0):
            engine.on_tick(tick)
        outcome = engine.api.place_order(stock.token, "BUY", 5, "MARKET", product="CNC")
        assert outcome.ok, outcome.reason
    finally:
        engine.close()
    return url


async def test_bundle_when_a_kite_desk_ran_with_credentials_holds_none_of_them(
    tmp_path: Path, profile: str, desk_logging: Path
) -> None:
    store = CredentialStore(profile, backend=MemoryKeyring())
    issued: list[str] = []
    async with FakeKite(heartbeat_s=0.1) as kite:
        kite.credentials.api_key = f"key{secrets.token_hex(6)}"
        kite.credentials.api_secret = f"secret{secrets.token_hex(12)}"
        for name in ("issue_access_token", "issue_request_token"):
            issue = getattr(kite.credentials, name)
            setattr(kite.credentials, name, lambda i=issue: issued.append(i()) or issued[-1])
        kite.oms.set_last_price("NSE", "ADANIPORTS", Decimal("400.00"))
        kite.ticker.set_market([market()])
        store.save_kite_keys(kite.api_key, kite.api_secret)
        desk = await open_desk(kite, store, tmp_path / "book.db", cache_dir=tmp_path / "cache")
        try:
            await desk.link.watch([ADANIPORTS])
            await wait_for(lambda: desk.engine.api.tick(ADANIPORTS) is not None)
            order_id = await desk.place(price="400.00")
            await wait_for(lambda: desk.engine.api.order(order_id).status is OrderStatus.OPEN)
            # Secrets where they should never be, as a careless script or a pasted note leaves
            # them: a log line no pattern recognises, and a settings file.
            logging.getLogger("someone.elses.script").warning(
                "debug dump %s %s", kite.api_secret, issued[-1]
            )
            settings = settings_path(profile).parent
            settings.mkdir(parents=True, exist_ok=True)
            (settings / "notes.ini").write_text(f"[kite]\nkey={kite.api_key}\n", encoding="utf-8")
        finally:
            await desk.stop()
        for handler in logging.getLogger().handlers:
            handler.flush()
        values = {
            "api key": kite.api_key,
            "api secret": kite.api_secret,
            **{f"token {n}": token for n, token in enumerate(issued)},
        }
    assert store.kite_access_token(desk.engine.clock.now()) is not None  # the desk logged in
    assert kite.api_secret.encode() in desk_logging.read_bytes()  # the planted leak is there

    out = tmp_path / "bundle.zip"
    report = write_bundle(
        out, desk_facts(profile, f"sqlite:///{tmp_path / 'book.db'}", store=store)
    )

    files = bundle_files(out)
    assert {"about.txt", "book-check.txt", "folders.txt", "logs/dalaldesk.log"} <= set(files)
    assert "settings/notes.ini" in files and b"key=***" in files["settings/notes.ini"]
    assert b"debug dump *** ***" in files["logs/dalaldesk.log"]
    assert report.redactions >= 3
    leaks = [
        f"{what} in {name}"
        for name, data in files.items()
        for what, value in values.items()
        if value.encode() in data
    ]
    assert leaks == []
    assert kite.api_secret not in report.describe()


def test_bundle_when_written_holds_versions_logs_settings_book_check_and_folders(
    tmp_path: Path, profile: str, desk_logging: Path
) -> None:
    url = paper_book(tmp_path)
    logging.getLogger("dalaldesk.test").info("the desk's own line")
    for handler in logging.getLogger().handlers:
        handler.flush()
    old = log_dir(profile) / "dalaldesk.log.1"
    old.write_bytes(b"an old line\n" * (LOG_FILE_CAP // 6))  # twice the cap: cut to its end
    (log_dir(profile) / "crash-20261204-101500-000001.log").write_text("Traceback: boom\n")
    settings = settings_path(profile)
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("[General]\ntheme=dark\n", encoding="utf-8")
    store = CredentialStore(profile, backend=MemoryKeyring())
    facts = desk_facts(profile, url, store=store, details=(("Broker", "paper"),))

    report = write_bundle(tmp_path / "b.zip", facts)

    files = bundle_files(report.path)
    about = files["about.txt"].decode()
    for field in ("DalalDesk:", "Python:", "PySide6:", "Qt:", "OS:", "Broker: paper"):
        assert field in about
    assert f"Profile: {profile}" in about
    assert b"the desk's own line" in files["logs/dalaldesk.log"]
    cut = files["logs/dalaldesk.log.1"]
    assert cut.startswith(b"[the first ") and len(cut) <= LOG_FILE_CAP + 100
    assert files["logs/crash-20261204-101500-000001.log"] == b"Traceback: boom\n"
    assert files["settings/layout.ini"] == b"[General]\ntheme=dark\n"
    check = files["book-check.txt"].decode()
    assert "journal rows:" in check and "orders: 1" in check and "backups:" in check
    listing = files["folders.txt"].decode()
    assert f"dalaldesk.log.1  {old.stat().st_size:,} bytes" in listing
    assert "layout.ini" in listing
    assert "Send it to support" in report.describe()


def test_book_check_when_there_is_no_book_yet_says_so_and_creates_none(tmp_path: Path) -> None:
    book = tmp_path / "never" / "book.db"
    assert book_check(f"sqlite:///{book}") == f"No book yet at {book}.\n"
    assert not book.exists() and not book.parent.exists()


def test_book_check_when_the_book_is_not_a_database_reports_it(tmp_path: Path) -> None:
    book = tmp_path / "book.db"
    book.write_bytes(b"this is not SQLite" * 100)
    text = book_check(f"sqlite:///{book}")
    assert "could not be checked" in text or "cannot" in text.lower()


def test_bundle_when_the_folder_does_not_exist_is_explained_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    facts = DeskFacts("p", None, tmp_path / "logs", tmp_path / "settings")
    out = tmp_path / "missing" / "bundle.zip"
    with pytest.raises(DiagnosticsError, match="That folder does not exist"):
        write_bundle(out, facts)
    assert not (tmp_path / "missing").exists()


def test_bundle_when_the_disk_is_full_is_explained_and_no_partial_file_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self, name, data):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    facts = DeskFacts("p", None, tmp_path / "logs", tmp_path / "settings")
    with pytest.raises(DiagnosticsError, match="The disk is full"):
        write_bundle(tmp_path / "bundle.zip", facts)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_scrub_when_a_secret_appears_replaces_every_occurrence_and_keeps_other_bytes() -> None:
    data = b"\xff\xfe binary; api_secret=abc123 value SECRETVALUE twice SECRETVALUE"
    cleaned, found = diagnostics.scrub(data, ["SECRETVALUE"])
    assert found == 2
    assert cleaned == b"\xff\xfe binary; api_secret=*** value *** twice ***"


def test_known_secrets_when_the_keyring_holds_kite_entries_and_the_api_token_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import datetime

    from engine.core.clock import IST

    store = CredentialStore("secrets", backend=MemoryKeyring())
    store.save_kite_keys("apikey1", "apisecret1")
    store.save_kite_access_token("accesstoken1", datetime(2026, 12, 4, 9, 0, tzinfo=IST))
    monkeypatch.setenv("DALALDESK_API_TOKEN", "localapitoken1")
    kept = {
        ("xts", "interactive_secret_key"): "xtssecret1",
        ("xts", "marketdata_secret_key"): "xtsfeedsecret1",
        ("telegram", "bot_token"): "bottoken1",
        ("smtp", "password"): "smtppass1",
        ("signals", "webhook_passphrase"): "passphrase1",
        ("api", "token"): "keyringapitoken1",
    }
    for (service, name), value in kept.items():
        store.set(service, name, value)
    found = diagnostics.known_secrets(store)
    for value in ("apikey1", "apisecret1", "accesstoken1", "localapitoken1", *kept.values()):
        assert value in found
    assert not any(value.startswith("2026-12-05") for value in found)  # the expiry is no secret


async def test_save_diagnostics_when_asked_from_the_window_writes_off_the_loop_and_reports(
    tmp_path: Path, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.gui import save_diagnostics

    keyring = MemoryKeyring()
    monkeypatch.setattr(
        diagnostics, "CredentialStore", lambda name: CredentialStore(name, backend=keyring)
    )

    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(strikes_each_side=3),
        )
    )
    told: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
    try:
        save_diagnostics(
            profile, engine, tmp_path / "b.zip", lambda ok, text: told.set_result((ok, text))
        )
        ok, text = await asyncio.wait_for(told, 30)
        assert ok and str(tmp_path / "b.zip") in text
        assert "Broker: paper" in bundle_files(tmp_path / "b.zip")["about.txt"].decode()

        told = asyncio.get_running_loop().create_future()
        save_diagnostics(
            profile, engine, tmp_path / "no" / "b.zip", lambda ok, t: told.set_result((ok, t))
        )
        ok, text = await asyncio.wait_for(told, 30)
        assert not ok and "could not be saved" in text
    finally:
        engine.close()


def test_diagnostics_command_when_run_for_a_profile_writes_the_bundle_and_says_where(
    tmp_path: Path, profile: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    keyring = MemoryKeyring()
    monkeypatch.setattr(
        diagnostics, "CredentialStore", lambda name: CredentialStore(name, backend=keyring)
    )
    url = paper_book(tmp_path)
    out = tmp_path / "cli.zip"

    assert diagnostics.main([str(out), "--profile", profile, "--db", url]) == 0

    assert str(out) in capsys.readouterr().out
    files = bundle_files(out)
    assert f"Profile: {profile}" in files["about.txt"].decode()
    assert "orders: 1" in files["book-check.txt"].decode()
    assert diagnostics.main([str(tmp_path / "no" / "x.zip"), "--db", url]) == 1
    assert "could not be saved" in capsys.readouterr().err
