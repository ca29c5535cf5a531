"""The desk keeps trading in a year whose holiday list is not out yet, says so, and takes the list
from a file or from NSE's published one as soon as the trader has it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import threading
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from engine.calendar import locations
from engine.calendar.update import (
    NSE_HOLIDAYS_PAGE,
    CalendarImportError,
    fetch_nse_holidays,
    import_calendar_file,
)
from engine.core.clock import IST, TestClock
from engine.domain.events import EngineMessage, OrderFilled, Severity
from engine.domain.instruments import InstrumentType
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig

MONDAY_4_JAN_2027 = datetime(2027, 1, 4, 10, 0, tzinfo=IST)
HOLI_2027 = date(2027, 3, 22)


@pytest.fixture(autouse=True)
def own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return locations.default_override_dir()


def list_2027(path: Path, *, bad_date: bool = False) -> Path:
    holidays = [
        {
            "date": "2027-01-26",
            "segments": ["CM", "FO"],
            "kind": "full",
            "name": "Republic Day",
            "source": "test",
        },
        {
            "date": "2027-02-30" if bad_date else HOLI_2027.isoformat(),
            "segments": ["CM", "FO"],
            "kind": "full",
            "name": "Holi",
            "source": "test",
        },
    ]
    document = {"schema": 1, "exchange": "NSE", "covered_years": [2027], "holidays": holidays}
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def build(tmp_path: Path, clock: TestClock) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}", market=SimulatedMarketConfig(seed=6)
        ),
        clock=clock,
    )


def test_calendar_when_2027_list_is_missing_a_paper_order_at_ten_fills_and_the_desk_warns(
    tmp_path: Path,
) -> None:
    clock = TestClock(MONDAY_4_JAN_2027)
    engine = build(tmp_path, clock)
    try:
        assert engine.calendar.is_provisional(2027)
        warnings = [m.text for m in engine.api.startup_messages if m.source == "calendar"]
        assert warnings and "holiday list for 2027 is not loaded" in warnings[0]
        assert engine.market is not None
        for _ in range(8):
            clock.advance(0.25)
            for tick in engine.market.step(0.25):
                engine.on_tick(tick)
        fills: list[OrderFilled] = []
        engine.api.subscribe(OrderFilled, fills.append)
        stock = next(i for i in engine.registry if i.instrument_type is InstrumentType.EQ)
        outcome = engine.api.place_order(stock.token, "BUY", 1, "MARKET", product="MIS")
        assert outcome.ok, outcome.reason
        assert [f.order_id for f in fills] == [outcome.order_id]
        options = [i for i in engine.registry if i.is_option]
        assert options and min(i.expiry for i in options) >= date(2027, 1, 4)
    finally:
        engine.close()


def test_calendar_import_of_a_2027_list_closes_its_holidays_on_the_running_desk(
    tmp_path: Path, own_config_dir: Path
) -> None:
    clock = TestClock(MONDAY_4_JAN_2027)
    engine = build(tmp_path, clock)
    try:
        holi = datetime(2027, 3, 22, 11, 0, tzinfo=IST)
        assert engine.sessions is not None and engine.sessions.is_open(holi)
        result = import_calendar_file(list_2027(tmp_path / "nse-2027.json"))
        assert result.years == (2027,) and result.holidays == 2
        assert result.path.parent == own_config_dir
        said: list[EngineMessage] = []
        engine.api.subscribe(EngineMessage, said.append)
        engine.reload_calendar()
        assert not engine.sessions.is_open(holi)
        assert engine.calendar.coverage_warning(date(2027, 1, 4)) is None
        assert [(m.severity, m.source) for m in said] == [(Severity.INFO, "calendar")]
        assert "holiday lists loaded for 2024, 2025, 2026, 2027" in said[0].text
    finally:
        engine.close()
    again = build(tmp_path, clock)  # and at every later start
    try:
        assert not again.calendar.is_trading_day(HOLI_2027)
    finally:
        again.close()


def test_calendar_import_refuses_a_malformed_file_naming_line_and_field(tmp_path: Path) -> None:
    bad = list_2027(tmp_path / "bad.json", bad_date=True)
    with pytest.raises(CalendarImportError) as refused:
        import_calendar_file(bad)
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "2027-02-30" in text)
    assert str(refused.value).startswith(f"line {line}, field holidays[1].date:")
    assert "'2027-02-30' is not a date" in str(refused.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": 1,\n "exchange": "NSE",\n "holidays": [}', encoding="utf-8")
    with pytest.raises(CalendarImportError, match="line 3 column"):
        import_calendar_file(broken)
    assert not list(locations.default_override_dir().glob("*.json")), "nothing kept"


def _line_with(text: str, fragment: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return lines[occurrence - 1]


def _holiday(day: str, name: str = "Holi") -> dict[str, object]:
    return {"date": day, "segments": ["CM", "FO"], "kind": "full", "name": name, "source": "test"}


@pytest.mark.parametrize(
    ("holidays", "covered", "fragment", "occurrence", "field", "problem"),
    [
        (  # an entry without its date: the line of that entry, not of "holidays"
            [_holiday("2027-01-26"), {"segments": ["CM"], "kind": "full", "name": "x"}],
            [2027],
            '"name": "x"',
            1,
            "holidays[1]",
            "missing date, source",
        ),
        (  # the same date twice: the second entry
            [_holiday("2027-01-26"), _holiday("2027-03-22"), _holiday("2027-01-26")],
            [2027],
            '"2027-01-26"',
            2,
            "holidays[2].date",
            "2027-01-26 is listed twice for CM",
        ),
        (
            [_holiday("2027-01-26"), {**_holiday("2027-03-22"), "segments": ["CM", "XX"]}],
            [2027],
            '"XX"',
            1,
            "holidays[1].segments[1]",
            "'XX' is not a known segment",
        ),
        (  # a year declared covered with no holiday of it would silence the warning
            [_holiday("2027-01-26")],
            [2027, 2028],
            "2028",
            1,
            "covered_years[1]",
            "2028 is declared covered but the file lists no holiday in 2028",
        ),
    ],
    ids=["entry-without-date", "date-twice", "unknown-segment", "covered-year-without-holidays"],
)
def test_calendar_import_names_the_line_of_the_bad_field(
    tmp_path: Path,
    holidays: list[dict[str, object]],
    covered: list[int],
    fragment: str,
    occurrence: int,
    field: str,
    problem: str,
) -> None:
    entries = ",\n  ".join(json.dumps(h) for h in holidays)  # one holiday a line, as NSE lists
    text = (
        f'{{\n "schema": 1,\n "exchange": "NSE",\n "covered_years": {json.dumps(covered)},\n'
        f' "holidays": [\n  {entries}\n ]\n}}\n'
    )
    path = tmp_path / "nse-2027.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(CalendarImportError) as refused:
        import_calendar_file(path)

    line = _line_with(text, fragment, occurrence)
    assert str(refused.value).startswith(f"line {line}, field {field}: {problem}")
    assert not list(locations.default_override_dir().glob("*.json")), "nothing kept"


def test_calendar_import_names_the_line_of_a_key_given_twice(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text(
        '{"schema": 1,\n "exchange": "NSE",\n "covered_years": [2027],\n'
        ' "covered_years": [2028],\n "holidays": []}',
        encoding="utf-8",
    )
    with pytest.raises(
        CalendarImportError,
        match=r"^line 4, field covered_years: the same key appears twice in one object$",
    ):
        import_calendar_file(path)


def test_calendar_import_of_a_single_announced_day_applies_in_a_year_without_its_list(
    tmp_path: Path,
) -> None:
    # An ad-hoc closure announced before the year's list: the day closes, the year stays
    # provisional (every other weekday trades) and the warning stays up.
    closure = {"schema": 1, "exchange": "NSE", "holidays": [_holiday("2027-01-11", "Election")]}
    path = tmp_path / "closure.json"
    path.write_text(json.dumps(closure, indent=1), encoding="utf-8")
    result = import_calendar_file(path)
    assert result.years == () and result.holidays == 1
    from engine.calendar.update import reload

    calendar = reload()
    assert calendar.is_provisional(2027)
    assert not calendar.is_trading_day(date(2027, 1, 11))
    assert calendar.is_trading_day(date(2027, 1, 12))
    assert calendar.coverage_warning(date(2027, 1, 11)) is not None


class _NseList(BaseHTTPRequestHandler):
    answer: ClassVar[dict[str, list[dict[str, object]]]] = {
        "CM": [
            {
                "Sr_no": 1,
                "tradingDate": "26-Jan-2027",
                "weekDay": "Tuesday",
                "description": "Republic Day",
            },
            {"Sr_no": 2, "tradingDate": "22-Mar-2027", "weekDay": "Monday", "description": "Holi"},
        ],
        "FO": [
            {
                "Sr_no": 1,
                "tradingDate": "26-Jan-2027",
                "weekDay": "Tuesday",
                "description": "Republic Day",
            },
            {"Sr_no": 2, "tradingDate": "22-Mar-2027", "weekDay": "Monday", "description": "Holi"},
        ],
    }

    def do_GET(self) -> None:
        # As NSE: the holidays page hands out the session cookie; the API wants it and a referrer.
        if self.path == NSE_HOLIDAYS_PAGE:
            self.send_response(200)
            self.send_header("Set-Cookie", "nsit=session; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "nsit=session" not in self.headers.get("Cookie", "") or not self.headers.get(
            "Referer", ""
        ).endswith(NSE_HOLIDAYS_PAGE):
            self.send_error(401, "Unauthorized")
            return
        body = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@contextlib.contextmanager
def _fake_nse(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """NSE's holiday API on a local port; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/holiday-master?type=trading"
    finally:
        server.shutdown()
        server.server_close()


