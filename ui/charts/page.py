"""The chart page: TradingView's Lightweight Charts (vendored under resources/web) in a
QWebEngineView, fed through a QWebChannel.

Python owns the data. The page is sent the history once and then at most one batch a frame with
only the bars that changed (never one call per tick), plus order lines and fill markers when they
change. It reports back what it holds, a line the trader dragged, and a right-click at a price.

The page never reaches the network: every chart shares one off-the-record profile whose request
interceptor lets through only the page's own files (file:, qrc:, data:) and refuses the rest,
keeping what it refused for the log and for tests.

The page runs only the pinned build of the library: its sha256 is checked against SHA256SUMS
once a process, and a library that is missing or altered is not loaded (the chart area says so
instead). A page that does not start, or stops drawing, says so in words (``failed``); what its
console reports as an error is logged.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineSettings,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QWidget

from resources import resource_path

log = logging.getLogger(__name__)

LOCAL_SCHEMES = frozenset({"file", "qrc", "data"})
LIBRARY_FILE = "lightweight-charts.standalone.production.js"
LIBRARY_PROBLEM = "the chart library is missing or altered: reinstall DalalDesk"
START_TIMEOUT_MS = 10_000
"""How long a chart page may take to say it is ready before the trader is told (a dozen pages
starting at once on a busy machine take a few seconds)."""
_reported: set[str] = set()


def prepare_web_engine() -> None:
    """Call before the QApplication is made: chart pages need shared GL contexts, and Chromium
    will not start its sandbox as root (containers, CI machines), so there it runs without."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()
            log.warning("running as root: the chart pages' browser runs without its sandbox")
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


