"""``KiteBroker.drain`` returns when a task has just finished: a finished task leaves the set of
tasks in its done-callback, and drain gives the loop the turn that callback needs (it used to
spin without yielding, freezing the event loop)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.contract.harness import KiteHarness


@pytest.mark.timeout(10)
async def test_contract_kite_drain_when_a_task_has_just_finished_returns(tmp_path: Path) -> None:
    harness = KiteHarness(tmp_path)
    await harness.open()
    try:
        assert harness.desk is not None
        broker = harness.desk.broker
        await harness.settle()

        async def done_at_once() -> None:
            return None

        task = broker.tasks.spawn(done_at_once(), "finishes-in-its-first-step")
        await asyncio.sleep(0)  # the task finishes; its done-callback is queued after us
        assert task.done() and task in broker.tasks.running

        await broker.drain()

        assert not broker.tasks.running
    finally:
        await harness.close()
