"""Alembic, driven from code: no alembic.ini, the scripts ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from engine.store.errors import SchemaError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x4444000444440004
"""The advisory lock a desk holds while it migrates a PostgreSQL book."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the packaged migrations, optionally bound to an open connection."""
    config = Config()
    # Config values go through configparser interpolation, where '%' is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions the database says it is at; empty for a database Alembic never touched."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest schema in one transaction (where the backend allows).

    A database written by a newer DalalDesk (a revision this code does not know) is refused rather
    than guessed at.
    """
    scripts = ScriptDirectory.from_config(alembic_config())
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Desks opening a shared book at once migrate it one after the other: the next one
            # waits here, then finds it at head (PostgreSQL's DDL is transactional).
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        for revision in current_revisions(connection):
            if revision not in _known_revisions(scripts):
                raise SchemaError(
                    f"database schema is at revision {revision!r}, which this version of "
                    f"DalalDesk does not know (newest known: {scripts.get_current_head()!r}); "
                    "it was probably written by a newer version"
                )
        command.upgrade(alembic_config(connection), "head")


def _known_revisions(scripts: ScriptDirectory) -> set[str]:
    return {script.revision for script in scripts.walk_revisions()}
