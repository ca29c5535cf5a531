"""`dalaldesk --smoke`, the installation check the installers' CI runs against the frozen bundle,
run here against the source: it passes on a working desk, leaves the trader's own directories
alone, and names the step that failed when one does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from PySide6.QtGui import QImage

from tests.integration.test_book_lock import dalaldesk, desk_env
from ui.panel_registry import PANELS


def smoke(home: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dalaldesk("--smoke", "--smoke-out", str(out)),
        env=desk_env(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_smoke_on_a_working_desk_passes_every_step_and_saves_the_window(tmp_path: Path) -> None:
    done = smoke(tmp_path, tmp_path / "window.png")

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["smoke"] == "passed"
    assert report["panels"] == [spec.object_name for spec in PANELS]
    assert report["chart_bars"] > 100
    assert report["fill"].startswith("BUY 1 RELIANCE @ ₹")
    assert report["first_run"] == ["paper book", "strategy examples", "workspace"]
    assert 0 < report["first_paint_s"] < 60
    picture = QImage(str(tmp_path / "window.png"))
    assert picture.width() >= 800 and picture.height() >= 500
    # The run used a throwaway user directory: the trader's (here the test's HOME) is untouched.
    assert not (tmp_path / "data").exists() and not (tmp_path / "config").exists()


def test_smoke_that_cannot_save_its_picture_fails_naming_the_step(tmp_path: Path) -> None:
    done = smoke(tmp_path, tmp_path / "no such folder" / "window.png")

    assert done.returncode == 1
    assert "smoke: FAILED: the screenshot could not be written to" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1])["smoke"] == "failed"
    assert "Traceback" not in done.stdout + done.stderr
