"""Two desks writing to one PostgreSQL book at once, each in its own process with its own engine.

Both trade on the paper venue at the same time. Every order and fill a desk acknowledged must be
in the journal exactly once, no two desks may make the same id, a third desk opened meanwhile must
show the open orders of the other two without working them, and each desk restarted afterwards
must rebuild the positions the journal's fills add up to. A SQLite book stays one desk's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine as SaEngine
from sqlalchemy.exc import OperationalError

from engine.domain.events import EngineMessage
from engine.domain.ids import salt_of
from engine.headless import StopRequests, run_session
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store import Database, JournalWriteError, journal_writer, open_database
from engine.store.book_lock import BookInUse
from engine.store.desks import DeskInfo, DeskLease, open_desks
from tests.forked import ForkedChild
from tests.integration.test_crash_recovery import (
    CHILD_MODULE,
    positions_from_journal,
    restored,
)
from tests.live_desk import wait_for

ORDERS_EACH = 400
OPEN = ("OPEN", "TRIGGER_PENDING", "PENDING_SUBMIT")


class Desk:
    """A desk process trading on the book; it keeps the book open until told to close."""

    def __init__(self, db: str, seed: int) -> None:
        self.process = ForkedChild(
            CHILD_MODULE, ["desk", db, str(seed), str(ORDERS_EACH)], stdin=True
        )
        self.lines: list[str] = []

    def read_until(self, marker: str) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if self.lines[-1] == marker:
                return
        raise AssertionError(f"the desk ended before {marker}: {self.stderr()}")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("close\n")
        self.process.stdin.flush()
        self.read_until("DONE")
        assert self.process.wait(timeout=60) == 0, self.stderr()

    def stderr(self) -> str:
        return self.process.stderr.read()[-3000:]

    def kill(self) -> None:
        self.process.close()

    @property
    def slot(self) -> int:
        return int(next(line for line in self.lines if line.startswith("SLOT ")).split()[1])

    @property
    def acked(self) -> set[str]:
        return {line.split()[1] for line in self.lines if line.startswith("ACK ")}

    @property
    def fills(self) -> list[tuple[str, str]]:
        """(order id, trade id) of every fill the desk published, in order."""
        return [
            (parts[2], parts[1])
            for parts in (line.split() for line in self.lines if line.startswith("FILL "))
        ]


def journal_rows(db: str, kind: str) -> list[tuple[str, str]]:
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            return [
                (str(order_id), str(payload))
                for order_id, payload in connection.execute(
                    text("SELECT order_id, payload FROM journal WHERE kind = :k ORDER BY seq"),
                    {"k": kind},
                )
            ]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_postgres_two_desks_trading_one_book_at_once_lose_nothing_and_share_no_id(
    postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    db = str(postgres_server.fresh_url())
    desks = [Desk(db, 31), Desk(db, 32)]
    try:
        for desk in desks:
            desk.read_until("READY")
        first, second = desks
        assert first.slot != second.slot
        assert first.acked and second.acked and first.fills and second.fills

        # A third desk opened while both trade: it shows their orders, works none of them.
        meanwhile = restored(db)
        assert set(meanwhile["orders"]) >= first.acked | second.acked
        still_open = {k for k, o in meanwhile["orders"].items() if o["status"] in OPEN}
        assert still_open, "no order was left open to hand over"
        assert set(meanwhile["held_elsewhere"]) == still_open
        assert meanwhile["resting"] == 0
        assert "works it: cancel it there" in meanwhile["cancel_refused"][0]

        for desk in desks:
            desk.close()
    finally:
        for desk in desks:
            desk.kill()

    submitted = Counter(order_id for order_id, _ in journal_rows(db, "order_submitted"))
    twice = [order_id for order_id, count in submitted.items() if count > 1]
    assert not twice, f"order ids made twice: {twice[:5]}"
    for desk in desks:
        assert desk.acked <= set(submitted), "an acknowledged order is not in the journal"
        assert {salt_of(order_id) for order_id in desk.acked} == {desk.slot}
    published = Counter(first.fills + second.fills)
    assert all(count == 1 for count in published.values())
    journaled = Counter(
        (order_id, json.loads(payload)["trade_id"])
        for order_id, payload in journal_rows(db, "order_filled")
    )
    assert set(journaled) == set(published), "fills published and fills journaled differ"
    assert all(count == 1 for count in journaled.values()), "a fill is in the journal twice"

    # Each desk restarted alone rebuilds every order, fill and position of the book, and takes
    # over the open orders now that no other desk holds them.
    expected = positions_from_journal(db)
    for _ in desks:
        state = restored(db)
        assert not state["held_elsewhere"]
        assert set(state["orders"]) == set(submitted)
        assert len(state["fills"]) == len(journaled)
        assert state["resting"] == sum(1 for o in state["orders"].values() if o["status"] in OPEN)
        assert {k: (v["net"], v["buy"], v["sell"]) for k, v in expected.items()} == {
            k: (v["net"], v["buy"], v["sell"]) for k, v in state["positions"].items()
        }

    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            still = connection.execute(text("SELECT count(*) FROM desk WHERE closed_ns IS NULL"))
            assert still.scalar_one() == 0, "a desk that closed is still registered as open"
    finally:
        engine.dispose()


def test_sqlite_second_desk_on_one_book_is_still_refused(tmp_path: Path) -> None:
    config = EngineConfig(db_url=f"sqlite:///{tmp_path / 'book.db'}")
    first = Engine.build(config)
    try:
        assert first.desk_lease is None
        with pytest.raises(BookInUse, match="is already open in another DalalDesk"):
            Engine.build(config)
    finally:
        first.close()


# -- the server away and back: the desk rides on ---------------------------------------------------


@pytest.fixture
def own_server(postgres_server):  # type: ignore[no-untyped-def]
    """A cluster of its own for a test that stops it: the session's server stays up."""
    from tests.pg import PostgresServer

    server = PostgresServer(postgres_server.binaries)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        # As root the server runs under runuser, which stops itself when it sees its child
        # stopped (job control): a test that froze the server leaves it to be woken here.
        os.kill(server.process.pid, signal.SIGCONT)
    server.close()


