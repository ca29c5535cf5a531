"""Table metadata: the single description of the schema that Alembic migrations must match.

A test runs Alembic's autogenerate comparison against this metadata after ``upgrade head``; any
difference means a migration is missing.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

# Deterministic constraint names, so migrations can name (and later drop or alter) what they create.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KIND_MAX_LENGTH = 40
ORDER_ID_MAX_LENGTH = 32

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# 64-bit sequence numbers everywhere; on SQLite only a column declared exactly ``INTEGER PRIMARY
# KEY`` becomes the (already 64-bit) rowid, which is what makes inserts cheap there.
SequenceNumber = BigInteger().with_variant(Integer(), "sqlite")

journal = Table(
    "journal",
    metadata,
    # Strictly increasing: SQLite gives a new row max(seq) + 1 and PostgreSQL takes the next value
    # of a sequence, and no row is ever deleted (the migration installs triggers that refuse it).
    # SQLite's AUTOINCREMENT keyword would guard the same thing once more, at the price of an extra
    # page write per commit (about 5 µs of a ~35 µs append), so it is not used.
    Column("seq", SequenceNumber, primary_key=True, autoincrement=True),
    Column("ts_ns", BigInteger, nullable=False),  # event time, epoch ns UTC
    Column("recorded_ns", BigInteger, nullable=False),  # wall time of the write, epoch ns UTC
    Column("kind", String(KIND_MAX_LENGTH), nullable=False),
    Column("order_id", String(ORDER_ID_MAX_LENGTH), nullable=True, index=True),
    Column("payload", Text, nullable=False),  # JSON, see engine.store.codec
)

# Journal rows the restore could not read: set aside with the reason, never deleted, skipped by every
# later restore and listed by ``dalaldesk book check``.
quarantine = Table(
    "quarantine",
    metadata,
    Column("seq", SequenceNumber, primary_key=True, autoincrement=False),
    Column("reason", Text, nullable=False),
    Column("quarantined_ns", BigInteger, nullable=False),
)

# Every desk that opened a shared (PostgreSQL) book, one row per opening. The database numbers it
# and hands it an id slot: the part of its order ids that no other open desk uses
# (``engine.store.desks``). Rows are closed, never deleted: they say who traded on the book.
desk = Table(
    "desk",
    metadata,
    Column("desk_id", SequenceNumber, primary_key=True, autoincrement=True),
    Column("slot", Integer, nullable=False),
    Column("first_seq", BigInteger, nullable=False),  # the journal's last seq when it opened
    Column("open_beside", Text, nullable=False),  # ids of the desks open when it opened
    Column("session", String(120), nullable=False),  # the broker session it trades through
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("user_name", String(120), nullable=False),
    Column("command", String(300), nullable=False),
    Column("backend_pid", Integer, nullable=False),  # the server process holding its lease
    Column("opened_ns", BigInteger, nullable=False),
    Column("closed_ns", BigInteger, nullable=True),
)
