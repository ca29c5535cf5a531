"""Several desks on one PostgreSQL book: each is numbered by the database and holds an id slot.

A SQLite book is one file and one desk (``book_lock``). A PostgreSQL book is shared: desks on
several machines open it at once and each journals its own orders and fills. What keeps that
correct:

- Journal sequence numbers come from the database's own sequence, so two writers never share one
  (nothing to do here).
- Order ids carry a 10-bit salt (``IdFactory``). On a shared book the salt is the desk's *slot*:
  at open the desk takes a PostgreSQL advisory lock on a slot no open desk holds, on a connection
  of its own (the lease), and writes a ``desk`` row. The lock dies with that connection, so a desk
  that crashed or was killed frees its slot at once, as the file lock does on SQLite. Free slots
  are taken least recently used first, so a slot is not handed out again while ids made with it
  are recent. All of it happens once, at open: the per-order path makes its ids in memory with no
  round trip to the database.
- An order belongs to the desk that placed it, until a desk that opens after that desk is gone
  takes it over (``order_owners``: each desk row says which desks were open beside it when it
  opened, so the holder of every order can be followed without any write per order). At a
  restart a desk rebuilds every order, fill and position on the book, but the orders another
  open desk holds are shown, never worked: not sent to this desk's venue, not expired or
  cancelled, their positions not squared off by its paper venue, and a cancel or modify of one
  is refused with the desk that holds it named. Those of desks no longer open are taken over, as
  after a restart of a single desk.
- Two open desks on one live broker session (the same broker and account) are refused: both would
  reconcile and work the same orders at the broker. Each paper desk is its own venue.

Live sight of the other desks' orders and fills is not given: a desk shows the others' as they
stood when it opened (its restore), and its own as they happen.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys
import time
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.core.clock import IST
from engine.domain.ids import ID_SALTS, salt_of
from engine.store.errors import StoreError
from engine.store.journal_writer import refuse_if_unanswered, timed, unanswered, watch_calls
from engine.store.schema import desk as desk_table
from engine.store.schema import journal as journal_table
from engine.store.urls import redact_command

logger = logging.getLogger(__name__)

SLOT_LOCK = 0x44440001
"""The first key of the advisory locks on id slots (the second is the slot)."""
SESSION_LOCK = 0x44440002
"""The first key of the advisory locks on live broker sessions (the second hashes the session)."""
REGISTER_LOCK = 0x4444000344440003
"""The advisory lock one desk holds while it registers."""
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": 10,
    "tcp_keepalives_interval": 5,
    "tcp_keepalives_count": 3,
}


@dataclass(frozen=True, slots=True)
class DeskInfo:
    """One open desk on the book, as its row says."""

    desk_id: int
    slot: int
    first_seq: int
    session: str
    host: str
    pid: int
    user: str
    opened_ns: int

    def describe(self) -> str:
        where = f"process {self.pid} on {self.host}"
        who = f", user {self.user}" if self.user else ""
        since = f"{datetime.fromtimestamp(self.opened_ns / 1e9, IST):%d %b %H:%M} IST"
        return f"desk {self.desk_id} ({where}{who}, open since {since})"


class BrokerSessionInUse(StoreError):
    """Another open desk on this book trades through the same broker session."""

    def __init__(self, session: str, holder: DeskInfo | None) -> None:
        self.session = session
        self.holder = holder
        held_by = holder.describe() if holder is not None else "another desk"
        super().__init__(
            f"the broker session {session} is already in use on this book by {held_by}. Two desks "
            "on one broker session would both reconcile and work the same orders at the broker, "
            "so this one does not open. Close the other desk, or log in with another account."
        )


class DeskLease:
    """This desk's registration on a shared book: its number, its id slot and its lease."""

    def __init__(self, engine: Engine, connection: Connection, info: DeskInfo, live: bool) -> None:
        self._engine = engine
        self._connection: Connection | None = connection
        self._watch = watch_calls(connection, engine)
        """Times the lease's beat, so a server that stops answering cannot hold the loop."""
        self.info = info
        self._live_session = live
        self.lost = False
        """The lease went with the server and could not be taken back."""
        self._closed = False

    @property
    def slot(self) -> int:
        return self.info.slot

    @classmethod
    def open(cls, engine: Engine, session: str, *, live: bool) -> DeskLease:
        """Register this desk on the book at ``engine`` (PostgreSQL); ``live``: ``session`` is a
        live broker session, which only one open desk may use."""
        connection = _lease_connection(engine)
        try:
            if live and not _lock(connection, SESSION_LOCK, _session_key(connection, session)):
                holder = next((d for d in open_desks(connection) if d.session == session), None)
                raise BrokerSessionInUse(session, holder)
            slot = _take_slot(connection)
            info = _register(connection, slot, session)
        except BaseException:
            connection.close()
            raise
        logger.info("desk %d opened on the shared book with id slot %d", info.desk_id, slot)
        return cls(engine, connection, info, live)

    def others(self) -> list[DeskInfo]:
        """The other desks open on the book now."""
        connection = self._ready()
        return [d for d in open_desks(connection) if d.desk_id != self.info.desk_id]

    def held_elsewhere(self, orders: Iterable[tuple[str, int]]) -> dict[str, DeskInfo]:
        """Which of ``orders`` (order id, seq of its submission) another open desk works now
        (``order_owners``), with that desk."""
        others = {d.desk_id: d for d in self.others()}
        if not others:
            return {}
        owners = order_owners(orders, all_openings(self._ready()))
        return {
            order_id: others[owner]
            for order_id, owner in owners.items()
            if owner is not None and owner in others
        }

    def check(self) -> str | None:
        """Keep the lease: after the server went away and came back, take this desk's slot (and
        broker session) again. Returns what the trader must be told when that fails."""
        if self.lost or self._closed or unanswered(self._engine):
            return None  # a server that stopped answering is not waited for on the loop
        if self._connection is not None:
            try:
                with timed(self._watch):
                    self._connection.execute(text("SELECT 1"))
                return None
            except SQLAlchemyError:
                self._drop_connection()
        # No connection: dropped on an earlier beat while the server was away; take it again.
        try:
            connection = _lease_connection(self._engine)
        except SQLAlchemyError:
            return None  # still away: the journal holds the orders meanwhile
        try:
            ok = _lock(connection, SLOT_LOCK, self.info.slot)
            if ok and self._live_session:
                ok = _lock(connection, SESSION_LOCK, _session_key(connection, self.info.session))
            if ok:
                backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
                connection.execute(
                    update(desk_table)
                    .where(desk_table.c.desk_id == self.info.desk_id)
                    .values(backend_pid=int(backend))
                )
                self._connection = connection
                self._watch = watch_calls(connection, self._engine)
                logger.info("desk %d took its lease back", self.info.desk_id)
                return None
        except SQLAlchemyError:
            connection.close()
            return None
        connection.close()
        self.lost = True
        return (
            "This desk lost its place on the shared book while the database was away, and "
            "another desk has taken it. Orders placed here now could clash with that desk's: "
            "close this desk and open it again."
        )

    def close(self) -> None:
        """Mark the desk closed and let its slot go; closing twice is harmless."""
        self._closed = True
        connection = self._connection
        if connection is None:
            return
        try:
            connection.execute(
                update(desk_table)
                .where(desk_table.c.desk_id == self.info.desk_id)
                .values(closed_ns=time.time_ns())
            )
            connection.execute(text("SELECT pg_advisory_unlock_all()"))
        except SQLAlchemyError:
            logger.warning("desk %d: closing its row failed", self.info.desk_id, exc_info=True)
        finally:
            self._drop_connection()

    def _ready(self) -> Connection:
        if self._connection is None:
            raise StoreError("the desk's lease on the book is not held")
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.close()
        except SQLAlchemyError:
            logger.debug("closing the lease connection failed", exc_info=True)


