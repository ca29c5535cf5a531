"""The desk's small files (reports, portfolios, settings) that cannot be written are said in
words that name what is in the way."""

from __future__ import annotations

from pathlib import Path

from engine.store.files import write_json, write_text


def test_write_text_when_a_file_is_where_its_folder_should_be_names_that_folder(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "schedule" / "reports"
    reports.parent.mkdir()
    reports.write_text("not a folder", "utf-8")

    said = write_text(reports / "2026-12-04.html", "<p>the day</p>")

    assert said == (
        f"2026-12-04.html could not be written: its folder {reports} cannot be made: a file of "
        "that name is in the way"
    )
    assert reports.read_text("utf-8") == "not a folder", "what was in the way is left as it was"
    deeper = write_json(reports / "day" / "2026-12-04.json", {"day": "2026-12-04"})
    assert deeper == (
        f"2026-12-04.json could not be written: its folder {reports / 'day'} cannot be made: a "
        "file is in the way on its path"
    )


def test_write_text_when_the_file_itself_cannot_be_written_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    (folder / "2026-12-04.html").mkdir(parents=True)  # a folder where the file should be

    said = write_text(folder / "2026-12-04.html", "<p>the day</p>")

    assert said is not None and said.startswith("2026-12-04.html could not be written: ")
    assert "its folder" not in said
