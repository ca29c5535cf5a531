"""TradingView webhooks posted over real HTTP to a running desk (the signals endpoint on
127.0.0.1, the paper venue): placed in auto mode, once when sent twice (also after a restart),
held for approval in approve mode, and refused, with the reason journaled, when the passphrase
is wrong, the alert old, the symbol unknown, the body not a signal or the address not allowed."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.brokers.paper.config import PaperConfig
from engine.domain.events import OrderSubmitted
from engine.domain.orders import OrderStatus
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.signals.desk import SignalMode, SignalRules
from engine.signals.records import SignalRecord, SignalStep
from engine.signals.server import WEBHOOK_PATH
from tests.live_desk import wait_for

pytestmark = pytest.mark.timeout(60)

PASSPHRASE = "correct horse battery"


def build(tmp_path: Path, **changes: Any) -> Engine:
    values: dict[str, Any] = {
        "db_url": f"sqlite:///{tmp_path / 'book.db'}",
        "market": SimulatedMarketConfig(seed=3, strikes_each_side=2, always_open=True),
        "always_open": True,
        "var_interval_seconds": 0,
        "api_port": 0,
        "signal_rules": SignalRules(default_mode=SignalMode.AUTO),
        **changes,
    }
    return Engine.build(EngineConfig(**values))


async def started(engine: Engine) -> str:
    engine.start()
    await wait_for(lambda: engine.signal_server is not None, what="signals endpoint")
    assert engine.signal_server is not None
    return engine.signal_server.url + WEBHOOK_PATH


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DALALDESK_WEBHOOK_PASSPHRASE", PASSPHRASE)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[Engine, str]]:
    engine = build(tmp_path)
    url = await started(engine)
    try:
        yield engine, url
    finally:
        await engine.stop()


def alert(**changes: Any) -> dict[str, Any]:
    fired = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "passphrase": PASSPHRASE,
        "id": "ema-L-1",
        "strategy": "ema-9-21",
        "symbol": "NSE:RELIANCE",
        "action": "buy",
        "lots": "1",
        "fired": fired,
        **changes,
    }


async def post(url: str, body: bytes | dict[str, Any]) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as http, http.post(url, data=data) as response:
        return response.status, await response.json()


def signal_rows(engine: Engine) -> list[SignalRecord]:
    return [
        SignalRecord.from_payload(e.ts_ns, e.payload)
        for e in engine.journal.read(kinds=[SignalRecord.kind])
    ]


async def test_webhook_in_auto_mode_places_and_fills_once_linked_in_the_journal(desk) -> None:
    engine, url = desk
    status, answer = await post(url, alert())
    assert (status, answer["status"]) == (200, "placed"), answer
    order_id = answer["order"]
    await wait_for(
        lambda: engine.api.order(order_id).status is OrderStatus.COMPLETE, what="paper fill"
    )
    again = await post(url, alert())  # TradingView resends on a 5xx; a script double-clicks
    assert again == (200, {**again[1], "status": "duplicate"})
    assert len(engine.api.orders()) == 1
    steps = [(r.step, r.order_id) for r in signal_rows(engine) if r.signal_id == "ema-L-1"]
    assert steps == [
        (SignalStep.RECEIVED, None),
        (SignalStep.PLACED, order_id),
        (SignalStep.DUPLICATE, None),
    ]
    [submitted] = [
        e for e in engine.journal.read(order_id=order_id) if e.kind == OrderSubmitted.kind
    ]
    request = submitted.payload["request"]
    assert (request["source"], request["strategy"], request["tag"]) == (
        "signal",
        "ema-9-21",
        "ema-L-1",
    )
    assert [t.order_id for t in engine.api.trades()] == [order_id], "the fill follows the order"


async def test_webhook_resent_after_a_restart_is_still_a_duplicate(tmp_path: Path) -> None:
    # On the wall clock after 15:20 IST, the restarted paper venue would square the MIS buy off
    # (an order of its own, and rightly): this test counts the signal's orders only.
    paper = PaperConfig(mis_square_off=False)
    first = build(tmp_path, paper=paper)
    url = await started(first)
    assert (await post(url, alert()))[1]["status"] == "placed"
    await first.stop()
    again = build(tmp_path, paper=paper)
    url = await started(again)
    try:
        status, answer = await post(url, alert())
    finally:
        await again.stop()
    assert (status, answer["status"]) == (200, "duplicate")
    assert len(again.api.orders()) == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"passphrase": "guess"}, 401, "wrong passphrase"),
        ({"fired": "2026-01-05T09:15:00Z"}, 422, "stale: fired"),
        ({"symbol": "NSE:NOSUCHCO"}, 422, "unknown symbol 'NSE:NOSUCHCO'"),
        ({"symbol": "NSE:NIFTY 50"}, 422, "not tradable"),
        ({"action": "hold"}, 422, "action"),
        ({"lots": "1e9"}, 422, "lots"),
        (b"{not json", 400, "not JSON (line 1"),
        (b"[1, 2]", 400, "a JSON object"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"x" * 70_000, 413, "64 KB"),
    ],
    ids=[
        "passphrase",
        "stale",
        "unknown-symbol",
        "index",
        "action",
        "huge-lots",
        "not-json",
        "array",
        "not-utf8",
        "huge-body",
    ],
)
async def test_webhook_refuses_with_a_reason_journals_it_and_places_nothing(
    desk, body: bytes | dict[str, Any], status: int, words: str
) -> None:
    engine, url = desk
    # A dict is what to change in a fresh alert: made now, its fire time is now, not the
    # collection's (minutes earlier in a full run: stale).
    answered, answer = await post(url, alert(**body) if isinstance(body, dict) else body)
    assert answered == status, answer
    assert answer["status"] == "refused" and words in answer["reason"], answer
    assert engine.api.orders() == []
    refused = [r for r in signal_rows(engine) if r.step is SignalStep.REFUSED]
    assert [r.reason for r in refused] == [answer["reason"]]


async def test_webhook_in_approve_mode_waits_then_the_trader_decides(tmp_path: Path) -> None:
    rules = SignalRules(default_mode=SignalMode.APPROVE, approval_timeout_s=1.0)
    engine = build(tmp_path, signal_rules=rules)
    url = await started(engine)
    try:
        status, answer = await post(url, alert(id="approve-me"))
        assert (status, answer["status"]) == (202, "pending")
        assert engine.api.orders() == []
        [waiting] = engine.signals.pending()
        assert (waiting.instrument.tradingsymbol, waiting.quantity_lots) == ("RELIANCE", 1)
        placed = engine.signals.approve("approve-me", who="trader", lots=2)
        assert placed.step is SignalStep.PLACED
        [order] = engine.api.orders()
        assert order.quantity == 2
        assert (await post(url, alert(id="reject-me")))[0] == 202
        assert engine.signals.reject("reject-me", reason="not today").step is SignalStep.REJECTED
        assert (await post(url, alert(id="let-lapse")))[0] == 202
        await wait_for(lambda: not engine.signals.pending(), timeout=5, what="approval lapsed")
    finally:
        await engine.stop()
    steps = {(r.signal_id, r.step) for r in signal_rows(engine)}
    assert ("approve-me", SignalStep.APPROVED) in steps
    assert ("reject-me", SignalStep.REJECTED) in steps
    assert ("let-lapse", SignalStep.EXPIRED) in steps
    assert len(engine.api.orders()) == 1


async def test_webhook_in_off_mode_refuses_the_strategy(tmp_path: Path) -> None:
    rules = SignalRules(default_mode=SignalMode.AUTO, modes={"ema-9-21": SignalMode.OFF})
    engine = build(tmp_path, signal_rules=rules)
    url = await started(engine)
    try:
        status, answer = await post(url, alert())
    finally:
        await engine.stop()
    assert (status, answer["reason"]) == (422, "strategy ema-9-21 is off")
    assert engine.api.orders() == []


def this_machine_address() -> str | None:
    """This machine's own non-loopback address (no packet leaves: a UDP socket only routes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def test_webhook_from_an_address_outside_the_allowlist_is_refused(tmp_path: Path) -> None:
    address = this_machine_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    engine = build(tmp_path, api_host="0.0.0.0")
    await started(engine)
    assert engine.signal_server is not None
    url = f"http://{address}:{engine.signal_server.port}{WEBHOOK_PATH}"
    try:
        status, answer = await post(url, alert())
    finally:
        await engine.stop()
    assert (
        status == 403
        and answer["reason"] == f"the address {address} is not allowed to send signals"
    )
    assert engine.api.orders() == []


