"""Two desks writing to one PostgreSQL book at once, each in its own process with its own engine.

Both trade on the paper venue at the same time. Every order and fill a desk acknowledged must be
in the journal exactly once, no two desks may make the same id, a third desk opened meanwhile must
show the open orders of the other two without working them, and each desk restarted afterwards
must rebuild the positions the journal's fills add up to. A SQLite book stays one desk's.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.domain.ids import salt_of
from engine.runtime import Engine, EngineConfig
from engine.store.book_lock import BookInUse
from tests.forked import ForkedChild
from tests.integration.test_crash_recovery import (
    CHILD_MODULE,
    positions_from_journal,
    restored,
)

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