def desk_config(db: str) -> EngineConfig:
    return EngineConfig(
        db_url=db,
        market=SimulatedMarketConfig(seed=5, always_open=True),
        always_open=True,
        var_interval_seconds=0,
    )


def lease_held(engine: SaEngine, desk_id: int) -> bool:
    try:
        with engine.connect() as connection:
            return desk_id in [d.desk_id for d in open_desks(connection)]
    except OperationalError:
        return False


async def test_postgres_desk_after_a_server_restart_trades_again_and_keeps_its_slot(
    own_server,  # type: ignore[no-untyped-def]
) -> None:
    """The server stops for seconds (several beats) and comes back: the desk writes its held rows,
    takes orders again and takes its slot back, so a desk opened afterwards gets another slot
    and never works this desk's orders."""
    db = own_server.fresh_url()
    engine = Engine.build(desk_config(db))
    said: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: said.append(m.text))
    lease = engine.desk_lease
    assert lease is not None
    watcher = create_engine(db)
    engine.start()
    try:
        stock = next(i for i in engine.registry if i.tradingsymbol == "RELIANCE")
        await wait_for(lambda: engine.quotes.get(stock.token) is not None, what="a quote")
        assert engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="MIS")
        await asyncio.to_thread(own_server.stop)
        try:
            held = engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="MIS")
            assert not held, "an order acknowledged with the journal away"
            await asyncio.sleep(3.5)  # beats with the server away
        finally:
            await asyncio.to_thread(own_server.start)
        await wait_for(lambda: not engine.orders.journal_waiting, timeout=20, what="rows written")
        await wait_for(lambda: lease_held(watcher, lease.info.desk_id), timeout=20, what="lease")
        placed = engine.api.place_order(stock.token, "SELL", 1, "MARKET", product="MIS")
        assert placed, placed.reason
        later = DeskLease.open(watcher, "paper:later", live=False)
        try:
            assert later.slot != lease.slot
            assert [d.desk_id for d in later.others()] == [lease.info.desk_id]
        finally:
            later.close()
    finally:
        await engine.stop()
        watcher.dispose()
    assert not [s for s in said if "failed (" in s or "stopped after an error" in s], said
    assert not lease.lost


