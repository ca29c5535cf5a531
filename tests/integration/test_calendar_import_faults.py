"""Importing a calendar: the file imported later wins, a year's list comes whole or not at all,
and every file the desk cannot take is refused in words (never a traceback)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.calendar import CalendarDataError, load_calendar, locations
from engine.calendar.json_lines import field_lines
from engine.calendar.update import (
    CalendarImportError,
    fetch_nse_holidays,
    import_calendar_file,
    import_calendar_text,
)
from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.runtime.scheduler import pre_open_checklist

DIWALI_2027 = date(2027, 10, 29)  # a Friday: the list closes it, the Muhurat file opens an hour


@pytest.fixture(autouse=True)
def own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return locations.default_override_dir()


def _holiday(day: str, name: str, segments: tuple[str, ...] = ("CM", "FO")) -> dict[str, Any]:
    return {"date": day, "segments": list(segments), "kind": "full", "name": name, "source": "t"}


def year_list(*extra: dict[str, Any], holi: str = "2027-03-22") -> str:
    """A 2027 list as NSE would give it: Republic Day (the one fixed national holiday on a
    weekday in 2027: 15 Aug is a Sunday, 2 Oct a Saturday), Holi and Diwali."""
    holidays = [
        _holiday("2027-01-26", "Republic Day"),
        _holiday(holi, "Holi"),
        _holiday(DIWALI_2027.isoformat(), "Diwali Laxmi Pujan"),
        *extra,
    ]
    document = {"schema": 1, "exchange": "NSE", "covered_years": [2027], "holidays": holidays}
    return json.dumps(document, indent=1)


MUHURAT_2027 = json.dumps(
    {
        "schema": 1,
        "exchange": "NSE",
        "special_sessions": [
            {
                "date": DIWALI_2027.isoformat(),
                "segments": ["CM", "FO"],
                "kind": "muhurat",
                "times": {"open": "18:00", "close": "19:00"},
                "note": "Muhurat trading",
                "source": "NSE circular",
            }
        ],
    },
    indent=1,
)


def ist(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=IST)  # type: ignore[misc]


def kept(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- 1. the file imported later wins ------------------------------------------------------------


def test_calendar_import_when_muhurat_times_come_after_the_list_the_muhurat_hour_opens(
    own_config_dir: Path,
) -> None:
    import_calendar_text(year_list(), "nse-2027.json")
    # "muhurat-2027.json" sorts before "nse-2027.json": by name, the list would close the day.
    result = import_calendar_text(MUHURAT_2027, "muhurat-2027.json")

    calendar = load_calendar(own_config_dir)  # as every later start reads the folder
    assert calendar.is_open(ist(2027, 10, 29, 18, 30))
    assert not calendar.is_open(ist(2027, 10, 29, 11, 0))
    assert not calendar.is_trading_day(date(2027, 3, 22))  # the list still holds
    assert "1 special session: Fri 29 Oct 2027 Muhurat 18:00–19:00 (CM, FO)" in result.describe()
    assert "0 holidays" not in result.describe()


def test_calendar_import_when_a_corrected_list_has_its_own_name_replaces_the_earlier_list(
    own_config_dir: Path,
) -> None:
    first = import_calendar_text(year_list(), "nse-2027.json")
    # NSE moves Holi from Mon 22 Mar to Tue 23 Mar; support sends the corrected list.
    result = import_calendar_text(year_list(holi="2027-03-23"), "NSE holidays 2027 v2.json")

    calendar = load_calendar(own_config_dir)
    assert calendar.is_trading_day(date(2027, 3, 22)), "the old Holi is a trading day again"
    assert not calendar.is_trading_day(date(2027, 3, 23))
    said = result.describe()
    assert f"replaces the 2027 holiday list of {first.path.name}" in said
    assert "Mon 22 Mar 2027 (Holi) is no longer a holiday" in said
    assert kept(own_config_dir) == [result.path.name], "the replaced list is removed"


def test_calendar_import_when_a_list_is_fetched_again_after_muhurat_replaces_the_first_fetch(
    own_config_dir: Path,
) -> None:
    with _fake_nse(_nse_answer("22-Mar-2027")) as url:
        fetch_nse_holidays(2027, url)
    import_calendar_text(MUHURAT_2027, "muhurat-2027.json")
    with _fake_nse(_nse_answer("23-Mar-2027")) as url:
        again = fetch_nse_holidays(2027, url)

    calendar = load_calendar(own_config_dir)
    assert calendar.is_trading_day(date(2027, 3, 22))
    assert not calendar.is_trading_day(date(2027, 3, 23))
    assert calendar.is_open(ist(2027, 10, 29, 18, 30)), "the Muhurat hour stays"
    assert "is no longer a holiday" in again.describe()
    assert len(kept(own_config_dir)) == 2  # the Muhurat file and the newest list


def test_calendar_import_when_a_list_covers_a_shipped_year_replaces_that_years_list(
    own_config_dir: Path,
) -> None:
    # The shipped 2026 list corrected: Muharram (Fri 26 Jun 2026) taken out, that day trades.
    shipped = load_calendar(None).data.holidays.values()
    holidays = [
        _holiday(h.day.isoformat(), h.name)
        for h in sorted(shipped, key=lambda h: h.day)
        if h.day.year == 2026 and h.segment == "CM" and h.day != date(2026, 6, 26)
    ]
    text = json.dumps(
        {"schema": 1, "exchange": "NSE", "covered_years": [2026], "holidays": holidays}
    )
    result = import_calendar_text(text, "nse-2026-corrected.json")

    calendar = load_calendar(own_config_dir)
    assert calendar.is_trading_day(date(2026, 6, 26))
    assert not calendar.is_trading_day(date(2026, 12, 25))
    assert "replaces the 2026 holiday list shipped with the desk" in result.describe()
    assert "Fri 26 Jun 2026 (Muharram) is no longer a holiday" in result.describe()


def test_calendar_override_files_when_hand_dropped_and_imported_mix_imports_rank_later(
    own_config_dir: Path,
) -> None:
    own_config_dir.mkdir(parents=True)
    one_day = {"segments": ["FO"], "kind": "full", "date": "2027-03-05", "source": "s"}

    def holiday_name() -> str | None:
        info = load_calendar(own_config_dir).day_info(date(2027, 3, 5), "FO")
        return info.holiday.name if info.holiday is not None else None

    def dropped(name: str, holiday: str) -> None:
        body = {"schema": 1, "exchange": "NSE", "holidays": [{**one_day, "name": holiday}]}
        (own_config_dir / name).write_text(json.dumps(body), encoding="utf-8")

    dropped("b.json", "b")
    dropped("a.json", "a")
    assert holiday_name() == "b", "files dropped by hand keep their name order"
    body = {"schema": 1, "exchange": "NSE", "holidays": [{**one_day, "name": "imported"}]}
    result = import_calendar_text(json.dumps(body), "0-first-by-name.json")

    assert result.path.name != "0-first-by-name.json", "numbered: other files are there"
    assert holiday_name() == "imported"
    dropped("zz.json", "dropped later by hand")  # unnumbered still ranks before any import
    assert holiday_name() == "imported"


# -- 2. a year's list comes whole ----------------------------------------------------------------


def test_calendar_override_files_kept_before_imports_were_numbered_add_up_rather_than_replace(
    tmp_path: Path,
) -> None:
    """Two year lists an earlier version imported under their own names: which came later is
    not known, so neither undoes the other by its name; a day either closes stays closed (as
    those versions read them), and each still replaces the packaged list of its year."""
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "nse-2027.json").write_text(year_list(), encoding="utf-8")
    (folder / "holidays-2027-corrected.json").write_text(
        year_list(holi="2027-03-23"), encoding="utf-8"
    )
    calendar = load_calendar(folder)
    assert not calendar.is_trading_day(date(2027, 3, 22))
    assert not calendar.is_trading_day(date(2027, 3, 23))
    assert calendar.is_trading_day(date(2027, 3, 24))


def test_calendar_import_when_a_year_list_has_only_cm_is_refused_naming_fo(
    own_config_dir: Path,
) -> None:
    cash_only = json.loads(year_list())
    for holiday in cash_only["holidays"]:
        holiday["segments"] = ["CM"]
    with pytest.raises(CalendarImportError) as refused:
        import_calendar_text(json.dumps(cash_only, indent=1), "cm-2027.json")
    assert "covered_years[0]: the 2027 list has no FO holidays" in str(refused.value)
    assert not own_config_dir.exists() or kept(own_config_dir) == []


def test_calendar_import_when_a_year_list_lacks_republic_day_is_refused_naming_it(
    own_config_dir: Path,
) -> None:
    partial = {
        "schema": 1,
        "exchange": "NSE",
        "covered_years": [2027],
        "holidays": [_holiday("2027-03-22", "Holi")],
    }
    with pytest.raises(CalendarImportError) as refused:
        import_calendar_text(json.dumps(partial, indent=1), "partial-2027.json")
    assert "Republic Day (Tue 26 Jan 2027)" in str(refused.value)
    assert "partial" in str(refused.value)
    calendar = load_calendar(own_config_dir)
    assert calendar.is_provisional(2027)
    assert not calendar.is_trading_day(date(2027, 1, 26))


def test_calendar_fetch_when_nse_answer_lacks_fo_is_refused_and_keeps_nothing(
    own_config_dir: Path,
) -> None:
    answer = _nse_answer("22-Mar-2027")
    del answer["FO"]
    with _fake_nse(answer) as url, pytest.raises(CalendarImportError) as refused:
        fetch_nse_holidays(2027, url)
    assert "NSE's answer has no FO list" in str(refused.value)
    assert load_calendar(own_config_dir).is_provisional(2027)


# -- 3. dates outside the covered years ---------------------------------------------------------


def test_calendar_import_when_a_holiday_is_outside_the_covered_years_is_refused_naming_both(
    own_config_dir: Path,
) -> None:
    text = year_list(_holiday("2026-12-31", "New Year's Eve"))
    with pytest.raises(CalendarImportError) as refused:
        import_calendar_text(text, "nse-2027.json")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "2026-12-31" in row)
    assert str(refused.value).startswith(
        f"line {line}, field holidays[3].date: 2026-12-31 is outside the years this file "
        "covers (2027)"
    )
    assert load_calendar(own_config_dir).is_trading_day(date(2026, 12, 31))


# -- 4. nesting too deep ------------------------------------------------------------------------

DEEP = '{"schema": 1, "exchange": "NSE", "holidays": ' + "[" * 5000 + "]" * 5000 + "}"


def test_calendar_import_when_json_is_nested_too_deeply_is_refused_in_words(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP, encoding="utf-8")
    with pytest.raises(CalendarImportError, match="nested too deeply"):
        import_calendar_file(path)
    with pytest.raises(CalendarDataError, match="nested too deeply"):
        field_lines(DEEP, "deep.json")


def test_calendar_start_when_a_folder_file_is_nested_too_deeply_names_the_file(
    own_config_dir: Path,
) -> None:
    own_config_dir.mkdir(parents=True)
    (own_config_dir / "deep.json").write_text(DEEP, encoding="utf-8")
    with pytest.raises(CalendarDataError) as refused:
        load_calendar(own_config_dir)
    assert str(refused.value).startswith(f"{own_config_dir / 'deep.json'}: ")
    assert "nested too deeply" in str(refused.value)


# -- 5. size ------------------------------------------------------------------------------------


def test_calendar_import_when_the_file_is_over_a_megabyte_is_refused_with_its_size(
    tmp_path: Path, own_config_dir: Path
) -> None:
    document = json.loads(year_list())
    document["description"] = "x" * 3_000_000
    path = tmp_path / "nse-2027.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CalendarImportError) as refused:
        import_calendar_file(path)
    assert "is 3.0 MB; a calendar file is at most 1 MB" in str(refused.value)
    assert not own_config_dir.exists() or kept(own_config_dir) == []


# -- 6. the checklist names the menu that exists ------------------------------------------------


def test_schedule_pre_open_checklist_when_the_calendar_lacks_the_year_names_the_help_menu(
    tmp_path: Path,
) -> None:
    engine = Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}", market=SimulatedMarketConfig(seed=6)
        ),
        clock=TestClock(ist(2027, 1, 4, 9, 0)),
    )
    said: list[EngineMessage] = []
    try:
        engine.api.subscribe(EngineMessage, said.append)
        pre_open_checklist(engine, engine.clock.now())
    finally:
        engine.close()
    text = next(m.text for m in said if m.text.startswith("Pre-open checklist"))
    assert "NSE's 2027 holidays are not loaded (Help → Update market calendar…)" in text
    assert "Settings" not in text


# -- 7. a BOM, and a file of special sessions only ----------------------------------------------


def test_calendar_import_when_the_file_starts_with_a_bom_is_loaded(
    tmp_path: Path, own_config_dir: Path
) -> None:
    path = tmp_path / "nse-2027.json"
    path.write_text("\ufeff" + year_list(), encoding="utf-8")  # as Windows Notepad saves
    result = import_calendar_file(path)
    assert result.years == (2027,) and result.holidays == 3
    assert not load_calendar(own_config_dir).is_trading_day(date(2027, 3, 22))
    # Kept by hand after the list (its name ranks it after nse-2027.json): read at start-up too.
    (own_config_dir / "zz-muhurat.json").write_text("\ufeff" + MUHURAT_2027, encoding="utf-8")
    assert load_calendar(own_config_dir).is_open(ist(2027, 10, 29, 18, 30))


def test_calendar_import_when_the_file_holds_only_special_sessions_says_so(
    own_config_dir: Path,
) -> None:
    two = json.loads(MUHURAT_2027)
    two["special_sessions"].append(
        {
            "date": "2027-02-06",
            "segments": ["CM", "FO"],
            "kind": "full_day",
            "times": "regular",
            "source": "NSE circular",
        }
    )
    result = import_calendar_text(json.dumps(two), "sessions-2027.json")
    assert result.describe().startswith(
        "2 special sessions: Sat 06 Feb 2027 regular hours (CM, FO), "
        "Fri 29 Oct 2027 Muhurat 18:00–19:00 (CM, FO) saved to "
    )


# -- a fake NSE ---------------------------------------------------------------------------------


def _nse_answer(holi: str) -> dict[str, list[dict[str, str]]]:
    rows = [
        {"tradingDate": "26-Jan-2027", "description": "Republic Day"},
        {"tradingDate": holi, "description": "Holi"},
        {"tradingDate": "29-Oct-2027", "description": "Diwali Laxmi Pujan"},
    ]
    return {"CM": rows, "FO": rows}


@contextlib.contextmanager
def _fake_nse(answer: dict[str, Any]) -> Iterator[str]:
    """NSE's holiday API on a local port, answering ``answer``; yields its URL."""
    body = json.dumps(answer).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/holiday-master?type=trading"
    finally:
        server.shutdown()
        server.server_close()
