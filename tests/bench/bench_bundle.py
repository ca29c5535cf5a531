"""The installer's bundle: its size against PyInstaller's untrimmed default, and the frozen
app's start-up against the pip-installed app's, all measured in one run.

- size: the trimmed onedir bundle (``packaging/build.py linux``: excludes, trimmed Chromium
  locales, unused Qt plugins and the libraries only they need, debug information and symbol
  tables stripped, Qt's ICU data trimmed, only pyarrow's Parquet part)
  against PyInstaller's default for the same entry point and data, built in this run
  (``DALALDESK_UNTRIMMED=1``: no excludes, nothing removed or stripped);
- start-up: process start to the window's first paint, read from ``dalaldesk --smoke`` (the
  same desk, the same steps), for the frozen bundle and for ``python -m app.main`` from this
  environment, median of a few runs each, alternated so that both meet the same machine.

Needs PyInstaller (``pip install -e ".[packaging]"``). ``--quick`` reuses ``dist/dalaldesk``
when a build left it there and runs each start-up twice; the full run rebuilds and runs five.
The packaging CI job runs it; the test suite does not (it builds two bundles).

Usage: python tests/bench/bench_bundle.py [--quick]. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "dalaldesk"


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build(untrimmed: bool, dist: Path | None = None) -> Path:
    if not untrimmed:
        subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "linux"], check=True)
        return BUNDLE
    assert dist is not None
    env = {**os.environ, "DALALDESK_UNTRIMMED": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "ERROR",
            "--distpath",
            str(dist),
            "--workpath",
            str(dist / "work"),
            str(ROOT / "packaging" / "dalaldesk.spec"),
        ],
        check=True,
        env=env,
    )
    return dist / "dalaldesk"


def first_paint(command: list[str], workdir: Path) -> float:
    """Seconds from process start to the first paint, as the smoke test reports it."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "QT_QPA_PLATFORM": "offscreen"}
    for name in ("HOME", "QTWEBENGINE_CHROMIUM_FLAGS", "LANG"):
        if name in os.environ:
            env[name] = os.environ[name]
    done = subprocess.run(
        [*command, "--smoke", "--smoke-out", str(workdir / "smoke.png")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=workdir,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"{command[0]} --smoke failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["first_paint_s"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    trimmed = BUNDLE if args.quick and (BUNDLE / "dalaldesk").exists() else build(untrimmed=False)
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        default = build(untrimmed=True, dist=Path(tmp))
        size, default_size = tree_size(trimmed), tree_size(default)
        print(f"bundle {size / 1e6:.0f} MB; PyInstaller's default {default_size / 1e6:.0f} MB")
        frozen_runs: list[float] = []
        pip_runs: list[float] = []
        for _ in range(2 if args.quick else 5):
            frozen_runs.append(first_paint([str(trimmed / "dalaldesk")], Path(tmp)))
            pip_runs.append(first_paint([sys.executable, "-m", "app.main"], Path(tmp)))
    frozen, pip = statistics.median(frozen_runs), statistics.median(pip_runs)
    print(f"first paint: frozen {frozen:.2f} s {frozen_runs}; pip-installed {pip:.2f} s {pip_runs}")
    print(
        json.dumps(
            {
                "bench": "bundle",
                "value": round(size / 1e6, 1),
                "unit": "MB",
                "reference": round(default_size / 1e6, 1),
                "ratio": round(size / default_size, 3),
                "target_ratio": 0.60,
                "frozen_first_paint_s": round(frozen, 3),
                "pip_first_paint_s": round(pip, 3),
                "startup_ratio": round(frozen / pip, 3),
                "target_startup_ratio": 1.5,
                "quick": args.quick,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
