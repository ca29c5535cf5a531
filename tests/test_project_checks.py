"""The project's own checks run with the suite: layer contracts, lint and engine types."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed; it is part of the [test] extra"
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_layer_contracts_when_checked_are_all_kept() -> None:
    result = run(tool("lint-imports"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_ruff_when_run_on_the_project_finds_nothing() -> None:
    result = run(tool("ruff"), "check", "engine", "app", "ui", "tests")
    assert result.returncode == 0, result.stdout[-3000:]


def test_mypy_when_run_on_the_engine_finds_no_type_errors() -> None:
    result = run(tool("mypy"), "engine")
    assert result.returncode == 0, result.stdout[-3000:]