class OfflineGuard(QWebEngineUrlRequestInterceptor):
    """Refuses every request a chart page makes beyond its own files."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.allowed = 0
        self.refused: list[str] = []

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
        url = info.requestUrl()
        if url.scheme() in LOCAL_SCHEMES:
            self.allowed += 1
            return
        info.block(True)
        self.refused.append(url.toString())
        log.warning("a chart page asked for %s: refused (charts work offline)", url.toString())


_profile: QWebEngineProfile | None = None
_guard: OfflineGuard | None = None


def chart_profile() -> tuple[QWebEngineProfile, OfflineGuard]:
    """The one profile every chart page uses: off the record (nothing written to disk), local
    files only."""
    global _profile, _guard
    if _profile is None or _guard is None:
        # Off the record (no storage name), and owned by the application so it outlives every
        # page that uses it.
        _profile = QWebEngineProfile(QCoreApplication.instance())
        _guard = OfflineGuard(_profile)
        _profile.setUrlRequestInterceptor(_guard)
        settings = _profile.settings()
        settings.setAttribute(QWebEngineSettings.WebAttribute.LocalContentCanAccessFileUrls, True)
        settings.setAttribute(
            QWebEngineSettings.WebAttribute.LocalContentCanAccessRemoteUrls, False
        )
    return _profile, _guard


def library_problem() -> str | None:
    """None when the vendored chart library is the pinned build; otherwise what to tell the
    trader (the details go to the log). Hashed once a process."""
    try:
        folder = resource_path("web", "vendor")
    except FileNotFoundError as exc:
        log.error("chart library: %s; charts are not drawn", exc)
        return LIBRARY_PROBLEM
    return _checked_library(Path(folder))


@functools.cache
def _checked_library(folder: Path) -> str | None:
    try:
        pinned = _pinned_digest(folder / "SHA256SUMS")
        digest = hashlib.sha256((folder / LIBRARY_FILE).read_bytes()).hexdigest()
    except (OSError, ValueError) as exc:
        log.error("chart library not checked (%s); charts are not drawn", exc)
        return LIBRARY_PROBLEM
    if digest != pinned:
        log.error(
            "chart library %s has sha256 %s, not the pinned %s; charts are not drawn",
            folder / LIBRARY_FILE,
            digest,
            pinned,
        )
        return LIBRARY_PROBLEM
    return None


def _pinned_digest(sums: Path) -> str:
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.strip().partition(" ")
        if name.strip().lstrip("*") == LIBRARY_FILE:
            return digest.lower()
    raise ValueError(f"{sums} pins no {LIBRARY_FILE}")


def first_report(problem: str) -> bool:
    """True the first time this process reports ``problem`` to the trader (a dozen charts
    restored at start meet the same missing library: one message says it)."""
    if problem in _reported:
        return False
    _reported.add(problem)
    return True


class ChartChannel(QObject):
    """The object the page sees as ``feed``: signals carry JSON to the page, slots take the
    page's reports."""

    configure = Signal(str)
    history = Signal(str)
    bars = Signal(str)
    lines = Signal(str)
    markers = Signal(str)

    page_ready = Signal()
    page_loaded = Signal(object)
    """what the page holds after a history: {"request", "count", "bars": [[t, o, h, l, c, v]]}"""
    page_failed = Signal(str)
    """a fault in the page's code (its stack), caught where it drew"""
    line_dragged = Signal(str, float)
    price_menu = Signal(float, int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.is_ready = False
        self.errors: list[str] = []

    @Slot()
    def ready(self) -> None:
        self.is_ready = True
        self.page_ready.emit()

    @Slot(str)
    def loaded(self, text: str) -> None:
        self.page_loaded.emit(json.loads(text))

    @Slot(str, float)
    def line_moved(self, line_id: str, price: float) -> None:
        self.line_dragged.emit(line_id, price)

    @Slot(float, int, int)
    def context_menu(self, price: float, x: int, y: int) -> None:
        self.price_menu.emit(price, x, y)

    @Slot(str)
    def page_error(self, text: str) -> None:
        if text not in self.errors[-1:]:  # a fault met at every frame is logged once
            log.error("chart page: %s", text)
        self.errors = [*self.errors[-19:], text]
        self.page_failed.emit(text)


class ChartPage(QWebEnginePage):
    """A chart's page: what its console reports goes to the log, and its errors are kept (the
    reason a page that never started gives)."""

    def __init__(self, profile: QWebEngineProfile, parent: QObject | None = None) -> None:
        super().__init__(profile, parent)
        self.console_errors: list[str] = []

    def javaScriptConsoleMessage(
        self,
        level: QWebEnginePage.JavaScriptConsoleMessageLevel,
        message: str,
        line: int,
        source: str,
    ) -> None:
        where = f"{Path(QUrl(source).path()).name or 'page'}:{line}"
        if level == QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel:
            log.error("chart page console: %s (%s)", message, where)
            self.console_errors = [*self.console_errors[-9:], message]
        elif level == QWebEnginePage.JavaScriptConsoleMessageLevel.WarningMessageLevel:
            log.warning("chart page console: %s (%s)", message, where)
        else:
            log.debug("chart page console: %s (%s)", message, where)


class ChartView(QWebEngineView):
    """One chart page. Until the page says it is ready nothing is sent: ``started`` then asks
    for everything it is to show, built at that moment (so no bar noted meanwhile is lost).
    ``failed`` says in words that it did not start or stopped drawing."""

    started = Signal()
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        profile, self.guard = chart_profile()
        self.chart_page = ChartPage(profile, self)
        self.setPage(self.chart_page)
        self.channel = ChartChannel(self)
        self._web_channel = QWebChannel(self.page())
        self._web_channel.registerObject("feed", self.channel)
        self.page().setWebChannel(self._web_channel)
        self._start_timer = QTimer(self, objectName="chart-page-start", singleShot=True)
        self._start_timer.setInterval(START_TIMEOUT_MS)
        self._start_timer.timeout.connect(self._not_started)
        self.channel.page_ready.connect(self._started)
        self.channel.page_failed.connect(self._stopped_drawing)
        self.loadFinished.connect(self._load_finished)
        self.problem = library_problem()
        """Why this chart cannot be drawn at all (the library is not the pinned build)."""
        if self.problem is not None:
            self.setHtml(_notice_page(self.problem))
        else:
            self.restart()

    @property
    def is_ready(self) -> bool:
        return self.channel.is_ready

    def restart(self) -> None:
        """Load the page (again: a fresh page after a fault); ``started`` follows."""
        if self.problem is not None:
            return
        self.channel.is_ready = False
        self.chart_page.console_errors = []
        self._start_timer.start()
        self.load(QUrl.fromLocalFile(str(resource_path("web", "chart.html"))))

    def send(self, kind: str, payload: Any) -> None:
        """Send one message (configure, history, bars, lines, markers) as JSON; nothing before
        the page is ready (``started`` asks for it all then)."""
        if not self.channel.is_ready:
            return
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        getattr(self.channel, kind).emit(text)

    def _started(self) -> None:
        self._start_timer.stop()
        self.started.emit()

    def _load_finished(self, ok: bool) -> None:
        if not ok and self.problem is None and not self.channel.is_ready:
            self._start_timer.stop()
            log.error("chart page %s did not load", self.url().toString())
            self.failed.emit("chart page did not start: its files did not load")

    def _not_started(self) -> None:
        if self.channel.is_ready:
            return
        errors = self.chart_page.console_errors
        why = errors[-1] if errors else f"no answer in {START_TIMEOUT_MS // 1000} s"
        log.error("chart page did not start: %s", why)
        self.failed.emit(f"chart page did not start: {why}")

    def _stopped_drawing(self, text: str) -> None:
        first_line = text.strip().splitlines()[0] if text.strip() else "an error in the page"
        self.failed.emit(f"chart stopped drawing: {first_line}")


def _notice_page(text: str) -> str:
    return (
        "<!doctype html><html><body style='margin:0;background:#131722;color:#d1d4dc;"
        "font:14px sans-serif;display:flex;align-items:center;justify-content:center;"
        f"height:100vh'><p style='max-width:36em;text-align:center'>{html.escape(text)}</p>"
        "</body></html>"
    )
