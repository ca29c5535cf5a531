"""What `dalaldesk --version` and About say this desk is."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from resources.build_info import BUILD_FILE, Build, current_build


def test_build_info_of_a_pip_install_is_its_package_version() -> None:
    build = current_build()
    assert build == Build(version=metadata.version("dalaldesk"))
    assert build.describe() == f"{build.version} (installed with pip)"


def test_build_info_of_a_bundle_is_read_from_its_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "resources").mkdir()
    stamp = {
        "version": "0.1.0",
        "commit": "77953ff",
        "built": "2026-12-04 15:10",
        "platform": "linux-x86_64",
    }
    (tmp_path / "resources" / BUILD_FILE).write_text(json.dumps(stamp), encoding="utf-8")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)

    build = current_build()

    assert build.frozen
    assert build.describe() == "0.1.0 (build 77953ff, 2026-12-04 15:10 UTC, linux-x86_64)"


def test_build_info_when_the_stamp_is_unreadable_falls_back_to_the_version_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / BUILD_FILE).write_text('{"version": "0.1.0"', encoding="utf-8")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)

    build = current_build()

    assert build == Build(version=metadata.version("dalaldesk"))
    assert "the build stamp" in caplog.text and "could not be read" in caplog.text


def test_build_info_version_option_prints_it_and_exits() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from app.main import main; sys.exit(main())",
            "--version",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"DalalDesk {metadata.version('dalaldesk')} (installed with pip)"
