"""What the secrets tests share: the machine's Secret Service (or a skip, a failure in CI), and
the search of every file a session left for the values that must never be written."""

from __future__ import annotations

import os
from pathlib import Path

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
