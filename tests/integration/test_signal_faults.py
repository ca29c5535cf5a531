"""Signals against the faults a trader's machine meets: a file whose name is not text in the
inbox, a housekeeping part that fails each second, a desk killed between a signal's arrival and
its order, a wrong passphrase sent under a real signal's id, a script's signals without ids,
hostile bodies and headers on the local API, a sender that stalls mid-message, and ids that a
spreadsheet would run as formulas."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from engine.domain.events import EngineMessage
from engine.signals.records import SignalRecord, SignalStep
from engine.store import StoreError
from engine.store.pnl_rebuild import read_sqlite_book
from tests.integration.test_local_api import AUTH, TOKEN, call
from tests.integration.test_webhook_signals import alert, build, post, signal_rows, started
from tests.live_desk import wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.test_webhook_signals import PASSPHRASE

    monkeypatch.setenv("DALALDESK_WEBHOOK_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("DALALDESK_API_TOKEN", TOKEN)


async def test_inbox_file_whose_name_is_not_text_is_refused_and_housekeeping_goes_on(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "signals"
    engine = build(tmp_path, signals_folder=folder)
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    said: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))
    good = alert(id="file-ok")
    del good["passphrase"]
    bad_name = os.fsdecode(b"sig-caf\xe9.json")  # Latin-1 bytes, not UTF-8
    (inbox / bad_name).write_text(json.dumps(alert(id="file-bad")), "utf-8")
    old = time.time() - 5
    os.utime(inbox / bad_name, (old, old))
    await started(engine)
    try:
        await wait_for(lambda: not list(inbox.iterdir()), what="the bad name filed")
        (inbox / "ok.json").write_text(json.dumps(good), "utf-8")
        os.utime(inbox / "ok.json", (old, old))
        await wait_for(lambda: len(engine.api.orders()) == 1, what="the next file placed")
    finally:
        await engine.stop()
    refused = folder / "refused"
    outcome = json.loads((refused / os.fsdecode(b"sig-caf\xe9.result.json")).read_text("utf-8"))
    assert outcome["status"] == "refused"
    assert outcome["reason"] == (
        "the file's name 'sig-caf\ufffd.json' is not UTF-8 text: rename it and drop it again"
    )
    assert not [s for s in said if "failed" in s], said
    assert [r.signal_id for r in signal_rows(engine)] == ["file-ok", "file-ok"]


async def test_housekeeping_part_that_fails_is_said_once_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.signals.desk import SignalMode, SignalRules
    from engine.signals.tradingview import TradingViewAlert

    rules = SignalRules(default_mode=SignalMode.APPROVE, approval_timeout_s=1)
    engine = build(tmp_path, signal_rules=rules)
    said: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))

    failing = [True]

    def broken(now: Any) -> None:
        if failing[0]:
            raise OSError("the day-end file cannot be written")

    monkeypatch.setattr(engine, "mark_day_end", broken)
    await started(engine)
    try:
        engine.signals.receive(
            TradingViewAlert.model_validate(
                {"id": "late", "symbol": "NSE:RELIANCE", "action": "buy"}
            )
        )
        # The approval timeout is one of the later parts: it still lapses the signal.
        await wait_for(lambda: not engine.signals.pending(), timeout=10, what="the expiry")
        await asyncio.sleep(2.5)  # more beats, the same fault: said once
        failing[0] = False
        await asyncio.sleep(1.5)  # well again
        failing[0] = True
        await asyncio.sleep(1.5)  # failing again: said again
    finally:
        await engine.stop()
    faults = [s for s in said if s.startswith("the day-end marks failed")]
    assert faults == 2 * [
        "the day-end marks failed (OSError: the day-end file cannot be written); the rest of "
        "the desk's once-a-second work goes on"
    ]
    assert [r.step for r in signal_rows(engine) if r.signal_id == "late"][-1] is SignalStep.EXPIRED
    assert engine.signals.approve("late").step is SignalStep.REFUSED  # gone: nothing placed
    assert not engine.api.orders()


class FailingLease:
    """A shared book's lease whose check raises, as one did with its connection gone."""

    def __init__(self) -> None:
        self.checks = 0

    def check(self) -> str | None:
        self.checks += 1
        raise StoreError("the desk's lease on the book is not held")

    def close(self) -> None:
        pass


async def test_housekeeping_when_the_lease_check_fails_says_so_and_the_beat_goes_on(
    tmp_path: Path,
) -> None:
    engine = build(tmp_path)
    said: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))
    lease = FailingLease()
    engine.desk_lease = lease  # type: ignore[assignment]
    day_ends: list[object] = []
    mark_day_end = engine.mark_day_end
    engine.mark_day_end = lambda now: (day_ends.append(now), mark_day_end(now))  # type: ignore[method-assign]
    await started(engine)
    try:
        await wait_for(lambda: lease.checks >= 3, timeout=10, what="three beats")
    finally:
        engine.desk_lease = None
        await engine.stop()
    assert len(day_ends) >= 3, "the parts after the lease check ran each second"
    assert [s for s in said if "lease" in s] == [
        "the desk's lease on the shared book failed (StoreError: the desk's lease on the book "
        "is not held); the rest of the desk's once-a-second work goes on"
    ]


