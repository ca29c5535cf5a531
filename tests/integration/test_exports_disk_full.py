"""Exports on a full disk: the trader is told in words and a file already there is left whole,
never replaced by half of the new one.

The export goes to a small tmpfs filled to the last byte (a real ENOSPC); where mounting is not
permitted the test is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.clock import TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from tests.full_disk import small_tmpfs
from tests.support import MONDAY_MORNING


def test_exports_on_a_full_disk_leave_the_last_export_whole(tmp_path: Path) -> None:
    engine = Engine.build(
        EngineConfig(db_url=f"sqlite:///{tmp_path / 'book.db'}", market=SimulatedMarketConfig()),
        clock=TestClock(MONDAY_MORNING),
    )
    try:
        with small_tmpfs(tmp_path / "disk") as disk:
            if not disk.tmpfs:
                pytest.skip("needs a tmpfs to fill (mounting is not permitted here)")
            quality = disk.directory / "quality.csv"
            report = disk.directory / "report.html"
            # Yesterday's exports, shorter than today's: written over in place, the new one
            # would free their space and then stop half way.
            quality.write_text("owner,kind\n", encoding="utf-8")
            report.write_text("<html>yesterday</html>\n", encoding="utf-8")
            before = {path: path.read_bytes() for path in (quality, report)}
            assert len(engine.api.performance_report()) > 4096  # more than the page they hold
            disk.fill(engine)

            refused = engine.api.export_execution_quality(quality)
            assert refused is not None
            assert refused.startswith(f"the execution quality could not be written to {quality}")
            assert "No space left on device" in refused
            refused = engine.api.export_performance_report(report)
            assert refused == (
                f"the report could not be written to {report}: No space left on device"
            )
            assert {path: path.read_bytes() for path in (quality, report)} == before
            assert sorted(p.name for p in disk.directory.iterdir()) == [
                "filler.bin",
                "quality.csv",
                "report.html",
            ]
    finally:
        engine.close()
