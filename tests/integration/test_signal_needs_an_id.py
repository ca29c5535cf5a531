"""A signal with no id, no bar and no fired time cannot be told from the next one of its strategy,
symbol and side: the webhook and the file inbox refuse it in words, as the local API does, rather
than take the first and answer every later one "duplicate"."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from engine.signals.inbox import SignalInbox
from engine.signals.records import SignalStep
from tests.integration.test_webhook_signals import PASSPHRASE, build, post, signal_rows, started

pytestmark = pytest.mark.timeout(60)

UNNAMED = "give the signal an id (the same id again for a resend)"
NAMELESS = {"strategy": "mine", "symbol": "NSE:RELIANCE", "action": "buy", "lots": "1"}


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DALALDESK_WEBHOOK_PASSPHRASE", PASSPHRASE)


async def test_webhook_signal_without_id_bar_or_fired_is_refused_in_words(tmp_path: Path) -> None:
    engine = build(tmp_path)
    url = await started(engine)
    try:
        answers = [
            await post(url, {**NAMELESS, "passphrase": PASSPHRASE, "lots": lots})
            for lots in ("1", "2")
        ]
        named = await post(url, {**NAMELESS, "passphrase": PASSPHRASE, "bar": "1764840000000"})
    finally:
        await engine.stop()
    assert [(status, a["status"], a["reason"]) for status, a in answers] == [
        (422, "refused", UNNAMED)
    ] * 2
    assert named[0] == 200 and named[1]["status"] == "placed"  # a bar names it
    assert [o.quantity for o in engine.api.orders()] == [1]
    refused = [r.reason for r in signal_rows(engine) if r.step is SignalStep.REFUSED]
    assert refused == [UNNAMED, UNNAMED]


def test_inbox_file_without_id_bar_or_fired_is_filed_as_refused_with_its_reason(
    tmp_path: Path,
) -> None:
    engine = build(tmp_path)
    folder = tmp_path / "signals"
    inbox = SignalInbox(folder, engine.signals)
    inbox.inbox.mkdir(parents=True)
    settled = time.time() - 5
    for name, body in (("first", NAMELESS), ("second", {**NAMELESS, "lots": "3"})):
        path = inbox.inbox / f"{name}.json"
        path.write_text(json.dumps(body), "utf-8")
        os.utime(path, (settled, settled))
    try:
        assert inbox.poll() == 2
    finally:
        engine.close()
    assert sorted(p.name for p in inbox.refused.iterdir()) == [
        "first.json",
        "first.result.json",
        "second.json",
        "second.result.json",
    ]
    for name in ("first", "second"):
        outcome = json.loads((inbox.refused / f"{name}.result.json").read_text("utf-8"))
        assert outcome == {"signal": name, "status": "refused", "reason": UNNAMED}
    assert not inbox.done.exists()
