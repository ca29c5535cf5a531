"""Desks: every desk that opens a shared book is numbered by the database and given an id slot.

Two desks on one PostgreSQL book must never make the same order id; each takes a slot (the salt
of its ids) no other open desk holds, recorded here with who opened it. SQLite books, which one
desk at a time holds by a file lock, get the table too so both backends share one schema.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk",
        sa.Column(
            "desk_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("open_beside", sa.Text(), nullable=False),
        sa.Column("session", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=120), nullable=False),
        sa.Column("command", sa.String(length=300), nullable=False),
        sa.Column("backend_pid", sa.Integer(), nullable=False),
        sa.Column("opened_ns", sa.BigInteger(), nullable=False),
        sa.Column("closed_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("desk_id", name=op.f("pk_desk")),
    )


def downgrade() -> None:
    op.drop_table("desk")
