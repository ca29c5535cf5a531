"""Desks on one shared PostgreSQL book: numbered by the database, each with an id slot of its own,
a live broker session used by one desk only, and a lease that goes with the desk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from engine.domain.ids import IdFactory, salt_of
from engine.store import Database, open_database
from engine.store.desks import BrokerSessionInUse, DeskLease, other_desks_orders


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
            conn.execute(
                text("SELECT pg_terminate_backend(backend_pid) FROM desk WHERE desk_id = :d"),
                {"d": lease.info.desk_id},
            )
        assert watcher.others() == []  # its lease died with the connection
        assert lease.check() is None
        assert [d.desk_id for d in watcher.others()] == [lease.info.desk_id]
    finally:
        watcher.close()
        lease.close()


def test_postgres_open_orders_of_another_open_desk_are_the_ones_made_with_its_slot_after_it_opened(
    book: Database,
) -> None:
    lease = DeskLease.open(book.engine, "paper:a", live=False)
    try:
        desk = lease.info
        mine = IdFactory("D", desk.slot).next()
        other = IdFactory("D", (desk.slot + 1) % 1024).next()
        held = other_desks_orders(
            [(mine, desk.first_seq + 1), (other, desk.first_seq + 5)],
            [desk],
        )
        assert list(held) == [mine]
        assert other_desks_orders([(mine, desk.first_seq)], [desk]) == {}
    finally:
        lease.close()