async def test_housekeeping_when_a_beat_fails_unforeseen_it_is_said_and_the_next_second_beats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = build(tmp_path)
    said: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))
    checks: list[int] = []

    def broken() -> str | None:
        checks.append(1)
        raise OSError("the book's folder went away")

    monkeypatch.setattr(engine.database, "check_book_file", broken)
    await started(engine)
    try:
        await wait_for(lambda: len(checks) >= 3, timeout=10, what="three beats")
        heartbeat = [t for t in engine._tasks if t.get_name() == "heartbeat"]
        assert heartbeat and not heartbeat[0].done()
    finally:
        await engine.stop()
    assert [s for s in said if "went away" in s] == [
        "the once-a-second housekeeping failed (OSError: the book's folder went away); the rest "
        "of the desk's once-a-second work goes on"
    ]


async def test_engine_task_that_fails_is_said_to_the_trader_in_words(tmp_path: Path) -> None:
    engine = build(tmp_path)
    said: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, said.append)
    await started(engine)

    async def broken() -> None:
        raise RuntimeError("no more")

    try:
        task = engine.spawn(broken(), "report-mailer")
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)
    finally:
        await engine.stop()
    assert [(m.severity.value, m.text) for m in said if "report-mailer" in m.text] == [
        (
            "ERROR",
            "the desk's report-mailer work stopped after an error (RuntimeError: no more) and "
            "does not run again until the desk is restarted",
        )
    ]


async def test_signal_is_journaled_with_its_order_so_a_crash_between_loses_neither(
    tmp_path: Path,
) -> None:
    engine = build(tmp_path)
    url = await started(engine)
    book = tmp_path / "book.db"
    durable: list[list[str]] = []
    place = engine.signals._place
    assert place is not None

    def placing(*args: Any, **kwargs: Any) -> Any:
        # The moment a kill -9 between the two would strike: nothing of the signal is on disk.
        rows = read_sqlite_book(book, kinds=[SignalRecord.kind]).entries
        durable.append([str(r.payload.get("step", "")) for r in rows])
        return place(*args, **kwargs)

    engine.signals._place = placing
    try:
        status, answer = await post(url, alert(id="atomic-1"))
    finally:
        await engine.stop()
    assert (status, answer["status"]) == (200, "placed")
    assert durable == [[]], "the received step waits for its order, in one write"
    steps = [r.step for r in signal_rows(engine) if r.signal_id == "atomic-1"]
    assert steps == [SignalStep.RECEIVED, SignalStep.PLACED]


async def test_wrong_passphrase_under_a_real_ids_name_does_not_refuse_its_resend(
    tmp_path: Path,
) -> None:
    from engine.brokers.paper.config import PaperConfig

    paper = PaperConfig(mis_square_off=False)
    first = build(tmp_path, paper=paper)
    url = await started(first)
    try:
        assert (await post(url, alert(id="real-1")))[1]["status"] == "placed"
        status, answer = await post(url, alert(id="real-1", passphrase="guess"))
        assert status == 401 and answer["signal"].startswith("body-")
    finally:
        await first.stop()
    again = build(tmp_path, paper=paper)
    url = await started(again)
    try:
        status, answer = await post(url, alert(id="real-1"))
    finally:
        await again.stop()
    assert (status, answer["status"]) == (200, "duplicate"), answer
    refusal = [r for r in signal_rows(again) if r.step is SignalStep.REFUSED]
    assert [r.detail.get("claimed_id") for r in refusal] == ["real-1"]


