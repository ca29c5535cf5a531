"""The store's exception tree: callers catch ``StoreError`` or one of its precise children."""

from __future__ import annotations


class StoreError(Exception):
    """Something went wrong opening, migrating or writing the database."""


class SchemaError(StoreError):
    """The database schema cannot be brought to the revision this code expects."""


class JournalWriteError(StoreError):
    """A journal entry was not made durable; whatever it recorded must not be published.

    The database error that caused it is chained as ``__cause__``.
    """
