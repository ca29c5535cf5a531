"""Each book keeps its own daily schedule: a job run for one book is not skipped for another."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from app.main import account_configs, engine_config, parse_args


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return Path(platformdirs.user_data_dir("dalaldesk"))


def schedule_of(*argv: str) -> Path | None:
    return engine_config(parse_args(list(argv))).schedule_folder


def test_schedule_folder_when_books_differ_is_each_books_own(data: Path) -> None:
    folders = [
        schedule_of(),
        schedule_of("--broker", "kite"),
        schedule_of("--feed", "kite"),
        schedule_of("--broker", "xts"),
        schedule_of("--db", "sqlite:////srv/books/shared.db"),
        schedule_of("--db", "sqlite:////srv/books/other.db"),
    ]

    assert len(set(folders)) == len(folders)
    assert folders[0] == data / "default" / "schedule"  # where the paper book's record was


def test_schedule_folder_when_the_same_book_is_opened_again_is_the_same(data: Path) -> None:
    main_kite = schedule_of("--broker", "kite")
    also_kite = account_configs(parse_args(["--also", "kite"]))[1].schedule_folder

    assert main_kite == also_kite  # the kite book, whether opened alone or beside paper
    assert schedule_of("--db", "postgresql://desk:first@db/book") == schedule_of(
        "--db", "postgresql://desk:changed@db/book"
    )  # a new password is the same book
    assert "first" not in str(schedule_of("--db", "postgresql://desk:first@db/book"))


def test_schedule_folder_when_one_book_file_is_spelled_two_ways_is_the_same(
    data: Path, tmp_path: Path
) -> None:
    book = tmp_path / "books" / "shared.db"

    assert schedule_of("--db", f"sqlite:///{book}") == schedule_of(
        "--db", f"sqlite:///{tmp_path}/books/../books/shared.db"
    )
