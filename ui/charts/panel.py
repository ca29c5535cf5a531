"""A chart dock's content: candles (or a line, or Heikin-Ashi) of one series with volume and
indicators, and, for an instrument, chart trading: working orders as lines the trader drags to
modify, the position's average price, fills as markers, right-click to buy or sell at a price.

Bars reach the page at most once a chart frame (four a second: a candle's growth reads as live,
and a page repaint in software costs a renderer process real CPU) and only the ones that changed;
a chart out of sight (a tab behind another) sends nothing until it is shown. The engine's
listener only notes the forming bar. A frame costs what its changed bars can move: Heikin-Ashi
candles and indicator lines are worked out again only from the first changed bar.

The status line keeps one note per concern (the page, the history, the bars, the last action),
so a later one never hides an earlier failure.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from PySide6.QtCore import QPoint, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.api import (
    CHART_INDICATORS,
    TIMEFRAMES,
    Bar,
    BarColumns,
    ChartTarget,
    OrderDenied,
    OrderFilled,
    OrderSnapshot,
    OrderStatusChanged,
    OrderSubmitted,
    OrderType,
    PositionChanged,
    Side,
    Timeframe,
    join_bar,
    join_bars,
)
from engine.api.chart_lines import ChartLines
from engine.domain.events import Severity
from ui.bridge import QUEUED
from ui.charts.page import ChartView, first_report
from ui.charts.settings import STYLES, ChartSettings
from ui.context import PanelContext, TicketRequest
from ui.panels.table_kit import LineLabel

log = logging.getLogger(__name__)

INDICATOR_COLORS = {
    "SMA 20": "#f0b429",
    "SMA 50": "#e07b39",
    "EMA 9": "#4dd0e1",
    "EMA 21": "#ba68c8",
    "VWAP": "#ffd54f",
    "Bollinger 20, 2": "#90a4ae",
    "SuperTrend 10, 3 up": "#26c281",
    "SuperTrend 10, 3 down": "#ff5a5f",
    "RSI 14": "#b39ddb",
}
LINE_COLORS = {"BUY": "#4d8dff", "SELL": "#ff5a5f", "avg": "#f0b429"}
CHART_FRAME_MS = 250
CHART_PHASE_MS = 61
"""How far apart successive charts' frames fall (prime to the frame, so phases spread)."""
_PHASES = itertools.count()
HISTORY_RETRY_SECONDS = (15, 30, 60, 120, 300)
"""When a history that did not load is asked for again (then every 5 minutes)."""
PAGE_RESTART_SECONDS = 60.0
"""A page that stops drawing is loaded afresh once; again only this long after."""
NOTE_ORDER = ("page", "history", "bars", "action")
REDRAWING = "drawing it again"
REDRAWN = "chart redrawn after a fault in its page"
REDRAWN_NOTE_MS = 15_000


