"""The store's exception tree: callers catch ``StoreError`` or one of its precise children."""

from __future__ import annotations


class StoreError(Exception):
    """Something went wrong opening, migrating or writing the database."""


class SchemaError(StoreError):
    """The database schema cannot be brought to the revision this code expects."""


class JournalWriteError(StoreError):
    """A journal entry was not made durable; whatever it recorded must not be published.

    The database error that caused it is chained as ``__cause__``. ``remedy`` is what the trader
    can do about it, when the journal knows better than the usual (free disk space).
    """

    def __init__(self, *args: object, remedy: str | None = None) -> None:
        super().__init__(*args)
        self.remedy = remedy


def write_failure_in_words(error: JournalWriteError) -> str:
    """Why the journal did not write, in a line for the trader: the database's own first line,
    or, when the book's database server has gone away (a PostgreSQL book), that it has."""
    cause: BaseException = error.__cause__ or error
    cause = getattr(cause, "orig", None) or cause  # SQLAlchemy's wrapper: the driver's error
    lines = str(cause).strip().splitlines()
    first = lines[0].strip() if lines else type(cause).__name__
    # psycopg's connection failures are OperationalError or its children (AdminShutdown...).
    if any(
        kind.__module__.startswith("psycopg")
        and kind.__name__ in ("OperationalError", "InterfaceError")
        for kind in type(cause).__mro__
    ):
        return f"the book's database server cannot be reached: {first}"
    return first