async def test_webhook_without_a_passphrase_set_refuses_every_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DALALDESK_WEBHOOK_PASSPHRASE")
    engine = build(tmp_path)
    url = await started(engine)
    try:
        status, answer = await post(url, alert())
    finally:
        await engine.stop()
    assert status == 403 and "no webhook passphrase" in answer["reason"]


async def test_webhook_maps_continuous_futures_and_option_symbols(desk) -> None:
    engine, url = desk
    futures = sorted(
        (
            i
            for i in engine.api.instruments
            if i.underlying == "NIFTY" and i.instrument_type == "FUT"
        ),
        key=lambda i: i.expiry,
    )
    status, answer = await post(url, alert(id="fut", symbol="NSE:NIFTY1!"))
    assert status == 200, answer
    assert engine.api.order(answer["order"]).instrument.token == futures[0].token
    option = next(
        i for i in engine.api.instruments if i.underlying == "NIFTY" and i.instrument_type == "CE"
    )
    assert option.expiry is not None and option.strike is not None
    tv = f"NSE:NIFTY{option.expiry:%y%m%d}C{option.strike // 100}"
    status, answer = await post(url, alert(id="opt", symbol=tv))
    assert status == 200, answer
    assert engine.api.order(answer["order"]).instrument.token == option.token