class ChartPanel(QWidget):
    loaded = Signal(object)
    """what the page reports it holds after a history (tests and the status line read it)"""
    settings_changed = Signal()

    def __init__(self, context: PanelContext, settings: ChartSettings) -> None:
        super().__init__()
        self._ctx = context
        self._api = context.api
        self.settings = settings
        key = settings.key
        self._unfollow_series: Callable[[], None] | None = None
        """An option's IV is kept as a series only while some chart shows it."""
        if isinstance(key, str) and key.startswith("iv:") and key[3:].isdigit():
            self._unfollow_series = self._api.follow_iv(int(key[3:]))
        self.target: ChartTarget | None = self._api.chart_target(key)
        self.bars: list[Bar] = []
        """What the page shows (before Heikin-Ashi), oldest first."""
        self.columns = BarColumns()
        """``bars`` as columns, for the indicators."""
        self._shown: list[Bar] = []
        """What the page shows: ``bars``, or their Heikin-Ashi candles."""
        self._lines = ChartLines(settings.indicators)
        self._notes: dict[str, str] = {}
        """What the status line says, by concern (see NOTE_ORDER)."""
        self._history_failures = 0
        self._page_restarted_at: float | None = None
        self._pending: dict[int, Bar] = {}
        self._overlap: Bar | None = None
        """History's copy of the bar that was forming when the desk began to build this series:
        the session's bar for that moment is joined to it (it lacks the ticks before)."""
        self._loading: asyncio.Task[None] | None = None
        self._loaded = False
        """The history is in ``bars`` (and was sent): updates may follow."""
        self._unfollow: Callable[[], None] | None = None
        self._request = 0
        self._lines_sent: list[dict[str, Any]] | None = None
        self._markers_sent: list[dict[str, Any]] | None = None
        self._fill_totals: dict[tuple[int, Side], tuple[Decimal, Decimal]] = {}
        """Quantity and value filled per (bar start, side), of the first ``_fills_read`` fills
        of the book, at the timeframe ``_fills_timeframe``."""
        self._fills_read = 0
        self._fills_timeframe = ""
        self._build()
        self._retry_timer = QTimer(self, objectName="chart-history-retry", singleShot=True)
        self._retry_timer.timeout.connect(self._retry_history)
        self.view.started.connect(self._page_started)
        self.view.failed.connect(self._page_failed)
        if self.view.problem is not None:
            self._page_failed(self.view.problem)
        self.view.channel.page_loaded.connect(self._page_loaded)
        self.view.channel.line_dragged.connect(self.move_line)
        self.view.channel.price_menu.connect(self._price_menu)
        self._frame_timer = QTimer(self, objectName="chart-frame")
        self._frame_timer.setInterval(CHART_FRAME_MS)
        self._frame_timer.timeout.connect(self._frame)
        # Each chart frames at its own phase, so several charts never draw in the same turn of
        # the event loop (one long stall instead of a few short ones).
        # (With the timer as context: a chart closed before its phase comes starts nothing.)
        QTimer.singleShot(
            next(_PHASES) * CHART_PHASE_MS % CHART_FRAME_MS,
            self._frame_timer,
            self._frame_timer.start,
        )
        context.bridge.orders_changed.connect(self._orders_changed, QUEUED)
        context.bridge.positions_changed.connect(self._orders_changed, QUEUED)
        self._configure()
        self.reload()

    # -- building ------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.title_label = QLabel(self.settings.title)
        self.title_label.setObjectName("chartTitle")
        self.timeframe_box = QComboBox()
        self.timeframe_box.addItems(TIMEFRAMES)
        self.timeframe_box.setCurrentText(self.settings.timeframe)
        self.timeframe_box.setToolTip("Timeframe")
        self.timeframe_box.currentTextChanged.connect(self.set_timeframe)
        self.style_box = QComboBox()
        for name, text in STYLES.items():
            self.style_box.addItem(text, name)
        self.style_box.setCurrentIndex(list(STYLES).index(self.settings.style))
        self.style_box.currentIndexChanged.connect(
            lambda i: self.set_style(str(self.style_box.itemData(i)))
        )
        self.indicator_button = QToolButton()
        self.indicator_button.setText("Indicators")
        self.indicator_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.indicator_button)
        self.indicator_actions: dict[str, QAction] = {}
        for name in CHART_INDICATORS:
            action = menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in self.settings.indicators)
            action.toggled.connect(lambda on, n=name: self.set_indicator(n, on))
            self.indicator_actions[name] = action
        menu.addSeparator()
        self.volume_action = menu.addAction("Volume")
        self.volume_action.setCheckable(True)
        self.volume_action.setChecked(self.settings.volume)
        self.volume_action.toggled.connect(self.set_volume)
        self.indicator_button.setMenu(menu)
        self.status = LineLabel("")
        self.status.setObjectName("chartStatus")
        self.view = ChartView(self)
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(4, 2, 4, 0)
        row.setSpacing(6)
        for widget in (self.title_label, self.timeframe_box, self.style_box, self.indicator_button):
            row.addWidget(widget)
        row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(bar)
        layout.addWidget(self.view, 1)

    # -- settings ------------------------------------------------------------------------------------

    def set_timeframe(self, label: str) -> None:
        if label != self.settings.timeframe:
            self.settings.timeframe = label
            self.timeframe_box.setCurrentText(label)
            self.settings_changed.emit()
            self._configure()  # the legend names the timeframe
            self.reload()

    def set_style(self, style: str) -> None:
        if style != self.settings.style:
            self.settings.style = style
            self.settings_changed.emit()
            self._configure()
            self._send_history()

    def set_indicator(self, name: str, on: bool) -> None:
        chosen = [n for n in CHART_INDICATORS if n in self.settings.indicators or n == name]
        if not on:
            chosen.remove(name)
        if chosen != self.settings.indicators:
            self.settings.indicators = chosen
            self._lines = ChartLines(chosen)
            self.indicator_actions[name].setChecked(on)
            self.settings_changed.emit()
            self._send_history()

    def set_volume(self, on: bool) -> None:
        if on != self.settings.volume:
            self.settings.volume = on
            self.settings_changed.emit()
            self._configure()

    def apply_theme(self) -> None:
        self._configure()

    def _configure(self) -> None:
        palette = self._ctx.theme.palette
        dark = palette.name == "dark"
        unit = self.target.unit if self.target is not None else "₹"
        self.view.send(
            "configure",
            {
                "title": f"{self.settings.title} · {self.settings.timeframe}",
                "style": "line" if self.settings.style == "line" else "candles",
                "volume": self.settings.volume
                and self.target is not None
                and self.target.traded_volume,
                "decimals": 2,
                "notice": "" if unit == "₹" else f"values in {unit}",
                "colors": {
                    "up": palette.up.name(),
                    "down": palette.down.name(),
                    "text": "#d1d4dc" if dark else "#1f2933",
                    "background": "#131722" if dark else "#ffffff",
                    "grid": "#232834" if dark else "#e6e9ef",
                },
            },
        )

    @property
    def _is_instrument(self) -> bool:
        return self.target is not None and self.target.token is not None

    # -- data ----------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the series' bars again (a new timeframe, or a new series) and follow it."""
        self.stop_following()
        self._note("history", "")
        if self.target is None:
            self._note("bars", f"{self.settings.title}: not available on this desk today")
            return
        self._pending.clear()
        self._unfollow = self._api.follow_bars(
            self.settings.key, self.settings.timeframe, self._on_bar
        )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.error("chart %s: no event loop, so no bars are loaded", self.settings.title)
            self._note("bars", "charts need the desk's event loop")
            return
        self._note("bars", "loading…")
        self._history_failures = 0
        self._loading = loop.create_task(self._load(), name="chart-history")

    def _retry_history(self) -> None:
        """Ask again for a history that did not load, keeping the series followed (its
        session's bars are not built again)."""
        if self._unfollow is None or (self._loading is not None and not self._loading.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._note("history", "history not loaded: asking again…")
        self._loading = loop.create_task(self._load(), name="chart-history")

    async def _load(self) -> None:
        key, timeframe = self.settings.key, self.settings.timeframe
        try:
            past = await self._api.chart_history(key, timeframe)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown on the chart; the session's bars still come
            log.warning("chart %s: history not loaded: %s", self.settings.title, exc)
            delay = HISTORY_RETRY_SECONDS[
                min(self._history_failures, len(HISTORY_RETRY_SECONDS) - 1)
            ]
            self._history_failures += 1
            self._note(
                "history",
                f"history not loaded ({exc}): session bars only; asking again in {delay} s",
            )
            self._retry_timer.start(delay * 1000)
            past = []
        else:
            self._history_failures = 0
            self._note("history", "")
        session = self._api.session_bars(key, timeframe)
        joining = session[0].start_ns if session else None
        self._overlap = next((b for b in reversed(past) if b.start_ns == joining), None)
        if not session and past:
            self._overlap = past[-1]  # the first bar the desk builds may be this one
        self._pending.clear()  # the session's bars as of now hold what was noted
        self.bars = join_bars(past, session)
        self.columns = BarColumns(self.bars)
        self._loaded = True
        self._note("bars", "" if self.bars else "no bars yet")
        self._send_history()
        self._show_orders()

    def _on_bar(self, bar: Bar) -> None:
        # On the engine's loop at every update of the forming bar: note it, nothing more.
        self._pending[bar.start_ns] = bar

    def _merge_pending(self) -> list[int]:
        """Put the bars noted since the last frame into ``bars``; the indexes that changed
        (always the last ones: the forming bar and any opened since)."""
        if not self._pending:
            return []
        pending, self._pending = self._pending, {}
        changed: list[int] = []
        for start in sorted(pending):
            bar = pending[start]
            if self._overlap is not None and self._overlap.start_ns == start:
                bar = join_bar(self._overlap, bar)
            if self.bars and self.bars[-1].start_ns == start:
                self.bars[-1] = bar
            elif not self.bars or start > self.bars[-1].start_ns:
                self.bars.append(bar)
            else:
                continue  # older than what is shown: the history already has it
            changed.append(len(self.bars) - 1)
            self.columns.put(len(self.bars) - 1, bar)
        return changed

    def _frame(self) -> None:
        if not self._loaded or not self._pending or not self.view.isVisible():
            return
        if not self.view.is_ready:
            return  # the page, when it starts, is sent a history with these bars
        changed = self._merge_pending()
        if not changed:
            return
        first = changed[0]
        shown = self._shown_from(first)
        payload: dict[str, Any] = {"bars": [_row_of(shown[i]) for i in changed]}
        payload["indicators"] = self._indicator_points(shown, first)
        self.view.send("bars", payload)
        if "bars" in self._notes:
            self._note("bars", "")

    def _shown_from(self, first: int) -> list[Bar]:
        """What the page shows, after the bars from ``first`` on changed (0: all of them)."""
        if self.settings.style != "heikin":
            self._shown = self.bars
        elif first <= 0 or self._shown is self.bars or first > len(self._shown):
            self._shown = self._api.heikin_ashi(self.bars, self.columns)
        else:
            # A candle depends only on the bars up to its own: those before ``first`` stand.
            del self._shown[first:]
            self._shown.extend(self._api.heikin_ashi(self.bars, self.columns, first))
        return self._shown

    def _send_history(self) -> None:
        if not self._loaded or not self.view.is_ready:
            return  # the page asks for it when it starts (``_page_started``)
        self._merge_pending()
        self._request += 1
        shown = self._shown_from(0)
        self.view.send(
            "history",
            {
                "bars": [_row_of(b) for b in shown],
                "indicators": self._indicator_points(shown, 0),
                "request": self._request,
            },
        )

    def _indicator_points(self, bars: Sequence[Bar], first: int) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.settings.indicators or not bars:
            return out
        named: set[str] = set()
        for line in self._lines.over(self.columns, first):
            name = f"{line.name} {line.title}".strip()
            color = INDICATOR_COLORS.get(name) or INDICATOR_COLORS.get(line.name, "#90a4ae")
            legend = "" if line.name in named else line.name  # a band's lines: named once
            named.add(line.name)
            values = line.values[first:].tolist()
            points = [
                [bars[i].start_ns // 1_000_000_000, _number(value)]
                for i, value in enumerate(values, first)
            ]
            out[name] = {"color": color, "pane": line.pane, "legend": legend, "points": points}
        return out

    def _page_loaded(self, report: dict[str, Any]) -> None:
        self.page_report = report
        self.loaded.emit(report)

    # -- the page and the status line ----------------------------------------------------------------

    def _note(self, concern: str, text: str) -> None:
        """Say ``text`` about one concern in the status line ("" clears it), beside the others'."""
        if text:
            self._notes[concern] = text
        else:
            self._notes.pop(concern, None)
        self.status.setText("; ".join(self._notes[c] for c in NOTE_ORDER if c in self._notes))

    def _page_started(self) -> None:
        """The page is ready (first, or again after a fault): send it all it shows, as of now."""
        if self._notes.get("page", "").endswith(REDRAWING):
            self._note("page", REDRAWN)  # for a while: the chart froze for a moment
            QTimer.singleShot(REDRAWN_NOTE_MS, self, self._forget_redrawn)
        else:
            self._note("page", "")
        self._lines_sent = None
        self._markers_sent = None
        self._configure()
        self._send_history()
        self._show_orders()

    def _forget_redrawn(self) -> None:
        if self._notes.get("page") == REDRAWN:
            self._note("page", "")

    def _page_failed(self, text: str) -> None:
        if self.view.problem is None and self.view.is_ready:
            # The page stopped drawing: a fresh page once; if that fails soon too, say so.
            now = time.monotonic()
            recent = self._page_restarted_at is not None and (
                now - self._page_restarted_at < PAGE_RESTART_SECONDS
            )
            if not recent:
                self._page_restarted_at = now
                self._note("page", f"{text}; {REDRAWING}")
                self.view.restart()
                return
            text = f"{text}; close this chart and open it again"
        self._note("page", text)
        if first_report(text):
            self._api.tell(f"Chart {self.settings.title}: {text}", Severity.WARNING, "charts")

    def stop_following(self) -> None:
        self._retry_timer.stop()
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        self._loading = None
        self._loaded = False
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None

    def release(self) -> None:
        """The chart is gone: stop drawing and following, let go of its series."""
        self._frame_timer.stop()
        self.stop_following()
        if self._unfollow_series is not None:
            self._unfollow_series()
            self._unfollow_series = None

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.release()
        super().closeEvent(event)

    # -- chart trading -------------------------------------------------------------------------------

    def _orders_changed(self, events: Sequence[object]) -> None:
        """A bridge frame's order or position events: the lines and markers are read again only
        when one of them is on this chart's instrument (a desk with many orders and many charts
        would otherwise read every order and fill once per chart per frame)."""
        if not self._is_instrument or not self._loaded:
            return
        assert self.target is not None
        token = self.target.token
        if any(self._token_of(event) == token for event in events):
            self._show_orders()

    def _token_of(self, event: object) -> int | None:
        """The instrument an order or position event is on (None: not one the chart draws)."""
        if isinstance(event, OrderFilled | PositionChanged):
            return event.token
        if isinstance(event, OrderSubmitted):
            return event.request.token
        if isinstance(event, OrderDenied) and event.request is not None:
            return event.request.token
        if isinstance(event, OrderStatusChanged | OrderDenied):
            return self._api.orders_service.order_token(event.order_id)
        return None

    def _show_orders(self) -> None:
        """Send the instrument's working orders, average prices and fills, if they changed."""
        if not self._is_instrument or not self._loaded:
            return
        assert self.target is not None and self.target.token is not None
        token = self.target.token
        lines: list[dict[str, Any]] = []
        for order in self._api.orders_service.open_orders_of(token):
            lines.extend(_order_lines(order))
        for product, net_quantity, average_price in self._api.charts_service.chart_positions(token):
            lines.append(
                {
                    "id": f"avg:{product.value}",
                    "price": float(average_price),
                    "color": LINE_COLORS["avg"],
                    "title": f"avg {net_quantity:+,}",
                    "dashed": True,
                }
            )
        if lines != self._lines_sent:
            self._lines_sent = lines
            self.view.send("lines", lines)
        markers = self._fill_markers(token)
        if markers != self._markers_sent:
            self._markers_sent = markers
            self.view.send("markers", markers)

    def _fill_markers(self, token: int) -> list[dict[str, Any]]:
        """One marker per side per bar: the quantity bought or sold in it, at its average.

        The book only appends fills: the totals are kept, and only fills after those already
        counted are read (all of them again when the timeframe, so the bars, changed)."""
        if self._fills_timeframe != self.settings.timeframe:
            self._fills_timeframe = self.settings.timeframe
            self._fill_totals = {}
            self._fills_read = 0
        trades, self._fills_read = self._api.orders_service.trades_of(token, self._fills_read)
        filled = self._fill_totals
        for trade in trades:
            moment = self._bar_time(trade.ts_ns // 1_000_000_000)
            quantity, value = filled.get((moment, trade.side), (Decimal(0), Decimal(0)))
            filled[(moment, trade.side)] = (
                quantity + trade.quantity,
                value + trade.quantity * trade.price,
            )
        markers = []
        for (moment, side), (quantity, value) in sorted(filled.items(), key=lambda i: i[0][0]):
            buy = side is Side.BUY
            markers.append(
                {
                    "time": moment,
                    "position": "belowBar" if buy else "aboveBar",
                    "color": LINE_COLORS[side.value],
                    "shape": "arrowUp" if buy else "arrowDown",
                    "text": f"{'B' if buy else 'S'} {quantity:,} @ {value / quantity:.2f}",
                }
            )
        return markers

    def _bar_time(self, seconds: int) -> int:
        """The start (epoch seconds) of the shown bar a moment falls in."""
        return Timeframe.of(self.settings.timeframe).start_of(seconds * 1_000_000_000) // (
            1_000_000_000
        )

    def move_line(self, line_id: str, price: float) -> None:
        """The trader dropped an order's line at ``price``: modify the order there (asking
        first, as the ticket does)."""
        kind, _, rest = line_id.partition(":")
        order_id, _, field = rest.rpartition(":")
        if kind != "order" or field not in ("price", "trigger") or self.target is None:
            return
        order = self._api.order(order_id)
        if order is None or not order.status.is_open:
            self._note("action", f"order {order_id} is no longer open")
            return
        new = self._on_grid(price)
        old = order.price if field == "price" else order.trigger_price
        if new <= 0 or new == old:
            self._show_orders()
            return
        what = "limit" if field == "price" else "trigger"
        text = (
            f"Move {order.side.value} {order.quantity} {order.instrument.tradingsymbol} {what} "
            f"from {old} to {new}?"
        )

        def modify() -> None:
            if field == "price":
                outcome = self._api.modify(order_id, price=new)
            else:
                outcome = self._api.modify(order_id, trigger_price=new)
            self._note(
                "action", f"{what} moved to {new}" if outcome else f"not modified: {outcome.reason}"
            )
            self._show_orders()

        self._ctx.confirm("Modify order", text, modify)

    def _on_grid(self, price: float) -> Decimal:
        """A price the page gave (a float where the pointer was) on the instrument's tick grid."""
        assert self.target is not None
        tick = Decimal(self.target.tick) / 100
        return (Decimal(repr(price)) / tick).quantize(Decimal(1), ROUND_HALF_UP) * tick

    def _price_menu(self, price: float, x: int, y: int) -> None:
        if not self._is_instrument or self.target is None or self.target.token is None:
            return
        instrument = self._api.instruments.find(self.target.token)
        at = self._on_grid(price)
        menu = QMenu(self)
        for side in (Side.BUY, Side.SELL):
            action = menu.addAction(f"{side.value.title()} at {at}…")
            action.triggered.connect(
                lambda _c=False, s=side: self._ctx.open_ticket(
                    TicketRequest(side=s, instrument=instrument, price=at)
                )
            )
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(self.view.mapToGlobal(QPoint(x, y)))
        self.price_menu = menu


def _order_lines(order: OrderSnapshot) -> list[dict[str, Any]]:
    color = LINE_COLORS[order.side.value]
    label = f"{order.side.value} {order.pending_quantity}"
    lines = []
    if order.price is not None and order.order_type in (OrderType.LIMIT, OrderType.SL):
        lines.append(
            {
                "id": f"order:{order.order_id}:price",
                "price": float(order.price),
                "color": color,
                "title": f"{label} LMT",
                "draggable": True,
            }
        )
    if order.trigger_price is not None and order.order_type in (OrderType.SL, OrderType.SL_M):
        lines.append(
            {
                "id": f"order:{order.order_id}:trigger",
                "price": float(order.trigger_price),
                "color": color,
                "title": f"{label} TRG",
                "draggable": True,
                "dashed": True,
            }
        )
    return lines


def _row_of(bar: Bar) -> list[float | int]:
    return [
        bar.start_ns // 1_000_000_000,
        bar.open / 100,
        bar.high / 100,
        bar.low / 100,
        bar.close / 100,
        bar.volume,
    ]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)