async def test_postgres_headless_desk_closed_while_the_server_is_away_prints_its_summary(
    own_server,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The closing marks cannot be journaled: the summary still comes, its P&L at the prices the
    desk holds, said to be journaled nowhere, and the trader is told what was not written."""
    db = own_server.fresh_url()

    async def take_the_server_away() -> None:
        deadline = time.monotonic() + 30
        while not journal_rows(db, "order_filled"):
            assert time.monotonic() < deadline, "the demo filled nothing"
            await asyncio.sleep(0.3)
        await asyncio.to_thread(own_server.stop)

    away = asyncio.create_task(take_the_server_away())
    try:
        summary = await run_session(desk_config(db), 8, demo=True, stop=StopRequests())
        await away
    finally:
        if not away.done():
            away.cancel()
        await asyncio.to_thread(own_server.start)
    err = capsys.readouterr().err
    assert summary["fills"], summary
    assert summary["marks_journaled"] is False
    assert summary["marks_seq"] is None
    assert {"pnl", "net_pnl", "charges"} <= set(summary)
    assert len(summary["positions"]) >= 1  # type: ignore[arg-type]
    assert "the closing prices were not written to the book" in err, err
    assert "held in memory" in err


def server_processes(server) -> list[int]:  # type: ignore[no-untyped-def]
    """The server's processes: the postmaster and every process under it (its backends run in
    sessions of their own, so a process group does not reach them), read from /proc (no ps on a
    slim machine)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while listed
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))

    def tree(pid: int) -> list[int]:
        return [pid] + [p for child in parents.get(pid, []) for p in tree(child)]

    def is_postgres(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
        except OSError:
            return False

    # As root the server runs under runuser, which is left alone (``own_server`` wakes it).
    return [pid for pid in tree(server.process.pid) if is_postgres(pid)]


def test_postgres_journal_write_to_a_frozen_server_ends_at_its_deadline_then_resumes(
    own_server,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that stops answering (SIGSTOP: a frozen VM) must not hold the desk: a write
    fails as a lost connection once its deadline passes, the next ones and the lease's beat
    return at once while the server is still frozen, and writing resumes once it answers."""
    monkeypatch.setattr(journal_writer, "CALL_DEADLINE_S", 1.0)
    database = open_database(own_server.fresh_url())
    lease = DeskLease.open(database.engine, "paper:a", live=False)
    journal = database.journal
    try:
        journal.append("note", {"n": 1}, order_id=None, ts_ns=1)
        frozen = server_processes(own_server)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(JournalWriteError, match="server closed the connection"):
                journal.append("note", {"n": 2}, order_id=None, ts_ns=2)
            assert time.monotonic() - started < 4.5, "the write outlived its deadline"
            started = time.monotonic()
            with pytest.raises(JournalWriteError, match="cannot reconnect"):
                journal.append("note", {"n": 3}, order_id=None, ts_ns=3)
            assert lease.check() is None
            assert time.monotonic() - started < 2.0, "a call waited on the frozen server"
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while True:
            try:
                journal.append("note", {"n": 4}, order_id=None, ts_ns=4)
                break
            except JournalWriteError:
                assert time.monotonic() < deadline, "writing never resumed"
                time.sleep(0.2)
        assert lease.check() is None
        assert not lease.lost
        assert [d.desk_id for d in open_desks_of(database)] == [lease.info.desk_id]
    finally:
        lease.close()
        database.close()


def open_desks_of(database: Database) -> list[DeskInfo]:
    with database.engine.connect() as connection:
        return open_desks(connection)
