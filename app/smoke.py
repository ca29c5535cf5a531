"""`dalaldesk --smoke`: does this installation work? One run through the desk as a trader meets it.

The smoke test starts the real desk (the same start-up as a double-click: single-instance guard,
book check, first-run files, crash handler, window and engine on one loop) on the built-in paper
market, offscreen, in a throwaway user directory so it neither reads nor changes the trader's
own books and layouts. Then it:

1. waits for the window's first paint (and says how long after the process started it came);
2. opens every panel and a chart, and waits until the chart has drawn its bars;
3. places a paper market order and waits for its fill;
4. opens the user manual when this build ships one;
5. saves a screenshot of the window, closes the desk and checks the first-run files are there
   (the user data directory, the paper book, the saved workspace, the strategy examples);
6. when this build ships pyarrow (the tick recorder's Parquet files), writes a small tick table
   to a Parquet file and reads it back unchanged: the installer keeps only the parts of pyarrow
   that Parquet needs, and this is the check that they are enough.

It prints one line per step and a JSON summary last, and exits 0 only when every step held; a
step that fails is named in words with what was seen. The installers' CI runs it against the
frozen bundle with an empty environment (``env -i``, no Python on PATH).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ui.main_window import MainWindow

SMOKE_SECONDS = 120.0
"""The whole run's budget; a desk that needs longer is broken, not slow."""
CHART = ("NSE", "RELIANCE")
ORDER_QUANTITY = 1

_started = time.monotonic()


def _process_age() -> float:
    """Seconds since this process started (the bundle's unpacking and Python's start-up
    included where the OS says when that was), else since this module was imported."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime", encoding="ascii") as uptime:
            now = float(uptime.read().split()[0])
        return now - int(fields[19]) / ticks
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _started


class SmokeFailed(Exception):
    """A step of the smoke test did not hold; the text says which and what was seen."""


def say(text: str) -> None:
    print(f"smoke: {text}", flush=True)


def _throwaway_user_dirs(root: Path) -> None:
    """Point every per-user directory the desk uses (platformdirs: data, config, logs, cache) at
    ``root``, on Linux through the XDG variables and on Windows through the AppData ones."""
    folders = {
        name: root / name.removeprefix("XDG_").removesuffix("_HOME").lower()
        for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
    }
    folders.update({name: root / name.lower() for name in ("APPDATA", "LOCALAPPDATA")})
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)  # they exist on a real machine
        os.environ[name] = str(folder)


def smoke(screenshot: Path) -> int:
    """Run the smoke test; 0 when every step held, 1 when one did not (named on stdout)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    screenshot = screenshot.resolve()
    with tempfile.TemporaryDirectory(prefix="dalaldesk-smoke-") as tmp:
        _throwaway_user_dirs(Path(tmp))
        report: dict[str, Any] = {"smoke": "failed", "screenshot": str(screenshot)}
        try:
            _run(screenshot, report)
            _check_first_run(report)
            _check_parquet(report, Path(tmp))
        except SmokeFailed as failure:
            say(f"FAILED: {failure}")
            print(json.dumps(report), flush=True)
            return 1
    report["smoke"] = "passed"
    say("passed")
    print(json.dumps(report), flush=True)
    return 0


def _run(screenshot: Path, report: dict[str, Any]) -> None:
    from app.gui import run_gui
    from app.main import engine_config, parse_args
    from resources.build_info import current_build

    build = current_build()
    report["version"] = build.describe()
    say(f"DalalDesk {report['version']} on Python {sys.version.split()[0]}")
    config = engine_config(parse_args([]))
    probe = _Probe(screenshot, report)
    status = run_gui(config, probe=probe.start)
    if probe.failure is not None:
        raise probe.failure
    if not probe.finished:
        raise SmokeFailed(f"the desk closed before the smoke test finished (exit status {status})")
    if status != 0:
        raise SmokeFailed(f"the desk exited with status {status}")


class _Probe:
    """Drives the running desk through the smoke steps and closes it."""

    def __init__(self, screenshot: Path, report: dict[str, Any]) -> None:
        self.screenshot = screenshot
        self.report = report
        self.failure: SmokeFailed | None = None
        self.finished = False
        self.painted = asyncio.Event()

    def start(self, window: MainWindow) -> Coroutine[Any, Any, None]:
        """Called with the window before it is first shown: watch for its first paint, and
        return the steps to run on the desk's loop."""
        from PySide6.QtCore import QEvent, QObject

        probe = self

        class FirstPaint(QObject):
            def eventFilter(self, watched: QObject, event: QEvent) -> bool:
                if event.type() == QEvent.Type.Paint and not probe.painted.is_set():
                    probe.report["first_paint_s"] = round(_process_age(), 3)
                    say(
                        f"first paint {probe.report['first_paint_s']:.3f} s after the process started"
                    )
                    probe.painted.set()
                return False

        self._paint_filter = FirstPaint(window)
        window.installEventFilter(self._paint_filter)
        return self._steps(window)

    async def _steps(self, window: MainWindow) -> None:
        try:
            await asyncio.wait_for(self._walk(window), SMOKE_SECONDS)
            self.finished = True
        except SmokeFailed as failure:
            self.failure = failure
        except TimeoutError:
            self.failure = SmokeFailed(
                f"the desk did not get through its steps in {SMOKE_SECONDS:.0f} s"
            )
        except Exception as error:  # an unforeseen failure is the finding: shown in full
            traceback.print_exc()
            self.failure = SmokeFailed(f"the desk failed with {error!r} (traceback above)")
        finally:
            window.close()

    async def _walk(self, window: MainWindow) -> None:
        await _within(self.painted.wait(), 30, "the window was never painted")
        self.report["panels"] = _open_every_panel(window)
        say(f"opened {len(self.report['panels'])} panels")
        self.report["chart_bars"] = await _chart(window)
        say(f"a chart of {CHART[1]} drew {self.report['chart_bars']} bars")
        self.report["fill"] = await _paper_fill(window)
        say(f"paper order filled: {self.report['fill']}")
        self.report["manual"] = _open_manual(window)
        window.show_panel("positions")  # the fill, for the picture
        await asyncio.sleep(1.0)  # a chart page paints just after it reports its bars
        if not window.grab().save(str(self.screenshot)):
            raise SmokeFailed(f"the screenshot could not be written to {self.screenshot}")
        say(f"screenshot saved to {self.screenshot}")


