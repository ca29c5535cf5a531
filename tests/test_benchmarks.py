"""Every benchmark still runs: each in its quick form, in a process of its own, ending with its
JSON summary line. The figures are read by people, not judged here (the machine running the
tests is not the one the targets are for)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGING_BENCHES = ("bench_bundle",)
"""Run by the packaging step of .ci/run, not here: each run builds two PyInstaller bundles."""
BENCHES = sorted(
    b
    for b in (Path(__file__).parent / "bench").glob("bench_*.py")
    if b.stem not in PACKAGING_BENCHES
)
REQUIRED = ("bench", "value", "unit", "reference", "ratio")


def test_benchmarks_when_listed_are_the_ones_the_readme_names() -> None:
    assert [b.stem for b in BENCHES] == [
        "bench_algos",
        "bench_backtest",
        "bench_engine",
        "bench_greeks",
        "bench_kite_ticker",
        "bench_multileg",
        "bench_payoff",
        "bench_risk",
        "bench_signals",
        "bench_ui",
        "bench_xts_feed",
    ]


@pytest.mark.parametrize("bench", BENCHES, ids=lambda path: path.stem)
def test_benchmark_when_run_quick_ends_with_its_json_summary(bench: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, str(bench), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=bench.parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(REQUIRED) <= set(summary), summary
    assert isinstance(summary["value"], int | float) and math.isfinite(summary["value"])
    assert summary["value"] > 0
    assert isinstance(summary["ratio"], int | float) and summary["ratio"] > 0
