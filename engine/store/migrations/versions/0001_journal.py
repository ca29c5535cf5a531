"""The append-only audit journal.

Every order event, fill and risk decision is written here before it is published; orders,
positions and P&L are rebuilt from it on restart. The database itself refuses UPDATE and DELETE on
the table, so no code path (ours or a hand-typed SQL shell) can rewrite history by accident. It is
not a defence against someone who drops the trigger on purpose.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = "journal is append-only"

SQLITE_TRIGGERS = {
    "journal_no_update": "UPDATE",
    "journal_no_delete": "DELETE",
}


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("recorded_ns", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal")),
    )
    op.create_index(op.f("ix_journal_order_id"), "journal", ["order_id"], unique=False)

    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for trigger, statement in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {trigger} BEFORE {statement} ON journal "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION journal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER journal_no_update_or_delete BEFORE UPDATE OR DELETE ON journal "
            "FOR EACH ROW EXECUTE FUNCTION journal_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal "
            "FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change()"
        )
    # Other databases: no trigger. The application never issues UPDATE or DELETE on the journal;
    # add the dialect's equivalent here before offering it as a supported backend.


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for trigger in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS journal_no_truncate ON journal")
        op.execute("DROP TRIGGER IF EXISTS journal_no_update_or_delete ON journal")
        op.execute("DROP FUNCTION IF EXISTS journal_refuse_change()")
    op.drop_index(op.f("ix_journal_order_id"), table_name="journal")
    op.drop_table("journal")
