"""Desks on one shared PostgreSQL book: numbered by the database, each with an id slot of its own,
a live broker session used by one desk only, and a lease that goes with the desk."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text

from engine.domain.ids import IdFactory, salt_of
from engine.store import Database, open_database
from engine.store.desks import (
    BrokerSessionInUse,
    DeskLease,
    DeskOpening,
    open_desks,
    order_owners,
)
from engine.store.migrate import head_revision
from engine.store.schema import desk as desk_table


@pytest.fixture
def book(postgres_server) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    database = open_database(postgres_server.fresh_url())
    yield database
    database.close()


def test_postgres_desks_opened_together_get_distinct_slots_and_see_each_other(
    book: Database,
) -> None:
    first = DeskLease.open(book.engine, "paper:a", live=False)
    second = DeskLease.open(book.engine, "paper:b", live=False)
    try:
        assert first.slot != second.slot
        assert [d.desk_id for d in first.others()] == [second.info.desk_id]
        assert [d.desk_id for d in second.others()] == [first.info.desk_id]
        one, two = IdFactory("D", first.slot), IdFactory("D", second.slot)
        same_ms = 1_790_000_000_000
        ids = [one.next(same_ms) for _ in range(500)] + [two.next(same_ms) for _ in range(500)]
        assert len(set(ids)) == 1000
        assert {salt_of(i) for i in ids} == {first.slot, second.slot}
    finally:
        second.close()
        first.close()


def test_postgres_desk_slot_freed_by_a_closed_desk_is_taken_last(book: Database) -> None:
    first = DeskLease.open(book.engine, "paper:a", live=False)
    used = first.slot
    first.close()
    again = DeskLease.open(book.engine, "paper:a", live=False)
    try:
        assert (
            again.slot != used
        )  # never-used slots first: recent ids keep their salt to themselves
        assert again.others() == []
    finally:
        again.close()


def test_postgres_second_desk_on_one_live_broker_session_is_refused_in_words(
    book: Database,
) -> None:
    first = DeskLease.open(book.engine, "kite:AB1234", live=True)
    try:
        with pytest.raises(BrokerSessionInUse) as refused:
            DeskLease.open(book.engine, "kite:AB1234", live=True)
        text_ = str(refused.value)
        assert "kite:AB1234 is already in use on this book by desk" in text_
        assert "Close the other desk" in text_
        other = DeskLease.open(book.engine, "kite:ZZ9999", live=True)
        other.close()
    finally:
        first.close()
    after = DeskLease.open(book.engine, "kite:AB1234", live=True)
    after.close()


def test_postgres_desk_lease_lost_with_its_connection_is_taken_back_by_check(
    book: Database,
) -> None:
    lease = DeskLease.open(book.engine, "paper:a", live=False)
    watcher = DeskLease.open(book.engine, "paper:b", live=False)
    try:
        with book.engine.connect() as conn:
            # The timeout makes the server wait until the backend has exited (and let its locks
            # go); without it the call returns as soon as the signal is sent.
            terminated = conn.execute(
                text(
                    "SELECT pg_terminate_backend(backend_pid, 10000) FROM desk WHERE desk_id = :d"
                ),
                {"d": lease.info.desk_id},
            ).scalar_one()
        assert terminated is True
        assert watcher.others() == []  # its lease died with the connection
        assert lease.check() is None
        assert [d.desk_id for d in watcher.others()] == [lease.info.desk_id]
    finally:
        watcher.close()
        lease.close()


def test_postgres_order_owner_is_followed_from_its_placer_through_each_desk_that_took_it_over() -> (
    None
):
    """A opens and places o1; B opens beside A; A dies; C opens (takes o1 over), then D beside B
    and C; the slot of A is used again by E. Every order has one holder at any time."""

    def made(slot: int) -> str:
        return IdFactory("D", slot).next()

    a, b, c, d, e = (
        DeskOpening(1, 0, 0, frozenset()),
        DeskOpening(2, 1, 10, frozenset({1})),
        DeskOpening(3, 2, 20, frozenset({2})),
        DeskOpening(4, 3, 30, frozenset({2, 3})),
        DeskOpening(5, 0, 40, frozenset({2, 3, 4})),
    )
    o1, o2, o3, legacy = made(0), made(1), made(0), "240627000123"
    orders = [(legacy, 0), (o1, 5), (o2, 15), (o3, 45)]

    assert order_owners(orders, [a, b]) == {legacy: 1, o1: 1, o2: 2, o3: 1}
    assert order_owners(orders, [a, b, c, d, e]) == {legacy: 3, o1: 3, o2: 2, o3: 5}
    assert order_owners(orders, []) == dict.fromkeys((legacy, o1, o2, o3))


def test_postgres_desk_sees_which_orders_another_open_desk_holds(book: Database) -> None:
    first = DeskLease.open(book.engine, "paper:a", live=False)
    try:
        theirs = IdFactory("D", first.slot).next()
        second = DeskLease.open(book.engine, "paper:b", live=False)
        try:
            mine = IdFactory("D", second.slot).next()
            orders = [(theirs, first.info.first_seq + 1), (mine, second.info.first_seq + 1)]
            assert second.held_elsewhere(orders) == {theirs: first.info}
            assert first.held_elsewhere(orders) == {mine: second.info}
        finally:
            second.close()
        assert first.held_elsewhere(orders) == {}
    finally:
        first.close()


def test_postgres_new_book_opened_by_several_desks_at_once_is_migrated_once(
    postgres_server,  # type: ignore[no-untyped-def]
) -> None:
    url = str(postgres_server.fresh_url())
    barrier = threading.Barrier(4)

    def open_it(_: int) -> str:
        barrier.wait()
        with open_database(url) as database, database.engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())

    with ThreadPoolExecutor(max_workers=4) as threads:
        assert set(threads.map(open_it, range(4))) == {head_revision()}


@pytest.fixture
def own_server(postgres_server):  # type: ignore[no-untyped-def]
    """A cluster of its own for a test that stops it: the session's server stays up."""
    from tests.pg import PostgresServer

    server = PostgresServer(postgres_server.binaries)
    server.start()
    yield server
    server.close()


