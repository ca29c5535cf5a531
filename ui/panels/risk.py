"""The risk panel: the trading state, every limit with how much of it is used, margin, VaR and the
history of breaker trips and state changes, with the kill switch and re-arm at hand.

Repaints come from the bridge's frames: the trading state is read every frame (one cheap read),
the limit usage and margin at most four times a second while the panel is on screen, the VaR
report whenever the engine publishes a newer one. Breaker trips come from the engine's history
(it survives a restart); kill-switch and re-arm moves are added as the panel sees them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.api import BreakerTripped, LimitUsage, TradingState, TradingStatus, VarReport
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.kill_switch import ask_rearm, press_kill_switch, state_colour, watch_trading_state
from ui.models.table import ROW_ROLE, Column, RowTableModel
from ui.theme import Palette

USAGE_REFRESH_SECONDS = 0.25
WIDE_AT = 900
"""From this width (and when wider than tall) limits and history sit side by side."""
WARN_AT = 0.5
"""Usage from here on is amber; from ``DANGER_AT`` red."""
DANGER_AT = 0.8

USAGE_LABELS = {
    "daily_loss_limit": "Daily loss",
    "max_drawdown_from_peak": "Drawdown from peak",
    "capital": "Margin used",
    "max_concentration_pct": "Largest underlying's margin",
    "max_open_orders": "Open orders",
    "max_position_lots": "Largest position",
    "max_orders_per_second": "Orders this second",
}

STATE_MEANING = {
    TradingState.ACTIVE: "Orders that pass the checks go to the broker.",
    TradingState.REDUCING: "Only orders that reduce a position are accepted.",
    TradingState.HALTED: "No new orders; only square-offs and cancels. Re-arm to trade.",
}


def usage_colour(palette: Palette, fraction: float | None) -> QColor:
    if fraction is None:
        return palette.muted
    if fraction >= DANGER_AT:
        return palette.down
    if fraction >= WARN_AT:
        return palette.warning
    return palette.up


def money(value: Decimal) -> str:
    """₹1,23,456.78 and −₹271.01 (the sign before the rupee)."""
    return f"−₹{fmt.rupees(-value)}" if value < 0 else f"₹{fmt.rupees(value)}"


def amount_text(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "off"
    if unit == "₹":
        return money(value)
    if unit == "%":
        return f"{value:.1f} %"
    number = f"{value.normalize():,f}" if value == value.to_integral_value() else f"{value:,}"
    if value == 1 and unit in _SINGULAR:
        unit = _SINGULAR[unit]
    return f"{number} {unit}".strip()


_SINGULAR = {"orders": "order", "lots": "lot", "rejections": "rejection", "units": "unit"}


# -- limit usage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRow:
    name: str
    label: str
    description: str
    used: Decimal
    limit: Decimal | None
    unit: str

    @property
    def fraction(self) -> float | None:
        if self.limit is None or self.limit <= 0:
            return None
        return float(self.used / self.limit)

    @classmethod
    def of(cls, usage: LimitUsage) -> UsageRow:
        label = USAGE_LABELS.get(usage.name, usage.name.replace("_", " ").capitalize())
        return cls(usage.name, label, usage.description, usage.used, usage.limit, usage.unit)


class UsageBarDelegate(QStyledItemDelegate):
    """Paints a row's usage as a bar coloured by how close it is to the limit, with the percent."""

    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        row = index.data(ROW_ROLE)
        if not isinstance(row, UsageRow):
            super().paint(painter, option, index)
            return
        palette = self._context.theme.palette
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter)
        rect: QRect = option.rect.adjusted(6, 5, -6, -5)
        fraction = row.fraction
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        track = QColor(palette.muted)
        track.setAlpha(45)
        painter.setBrush(track)
        painter.drawRoundedRect(QRectF(rect), 3, 3)
        if fraction is not None and fraction > 0:
            filled = QRectF(rect)
            filled.setWidth(max(2.0, rect.width() * min(fraction, 1.0)))
            painter.setBrush(usage_colour(palette, fraction))
            painter.drawRoundedRect(filled, 3, 3)
        painter.setPen(option.palette.text().color())
        if fraction is None:
            text = "off"
        elif 0 < fraction < 0.01:
            text = "<1%"
        else:
            text = f"{fraction * 100:.0f}%"
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()


