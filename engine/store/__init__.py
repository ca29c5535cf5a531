"""Persistence: the database, its Alembic migrations and the append-only audit journal.

Every order event, fill and risk decision is written to the journal before it is published;
orders, positions and P&L are rebuilt from it on restart. Default store: SQLite in WAL mode at
``<user data dir>/dalaldesk.db``; any SQLAlchemy URL works (PostgreSQL for a shared desk).

Secrets never reach the database. Credentials live only in the OS keyring; the journal refuses
payload keys that name a credential; URLs are shown and logged only through ``redact_url``.
"""

from engine.store.codec import decode_payload, encode_payload
from engine.store.database import Database, open_database
from engine.store.errors import JournalWriteError, SchemaError, StoreError
from engine.store.journal import Journal, JournalEntry, NewJournalEntry
from engine.store.urls import (
    book_file_of,
    check_path_name,
    default_database_path,
    redact_url,
    sqlite_url,
)

__all__ = [
    "Database",
    "Journal",
    "JournalEntry",
    "JournalWriteError",
    "NewJournalEntry",
    "SchemaError",
    "StoreError",
    "book_file_of",
    "check_path_name",
    "decode_payload",
    "default_database_path",
    "encode_payload",
    "open_database",
    "redact_url",
    "sqlite_url",
]
