"""What the secrets tests share: the machine's Secret Service (or a skip, a failure in CI), and
the search of every file a session left for the values that must never be written."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.errors import KeyringError

from engine.credentials import SERVICE


def secret_service() -> keyring.backend.KeyringBackend:
    """The machine's Secret Service keyring, or skip (fail in CI) when there is none."""
    backend = keyring.get_keyring()
    problem = ""
    if (
        "SecretService" not in type(backend).__module__
        and "chainer" not in type(backend).__module__
    ):
        problem = f"the keyring backend is {type(backend).__module__}, not the Secret Service"
    else:
        try:
            backend.get_password(SERVICE, "probe/none/none")
        except KeyringError as exc:
            problem = f"the Secret Service does not answer: {exc}"
    if problem:
        if os.environ.get("DALALDESK_REQUIRE_SECRET_SERVICE") == "1":
            pytest.fail(f"CI needs the real Secret Service: {problem}")
        pytest.skip(problem)
    return backend


def files_under(*roots: Path) -> list[Path]:
    return [path for root in roots if root.exists() for path in root.rglob("*") if path.is_file()]


def sandbox_dirs() -> list[Path]:
    """Where the desk writes settings, state and data in a test (conftest's XDG sandbox)."""
    return [Path(os.environ[v]) for v in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME")]


def leaks(secrets: dict[str, str], searched: list[Path]) -> list[str]:
    """'<name> in <file>' for every secret value found in one of the files."""
    return [
        f"{name} in {path}"
        for path in searched
        for name, value in secrets.items()
        if value and value.encode() in path.read_bytes()
    ]


@contextmanager
def logging_to_file(profile: str) -> Iterator[Path]:
    """The desk's logging set-up (DEBUG, to its file) for the block; the root logger's handlers
    and level are put back after it, the file flushed and closed."""
    from engine.core.logs import setup_logging

    root = logging.getLogger()
    handlers_before, level_before = list(root.handlers), root.level
    log_path = setup_logging(profile, "DEBUG", console=False)
    try:
        yield log_path
    finally:
        for handler in root.handlers:
            handler.flush()
        for handler in set(root.handlers) - set(handlers_before):
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level_before)


def leave_exports_and_settings(api: Any, directory: Path, broker: str, token: int) -> None:
    """What a trader leaves behind besides the book: the orders exported as CSV and XLSX, and
    the layout settings naming the broker and a watchlist."""
    from ui.export import write_csv, write_xlsx
    from ui.layout_store import LayoutStore

    exports = directory / "exports"
    exports.mkdir()
    rows = [
        [o.order_id, o.instrument.tradingsymbol, o.side, o.quantity, o.status, o.tag]
        for o in api.orders()
    ]
    headers = ["order", "symbol", "side", "quantity", "status", "tag"]
    write_csv(exports / "orders.csv", headers, rows)
    write_xlsx(exports / "orders.xlsx", headers, rows)
    settings = LayoutStore(Path(os.environ["XDG_CONFIG_HOME"]) / "dalaldesk" / "t.ini")
    settings.set_value("broker", broker)
    settings.set_value("watchlists", {"Main": [token]})
    settings.sync()


def assert_no_leaks(workdir: Path, log_path: Path, secrets: dict[str, str]) -> None:
    """Every file of the session (its directory, the settings, state and data sandbox) was
    searched, the book, the log, an XLSX export and the settings among them, and holds none of
    ``secrets``."""
    searched = files_under(workdir, *sandbox_dirs())
    assert workdir / "book.db" in searched and log_path in searched
    assert any(p.suffix == ".xlsx" for p in searched) and any(p.suffix == ".ini" for p in searched)
    assert leaks(secrets, searched) == []
