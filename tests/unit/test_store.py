"""The store: opening and migrating the database, and the append-only journal, on real SQLite."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import platformdirs
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.store import (
    Database,
    JournalWriteError,
    NewJournalEntry,
    SchemaError,
    StoreError,
    decode_payload,
    default_database_path,
    encode_payload,
    open_database,
    redact_url,
)
from engine.store import journal as journal_module
from engine.store.migrate import HEAD, alembic_config, head_revision
from engine.store.schema import metadata
from engine.store.urls import UNREADABLE_URL, BookUrlRefused, check_book_url, redact_command

IST = ZoneInfo("Asia/Kolkata")
REPO_ROOT = Path(__file__).resolve().parents[2]
TS = 1_719_459_900_000_000_000  # 2024-06-27 09:15 IST in epoch ns


def sqlite_url_for(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "desk.db"


@pytest.fixture
def database(book_url: str) -> Iterator[Database]:
    """The journal on each backend: a SQLite file and a PostgreSQL database."""
    db = open_database(book_url)
    yield db
    db.close()


@pytest.fixture
def sqlite_database(db_path: Path) -> Iterator[Database]:
    """For what only SQLite has (pragmas, WAL checkpoints, the file)."""
    db = open_database(sqlite_url_for(db_path))
    yield db
    db.close()


def raw_sqlite(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


# --- opening and migrating -------------------------------------------------------------------


def test_open_database_when_file_is_new_creates_journal_schema_at_head_in_wal_mode(
    db_path: Path,
) -> None:
    open_database(sqlite_url_for(db_path)).close()

    with raw_sqlite(db_path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"journal", "alembic_version", "ix_journal_order_id"} <= tables
    assert {"journal_no_update", "journal_no_delete"} <= tables
    assert mode == "wal"
    assert version == [(head_revision(),)]


def test_open_database_sets_pragmas_on_every_pooled_connection(sqlite_database: Database) -> None:
    database = sqlite_database
    with database.engine.connect() as first, database.engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 16_384


def test_open_database_when_synchronous_full_sets_full(db_path: Path) -> None:
    with (
        open_database(sqlite_url_for(db_path), synchronous="FULL") as db,
        db.engine.connect() as conn,
    ):
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_open_database_when_synchronous_unknown_raises_value_error(db_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of"):
        open_database(sqlite_url_for(db_path), synchronous="OFF")  # type: ignore[arg-type]


def test_open_database_when_reopened_keeps_rows_schema_and_triggers(db_path: Path) -> None:
    with open_database(sqlite_url_for(db_path)) as db:
        seq = db.journal.append("order_submitted", {"qty": 50}, order_id="A1", ts_ns=TS)

    for _ in range(2):
        with open_database(sqlite_url_for(db_path)) as db:
            assert [entry.seq for entry in db.journal.read()] == [seq]

    with raw_sqlite(db_path) as conn:
        triggers = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert triggers.fetchone()[0] == 2
    assert versions == [(head_revision(),)]


def test_open_database_when_file_is_at_base_revision_upgrades_it(db_path: Path) -> None:
    with open_database(sqlite_url_for(db_path)) as db, db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with raw_sqlite(db_path) as conn:
        assert (
            conn.execute("SELECT name FROM sqlite_master WHERE name = 'journal'").fetchall() == []
        )

    with open_database(sqlite_url_for(db_path)) as db:
        assert db.journal.append("fill", {"qty": 1}, order_id=None, ts_ns=TS) == 1


def test_open_database_when_book_predates_desks_upgrades_it_keeping_every_row(
    book_url: str,
) -> None:
    """A book written before the desk table (revision 0002), on either backend."""
    with open_database(book_url) as db:
        seq = db.journal.append("order_submitted", {"qty": 50}, order_id="A1", ts_ns=TS)
        with db.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
    with open_database(book_url) as db:
        assert [entry.seq for entry in db.journal.read()] == [seq]
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM desk")).scalar_one() == 0
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == head_revision() == HEAD == "0003"


def test_open_database_when_schema_is_from_a_newer_version_raises_schema_error(
    book_url: str,
) -> None:
    with open_database(book_url) as db, db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))

    with pytest.raises(SchemaError, match="9999_from_the_future"):
        open_database(book_url)


def test_open_database_when_file_is_not_sqlite_raises_store_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database, it is a grocery list" * 100)

    with pytest.raises(StoreError, match="is not a DalalDesk book"):
        open_database(sqlite_url_for(db_path))


def test_open_database_when_parent_directory_is_missing_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "new" / "nested" / "desk.db"

    open_database(sqlite_url_for(path)).close()

    assert path.is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="platformdirs reads the shell folder there")
def test_open_database_when_url_is_none_uses_platformdirs_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    expected = Path(platformdirs.user_data_dir("dalaldesk")) / "dalaldesk.db"

    with open_database() as db:
        db.journal.append("fill", {"qty": 1}, order_id=None, ts_ns=TS)

    assert default_database_path() == expected
    assert expected.is_relative_to(tmp_path)
    assert expected.is_file()


def test_autogenerate_when_migrated_to_head_finds_no_difference_from_metadata(
    database: Database,
) -> None:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []
        command.check(alembic_config(conn))  # raises AutogenerateDiffsDetected on any difference


def test_database_close_when_called_twice_is_harmless_and_journal_refuses_writes(
    database: Database,
) -> None:
    journal = database.journal
    database.close()
    database.close()

    with pytest.raises(JournalWriteError, match="closed"):
        journal.append("fill", {}, order_id=None, ts_ns=TS)
    with pytest.raises(StoreError, match="closed"):
        _ = database.journal


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+psycopg://desk:s3cr3t@db.local:5432/book",
            "postgresql+psycopg://desk:***@db.local:5432/book",
        ),
        (
            "postgresql://desk@db.local/book?sslmode=require&password=s3cr3t",
            "postgresql://desk@db.local/book?password=***&sslmode=require",
        ),
        ("sqlite:////home/trader/dalaldesk.db", "sqlite:////home/trader/dalaldesk.db"),
        ("not a url at all s3cr3t", "<unreadable database URL>"),
        # An unescaped @ in the password: all of it is masked, not only what precedes the @.
        (
            "postgresql://desk:s3cr3t@Pw@127.0.0.1:5432/book",
            "postgresql://desk:***@127.0.0.1:5432/book",
        ),
        ("postgresql://desk:s3cr3t@db:port/book", "<unreadable database URL>"),
    ],
)
def test_redact_url_masks_passwords_and_never_echoes_unparseable_text(
    url: str, expected: str
) -> None:
    assert redact_url(url) == expected
    assert "s3cr3t" not in redact_url(url)


def test_redact_command_masks_the_db_url_and_any_url_of_a_command_line() -> None:
    url = "postgresql+psycopg://desk:s3cr3t@db:5432/book"
    argv = ["/opt/dd/bin/dalaldesk", "--headless", "--db", url, f"--db={url}", "--hook=x", url]
    masked = "postgresql+psycopg://desk:***@db:5432/book"
    assert redact_command(argv) == (
        f"dalaldesk --headless --db {masked} --db={masked} --hook=x {masked}"
    )
    assert redact_command(["dalaldesk", "--db", "db:s3cr3t@x:y/b"]).endswith(UNREADABLE_URL)
    assert redact_command([]) == ""


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite://", "in-memory database"),
        ("sqlite:///:memory:", "in-memory database"),
        ("sqlite:///file:b?mode=memory&uri=true", "in-memory database"),
        ("postgresql://desk:s3cr3t@Pw@127.0.0.1/book", "%40"),
    ],
)
def test_check_book_url_refuses_memory_books_and_an_unescaped_at(url: str, words: str) -> None:
    with pytest.raises(BookUrlRefused, match=words) as refused:
        check_book_url(url)
    assert "s3cr3t" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["sqlite:////books/paper.db", "postgresql://desk:pa%40ss@db/book", "postgresql://db/b"]
)
def test_check_book_url_takes_a_file_or_a_server_book(url: str) -> None:
    check_book_url(url)


def test_database_url_and_repr_when_url_carries_a_secret_mask_it(tmp_path: Path) -> None:
    # SQLite takes no password; a credential-like URI parameter stands in for one.
    url = f"sqlite:///file:{tmp_path / 'x.db'}?uri=true&auth_token=s3cr3t"

    with open_database(url) as database:
        assert "auth_token=***" in database.url
        assert "s3cr3t" not in database.url
        assert "s3cr3t" not in repr(database)


def test_open_database_when_server_unreachable_reports_url_without_password() -> None:
    # Fails either on the missing driver or on the refused connection; neither shows the password.
    with pytest.raises(StoreError, match="cannot open database") as raised:
        open_database("postgresql+psycopg2://desk:s3cr3t@127.0.0.1:1/book")

    assert "s3cr3t" not in str(raised.value)
    assert "desk:***@127.0.0.1" in str(raised.value)


def test_open_database_when_url_unparseable_does_not_repeat_it() -> None:
    with pytest.raises(ValueError, match="could not be parsed") as raised:
        open_database("desk:s3cr3t at db.local")

    assert "s3cr3t" not in str(raised.value)
    assert raised.value.__cause__ is None


def test_append_when_payload_key_names_a_credential_refuses_it(database: Database) -> None:
    with pytest.raises(ValueError, match=r"payload\['session'\]\['access_token'\].*keyring"):
        database.journal.append(
            "login", {"session": {"access_token": "abc"}}, order_id=None, ts_ns=TS
        )

    assert database.journal.count() == 0


# --- the journal: writing and reading back ----------------------------------------------------


def test_append_and_read_when_payload_is_nested_round_trips_exactly(database: Database) -> None:
    payload = {
        "price": Decimal("123.45"),
        "tick": Decimal("0.05"),
        "avg": Decimal("0.10"),  # trailing zero kept
        "notional": Decimal("-1.5E+7"),
        "tiny": Decimal("0.0000000000000000000001"),
        "qty": 75,
        "iv": 0.1834,
        "partial": True,
        "tag": None,
        "symbol": "NIFTY24JUN23500CE",
        "note": "स्टॉप लॉस",
        "expiry": date(2024, 6, 27),
        "placed_at": datetime(2024, 6, 27, 9, 15, 0, 123456, tzinfo=IST),
        "exchange_at": datetime(2024, 6, 27, 3, 45, tzinfo=UTC),
        "venue_at": datetime(2024, 6, 27, 9, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        "legs": [
            {"strike": Decimal("23500"), "side": "BUY", "fills": [Decimal("101.5"), 2]},
            {"strike": Decimal("23600"), "side": "SELL", "fills": []},
        ],
        "empty": {},
    }

    seq = database.journal.append("order_filled", payload, order_id="240627000123", ts_ns=TS)
    [entry] = list(database.journal.read())

    assert entry.seq == seq
    assert entry.kind == "order_filled"
    assert entry.order_id == "240627000123"
    assert entry.ts_ns == TS
    assert entry.payload == payload
    assert str(entry.payload["avg"]) == "0.10"
    assert str(entry.payload["notional"]) == "-1.5E+7"
    assert isinstance(entry.payload["legs"][0]["fills"][0], Decimal)
    assert entry.payload["placed_at"].tzinfo == IST
    assert entry.payload["placed_at"].utcoffset() == timedelta(hours=5, minutes=30)


def test_append_records_wall_time_of_the_write(database: Database) -> None:
    before = time.time_ns()
    database.journal.append("fill", {}, order_id=None, ts_ns=TS)
    after = time.time_ns()

    [entry] = list(database.journal.read())
    assert before <= entry.recorded_ns <= after
    assert entry.ts_ns == TS


def test_append_when_tuple_and_str_enum_given_reads_back_plain_list_and_str() -> None:
    from enum import StrEnum

    class Side(StrEnum):
        BUY = "BUY"

    decoded = decode_payload(encode_payload({"side": Side.BUY, "pair": (1, "x")}))

    assert decoded == {"side": "BUY", "pair": [1, "x"]}
    assert type(decoded["side"]) is str


def test_append_when_called_repeatedly_gives_strictly_increasing_seqs(database: Database) -> None:
    journal = database.journal
    singles = [journal.append("tick", {"i": i}, order_id=None, ts_ns=TS + i) for i in range(50)]
    batch = journal.append_many(
        NewJournalEntry("fill", {"i": i}, f"O{i}", TS + i) for i in range(50, 80)
    )
    more = [journal.append("tick", {"i": i}, order_id=None, ts_ns=TS + i) for i in range(80, 90)]

    seqs = singles + batch + more
    assert all(earlier < later for earlier, later in itertools.pairwise(seqs))
    assert [entry.seq for entry in journal.read()] == seqs
    assert [entry.payload["i"] for entry in journal.read()] == list(range(90))
    assert journal.last_seq() == seqs[-1]
    assert journal.count() == 90


def test_journal_commits_when_the_log_grows_are_checkpointed_by_the_thread_not_the_writer(
    sqlite_database: Database, db_path: Path
) -> None:
    journal = sqlite_database.journal
    for i in range(400):
        journal.append("tick", {"i": i, "pad": "x" * 200}, order_id=None, ts_ns=TS + i)
    # The database file alone, read without its write-ahead log: the rows are there only once a
    # checkpoint copied them in, and 400 rows are far below the writer's own threshold.
    deadline = time.monotonic() + 10
    rows_in_file = 0
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)) as reader:
            try:
                rows_in_file = reader.execute("SELECT count(*) FROM journal").fetchone()[0]
            except sqlite3.OperationalError:  # the schema itself is still only in the log
                rows_in_file = 0
        if rows_in_file == 400:
            break
        time.sleep(0.1)
    assert rows_in_file == 400
    assert journal.count() == 400


def test_last_seq_and_count_when_journal_is_empty_are_zero(database: Database) -> None:
    assert database.journal.last_seq() == 0
    assert database.journal.count() == 0
    assert list(database.journal.read()) == []


def test_read_when_after_seq_given_starts_after_it(database: Database) -> None:
    journal = database.journal
    seqs = [journal.append("tick", {"i": i}, order_id=None, ts_ns=TS) for i in range(10)]

    assert [entry.seq for entry in journal.read(after_seq=seqs[6])] == seqs[7:]
    assert list(journal.read(after_seq=seqs[-1])) == []


def test_read_when_filtered_by_kinds_and_order_id_returns_only_matches_in_order(
    database: Database,
) -> None:
    journal = database.journal
    journal.append_many(
        [
            ("order_submitted", {"n": 1}, "A", TS),
            ("risk_denied", {"n": 2}, "B", TS),
            ("order_accepted", {"n": 3}, "A", TS),
            ("fill", {"n": 4}, "A", TS),
            ("fill", {"n": 5}, "B", TS),
            ("kill_switch", {"n": 6}, None, TS),
        ]
    )

    def numbers(**filters: object) -> list[int]:
        return [entry.payload["n"] for entry in journal.read(**filters)]  # type: ignore[arg-type]

    assert numbers(order_id="A") == [1, 3, 4]
    assert numbers(kinds={"fill"}) == [4, 5]
    assert numbers(kinds=["fill", "kill_switch"]) == [4, 5, 6]
    assert numbers(kinds={"fill"}, order_id="B") == [5]
    assert numbers(kinds=set()) == []
    assert numbers(after_seq=2, order_id="A") == [3, 4]


def test_read_when_kinds_is_a_plain_str_raises_type_error(database: Database) -> None:
    with pytest.raises(TypeError, match="collection of kinds"):
        list(database.journal.read(kinds="fill"))


def test_read_when_journal_spans_many_pages_returns_every_entry_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "READ_PAGE_SIZE", 4)
    seqs = database.journal.append_many(("tick", {"i": i}, None, TS) for i in range(11))

    assert [entry.seq for entry in database.journal.read()] == seqs
    assert [entry.seq for entry in database.journal.read(after_seq=seqs[3])] == seqs[4:]


# --- the journal: refusing bad input ----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "error", "where"),
    [
        ({"legs": [{"price": object()}]}, TypeError, r"payload\['legs'\]\[0\]\['price'\]"),
        ({"at": datetime(2024, 6, 27, 9, 15)}, TypeError, r"payload\['at'\].*naive"),  # noqa: DTZ001
        ({"tags": {"a", "b"}}, TypeError, r"payload\['tags'\].*set"),
        ({"greeks": {"iv": float("nan")}}, ValueError, r"payload\['greeks'\]\['iv'\]"),
        ({"pnl": Decimal("Infinity")}, ValueError, r"payload\['pnl'\]"),
        ({"by_strike": {23500: 1}}, TypeError, r"payload\['by_strike'\].*23500"),
        ({"$dec": "1"}, ValueError, r"payload\['\$dec'\].*reserved"),
    ],
)
def test_append_when_payload_holds_unsupported_value_raises_naming_the_key(
    database: Database, payload: dict[str, object], error: type[Exception], where: str
) -> None:
    with pytest.raises(error, match=where):
        database.journal.append("fill", payload, order_id=None, ts_ns=TS)

    assert database.journal.count() == 0


def test_append_when_payload_is_not_a_mapping_raises_type_error(database: Database) -> None:
    with pytest.raises(TypeError, match="mapping"):
        database.journal.append("fill", [1, 2], order_id=None, ts_ns=TS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "order_id", "ts_ns", "error", "message"),
    [
        ("", None, TS, TypeError, "kind"),
        ("k" * 41, None, TS, ValueError, "longer than 40"),
        ("fill", "O" * 33, TS, ValueError, "longer than 32"),
        ("fill", 123, TS, TypeError, "order_id"),
        ("fill", None, 1.7e18, TypeError, "ts_ns"),
        ("fill", None, True, TypeError, "ts_ns"),
    ],
)
def test_append_when_arguments_are_invalid_raises_and_writes_nothing(
    database: Database,
    kind: str,
    order_id: str | None,
    ts_ns: int,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        database.journal.append(kind, {}, order_id=order_id, ts_ns=ts_ns)

    assert database.journal.count() == 0


def test_append_many_when_one_payload_is_bad_writes_nothing(database: Database) -> None:
    database.journal.append("before", {}, order_id=None, ts_ns=TS)

    with pytest.raises(TypeError, match=r"payload\['price'\]"):
        database.journal.append_many(
            [
                ("fill", {"price": Decimal("1.00")}, "A", TS),
                ("fill", {"price": 1 + 2j}, "A", TS),
                ("fill", {"price": Decimal("3.00")}, "A", TS),
            ]
        )

    assert [entry.kind for entry in database.journal.read()] == ["before"]


POISON_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON journal WHEN NEW.kind = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.kind = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON journal FOR EACH ROW "
        "EXECUTE FUNCTION refuse_poison()",
    ],
}


def test_append_many_when_database_rejects_a_row_midway_writes_none_and_recovers(
    database: Database,
) -> None:
    with database.engine.begin() as conn:  # a test-only trigger stands in for a failing write
        for statement in POISON_TRIGGERS[database.dialect_name]:
            conn.exec_driver_sql(statement)

    with pytest.raises(JournalWriteError, match="none written") as raised:
        database.journal.append_many(
            [("fill", {"n": 1}, None, TS), ("fill", {"n": 2}, None, TS), ("poison", {}, None, TS)]
        )
    assert isinstance(raised.value.__cause__, database.engine.dialect.loaded_dbapi.Error)
    assert "poisoned" in str(raised.value.__cause__)
    assert database.journal.count() == 0

    with pytest.raises(JournalWriteError, match="poison"):
        database.journal.append("poison", {}, order_id=None, ts_ns=TS)
    seqs = database.journal.append_many(
        [("fill", {"n": 3}, None, TS), ("fill", {"n": 4}, None, TS)]
    )
    assert [entry.payload["n"] for entry in database.journal.read()] == [3, 4]
    assert [entry.seq for entry in database.journal.read()] == seqs


def test_append_when_database_is_locked_raises_journal_write_error_then_recovers(
    db_path: Path,
) -> None:
    with open_database(sqlite_url_for(db_path), busy_timeout_ms=50) as db:
        db.journal.append("first", {}, order_id=None, ts_ns=TS)
        with raw_sqlite(db_path) as other:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            with pytest.raises(JournalWriteError) as raised:
                db.journal.append("blocked", {}, order_id=None, ts_ns=TS)
            assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
            other.execute("ROLLBACK")

        db.journal.append("after", {}, order_id=None, ts_ns=TS)
        assert [entry.kind for entry in db.journal.read()] == ["first", "after"]


# --- the journal is append-only in the database itself ----------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal SET payload = '{}'",
        "UPDATE journal SET kind = 'forged' WHERE seq = 1",
        "DELETE FROM journal",
        "DELETE FROM journal WHERE seq = 1",
    ],
)
def test_journal_when_rows_are_updated_or_deleted_database_refuses(
    database: Database, statement: str
) -> None:
    database.journal.append("fill", {"price": Decimal("1.05")}, order_id="A", ts_ns=TS)

    # Through the database's own connection, not the desk's code: the schema itself refuses
    # (SQLite's triggers raise an integrity error, PostgreSQL's an internal one).
    with database.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text(statement))

    [entry] = list(database.journal.read())
    assert entry.kind == "fill"
    assert entry.payload == {"price": Decimal("1.05")}


# --- durability: a killed process loses nothing it reported as written --------------------------

CHILD_APPENDER = """
import sys, time
from decimal import Decimal
from engine.store import open_database

