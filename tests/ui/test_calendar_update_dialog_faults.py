"""Help → Update market calendar… says every refusal in words: a Qt slot never lets an error out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.calendar import locations
from engine.core.clock import IST, TestClock
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig

DEEP = '{"schema": 1, "exchange": "NSE", "holidays": ' + "[" * 5000 + "]" * 5000 + "}"


@pytest.fixture(autouse=True)
def own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return locations.default_override_dir()


def test_calendar_update_dialog_when_the_file_is_nested_too_deeply_says_so_in_words(
    qtbot, tmp_path: Path, own_config_dir: Path
) -> None:
    from app.gui import open_calendar_update

    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}", market=SimulatedMarketConfig(seed=6)
        ),
        clock=TestClock(datetime(2027, 1, 4, 10, 0, tzinfo=IST)),
    )
    try:
        dialog = open_calendar_update(engine)
        qtbot.addWidget(dialog)
        path = tmp_path / "deep.json"
        path.write_text(DEEP, encoding="utf-8")

        assert not dialog.import_path(path)

        said = dialog.result_label.text()
        assert said.startswith("Not loaded: deep.json: nested too deeply"), said
        assert engine.calendar.is_provisional(2027), "nothing was loaded"
        assert not own_config_dir.exists() or not list(own_config_dir.iterdir())
        dialog.close()
    finally:
        engine.close()


def test_calendar_update_dialog_when_the_import_fails_unexpectedly_says_so_in_words(
    qtbot, tmp_path: Path
) -> None:
    from ui.panels.calendar_update import CalendarUpdateDialog

    def surprising(_path: Path) -> str:  # stands for any error nobody worded (a bug, a limit)
        raise RuntimeError("the unforeseen")

    dialog = CalendarUpdateDialog(
        coverage=lambda: "Holiday lists loaded: 2024, 2025, 2026.",
        import_file=surprising,
        fetch=lambda year, done: done(False, "offline"),
        year=2027,
    )
    qtbot.addWidget(dialog)

    assert not dialog.import_path(tmp_path / "any.json")

    assert dialog.result_label.text() == (
        "Not loaded: the import stopped on an unexpected error (RuntimeError: the unforeseen); "
        "the details are in the log."
    )
    assert dialog.coverage_label.text() == "Holiday lists loaded: 2024, 2025, 2026."