@dataclass(frozen=True, slots=True)
class DeskOpening:
    """One row of the desk table as the ownership rule reads it."""

    desk_id: int
    slot: int
    first_seq: int
    open_beside: frozenset[int]
    """The desks that were open when it opened."""


def order_owners(
    orders: Iterable[tuple[str, int]], openings: Iterable[DeskOpening]
) -> dict[str, int | None]:
    """The desk that works each order (order id, seq of its submission) now: None for one no
    desk of the table ever held (written before desks were numbered, and never taken over).

    An order is first its placer's: the desk whose slot its id carries, the last to open with
    that slot before it. Each desk that opened later took it over at its start (its restore)
    unless the order's holder was open beside it then; so the holder is followed desk by desk.
    """
    ordered = sorted(openings, key=lambda d: (d.first_seq, d.desk_id))
    firsts = [d.first_seq for d in ordered]
    by_slot: dict[int, list[DeskOpening]] = {}
    for desk in ordered:
        by_slot.setdefault(desk.slot, []).append(desk)
    slot_firsts = {slot: [d.first_seq for d in desks] for slot, desks in by_slot.items()}
    settled: dict[tuple[int | None, int], int | None] = {}

    def holder_now(holder: int | None, start: int) -> int | None:
        path: list[tuple[int | None, int]] = []
        index = start
        while index < len(ordered):
            known = settled.get((holder, index), _UNSETTLED)
            if known is not _UNSETTLED:
                holder = known  # type: ignore[assignment]
                index = len(ordered)
                break
            path.append((holder, index))
            desk = ordered[index]
            if holder is None or holder not in desk.open_beside:
                holder = desk.desk_id
            index += 1
        for key in path:
            settled[key] = holder
        return holder

    owners: dict[str, int | None] = {}
    for order_id, seq in orders:
        placer: int | None = None
        slot = salt_of(order_id)
        if slot is not None and slot in by_slot:
            at = bisect_left(slot_firsts[slot], seq)  # desks of that slot opened before it
            if at:
                placer = by_slot[slot][at - 1].desk_id
        owners[order_id] = holder_now(placer, bisect_left(firsts, seq))
    return owners