async def test_local_api_signals_without_an_id_and_hostile_requests_are_refused_in_words(
    tmp_path: Path,
) -> None:
    from dalaldesk_client import ApiError, Client

    engine = build(tmp_path)
    await started(engine)
    assert engine.signal_server is not None
    url = engine.signal_server.url
    signals = f"{url}/api/v1/signals"
    body = {"symbol": "NSE:RELIANCE", "action": "buy", "strategy": "my-script"}
    try:
        status, answer = await call("POST", signals, body)
        assert (status, answer["error"]) == (
            422,
            "give the signal an id (the same id again for a resend)",
        )
        # The client gives each call an id of its own: a buy, a sell, a buy are three signals.
        client = Client(url, TOKEN)
        outcomes = [
            await asyncio.to_thread(client.signal, "NSE:RELIANCE", side, strategy="my-script")
            for side in ("buy", "sell", "buy")
        ]
        assert [o["status"] for o in outcomes] == ["placed"] * 3
        hostile = {
            "digits": (b'{"id": "x", "symbol": "NSE:RELIANCE", "action": "buy", "lots": '
                       + b"9" * 5000 + b"}", 400, "the body is not JSON: Exceeds the limit"),
            "deep": (b"[" * 30_000 + b"]" * 30_000, 400, "nested too deeply"),
            "blank": (json.dumps({**body, "id": "b", "symbol": "   "}).encode(), 422, "symbol"),
            "control": (json.dumps({**body, "id": "a\x00b"}).encode(), 422, "cannot be shown"),
            "zero-width": (json.dumps({**body, "id": "a\u200bb"}).encode(), 422, "cannot be shown"),
        }  # fmt: skip
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for name, (raw, status, words) in hostile.items():
                async with http.post(signals, data=raw, headers=AUTH) as reply:
                    answer = await reply.json()
                    assert (reply.status, name) == (status, name), answer
                    assert words in answer["error"], (name, answer)
            headers = {"Authorization": "Bearer \xff\xfe"}
            async with http.get(f"{url}/api/v1/orders", headers=headers) as reply:
                assert (reply.status, (await reply.json())["error"]) == (401, "wrong token")
            async with http.post(signals, data=b"x" * 2_000_000, headers=AUTH) as reply:
                assert reply.status == 413 and "larger than" in (await reply.json())["error"]
        with pytest.raises(ApiError) as refused:
            await asyncio.to_thread(client.signal, "   ", "buy")
        assert refused.value.status == 422
        assert len(engine.api.orders()) == 3
    finally:
        await engine.stop()


async def test_a_sender_stalling_mid_message_is_cut_off_and_closing_waits_for_no_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.signals import local_api, server

    monkeypatch.setattr(server, "BODY_TIMEOUT_S", 0.5)
    monkeypatch.setattr(local_api, "BODY_TIMEOUT_S", 0.5)
    engine = build(tmp_path)
    await started(engine)
    assert engine.signal_server is not None
    port = engine.signal_server.port
    head = b"POST /webhook/tradingview HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), timeout=10)
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive whole" in answer
    writer.close()
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(head)
    await asyncio.sleep(0.1)
    started_at = time.monotonic()
    await engine.stop()
    assert time.monotonic() - started_at < 5
    stalled.close()


def test_audit_export_writes_ids_that_look_like_formulas_as_text(tmp_path: Path) -> None:
    from engine.signals.tradingview import TradingViewAlert

    engine = build(tmp_path, api_port=None)
    try:
        for signal_id in ('=HYPERLINK("http://x","y")', "@SUM(A1)", "-5"):
            engine.signals.refuse(signal_id, "wrong passphrase", {"source": "tradingview"})
        engine.signals.receive(
            TradingViewAlert.model_validate(
                {"id": "+cmd|' /C calc'!A0", "symbol": "NSE:RELIANCE", "action": "buy"}
            )
        )
        from datetime import datetime

        from engine.core.clock import IST

        today = datetime.now(IST).date()
        assert engine.api.export_signal_audit(tmp_path / "audit.csv", today, today) is None
    finally:
        engine.close()
    with open(tmp_path / "audit.csv", encoding="utf-8", newline="") as file:
        signals = [row["signal"] for row in csv.DictReader(file)]
    assert '\'=HYPERLINK("http://x","y")' in signals and "'@SUM(A1)" in signals
    assert "'+cmd|' /C calc'!A0" in signals
    assert "-5" in signals  # a number stays a number


def test_approval_with_a_price_that_is_not_one_is_refused_in_words_and_keeps_waiting(
    tmp_path: Path,
) -> None:
    from engine.signals.desk import SignalMode, SignalRules
    from engine.signals.tradingview import TradingViewAlert

    rules = SignalRules(default_mode=SignalMode.APPROVE, approval_timeout_s=300)
    engine = build(tmp_path, api_port=None, signal_rules=rules)
    try:
        engine.signals.receive(
            TradingViewAlert.model_validate({"id": "w", "symbol": "NSE:RELIANCE", "action": "buy"})
        )
        said = {}
        for price in ("abc", "NaN", "-5"):
            result = engine.api.approve_signal("w", price=price)
            assert result.step is SignalStep.PENDING, price
            said[price] = result.reason
        assert said["abc"] == "not approved: 'abc' is not a price"
        assert said["NaN"].startswith("not approved: ") and "price" in said["NaN"]
        assert said["-5"].startswith("not approved: ") and "greater than 0" in said["-5"]
        assert [p.signal_id for p in engine.signals.pending()] == ["w"]
        assert not engine.api.orders()
    finally:
        engine.close()
