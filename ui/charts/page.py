"""The chart page: TradingView's Lightweight Charts (vendored under resources/web) in a
QWebEngineView, fed through a QWebChannel.

Python owns the data. The page is sent the history once and then at most one batch a frame with
only the bars that changed (never one call per tick), plus order lines and fill markers when they
change. It reports back what it holds, a line the trader dragged, and a right-click at a price.

The page never reaches the network: every chart shares one off-the-record profile whose request
interceptor lets through only the page's own files (file:, qrc:, data:) and refuses the rest,
keeping what it refused for the log and for tests.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QUrl, Signal, Slot
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
        self.errors.append(text)
        log.error("chart page: %s", text)


class ChartView(QWebEngineView):
    """One chart page. Until the page says it is ready, what is sent is kept (the latest of each
    kind) and delivered then."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        profile, self.guard = chart_profile()
        self.setPage(QWebEnginePage(profile, self))
        self.channel = ChartChannel(self)
        self._web_channel = QWebChannel(self.page())
        self._web_channel.registerObject("feed", self.channel)
        self.page().setWebChannel(self._web_channel)
        self._waiting: dict[str, str] = {}
        self.channel.page_ready.connect(self._deliver_waiting)
        self.load(QUrl.fromLocalFile(str(resource_path("web", "chart.html"))))

    def send(self, kind: str, payload: Any) -> None:
        """Send one message (configure, history, bars, lines, markers) as JSON."""
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        if not self.channel.is_ready:
            if kind == "bars" and "history" in self._waiting:
                return  # the history to come is re-read when the page is ready
            self._waiting[kind] = text
            return
        getattr(self.channel, kind).emit(text)

    def _deliver_waiting(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for kind in ("configure", "history", "lines", "markers", "bars"):
            if kind in waiting:
                getattr(self.channel, kind).emit(waiting[kind])
