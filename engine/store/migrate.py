"""Alembic, driven from code: no alembic.ini, the scripts ship inside the package.

Alembic is loaded only to migrate: a book already at ``HEAD`` (every book after its first open
by this version) opens without it, which saves a desk's start-up about a third of a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from engine.store.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x4444000444440004
"""The advisory lock a desk holds while it migrates a PostgreSQL book."""
HEAD = "0003"
"""The newest revision in ``migrations/versions`` (the store's tests check that Alembic agrees)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the packaged migrations, optionally bound to an open connection."""
    from alembic.config import Config

    config = Config()
    # Config values go through configparser interpolation, where '%' is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows, as Alembic reads the scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions the database says it is at; empty for a database Alembic never touched."""
    from alembic.runtime.migration import MigrationContext

    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest schema in one transaction (where the backend allows).

    A database written by a newer DalalDesk (a revision this code does not know) is refused rather
    than guessed at.
    """
    if _at_head(engine):
        return
    from alembic import command
    from alembic.script import ScriptDirectory

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


def _at_head(engine: Engine) -> bool:
    """Whether the book is at ``HEAD`` already, read with plain SQL."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [row[0] for row in versions] == [HEAD]


def _known_revisions(scripts: ScriptDirectory) -> set[str]:
    return {script.revision for script in scripts.walk_revisions()}