_UNSETTLED = object()


def all_openings(connection: Connection) -> list[DeskOpening]:
    rows = connection.execute(
        select(
            desk_table.c.desk_id,
            desk_table.c.slot,
            desk_table.c.first_seq,
            desk_table.c.open_beside,
        )
    ).all()
    return [
        DeskOpening(int(d), int(slot), int(first), _ids(beside)) for d, slot, first, beside in rows
    ]


def _ids(text_: str) -> frozenset[int]:
    return frozenset(int(part) for part in text_.split(",") if part.strip())


def open_desks(connection: Connection) -> list[DeskInfo]:
    """Desks whose lease is held now: a row not closed whose slot lock its server process holds."""
    rows = connection.execute(
        text(
            "SELECT d.desk_id, d.slot, d.first_seq, d.session, d.host, d.pid, d.user_name, "
            "d.opened_ns FROM desk d JOIN pg_locks l ON l.locktype = 'advisory' "
            "AND l.classid::bigint = :key AND l.objid::bigint = d.slot AND l.objsubid = 2 "
            "AND l.pid = d.backend_pid AND l.granted WHERE d.closed_ns IS NULL ORDER BY d.desk_id"
        ),
        {"key": SLOT_LOCK},
    ).all()
    return [
        DeskInfo(
            int(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]), int(r[5]), str(r[6]), int(r[7])
        )
        for r in rows
    ]


