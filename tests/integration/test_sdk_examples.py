"""The local API's Python client and its examples, run as a user would (``python -m
dalaldesk_client.examples.NAME``) against a running desk: place, modify, cancel, stream order
updates and ticks, a strategy loop, a signal; and the client's errors in words."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalaldesk_client import ApiError, Client
from tests.threaded_desk import ThreadedDesk

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sdk-token-0123456789abcdef"
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDesk]:
    running = ThreadedDesk(tmp_path_factory.mktemp("sdk"), token=TOKEN)
    yield running
    running.stop()


def example(desk: ThreadedDesk, name: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DALALDESK_API_TOKEN": TOKEN, "DALALDESK_URL": desk.url}
    return subprocess.Popen(
        [sys.executable, "-m", f"dalaldesk_client.examples.{name}", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finished(process: subprocess.Popen[str], seconds: float = 60) -> str:
    out, err = process.communicate(timeout=seconds)
    assert process.returncode == 0, err
    assert "Traceback" not in err, err
    return out


def test_sdk_examples_place_modify_cancel_and_the_stream_sees_it(desk: ThreadedDesk) -> None:
    streaming = example(desk, "stream_orders", "--count", "4")
    client = Client(desk.url, TOKEN)
    for _ in range(100):  # the stream is connected once the desk counts it
        if desk.run(lambda engine: len(engine.signal_server.local_api.streams)):  # type: ignore[union-attr]
            break
        time.sleep(0.05)
    out = finished(example(desk, "place_modify_cancel"))
    lines = out.splitlines()
    assert lines[0].startswith("placed ") and lines[1].startswith("modified ")
    assert lines[2].endswith("CANCELLED"), out
    order_id = lines[0].split()[1]
    events = finished(streaming)
    assert f'"order_id": "{order_id}"' in events
    assert '"type": "order_submitted"' in events
    [order] = [o for o in client.orders() if o["order_id"] == order_id]
    assert (order["status"], order["source"], order["tag"]) == ("CANCELLED", "api", "example")


def test_sdk_examples_signal_and_strategy_loop(desk: ThreadedDesk) -> None:
    out = finished(example(desk, "send_signal", "--id", "sdk-1"))
    assert out.startswith("sdk-1: placed "), out
    again = finished(example(desk, "send_signal", "--id", "sdk-1"))
    assert again.startswith("sdk-1: duplicate"), again
    loop = finished(example(desk, "strategy_loop", "--window", "5", "--orders", "1"), 80)
    assert loop.startswith("crossed above at "), loop


def test_sdk_client_raises_the_desks_reason(desk: ThreadedDesk) -> None:
    with pytest.raises(ApiError) as refused:
        Client(desk.url, "wrong-token").orders()
    assert (refused.value.status, refused.value.reason) == (401, "wrong token")
    with pytest.raises(ApiError) as unknown:
        Client(desk.url, TOKEN).place("NSE:NOSUCHCO", "BUY", 1, price="10")
    assert unknown.value.status == 422 and "unknown symbol" in unknown.value.reason
    with pytest.raises(ValueError, match="DALALDESK_API_TOKEN"):
        os.environ.pop("DALALDESK_API_TOKEN", None)
        Client(desk.url)
