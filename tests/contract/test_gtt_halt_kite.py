"""A halt and the GTTs Kite keeps: Kite triggers them by itself, past the desk's gate, so on a halt
the desk reads them and tells the trader in words which are still active there (they are not
deleted: one may be a holding's stop-loss, or placed outside the desk, and a deleted GTT would
not come back at the re-arm). Over the fake Kite (real REST and WebSocket wire formats)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.domain.events import EngineMessage
from engine.domain.gtt import GttStatus
from tests.contract.harness import BASE, STEP, KiteHarness

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kite(tmp_path: Path) -> AsyncIterator[KiteHarness]:
    harness = KiteHarness(tmp_path)
    await harness.open()
    try:
        yield harness
    finally:
        await harness.close()


async def test_kill_switch_names_once_the_gtts_still_active_at_kite(kite: KiteHarness) -> None:
    said: list[EngineMessage] = []
    kite.engine.bus.subscribe(EngineMessage, said.append)
    leg = {"side": "BUY", "quantity": 5, "price": BASE - 9 * STEP, "product": "CNC"}
    placed = await kite.api.place_gtt(kite.token, [BASE - 10 * STEP], [leg])
    assert placed.ok, placed.reason

    kite.api.kill_switch(square_off=False, reason="too fast")

    def told() -> list[str]:
        return [m.text for m in said if "active GTT" in m.text]

    await kite.wait_until(lambda: bool(told()), what="the active GTTs named")
    await kite.settle()
    [text] = told()
    assert placed.parent_id in text and "BUY 5" in text and "past the desk's gate" in text
    [gtt] = await kite.api.gtts()
    assert gtt.status is GttStatus.ACTIVE  # told, not deleted