# -- history ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    key: tuple[str, int]
    order: int
    """Ties at one timestamp: state changes in the order seen, after the breaker trips."""
    ts_ns: int
    event: str
    outcome: str
    value: str
    reason: str
    severity: str
    """'trip', 'halt', 'reduce' or 'rearm': the colour of the row's outcome."""


def breaker_row(trip: BreakerTripped, index: int) -> HistoryRow:
    outcome = trip.action.value + (" + square-off" if trip.square_off else "")
    value = ""
    if trip.value is not None:
        value = (
            f"{trip.value} %" if trip.breaker.startswith("underlying_move") else money(trip.value)
        )
    name = trip.breaker.replace("_", " ").replace(":", " · ")
    return HistoryRow(
        ("breaker", index),
        -1,
        trip.ts_ns,
        f"Breaker: {name}",
        outcome,
        value,
        trip.reason,
        "halt" if trip.action is TradingState.HALTED else "reduce",
    )


def state_row(status: TradingStatus, sequence: int) -> HistoryRow:
    event = {
        "kill-switch": "Kill switch",
        "rearm": "Re-armed",
        "trader": "Trader",
        "restore": "Restored",
        "start": "Start",
    }.get(status.source, status.source)
    severity = {
        TradingState.ACTIVE: "rearm",
        TradingState.REDUCING: "reduce",
        TradingState.HALTED: "halt",
    }[status.state]
    return HistoryRow(
        ("state", sequence),
        sequence,
        status.since_ns,
        event,
        status.state.value,
        "",
        status.reason or "trading resumed",
        severity,
    )


# -- the panel -------------------------------------------------------------------------------------


class RiskPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("riskPanel")
        self._context = context
        self._usage_at = 0.0
        self._var_ts: int | None = None
        self._seen_states: list[HistoryRow] = []
        self._recorded: TradingStatus | None = None
        self._settings_page: QWidget | None = None

        # The state banner, with the controls that change the state.
        self.banner = QFrame(self, objectName="riskStateBanner")
        self.state_label = QLabel("", self.banner, objectName="riskState")
        self.state_detail = QLabel("", self.banner, objectName="riskStateDetail", wordWrap=True)
        self.kill_button = QPushButton("Kill switch", self.banner, objectName="riskKill")
        self.kill_button.setToolTip(
            "Halt trading and cancel every open order; then choose whether to square off"
        )
        self.reduce_button = QPushButton("Reduce only…", self.banner, objectName="riskReduce")
        self.reduce_button.setToolTip("Accept only orders that reduce a position (asks first)")
        self.rearm_button = QPushButton("Re-arm…", self.banner, objectName="riskRearm")
        self.rearm_button.setToolTip("Back to ACTIVE (asks first)")
        self.limits_button = QPushButton("Limits…", self.banner, objectName="riskLimits")
        self.limits_button.setToolTip("Edit the risk limits")
        for button in (self.kill_button, self.reduce_button, self.rearm_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.kill_button.clicked.connect(
            lambda: context.kill_switch() if context.kill_switch else press_kill_switch(context)
        )
        self.reduce_button.clicked.connect(self.ask_reduce_only)
        self.rearm_button.clicked.connect(lambda: ask_rearm(context))
        self.limits_button.clicked.connect(self.open_settings)
        text_column = QVBoxLayout()
        text_column.setSpacing(1)
        text_column.addWidget(self.state_label)
        text_column.addWidget(self.state_detail)
        buttons = QGridLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.kill_button, 0, 0)
        buttons.addWidget(self.rearm_button, 0, 1)
        buttons.addWidget(self.reduce_button, 1, 0)
        buttons.addWidget(self.limits_button, 1, 1)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(12, 6, 8, 6)
        banner_layout.addLayout(text_column, 1)
        banner_layout.addLayout(buttons)

        # Limits and their usage.
        self.usage_model: RowTableModel[UsageRow] = RowTableModel(
            self._usage_columns(), key=lambda r: r.name
        )
        self.usage_view = _table(self, "riskUsageTable", self.usage_model)
        self.usage_view.setItemDelegateForColumn(3, UsageBarDelegate(context, self.usage_view))
        header = self.usage_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.margin_label = QLabel("", self, objectName="riskMargin", wordWrap=True)

        # VaR and expected shortfall.
        self.var_box = QGroupBox("1-day VaR and expected shortfall", self, objectName="riskVar")
        grid = QGridLayout(self.var_box)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(3)
        for column, title in enumerate(("VaR 95 %", "ES 95 %", "VaR 99 %", "ES 99 %"), start=1):
            heading = QLabel(title, self.var_box, objectName="riskVarHeading")
            heading.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(heading, 0, column)
        self.var_cells: dict[tuple[str, str], QLabel] = {}
        for row, (method, title) in enumerate(
            (("historical", "Historical"), ("mc", "Monte Carlo")), start=1
        ):
            grid.addWidget(QLabel(title, self.var_box), row, 0)
            for column, figure in enumerate(("var_95", "es_95", "var_99", "es_99"), start=1):
                cell = QLabel("—", self.var_box)
                cell.setAlignment(Qt.AlignmentFlag.AlignRight)
                self.var_cells[(method, figure)] = cell
                grid.addWidget(cell, row, column)
        self.var_status = QLabel("", self.var_box, objectName="riskVarStatus", wordWrap=True)
        grid.addWidget(self.var_status, 3, 0, 1, 5)
        grid.setColumnStretch(0, 1)

        # Breaker trips and state changes, newest first.
        self.history_model: RowTableModel[HistoryRow] = RowTableModel(
            self._history_columns(), key=lambda r: r.key
        )
        self.history_view = _table(self, "riskHistoryTable", self.history_model)
        history_header = self.history_view.horizontalHeader()
        for section in range(3):
            history_header.setSectionResizeMode(section, QHeaderView.ResizeMode.ResizeToContents)
        history_header.setStretchLastSection(True)
        self.history_empty = QLabel(
            "No breaker has tripped today.", self, objectName="riskHistoryEmpty"
        )
        self.history_empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

        palette = context.theme.palette
        limits_side = QWidget(self)
        limits_layout = QVBoxLayout(limits_side)
        limits_layout.setContentsMargins(0, 0, 0, 0)
        limits_layout.setSpacing(4)
        limits_layout.addWidget(_caption("Limits", limits_side, palette))
        limits_layout.addWidget(self.usage_view)
        limits_layout.addWidget(self.margin_label)
        limits_layout.addStretch(1)
        history_side = QWidget(self)
        history_layout = QVBoxLayout(history_side)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.setSpacing(4)
        history_layout.addWidget(self.var_box)
        history_layout.addWidget(_caption("Breakers and state changes", history_side, palette))
        history_layout.addWidget(self.history_empty, 1)
        history_layout.addWidget(self.history_view, 1)
        self.body = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.body.setSpacing(8)
        self.body.addWidget(limits_side, 0)
        self.body.addWidget(history_side, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        layout.addWidget(self.banner)
        layout.addLayout(self.body, 1)

        self.status = context.api.trading_state()
        self.watcher = watch_trading_state(context, self, self._state_changed)
        context.bridge.frame.connect(self._on_frame, QUEUED)
        context.bridge.messages.connect(self._on_messages, QUEUED)
        self.refresh()

    # -- columns ------------------------------------------------------------------------------------

    def _usage_columns(self) -> list[Column[UsageRow]]:
        def used_colour(row: UsageRow) -> QColor | None:
            fraction = row.fraction
            if fraction is None or fraction < WARN_AT:
                return None
            return usage_colour(self._context.theme.palette, fraction)

        return [
            Column("Limit", lambda r: r.label, tooltip=lambda r: r.description),
            Column("Used", lambda r: amount_text(r.used, r.unit), align="right",
                   foreground=used_colour),
            Column("Limit", lambda r: amount_text(r.limit, r.unit), align="right",
                   tooltip=lambda r: r.description),
            Column("Usage", lambda r: r.fraction, text=lambda f: "", width=160,
                   tooltip=lambda r: f"{r.description}\n{_usage_tip(r)}"),
        ]  # fmt: skip

    def _history_columns(self) -> list[Column[HistoryRow]]:
        def outcome_colour(row: HistoryRow) -> QColor | None:
            palette = self._context.theme.palette
            return {
                "halt": palette.down,
                "reduce": palette.warning,
                "rearm": palette.up,
            }.get(row.severity)

        return [
            Column("Time", lambda r: r.ts_ns, text=fmt.ist_time),
            Column("Event", lambda r: r.event),
            Column("Outcome", lambda r: r.outcome, foreground=outcome_colour),
            Column("Value", lambda r: r.value, align="right"),
            Column("Reason", lambda r: r.reason, tooltip=lambda r: r.reason),
        ]

    # -- refreshing ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read everything now (also on show)."""
        self._state_changed(self._context.api.trading_state())
        self._refresh_history()
        self._refresh_usage()
        self._refresh_var()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Side by side in a wide, short dock (bottom area); stacked in a tall one.
        size = event.size()
        wide = size.width() >= WIDE_AT and size.width() > 1.4 * size.height()
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self.body.direction() != direction:
            self.body.setDirection(direction)
            self.body.setStretch(0, 1 if wide else 0)

    def _on_frame(self) -> None:
        self._refresh_var()
        if not self.isVisible():
            return
        now = time.monotonic()
        if now - self._usage_at >= USAGE_REFRESH_SECONDS:
            self._refresh_usage()

    def _on_messages(self, events: list[object]) -> None:
        # Breaker trips announce themselves as risk messages: pick up the history then.
        if any(getattr(e, "source", "") == "risk" for e in events):
            self._refresh_history()

    def _state_changed(self, status: TradingStatus) -> None:
        self.status = status
        palette = self._context.theme.palette
        colour = state_colour(palette, status.state)
        self.state_label.setText(f"Trading {status.state.value}")
        since = fmt.ist_time(status.since_ns)
        detail = STATE_MEANING[status.state]
        if status.state is not TradingState.ACTIVE:
            detail = f"{status.reason} — since {since}\n{detail}"
        self.state_detail.setText(detail)
        tint = QColor(colour)
        tint.setAlpha(40 if status.state is not TradingState.ACTIVE else 18)
        self.banner.setStyleSheet(
            f"QFrame#riskStateBanner {{ background: rgba({tint.red()}, {tint.green()}, "
            f"{tint.blue()}, {tint.alpha()}); border-left: 5px solid {colour}; border-radius: 3px; }}"
            f"QLabel {{ background: transparent; }}"
            f"QLabel#riskState {{ color: {colour}; font-size: 15pt; font-weight: 700; }}"
            f"QPushButton#riskKill {{ color: {palette.down.name()}; font-weight: 700;"
            f" border-color: {palette.down.name()}; }}"
        )
        for caption in self.findChildren(QLabel, "riskCaption"):
            caption.setStyleSheet(_caption_style(palette))
        self.rearm_button.setEnabled(status.state is not TradingState.ACTIVE)
        self.reduce_button.setEnabled(status.state is TradingState.ACTIVE)
        # The breaker's own row says what it did; a quiet start is no event.
        quiet_start = status.source == "start" and status.state is TradingState.ACTIVE
        new = status != self._recorded
        self._recorded = status
        if new and not quiet_start and not status.source.startswith("breaker:"):
            self._seen_states.append(state_row(status, len(self._seen_states)))
        self._refresh_history()

    def _refresh_history(self) -> None:
        trips = self._context.api.breaker_history()
        rows = [breaker_row(t, n) for n, t in enumerate(trips)] + self._seen_states
        rows.sort(key=lambda r: (r.ts_ns, r.order), reverse=True)
        self.history_model.set_rows(rows)
        self.history_empty.setVisible(not rows)
        self.history_view.setVisible(bool(rows))

    def _refresh_usage(self) -> None:
        self._usage_at = time.monotonic()
        api = self._context.api
        self.usage_model.set_rows([UsageRow.of(u) for u in api.risk_usage()])
        view = self.usage_view
        height = view.horizontalHeader().sizeHint().height() + 2
        height += view.verticalHeader().defaultSectionSize() * self.usage_model.rowCount()
        if view.height() != height:
            view.setFixedHeight(height)
        margin = api.margin()
        free = margin.available - margin.required
        source = ""
        if margin.source != "capital":
            when = f" at {margin.as_of:%H:%M:%S}" if margin.as_of is not None else ""
            broker = api.broker_name or margin.source  # "Kite", "XTS": as the trader knows it
            source = f" ({broker}'s funds{when})"
        parts = [
            f"Margin used {money(margin.required)}",
            f"available {money(margin.available)}{source}",
            f"free {money(free)}",
        ]
        text = "  ·  ".join(parts)
        biggest = sorted(margin.by_underlying.items(), key=lambda kv: kv[1], reverse=True)
        if biggest:
            text += "\n" + "   ".join(f"{u} {money(v)}" for u, v in biggest[:4] if v)
        self.margin_label.setText(text)
        palette = self._context.theme.palette
        colour = palette.down if free < 0 else palette.muted
        self.margin_label.setStyleSheet(f"color: {colour.name()};")

    def _refresh_var(self) -> None:
        report = self._context.api.var()
        ts = -1 if report is None else report.ts_ns
        if ts == self._var_ts:
            return
        self._var_ts = ts
        self.show_var(report)

    def show_var(self, report: VarReport | None) -> None:
        figures = {
            ("historical", "var_95"): None if report is None else report.historical_var_95,
            ("historical", "es_95"): None if report is None else report.historical_es_95,
            ("historical", "var_99"): None if report is None else report.historical_var_99,
            ("historical", "es_99"): None if report is None else report.historical_es_99,
            ("mc", "var_95"): None if report is None else report.mc_var_95,
            ("mc", "es_95"): None if report is None else report.mc_es_95,
            ("mc", "var_99"): None if report is None else report.mc_var_99,
            ("mc", "es_99"): None if report is None else report.mc_es_99,
        }
        for key, value in figures.items():
            self.var_cells[key].setText("—" if value is None else money(value))
        if report is None:
            self.var_status.setText("Not computed yet: the engine recomputes it every minute.")
            return
        parts = [f"computed {fmt.ist_time(report.ts_ns)} IST"]
        if report.positions:
            parts.append(f"{report.positions} position{'s' if report.positions != 1 else ''}")
        if report.scenarios:
            parts.append(f"{report.scenarios:,} days of history")
        if report.paths:
            parts.append(f"{report.paths:,} Monte Carlo paths")
        if report.mc_standard_error_99 is not None:
            parts.append(f"MC s.e. at 99 % {money(report.mc_standard_error_99)}")
        if report.seconds:
            took = report.seconds
            parts.append(f"took {took * 1000:.0f} ms" if took < 1 else f"took {took:.1f} s")
        if report.note:
            parts.append(report.note)
        self.var_status.setText("  ·  ".join(parts))

    # -- actions -----------------------------------------------------------------------------------

    def ask_reduce_only(self) -> None:
        api = self._context.api
        self._context.confirm(
            "Reduce only",
            "Accept only orders that reduce a position? Open orders that would add to a "
            "position are cancelled. Re-arm to trade freely again.",
            lambda: api.set_trading_state(TradingState.REDUCING, "reduce-only set by the trader"),
        )

    def open_settings(self) -> QWidget:
        from ui.panels.risk_settings import RiskSettingsPage

        if self._settings_page is None:
            self._settings_page = RiskSettingsPage(self._context, self)
        page = self._settings_page
        assert isinstance(page, RiskSettingsPage)
        page.open_page()
        return page


def _usage_tip(row: UsageRow) -> str:
    if row.limit is None:
        return "This limit is off."
    return f"{amount_text(row.used, row.unit)} of {amount_text(row.limit, row.unit)}"


def _caption(text: str, parent: QWidget, palette: Palette) -> QLabel:
    label = QLabel(text, parent, objectName="riskCaption")
    label.setStyleSheet(_caption_style(palette))
    return label


def _caption_style(palette: Palette) -> str:
    return f"font-weight: 600; color: {palette.muted.name()};"


def _table(parent: QWidget, name: str, model: RowTableModel) -> QTableView:  # type: ignore[type-arg]
    view = QTableView(parent)
    view.setObjectName(name)
    view.setModel(model)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(24)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return view