def test_postgres_desk_lease_check_while_the_server_stays_away_then_takes_it_back(
    own_server,  # type: ignore[no-untyped-def]
) -> None:
    """Each beat's check while the server is away must return (not raise), and the first one
    after it is back must take the desk's slot again: a desk opened then must not get it."""
    book = open_database(own_server.fresh_url())
    lease = DeskLease.open(book.engine, "paper:a", live=False)
    other_book = create_engine(book.engine.url)
    try:
        own_server.stop()
        try:
            for _ in range(3):  # the first drops the dead connection; the next find none
                assert lease.check() is None
        finally:
            own_server.start()
        deadline = time.monotonic() + 15
        while not lease_held(other_book, lease):
            assert time.monotonic() < deadline, "the lease was never taken back"
            assert lease.check() is None
            time.sleep(0.2)
        assert not lease.lost
        later = DeskLease.open(other_book, "paper:b", live=False)
        try:
            assert later.slot != lease.slot
            assert [d.desk_id for d in later.others()] == [lease.info.desk_id]
        finally:
            later.close()
        lease.close()
        assert lease.check() is None  # closed: nothing is taken back
        assert not lease_held(other_book, lease)
    finally:
        lease.close()
        other_book.dispose()
        book.close()


def lease_held(engine: Engine, lease: DeskLease) -> bool:
    with engine.connect() as conn:
        return lease.info.desk_id in [d.desk_id for d in open_desks(conn)]


def test_postgres_desk_row_keeps_no_password_of_the_command_line(
    book: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every desk and user of the book reads the desk table: the --db password is masked in the
    command recorded there, for this desk and for the rows older versions left."""
    secret = "Hunter2SecretPw"
    url = f"postgresql+psycopg://desk:{secret}@db.example:5432/book"
    with book.engine.begin() as conn:
        conn.execute(
            insert(desk_table).values(
                slot=9,
                first_seq=0,
                open_beside="",
                session="paper:old",
                host="h",
                pid=1,
                user_name="u",
                command=f"dalaldesk --headless --db {url} --api-port 9000",
                backend_pid=0,
                opened_ns=1,
                closed_ns=2,
            )
        )
    monkeypatch.setattr(
        sys, "argv", ["/opt/dalaldesk/bin/dalaldesk", "--headless", "--db", url, f"--x={url}"]
    )
    lease = DeskLease.open(book.engine, "paper:a", live=False)
    lease.close()
    with book.engine.connect() as conn:
        commands = [str(c) for c in conn.execute(select(desk_table.c.command)).scalars()]
    assert commands == [
        "dalaldesk --headless --db postgresql+psycopg://desk:***@db.example:5432/book "
        "--api-port 9000",
        "dalaldesk --headless --db postgresql+psycopg://desk:***@db.example:5432/book "
        "--x=postgresql+psycopg://desk:***@db.example:5432/book",
    ]
