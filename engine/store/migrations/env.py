"""Alembic environment for DalalDesk.

There is no alembic.ini: ``engine.store.migrate`` builds the Config in code and hands over an open
connection in ``config.attributes["connection"]``. Offline (``--sql``) mode renders for the URL in
the ``sqlalchemy.url`` main option. Logging is left to the application: this file configures none.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from engine.store.schema import metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "engine.store migrations run through engine.store.migrate, which passes a connection"
        )
    _configure_and_run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