def test_calendar_fetch_converts_nse_list_and_says_so_when_offline(tmp_path: Path) -> None:
    with _fake_nse(_NseList) as url:
        result = fetch_nse_holidays(2027, url)
    assert result.years == (2027,) and result.holidays == 2
    from engine.calendar.update import reload

    assert not reload().is_trading_day(HOLI_2027)

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(CalendarImportError, match="could not be fetched"):
        fetch_nse_holidays(2027, f"http://127.0.0.1:{closed}/", timeout=2)


def test_calendar_update_dialog_imports_and_shows_what_happened(qtbot, tmp_path: Path) -> None:
    from ui.panels.calendar_update import CalendarUpdateDialog

    loaded: list[Path] = []

    def imported(path: Path) -> str:
        try:
            return import_calendar_file(path).describe()
        except CalendarImportError as problem:
            raise ValueError(str(problem)) from None
        finally:
            loaded.append(path)

    dialog = CalendarUpdateDialog(
        coverage=lambda: "Holiday lists loaded: 2024, 2025, 2026.",
        import_file=imported,
        fetch=lambda year, done: done(False, "offline"),
        year=2027,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.import_path(list_2027(tmp_path / "bad.json", bad_date=True))
    assert dialog.result_label.text().startswith("Not loaded: line ")
    assert dialog.import_path(list_2027(tmp_path / "nse-2027.json"))
    assert "2 holidays for 2027" in dialog.result_label.text()
    dialog.fetch_button.click()
    assert dialog.result_label.text() == "Not loaded: offline"


def _nse_row(day: str, description: str) -> dict[str, object]:
    return {"tradingDate": day, "weekDay": "", "description": description}


class _NseListWithDiwali(_NseList):
    answer: ClassVar[dict[str, list[dict[str, object]]]] = {
        segment: [
            _nse_row("26-Jan-2027", "Republic Day"),
            _nse_row("07-Mar-2027", "Mahashivratri"),  # a Sunday
            _nse_row("29-Oct-2027", "Diwali Laxmi Pujan"),  # a Friday, with a Muhurat hour
        ]
        for segment in ("CM", "FO")
    }


def test_calendar_fetch_keeps_a_muhurat_hour_another_file_announced_and_skips_weekends(
    own_config_dir: Path,
) -> None:
    own_config_dir.mkdir(parents=True)
    muhurat = {
        "schema": 1,
        "exchange": "NSE",
        "special_sessions": [
            {
                "date": "2027-10-29",
                "segments": ["CM", "FO"],
                "kind": "muhurat",
                "times": {"open": "18:00", "close": "19:00"},
                "source": "test circular",
            }
        ],
    }
    # Its name sorts before nse-2027.json: the fetched file must not override its day.
    (own_config_dir / "muhurat-2027.json").write_text(json.dumps(muhurat), encoding="utf-8")

    with _fake_nse(_NseListWithDiwali) as url:
        result = fetch_nse_holidays(2027, url)

    assert result.years == (2027,) and result.holidays == 1  # 26 Jan only
    from engine.calendar.update import reload

    calendar = reload()
    assert not calendar.is_trading_day(date(2027, 1, 26))
    diwali = calendar.session_times(date(2027, 10, 29))
    assert diwali is not None and diwali.kind.value == "muhurat"
    assert calendar.is_open(datetime(2027, 10, 29, 18, 30, tzinfo=IST))
    assert not calendar.is_open(datetime(2027, 10, 29, 11, 0, tzinfo=IST))


def _timetable_change(change: dict[str, object]) -> str:
    document = {
        "schema": 1,
        "exchange": "NSE",
        "segments": {"FO": {"timetable_changes": [{**change, "source": "test"}]}},
    }
    return json.dumps(document, indent=1)


def test_calendar_import_refuses_a_file_the_folder_would_not_start_with(
    tmp_path: Path, own_config_dir: Path
) -> None:
    own_config_dir.mkdir(parents=True)
    kept = own_config_dir / "hours-2027.json"
    kept.write_text(_timetable_change({"from": "2027-01-01", "close": "15:50"}), encoding="utf-8")
    # Fine alone (the close is 15:40), not after the file already kept (the close is 15:50).
    path = tmp_path / "post-close.json"
    path.write_text(
        _timetable_change({"from": "2027-06-01", "post_close": ["15:45", "16:00"]}),
        encoding="utf-8",
    )

    with pytest.raises(CalendarImportError) as refused:
        import_calendar_file(path)

    assert "post_close 15:45-16:00 must start at or after close" in str(refused.value)
    assert sorted(p.name for p in own_config_dir.glob("*.json")) == ["hours-2027.json"]
    from engine.calendar.update import reload

    reload()  # the folder still loads


def test_calendar_import_names_another_broken_file_in_the_folder(
    tmp_path: Path, own_config_dir: Path
) -> None:
    own_config_dir.mkdir(parents=True)
    broken = own_config_dir / "hand-written.json"
    broken.write_text('{"schema": 1,\n "exchange": "NSE",\n', encoding="utf-8")

    with pytest.raises(CalendarImportError) as refused:
        import_calendar_file(list_2027(tmp_path / "nse-2027.json"))

    assert str(refused.value).startswith(f"line 3 column 1 ({broken}): not valid JSON")


def test_calendar_status_and_update_window_when_2027_list_is_missing(qtbot, tmp_path: Path) -> None:
    from app.gui import open_calendar_update, session_text

    engine = build(tmp_path, TestClock(MONDAY_4_JAN_2027))
    try:
        assert session_text(engine) == "NSE F&O open · 2027 holidays not loaded"
        dialog = open_calendar_update(engine)
        qtbot.addWidget(dialog)
        assert dialog.year.value() == 2027  # the year the warning is about
        assert "holiday list for 2027 is not loaded" in dialog.coverage_label.text()
        assert dialog.import_path(list_2027(tmp_path / "nse-2027.json"))
        assert "2027" in dialog.coverage_label.text() and "not loaded" not in (
            dialog.coverage_label.text()
        )
        assert not engine.calendar.is_trading_day(HOLI_2027)  # the running desk follows
        assert session_text(engine) == "NSE F&O open"
        dialog.close()
    finally:
        engine.close()


# -- a calendar that cannot be saved ---------------------------------------------------------------


def _folder_cannot_be_made(own_config_dir: Path) -> None:
    """A file where the override folder should be: every write there fails, as on a read-only
    or broken config folder."""
    own_config_dir.parent.mkdir(parents=True, exist_ok=True)
    own_config_dir.write_text("not a folder", encoding="utf-8")


def test_calendar_import_when_the_folder_cannot_be_written_says_so_in_words(
    tmp_path: Path, own_config_dir: Path
) -> None:
    _folder_cannot_be_made(own_config_dir)
    with pytest.raises(CalendarImportError, match=r"could not be saved to .*nothing was changed"):
        import_calendar_file(list_2027(tmp_path / "nse-2027.json"))
    with _fake_nse(_NseList) as url, pytest.raises(CalendarImportError, match="could not be saved"):
        fetch_nse_holidays(2027, url)


def test_calendar_import_when_the_disk_fills_keeps_the_old_file_and_leaves_no_partial(
    tmp_path: Path, own_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = import_calendar_file(list_2027(tmp_path / "nse-2027.json")).path
    before = kept.read_bytes()

    def disk_full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("engine.core.files.os.fsync", disk_full)
    newer = tmp_path / "newer" / "nse-2027.json"
    newer.parent.mkdir()
    newer.write_text(before.decode().replace("Holi", "Holi (revised)"), encoding="utf-8")
    with pytest.raises(CalendarImportError, match="No space left on device"):
        import_calendar_file(newer)
    assert kept.read_bytes() == before, "the list the desk had is still whole"
    assert sorted(p.name for p in own_config_dir.iterdir()) == ["nse-2027.json"]


async def test_calendar_update_dialog_when_the_list_cannot_be_saved_says_why_and_can_try_again(
    qtbot, tmp_path: Path, own_config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.calendar.update as update
    from app.gui import open_calendar_update

    _folder_cannot_be_made(own_config_dir)
    engine = build(tmp_path, TestClock(MONDAY_4_JAN_2027))
    try:
        with _fake_nse(_NseList) as url:
            real_fetch = update.fetch_nse_holidays
            monkeypatch.setattr(
                update, "fetch_nse_holidays", lambda year: real_fetch(year, url, timeout=5)
            )
            dialog = open_calendar_update(engine)
            qtbot.addWidget(dialog)
            dialog.year.setValue(2027)
            dialog.fetch_button.click()
            assert not dialog.fetch_button.isEnabled()
            for _ in range(200):  # the fetch runs off the loop; its answer comes back on it
                if dialog.fetch_button.isEnabled():
                    break
                await asyncio.sleep(0.05)
            assert dialog.fetch_button.isEnabled(), "the trader can try again"
            assert dialog.result_label.text().startswith("Not loaded: the calendar could not be")
        assert not dialog.import_path(list_2027(tmp_path / "nse-2027.json"))  # no raise
        assert "could not be saved" in dialog.result_label.text()
        assert engine.calendar.is_trading_day(HOLI_2027), "nothing was loaded"
        dialog.close()
    finally:
        engine.close()