journal = open_database(sys.argv[1]).journal
for i in range(1_000_000):
    seq = journal.append(
        "fill", {"i": i, "price": Decimal("100.05")}, order_id=f"O{i % 7}", ts_ns=time.time_ns()
    )
    print(seq, i, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_append_when_writer_process_is_killed_keeps_every_acknowledged_entry(
    book_url: str,
) -> None:
    url = book_url
    open_database(url).close()  # migrate first, so the child spends its time appending
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_APPENDER, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    acknowledged: dict[int, int] = {}
    try:
        assert child.stdout is not None
        while len(acknowledged) < 500:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"appender died early: {child.stderr.read() if child.stderr else ''}")
            seq, i = map(int, line.split())
            acknowledged[seq] = i
        os.kill(child.pid, signal.SIGKILL)  # mid-append, wherever it is
        # Through the same buffered reader: lines it already holds are acknowledged too
        # (communicate() would read the pipe underneath it and miss them).
        rest = child.stdout.read()
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for line in rest.splitlines(keepends=True):
        if line.endswith("\n"):  # a line cut by the kill was never fully reported
            seq, i = map(int, line.split())
            acknowledged[seq] = i
    assert child.returncode == -signal.SIGKILL

    with open_database(url) as db:
        written = {entry.seq: entry.payload for entry in db.journal.read()}
        if db.dialect_name == "sqlite":
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"

    assert acknowledged.keys() <= written.keys()
    assert all(
        written[seq] == {"i": i, "price": Decimal("100.05")} for seq, i in acknowledged.items()
    )
    # at most the one append in flight when the kill landed is in the file but unreported
    assert len(written) - len(acknowledged) <= 1
