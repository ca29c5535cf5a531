"""A file the desk writes in place of one there (``engine.core.files``: its own small files, the
performance report, the day report, exports): a link is followed, the file keeps its permissions,
the temporary is a short name of its own (a trader's ``report.html.tmp`` beside it is never
touched, any name the folder takes can be written, two writers never share one), and a write
that fails leaves the file as it was, with nothing left behind, naming the file."""

from __future__ import annotations

import os
import resource
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.files import replacing, write_whole
from tests.performance_desk import traded_desk

REPORT = "<!doctype html><p>today's report</p>\n" * 200


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Files of this process can grow to 4 kB (RLIMIT_FSIZE): a write past it fails as on a
    full disk (EFBIG, the signal that would end the process ignored). Lifted after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    before = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, before)


def test_report_written_over_a_link_writes_the_linked_file_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "desk").mkdir()
    real = tmp_path / "shared" / "desk.html"
    real.write_text("yesterday", encoding="utf-8")
    link = tmp_path / "desk" / "today.html"
    link.symlink_to(Path("..") / "shared" / "desk.html")  # relative, as a trader makes one
    write_whole(link, REPORT)
    assert link.is_symlink() and link.resolve() == real
    assert real.read_text(encoding="utf-8") == REPORT
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["desk.html"]
    assert sorted(p.name for p in (tmp_path / "desk").iterdir()) == ["today.html"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_report_written_over_a_file_keeps_its_permissions(tmp_path: Path, mode: int) -> None:
    report = tmp_path / "report.html"
    report.write_text("yesterday", encoding="utf-8")
    report.chmod(mode)
    write_whole(report, REPORT)
    assert report.read_text(encoding="utf-8") == REPORT and mode_of(report) == mode


def test_report_written_as_a_new_file_gets_the_mode_any_new_file_gets(tmp_path: Path) -> None:
    before = os.umask(0o027)
    try:
        write_whole(tmp_path / "report.html", REPORT)
    finally:
        os.umask(before)
    assert mode_of(tmp_path / "report.html") == 0o640


def test_report_written_beside_a_traders_tmp_file_leaves_that_file_alone(tmp_path: Path) -> None:
    notes = tmp_path / "report.html.tmp"
    notes.write_text("my notes", encoding="utf-8")
    write_whole(tmp_path / "report.html", REPORT)
    assert notes.read_text(encoding="utf-8") == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.html.tmp"]


def test_report_written_under_the_longest_name_the_folder_takes_is_written(
    tmp_path: Path,
) -> None:
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    report = tmp_path / ("p" * (longest - len(".html")) + ".html")
    report.write_text("yesterday", encoding="utf-8")  # the folder takes the name
    write_whole(report, REPORT)
    assert report.read_text(encoding="utf-8") == REPORT
    assert [p.name for p in tmp_path.iterdir()] == [report.name]


def test_report_write_when_the_file_size_limit_is_hit_keeps_the_last_report_and_names_it(
    tmp_path: Path, file_size_limit: None
) -> None:
    report = tmp_path / "report.html"
    report.write_text("yesterday's good report", encoding="utf-8")
    report.chmod(0o600)
    with pytest.raises(OSError) as refused:
        write_whole(report, REPORT * 10)  # past the 4 kB the process may write
    assert str(refused.value) == f"[Errno 27] File too large: '{report}'"
    assert report.read_text(encoding="utf-8") == "yesterday's good report"
    assert mode_of(report) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_replacing_when_the_writer_fails_leaves_the_file_and_no_temporary(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("yesterday", encoding="utf-8")
    with pytest.raises(ValueError, match="the page could not be made"), replacing(report) as part:
        part.write_text("half a pa", encoding="utf-8")
        raise ValueError("the page could not be made")
    assert report.read_text(encoding="utf-8") == "yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_report_written_by_many_writers_at_once_is_one_of_them_whole(tmp_path: Path) -> None:
    report = tmp_path / "schedule.json"
    pages = [f'{{"writer": {n}, "pad": "{"x" * 50_000}"}}\n' for n in range(8)]
    problems: list[BaseException] = []
    start = threading.Barrier(len(pages))

    def write(page: str) -> None:
        start.wait()
        try:
            for _ in range(20):
                write_whole(report, page)
        except OSError as problem:
            problems.append(problem)

    threads = [threading.Thread(target=write, args=(page,)) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert report.read_text(encoding="utf-8") in pages
    assert [p.name for p in tmp_path.iterdir()] == ["schedule.json"]


def test_performance_report_export_over_a_private_linked_report_keeps_the_link_and_its_mode(
    tmp_path: Path,
) -> None:
    engine, _clock = traded_desk(tmp_path / "book.db", days=2, step=60.0)
    try:
        (tmp_path / "shared").mkdir()
        real = tmp_path / "shared" / "desk.html"
        real.write_text("yesterday", encoding="utf-8")
        real.chmod(0o600)
        link = tmp_path / "today.html"
        link.symlink_to(real)
        assert engine.api.export_performance_report(link) is None
        assert link.is_symlink() and mode_of(real) == 0o600
        assert real.read_text(encoding="utf-8").startswith("<!doctype html>")
    finally:
        engine.close()
