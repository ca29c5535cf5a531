"""The Kite ticker when it stops trying: Kite's ticker stays down past the retry limit, or the
ticker's task dies on a fault. The give-up is a legal state change, the desk's Health shows the
feed as failed, and the trader is told in words that prices stopped and what to do; a retry (or
a new login) brings the prices back. Real desk on the fake Kite on 127.0.0.1, a retry limit of 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.api import Level
from engine.brokers.kite.feed import KiteFeed
from engine.brokers.kite.ticker_state import (
    TRANSITIONS,
    ConnectionState,
    IllegalTransition,
    check_transition,
)
from engine.domain.events import EngineMessage, Severity
from tests.kite_desk import (
    ADANIPORTS,
    KiteDesk,
    adaniports_kite,
    open_ticking_desk,
    wait_for,
)
from tests.kite_fake import FakeKite

pytestmark = pytest.mark.timeout(60)

RETRY_LIMIT = 2


@pytest.fixture
async def kite() -> AsyncIterator[FakeKite]:
    async with adaniports_kite() as fake:
        yield fake


@pytest.fixture
async def desk(kite: FakeKite, tmp_path: Path) -> AsyncIterator[KiteDesk]:
    desk = await open_ticking_desk(kite, tmp_path / "book.db", "gave-up", retry_limit=RETRY_LIMIT)
    yield desk
    await desk.stop()


def feed_of(desk: KiteDesk) -> KiteFeed:
    assert desk.link.feed is not None
    return desk.link.feed


def feed_row(desk: KiteDesk) -> tuple[Level, str, str]:
    row = next(r for r in desk.engine.api.health() if r.part == "Feed")
    return row.level, row.value, row.detail


def errors(desk: KiteDesk) -> list[EngineMessage]:
    return [m for m in desk.messages() if m.severity is Severity.ERROR]


def test_kite_ticker_state_table_when_a_live_connection_stops_trying_lets_it_give_up() -> None:
    # The loop gives up from CONNECTING (the attempt that used the last try); a task that dies
    # may be anywhere but CLOSED.
    for state in ConnectionState:
        if state in (ConnectionState.CLOSED, ConnectionState.GAVE_UP):
            assert ConnectionState.GAVE_UP not in TRANSITIONS[state]
            with pytest.raises(IllegalTransition):
                check_transition(state, ConnectionState.GAVE_UP)
        else:
            check_transition(state, ConnectionState.GAVE_UP)


async def test_kite_ticker_when_down_past_the_retry_limit_gives_up_tells_the_trader_and_retries(
    kite: FakeKite, desk: KiteDesk
) -> None:
    client = feed_of(desk).client
    task = client._connections[0].task
    assert task is not None

    await kite.ticker.stop_listening()
    await wait_for(lambda: desk.connection("feed", "gave up"), 10, "the ticker gave up")

    assert client.states == [ConnectionState.GAVE_UP]
    assert not task.done()  # alive, waiting for a retry: not killed by an illegal transition
    level, value, detail = feed_row(desk)
    assert (level, value) == (Level.BAD, "gave up")
    assert f"stopped trying after {RETRY_LIMIT + 1} failed connection attempts" in detail
    assert "restart DalalDesk to stream prices again" in detail
    await wait_for(lambda: errors(desk), 2, "the trader told")
    [told] = errors(desk)
    assert told.text.startswith("Prices stopped: the feed gave up — connection 0: stopped trying")
    assert "restart DalalDesk to stream prices again" in told.text
    handshakes = kite.ticker.handshakes
    await asyncio.sleep(0.3)
    assert kite.ticker.handshakes == handshakes  # it no longer knocks
    assert len(errors(desk)) == 1  # said once

    await kite.ticker.listen_again()
    client.retry()
    await wait_for(lambda: client.states == [ConnectionState.OPEN], 10, "open again")
    await wait_for(lambda: desk.messages("Prices flow again: the feed is open again"), 2)
    assert feed_row(desk)[0] is Level.OK


async def test_kite_ticker_when_its_task_dies_on_a_fault_tells_the_trader_and_retry_restarts_it(
    kite: FakeKite, desk: KiteDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = feed_of(desk).client
    dead = client._connections[0].task
    assert dead is not None

    def broken_backoff(_failures: int) -> float:
        raise RuntimeError("a bug in the reconnect loop")

    monkeypatch.setattr(client, "_backoff", broken_backoff)  # the fault nobody foresaw
    await kite.ticker.stop_listening()
    await wait_for(dead.done, 10, "the ticker task died")
    await wait_for(lambda: desk.connection("feed", "gave up"), 2, "the failure said")

    assert client.states == [ConnectionState.GAVE_UP]  # not "open" left behind by a dead task
    level, value, detail = feed_row(desk)
    assert (level, value) == (Level.BAD, "gave up")
    assert "stopped on an internal fault (RuntimeError: a bug in the reconnect loop)" in detail
    await wait_for(lambda: errors(desk), 2, "the trader told")
    assert "restart DalalDesk to stream prices again" in errors(desk)[0].text

    monkeypatch.undo()
    await kite.ticker.listen_again()
    client.retry()
    await wait_for(lambda: client.states == [ConnectionState.OPEN], 10, "a new task opened")
    assert client._connections[0].task is not dead


async def test_kite_ticker_when_it_gave_up_reconnects_after_a_new_login(
    kite: FakeKite, desk: KiteDesk
) -> None:
    client = feed_of(desk).client
    await kite.ticker.stop_listening()
    await wait_for(lambda: client.states == [ConnectionState.GAVE_UP], 10, "gave up")
    await kite.ticker.listen_again()

    feed_of(desk).set_access_token(kite.login())

    await wait_for(lambda: client.states == [ConnectionState.OPEN], 10, "open after a login")
    await wait_for(lambda: kite.ticker.subscribed() == {ADANIPORTS: "full"}, 5, "resubscribed")