async def test_webhook_resend_of_a_refused_signal_is_refused_again_with_its_reason(desk) -> None:
    engine, url = desk
    body = alert(id="late", fired="2026-01-05T09:15:00Z")
    first = await post(url, body)
    again = await post(url, body)
    assert first[0] == again[0] == 422
    assert again[1]["status"] == "duplicate"
    assert again[1]["reason"] == f"already received and refused: {first[1]['reason']}"
    assert engine.api.orders() == []


async def test_webhook_entries_and_exits_follow_the_position(desk) -> None:
    engine, url = desk

    def net() -> int:
        return sum(p.net_quantity for p in engine.api.positions())

    async def send(signal_id: str, action: str, lots: str = "1") -> dict[str, Any]:
        status, answer = await post(url, alert(id=signal_id, action=action, lots=lots))
        assert status in (200, 422), answer
        if answer.get("order"):
            await wait_for(
                lambda: engine.api.order(answer["order"]).status is OrderStatus.COMPLETE,
                what=f"{action} filled",
            )
        return answer

    assert (await send("s1", "LE", "2"))["status"] == "placed"
    assert net() == 2
    assert (await send("s2", "SE", "1"))["status"] == "placed", "reverses: sells 2 + 1"
    assert net() == -1
    refused = await send("s3", "LX")
    assert refused["reason"] == "no long MIS position in RELIANCE to exit"
    assert (await send("s4", "sx"))["status"] == "placed"
    assert net() == 0
    assert (await send("s5", "exit"))["reason"] == "no MIS position in RELIANCE to exit"
    quantities = [o.quantity for o in engine.api.orders()]
    assert quantities == [2, 3, 1]


async def test_webhook_starts_and_squares_off_a_multileg_portfolio(tmp_path: Path) -> None:
    from tests.multileg_support import template_spec

    # Strikes enough either side that the template's ATM+2 leg is listed wherever the simulated
    # spot has walked by the time of day the test runs (two a side ran out some mornings).
    market = SimulatedMarketConfig(seed=3, strikes_each_side=6, always_open=True)
    engine = build(tmp_path, portfolios_dir=tmp_path / "portfolios", market=market)
    key = engine.api.portfolio_templates()[0].key
    # The desk runs on the wall clock: no entry window or square-off time, so the portfolio
    # starts and keeps running whatever the time of day the test runs at.
    whole_day = {"start": None, "end": None, "square_off": None}
    spec = template_spec(engine, key, "Morning", execution=whole_day)
    assert engine.api.save_portfolio(spec) is None
    url = await started(engine)
    try:
        status, answer = await post(url, alert(id="p1", action="start", portfolio="Morning"))
        assert (status, answer["status"]) == (200, "placed"), answer
        assert engine.multileg.running("Morning") is not None
        status, answer = await post(url, alert(id="p2", action="start", portfolio="Nope"))
        assert (status, answer["status"]) == (200, "denied")
        assert answer["reason"] == "no portfolio named 'Nope'"
        status, answer = await post(url, alert(id="p3", action="square-off", symbol=""))
        assert status == 422 and "names its portfolio" in answer["reason"]
    finally:
        await engine.stop()


async def test_signal_files_dropped_in_the_inbox_are_taken_once_and_filed(tmp_path: Path) -> None:
    import os
    import time

    folder = tmp_path / "signals"
    engine = build(tmp_path, signals_folder=folder)
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    good = alert(id="file-1")
    del good["passphrase"]
    (inbox / "a.json").write_text(json.dumps(good), "utf-8")
    (inbox / "b.json").write_text(json.dumps(good), "utf-8")  # the same signal again
    (inbox / "c.json").write_text("{not json", "utf-8")
    (inbox / "d.json.tmp").write_text("{}", "utf-8")  # still being written: left alone
    old = time.time() - 5
    for name in ("a.json", "b.json", "c.json"):
        os.utime(inbox / name, (old, old))
    await started(engine)
    try:
        await wait_for(lambda: not list(inbox.glob("*.json")), what="the inbox taken")
    finally:
        await engine.stop()
    assert len(engine.api.orders()) == 1
    done = {p.name for p in (folder / "done").iterdir()}
    assert done == {"a.json", "a.result.json", "b.json", "b.result.json"}
    duplicate = json.loads((folder / "done" / "b.result.json").read_text("utf-8"))
    assert duplicate["status"] == "duplicate", "the same signal again: filed, not placed"
    refused = {p.name for p in (folder / "refused").iterdir()}
    assert refused == {"c.json", "c.result.json"}
    outcome = json.loads((folder / "refused" / "c.result.json").read_text("utf-8"))
    assert outcome["status"] == "refused" and "not JSON" in outcome["reason"]
    placed = json.loads((folder / "done" / "a.result.json").read_text("utf-8"))
    assert placed["status"] == "placed" and placed["order"] == engine.api.orders()[0].order_id
    assert (inbox / "d.json.tmp").exists()