async def _within(awaitable: Coroutine[Any, Any, object], seconds: float, failure: str) -> None:
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise SmokeFailed(f"{failure} within {seconds:.0f} s") from None


async def _until(check: Callable[[], object], seconds: float, failure: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise SmokeFailed(f"{failure} within {seconds:.0f} s")
        await asyncio.sleep(0.05)


def _open_every_panel(window: MainWindow) -> list[str]:
    from ui.panel_registry import PANELS

    opened = []
    for spec in PANELS:
        window.show_panel(spec.object_name)
        dock = window.docks[spec.object_name]
        if not dock.isVisible():
            raise SmokeFailed(f"the {spec.title} panel did not open")
        opened.append(spec.object_name)
    return opened


async def _chart(window: MainWindow) -> int:
    exchange, symbol = CHART
    instrument = window.api.instruments.by_symbol(exchange, symbol)
    if instrument is None:
        raise SmokeFailed(f"the paper market has no {exchange}:{symbol} to chart")
    window.open_chart(int(instrument.token), instrument.tradingsymbol)
    panel = await _until(
        lambda: next(iter(window.charts.panels.values()), None), 10, "no chart dock opened"
    )
    report = await _until(
        lambda: getattr(panel, "page_report", None), 45, "the chart never drew its bars"
    )
    bars = int(report.get("count", 0))
    if bars <= 0:
        raise SmokeFailed(f"the chart reported no bars ({report!r})")
    return bars


async def _paper_fill(window: MainWindow) -> str:
    from engine.api import OrderType, Product, Side

    api = window.api
    instrument = api.instruments.by_symbol("NSE", CHART[1])
    assert instrument is not None  # the chart step found it
    await _until(lambda: api.tick(instrument.token), 15, f"no price for {CHART[1]}")
    outcome = api.place_order(
        instrument.token, Side.BUY, ORDER_QUANTITY, OrderType.MARKET, product=Product.MIS
    )
    if not outcome.ok or outcome.order_id is None:
        raise SmokeFailed(f"the paper order was refused: {outcome.reason}")
    order_id = outcome.order_id
    fill = await _until(
        lambda: next((t for t in api.trades() if t.order_id == order_id), None),
        15,
        f"paper order {order_id} was not filled",
    )
    return f"BUY {fill.quantity} {instrument.tradingsymbol} @ ₹{fill.price}"


def _open_manual(window: MainWindow) -> str:
    """Opens the user manual when this build has one; what was shown."""
    show = getattr(window, "show_manual", None)
    if show is None:
        return "not in this build"
    viewer = show()
    title = viewer.windowTitle() if viewer is not None else ""
    if not title:
        raise SmokeFailed("Help → User manual did not open")
    say(f"user manual opened ({title})")
    return title


def _check_first_run(report: dict[str, Any]) -> None:
    """What a first start leaves behind for the next one."""
    from app.gui import settings_path
    from engine.store import default_database_path
    from engine.strategies.loader import strategies_dir

    expected = {
        "paper book": default_database_path("default", "paper"),
        "workspace": settings_path("default"),
        "strategy examples": strategies_dir("default"),
    }
    missing = [f"{what} ({path})" for what, path in expected.items() if not path.exists()]
    if missing:
        raise SmokeFailed(f"a first start did not leave {', '.join(missing)}")
    report["first_run"] = sorted(expected)
    say(f"first-run files in place: {', '.join(expected)}")


def _check_parquet(report: dict[str, Any], folder: Path) -> None:
    """A Parquet round trip of a small tick table, when this build ships pyarrow. A pyarrow that
    is there but does not import (a library the installer left out) fails the smoke test."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        report["parquet"] = "not in this build"
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    ticks = pa.table(
        {
            "ts_ns": pa.array([1_733_300_000_000_000_000, 1_733_300_000_250_000_000], pa.int64()),
            "symbol": ["RELIANCE", "RELIANCE"],
            "ltp_paise": pa.array([155_440, 155_410], pa.int64()),
        }
    )
    path = folder / "ticks.parquet"
    pq.write_table(ticks, path, compression="zstd")
    back = pq.read_table(path)
    if not back.equals(ticks):
        raise SmokeFailed(f"a Parquet round trip changed the table: {back.to_pydict()}")
    report["parquet"] = f"{back.num_rows} ticks written and read back ({path.stat().st_size} B)"
    say(f"Parquet round trip: {report['parquet']}")
