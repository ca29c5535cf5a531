"""The files an export leaves: written over, a file keeps its permissions and a link still points
at it; a new file gets the umask's mode; any name the folder accepts can be written; a failure
names the file the trader chose and leaves no temporary file behind.

The full disk is a small tmpfs filled to the last byte (a real ENOSPC); where mounting is not
permitted that test is skipped.
"""

from __future__ import annotations

import gc
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.core.clock import IST
from tests.full_disk import small_tmpfs
from ui.export import write_csv, write_table, write_xlsx

Writer = Callable[[Path, Sequence[str], Sequence[Sequence[Any]]], int]

HEADERS = ["Symbol", "Qty", "Price", "Time"]
ROWS = [
    ["NIFTY26NOV26000CE", 75, Decimal("112.35"), datetime(2026, 11, 23, 10, 0, tzinfo=IST)],
    ["RELIANCE", 10, Decimal("2950.10"), datetime(2026, 11, 23, 10, 1, tzinfo=IST)],
]
WRITERS = [pytest.param(write_csv, ".csv", id="csv"), pytest.param(write_xlsx, ".xlsx", id="xlsx")]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """Set the process umask for the test; the one before comes back after."""
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


@pytest.mark.parametrize(("write", "suffix"), WRITERS)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_export_over_an_existing_file_keeps_its_permissions(
    tmp_path: Path, write: Writer, suffix: str, mode: int
) -> None:
    target = tmp_path / f"orders{suffix}"
    target.write_bytes(b"yesterday")
    target.chmod(mode)
    assert write(target, HEADERS, ROWS) == 2
    assert mode_of(target) == mode
    assert target.read_bytes() != b"yesterday"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize(("write", "suffix"), WRITERS)
@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_export_to_a_new_file_gets_the_mode_any_new_file_gets(
    tmp_path: Path, write: Writer, suffix: str, mask: int, umask: Callable[[int], int]
) -> None:
    umask(mask)
    target = tmp_path / f"orders{suffix}"
    write(target, HEADERS, ROWS)
    assert mode_of(target) == 0o666 & ~mask


@pytest.mark.parametrize(("write", "suffix"), WRITERS)
def test_export_to_a_link_writes_the_file_it_points_to_and_keeps_the_link(
    tmp_path: Path, write: Writer, suffix: str
) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "desk").mkdir()
    real = tmp_path / "reports" / f"orders{suffix}"
    real.write_bytes(b"yesterday")
    real.chmod(0o644)
    link = tmp_path / "desk" / f"orders{suffix}"
    link.symlink_to(Path("..") / "reports" / real.name)  # relative, as a trader makes one
    write(link, HEADERS, ROWS)
    assert link.is_symlink() and link.resolve() == real
    assert real.read_bytes() != b"yesterday" and mode_of(real) == 0o644
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [real.name]
    assert [p.name for p in (tmp_path / "desk").iterdir()] == [link.name]


@pytest.mark.parametrize(("write", "suffix"), WRITERS)
def test_export_to_the_longest_name_the_folder_accepts_is_written(
    tmp_path: Path, write: Writer, suffix: str
) -> None:
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    (tmp_path / ("x" * longest)).touch()  # the folder takes a name this long
    target = tmp_path / ("o" * (longest - len(suffix)) + suffix)
    assert write(target, HEADERS, ROWS) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, "x" * longest])


@pytest.mark.parametrize(("write", "suffix"), WRITERS)
def test_export_that_fails_names_the_chosen_file_and_leaves_nothing_behind(
    tmp_path: Path, write: Writer, suffix: str
) -> None:
    missing = tmp_path / "no such folder" / f"orders{suffix}"
    with pytest.raises(FileNotFoundError) as no_folder:
        write(missing, HEADERS, ROWS)
    assert str(no_folder.value) == f"[Errno 2] No such file or directory: '{missing}'"

    blocked = tmp_path / "a file where the folder should be"
    blocked.write_bytes(b"")
    inside = blocked / f"orders{suffix}"
    with pytest.raises(NotADirectoryError) as a_file_in_the_way:
        write(inside, HEADERS, ROWS)
    assert str(a_file_in_the_way.value) == f"[Errno 20] Not a directory: '{inside}'"
    blocked.unlink()

    folder = tmp_path / f"a folder{suffix}"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as a_folder:
        write(folder, HEADERS, ROWS)
    assert str(a_folder.value) == f"[Errno 21] Is a directory: '{folder}'"
    assert folder.is_dir() and not any(folder.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


@pytest.mark.parametrize(("write", "suffix"), WRITERS)
def test_export_on_a_full_disk_says_so_keeps_the_last_export_and_closes_every_file(
    tmp_path: Path, write: Writer, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_tmpfs(tmp_path / "disk") as disk:
        if not disk.tmpfs:
            pytest.skip("needs a tmpfs to fill (mounting is not permitted here)")
        target = disk.directory / f"orders{suffix}"
        target.write_bytes(b"yesterday's good export")
        disk.fill()
        # A file object left open by a failed write fails again when it is finalised: Python
        # can then only print "Exception ignored in ...", and Windows keeps the file in use.
        ignored: list[BaseException | None] = []
        monkeypatch.setattr(sys, "unraisablehook", lambda raised: ignored.append(raised.exc_value))

        with pytest.raises(OSError) as refused:
            write(target, HEADERS, ROWS * 2000)
        said = str(refused.value)
        del refused  # its traceback holds whatever the writer left open
        gc.collect()

        assert ignored == []
        assert target.read_bytes() == b"yesterday's good export"
        assert sorted(p.name for p in disk.directory.iterdir()) == ["filler.bin", target.name]
        assert said == f"[Errno 28] No space left on device: '{target}'"


@pytest.mark.parametrize(
    ("name", "sheet"),
    [
        ("report[1].xlsx", "report1"),
        ("P&L: desk*?.xlsx", "P&L desk"),
        ("back\\slash.xlsx", "backslash"),
        ("positions of the whole desk on expiry day.xlsx", "positions of the whole desk on"),
        ("'quoted'.xlsx", "quoted"),
        ("[]*?.xlsx", "Export"),
    ],
)
def test_export_to_excel_when_the_file_name_has_characters_excel_refuses_names_the_sheet_without_them(
    tmp_path: Path, name: str, sheet: str
) -> None:
    from openpyxl import load_workbook

    target = tmp_path / name
    assert write_table(target, HEADERS, ROWS) == 2
    workbook = load_workbook(target)
    assert workbook.sheetnames == [sheet] and len(sheet) <= 31
    assert [c.value for c in workbook[sheet][2]][:2] == ["NIFTY26NOV26000CE", 75]
