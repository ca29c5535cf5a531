"""What the desk acknowledged before a restart is still there after it, on a real SQLite book:
a signal answered "pending" (TradingView webhook, local API) still waits for the trader's
approval until its own approval window closes (one that closed while the desk was down is
expired in words, never acted on), and a paper GTT is back and working, even when the window
lists the advanced orders before the desk starts; neither is ever acted on twice. Each is
checked across a clean close and across a SIGKILL of the desk's process.

The killed desks run in a child process: ``python -m tests.integration.
test_restart_keeps_signals_and_gtts SCENARIO FOLDER``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.brokers.paper.config import PaperConfig
from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.records import SignalRecord, SignalStep
from engine.signals.server import WEBHOOK_PATH
from tests.advanced_orders_support import PaperDesk, paper_desk
from tests.live_desk import wait_for

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "restart passphrase"
TOKEN = "restart-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
APPROVAL_S = 900.0
GTT_LEG = {"side": "BUY", "quantity": 3, "price": "402.00", "product": "CNC"}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DALALDESK_WEBHOOK_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("DALALDESK_API_TOKEN", TOKEN)


def build(folder: Path, clock: TestClock | None = None) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{folder / 'book.db'}",
            market=SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
            always_open=True,
            var_interval_seconds=0,
            api_port=0,
            # The wall clock may be past 15:20 IST: no square-off order of the venue's own.
            paper=PaperConfig(mis_square_off=False),
            signal_rules=SignalRules(
                default_mode=SignalMode.APPROVE, approval_timeout_s=APPROVAL_S
            ),
        ),
        clock=clock,
    )


async def started(engine: Engine) -> str:
    engine.start()
    await wait_for(lambda: engine.signal_server is not None, what="signals endpoint")
    assert engine.signal_server is not None
    return engine.signal_server.url


def tradingview(signal_id: str) -> dict[str, Any]:
    return {
        "passphrase": PASSPHRASE, "id": signal_id, "strategy": "ema-9-21",
        "symbol": "NSE:RELIANCE", "action": "buy", "lots": "1", "product": "CNC",
        "fired": datetime.now(IST).isoformat(),
    }  # fmt: skip


def from_script(signal_id: str) -> dict[str, Any]:
    return {
        "id": signal_id, "strategy": "script", "symbol": "NSE:INFY", "action": "sell",
        "lots": 2, "order_type": "LIMIT", "price": "1234.50", "product": "CNC",
    }  # fmt: skip


async def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode()
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=AUTH) as reply:
        return reply.status, await reply.json()


async def acknowledge_two(base: str) -> None:
    """A webhook's signal and a script's, each answered as waiting for approval."""
    webhook = await post(base + WEBHOOK_PATH, tradingview("tv-wait"))
    script = await post(base + "/api/v1/signals", from_script("api-wait"))
    assert [webhook[0], script[0]] == [202, 202], (webhook, script)
    assert webhook[1]["status"] == script[1]["status"] == "pending"


def steps_of(engine: Engine, signal_id: str) -> list[SignalStep]:
    return [
        SignalRecord.from_payload(e.ts_ns, e.payload).step
        for e in engine.journal.read(kinds=[SignalRecord.kind])
        if e.payload.get("signal_id") == signal_id
    ]


def said(engine: Engine, words: str) -> list[str]:
    return [m.text for m in engine.api.startup_messages if words in m.text]


async def decide_after_the_restart(folder: Path, expires: dict[str, int]) -> None:
    """The restarted desk shows both cards with the time they had; each is decided once."""
    again = build(folder)
    try:
        cards = {card.signal_id: card for card in again.api.pending_signals()}
        assert sorted(cards) == ["api-wait", "tv-wait"]
        assert {k: c.expires_ns for k, c in cards.items()} == expires or not expires
        script = cards["api-wait"]
        assert (script.instrument, script.lots, script.order_type, str(script.price)) == (
            "INFY", 2, "LIMIT", "1234.50",
        )  # fmt: skip
        base = await started(again)
        placed = again.api.approve_signal("tv-wait")
        assert placed.step is SignalStep.PLACED, placed
        assert again.api.reject_signal("api-wait", "not after a restart").step.value == "rejected"
        # TradingView resends; the card is gone and nothing is placed again.
        assert (await post(base + WEBHOOK_PATH, tradingview("tv-wait")))[1]["status"] == (
            "duplicate"
        )
        assert [o.order_id for o in again.api.orders()] == [placed.order_id]
    finally:
        await again.stop()
    third = build(folder)
    try:
        assert third.api.pending_signals() == []
        assert len(third.api.orders()) == 1
        assert steps_of(third, "tv-wait").count(SignalStep.PLACED) == 1
    finally:
        third.close()


async def test_signal_waiting_for_approval_when_the_desk_restarts_still_waits_and_is_placed_once(
    tmp_path: Path,
) -> None:
    first = build(tmp_path)
    base = await started(first)
    try:
        await acknowledge_two(base)
        expires = {card.signal_id: card.expires_ns for card in first.api.pending_signals()}
    finally:
        await first.stop()
    await decide_after_the_restart(tmp_path, expires)


async def test_signal_waiting_for_approval_when_the_desk_is_killed_still_waits_and_is_placed_once(
    tmp_path: Path,
) -> None:
    killed("signals", tmp_path)
    await decide_after_the_restart(tmp_path, {})


async def test_signal_whose_approval_window_closed_while_the_desk_was_down_is_expired_in_words(
    tmp_path: Path,
) -> None:
    first = build(tmp_path)
    base = await started(first)
    try:
        await acknowledge_two(base)
    finally:
        await first.stop()
    later = TestClock(datetime.now(IST) + timedelta(seconds=APPROVAL_S + 60))
    again = build(tmp_path, later)
    try:
        assert again.api.pending_signals() == []
        assert again.api.approve_signal("tv-wait").step is SignalStep.REFUSED
        assert again.api.orders() == []
        assert steps_of(again, "tv-wait")[-1] is SignalStep.EXPIRED
        [text] = said(again, "tv-wait")
        assert "not approved in time: its approval window closed at" in text
        assert "while the desk was closed" in text
        assert said(again, "api-wait")
    finally:
        again.close()
    third = build(tmp_path, later)
    try:  # expired once, never again at the next start
        assert steps_of(third, "tv-wait").count(SignalStep.EXPIRED) == 1
        assert said(third, "tv-wait") == []
    finally:
        third.close()


# -- paper GTTs ------------------------------------------------------------------------------------


def reopened(folder: Path) -> tuple[PaperDesk, list[str]]:
    """The desk opened again as the window does it: the advanced orders listed before it starts
    (the panel's first refresh), then the strategies resumed."""
    desk = paper_desk(folder, start=40_000)
    messages: list[str] = []
    desk.engine.bus.subscribe(EngineMessage, lambda m: messages.append(m.text))
    [listed] = desk.engine.api.advanced_orders()
    assert (listed.parent_id, listed.state) == ("gtt-0001", "resuming")
    desk.engine.strategies.resume()
    return desk, messages


async def check_gtt_comes_back_and_fires_once(folder: Path) -> None:
    desk, messages = reopened(folder)
    try:
        [report] = await desk.engine.api.gtts()
        assert (report.gtt_id, report.status.value) == ("gtt-0001", "active")
        [view] = desk.engine.api.advanced_orders()
        assert view.working, view
        assert not [m for m in messages if "not resumed" in m]
        desk.tick(40_100)  # crosses the trigger at 401.00
        [order] = [o for o in desk.engine.api.orders() if o.strategy == "gtt-0001"]
        desk.tick(40_150)
    finally:
        desk.close()
    desk = paper_desk(folder, start=40_150)
    try:
        desk.engine.strategies.resume()
        desk.tick(40_200)
        assert [o.order_id for o in desk.engine.api.orders()] == [order.order_id]
        [report] = await desk.engine.api.gtts()
        assert (report.status.value, report.order_id) == ("triggered", order.order_id)
    finally:
        desk.close()


async def test_gtt_placed_on_paper_when_the_desk_restarts_is_working_again_and_fires_once(
    tmp_path: Path,
) -> None:
    desk = paper_desk(tmp_path)
    try:
        placed = await desk.engine.api.place_gtt(desk.token, ["401.00"], [GTT_LEG])
        assert placed.ok, placed.reason
    finally:
        desk.engine.strategies.stop_all("the desk closed")
        desk.close()
    await check_gtt_comes_back_and_fires_once(tmp_path)


async def test_gtt_placed_on_paper_when_the_desk_is_killed_is_working_again_and_fires_once(
    tmp_path: Path,
) -> None:
    killed("gtt", tmp_path)
    await check_gtt_comes_back_and_fires_once(tmp_path)


# -- the killed desks ------------------------------------------------------------------------------


def killed(scenario: str, folder: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.test_restart_keeps_signals_and_gtts",
         scenario, str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


async def _signals_then_killed(folder: Path) -> None:
    engine = build(folder)
    await acknowledge_two(await started(engine))
    _die()


async def _gtt_then_killed(folder: Path) -> None:
    desk = paper_desk(folder)
    placed = await desk.engine.api.place_gtt(desk.token, ["401.00"], [GTT_LEG])
    assert placed.ok, placed.reason
    _die()


if __name__ == "__main__":
    os.environ.setdefault("DALALDESK_WEBHOOK_PASSPHRASE", PASSPHRASE)
    os.environ.setdefault("DALALDESK_API_TOKEN", TOKEN)
    scenarios = {"signals": _signals_then_killed, "gtt": _gtt_then_killed}
    asyncio.run(scenarios[sys.argv[1]](Path(sys.argv[2])))
    print("not killed")