def _lease_connection(engine: Engine) -> Connection:
    """A connection of its own for the lease. The server probes it, so a desk whose machine or
    network died lets its slot go within about half a minute rather than TCP's two hours."""
    refuse_if_unanswered(engine)  # a server that stopped answering: not waited for on the loop
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        for setting, value in KEEPALIVE_SETTINGS.items():
            connection.execute(text(f"SET {setting} = {int(value)}"))
    except BaseException:
        connection.close()
        raise
    return connection


def _lock(connection: Connection, key: int, value: int) -> bool:
    statement = text("SELECT pg_try_advisory_lock(:key, :value)")
    return bool(connection.execute(statement, {"key": key, "value": value}).scalar_one())


def _session_key(connection: Connection, session: str) -> int:
    return int(connection.execute(text("SELECT hashtext(:s)"), {"s": session}).scalar_one())


def _take_slot(connection: Connection) -> int:
    """A slot no open desk holds: never used ones first, then the least recently used."""
    rows = connection.execute(
        select(desk_table.c.slot, func.max(desk_table.c.desk_id)).group_by(desk_table.c.slot)
    ).all()
    last_used = {int(slot): int(last) for slot, last in rows}
    order = [s for s in range(ID_SALTS) if s not in last_used]
    order += sorted(last_used, key=last_used.__getitem__)
    for slot in order:
        if _lock(connection, SLOT_LOCK, slot):
            return slot
    raise StoreError(f"all {ID_SALTS} desk slots of this book are in use; close a desk")


def _register(connection: Connection, slot: int, session: str) -> DeskInfo:
    # One desk registers at a time, so each sees every desk that opened before it.
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": REGISTER_LOCK})
    try:
        return _insert_desk(connection, slot, session)
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": REGISTER_LOCK})


def _insert_desk(connection: Connection, slot: int, session: str) -> DeskInfo:
    now = time.time_ns()
    # Rows left open by desks that died with this slot: the lock is ours now, so they are closed.
    connection.execute(
        update(desk_table)
        .where(desk_table.c.slot == slot, desk_table.c.closed_ns.is_(None))
        .values(closed_ns=now)
    )
    _redact_commands(connection)
    first_seq = connection.execute(select(func.coalesce(func.max(journal_table.c.seq), 0)))
    backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    who = _this_process()
    beside = ",".join(str(d.desk_id) for d in open_desks(connection))
    values = {
        "slot": slot,
        "first_seq": int(first_seq.scalar_one()),
        "open_beside": beside,
        "session": session[:120],
        "backend_pid": int(backend),
        "opened_ns": now,
        **who,
    }
    desk_id = connection.execute(
        insert(desk_table).values(values).returning(desk_table.c.desk_id)
    ).scalar_one()
    return DeskInfo(
        int(desk_id),
        slot,
        int(values["first_seq"]),  # type: ignore[call-overload]
        session,
        str(who["host"]),
        int(who["pid"]),  # type: ignore[call-overload]
        str(who["user_name"]),
        now,
    )


def _redact_commands(connection: Connection) -> None:
    """Mask the passwords that desks of older versions kept in their rows' command line (the
    whole ``--db`` URL): every desk and user of the book can read that table. Done here, as a
    desk registers, rather than by a schema migration: no column changes, and a book opened by
    an older desk again meanwhile is cleaned at the next opening too."""
    rows = connection.execute(
        select(desk_table.c.desk_id, desk_table.c.command).where(desk_table.c.command.like("%://%"))
    ).all()
    for desk_id, command in rows:
        redacted = redact_command(str(command).split(" "))[:300]
        if redacted != command:
            connection.execute(
                update(desk_table).where(desk_table.c.desk_id == desk_id).values(command=redacted)
            )


def _this_process() -> dict[str, object]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = ""
    # Every desk and user of the book reads this row: no password of --db is kept in it.
    command = redact_command(sys.argv)
    return {
        "host": socket.gethostname()[:255],
        "pid": os.getpid(),
        "user_name": user[:120],
        "command": command[:300],
    }
