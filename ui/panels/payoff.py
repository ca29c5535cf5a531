"""Payoff: P&L at expiry and at a target date for positions or a hypothetical strategy.

The legs come from the open positions of one underlying (each can be left out) or from a builder
that adds legs off the option chain at the price they would fill at now. Once per refresh the
engine prices the legs against the market (``EngineApi.option_strategy``: forwards, IVs, time, one
batched analytics call); the sliders (days forward, spot shift, IV shift) then only re-evaluate
the curves, which are numpy passes over a few hundred spots. pyqtgraph items are created once and
fed with ``setData``; quote-driven refreshes are coalesced by a named timer to a few a second.
While on screen the panel streams the quotes that price its legs (a live feed sends only what is
asked for), and says so when a forward stands in for an underlying with no fresh quote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.api import OptionStrategy, PayoffProfile, ScenarioGrid, Side, StrategyLeg
from engine.domain.instruments import Instrument, InstrumentType
from ui.bridge import QUEUED, OnFrames
from ui.context import PanelContext
from ui.panels.greeks import PanelWatch, duration, gamma_text, number
from ui.panels.payoff_tables import LegRow, LegsModel, ScenarioModel

POSITIONS = "Positions"
BUILDER = "Builder"
REFRESH_MS = 250
"""Quote-driven repricing at most four times a second: a payoff needs no 20 Hz."""
DAY_STEPS = 4
"""The days slider moves in quarter days."""
SPOT_STEP = 0.1
"""Percent per spot-slider step (±10 %)."""
IV_STEP = 0.5
"""Vol points per IV-slider step (±20 points)."""
MAX_BREAKEVEN_LABELS = 6
SCENARIO_SPOT_SHIFTS = (-10.0, -5.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
"""Spot moves (percent) of the scenario grid's columns."""
SCENARIO_IV_SHIFTS = (-10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0)
"""IV shifts (vol points) of its rows."""


class PayoffPanel(QWidget):
    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self._ctx = context
        self.strategy: OptionStrategy | None = None
        self.profile: PayoffProfile | None = None
        self.grid: ScenarioGrid | None = None
        self.error = ""
        self._builder: list[StrategyLeg] = []
        self._excluded: set[tuple[int, str, int]] = set()
        self._tokens: set[int] = set()
        self._first_expiry_close: datetime | None = None
        """When the legs' first expiry stops trading (the calendar's F&O close that day)."""
        self._watched_for: frozenset[int] = frozenset()
        self.streams = PanelWatch(context.api)
        """What the panel asks the feed for while it is on screen."""
        self._underlying_name = ""
        self._quotes_moved = OnFrames(context.bridge, REFRESH_MS, self.refresh, parent=self)

        # -- source and legs -----------------------------------------------------------------------
        self.source = QComboBox()
        self.source.addItems([POSITIONS, BUILDER])
        self.underlying = QComboBox()
        self.underlying.addItems(context.api.instruments.underlyings())
        if "NIFTY" in context.api.instruments.underlyings():
            self.underlying.setCurrentText("NIFTY")
        self.legs = LegsModel(context, self._toggle_leg)
        self.legs_view = QTableView()
        self.legs_view.setModel(self.legs)
        self.legs_view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.legs_view.setShowGrid(False)
        self.legs_view.verticalHeader().setVisible(False)
        self.legs_view.verticalHeader().setDefaultSectionSize(22)
        self.legs_view.horizontalHeader().setStretchLastSection(False)
        for column, width in enumerate((170, 34, 48, 70, 70, 52)):
            self.legs_view.setColumnWidth(column, width)

        self.expiry = QComboBox()
        self.strike = QComboBox()
        self.option_type = QComboBox()
        self.option_type.addItems(["CE", "PE"])
        self.side = QComboBox()
        self.side.addItems(["BUY", "SELL"])
        self.lots = QSpinBox()
        self.lots.setRange(1, 1000)
        self.add_button = QPushButton("Add leg")
        self.remove_button = QPushButton("Remove")
        self.clear_button = QPushButton("Clear")
        self.copy_button = QPushButton("From positions")
        self.copy_button.setToolTip("Start the builder from the open positions")
        builder = QGridLayout()
        builder.setContentsMargins(4, 4, 4, 4)
        builder.addWidget(self.expiry, 0, 0, 1, 2)
        builder.addWidget(self.strike, 0, 2)
        builder.addWidget(self.option_type, 0, 3)
        builder.addWidget(self.side, 1, 0)
        builder.addWidget(self.lots, 1, 1)
        builder.addWidget(self.add_button, 1, 2, 1, 2)
        builder.addWidget(self.remove_button, 2, 0)
        builder.addWidget(self.clear_button, 2, 1)
        builder.addWidget(self.copy_button, 2, 2, 1, 2)
        self.builder_box = QWidget()
        self.builder_box.setLayout(builder)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(2)
        source_bar = QHBoxLayout()
        source_bar.setContentsMargins(4, 4, 4, 2)
        source_bar.addWidget(self.source)
        source_bar.addWidget(self.underlying, 1)
        left_layout.addLayout(source_bar)
        left_layout.addWidget(self.legs_view, 1)
        left_layout.addWidget(self.builder_box)

        # -- plot ------------------------------------------------------------------------------------
        self.plot = pg.PlotWidget()
        self._build_plot()

        # -- sliders and figures ---------------------------------------------------------------------
        self.days_slider = self._slider(0, 0)
        self.spot_slider = self._slider(-round(10 / SPOT_STEP), round(10 / SPOT_STEP))
        self.iv_slider = self._slider(-round(20 / IV_STEP), round(20 / IV_STEP))
        self.days_label = QLabel()
        self.spot_label = QLabel()
        self.iv_label = QLabel()
        self.reset_button = QPushButton("Reset")
        self.reset_button.clicked.connect(self.reset_sliders)
        sliders = QHBoxLayout()
        sliders.setContentsMargins(6, 2, 6, 2)
        sliders.setSpacing(18)
        for title, slider, label in (
            ("Days forward", self.days_slider, self.days_label),
            ("Spot shift", self.spot_slider, self.spot_label),
            ("IV shift", self.iv_slider, self.iv_label),
        ):
            caption = QLabel(title)
            caption.setObjectName("ticketInfo")
            top = QHBoxLayout()
            top.addWidget(caption)
            top.addStretch(1)
            top.addWidget(label)
            group = QVBoxLayout()
            group.setSpacing(0)
            group.addLayout(top)
            group.addWidget(slider)
            sliders.addLayout(group, 1)
        sliders.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignBottom)

        self.premium_label = QLabel()
        self.max_profit_label = QLabel()
        self.max_loss_label = QLabel()
        self.breakeven_label = QLabel()
        self.target_label = QLabel()
        self.greeks_label = QLabel()
        self.greeks_label.setObjectName("ticketInfo")
        self.spot_notice = QLabel()
        """In words, when a forward stands in for the underlying's price."""
        self.spot_notice.setObjectName("ticketError")
        self.spot_notice.setContentsMargins(6, 0, 6, 0)
        self.spot_notice.setVisible(False)
        figures = QGridLayout()
        figures.setContentsMargins(6, 2, 6, 2)
        figures.setHorizontalSpacing(18)
        figures.addWidget(self.premium_label, 0, 0)
        figures.addWidget(self.max_profit_label, 0, 1)
        figures.addWidget(self.max_loss_label, 0, 2)
        figures.addWidget(self.breakeven_label, 0, 3)
        figures.addWidget(self.target_label, 1, 0, 1, 2)
        figures.addWidget(self.greeks_label, 1, 2, 1, 2)

        self.spot_shifts = SCENARIO_SPOT_SHIFTS
        self.iv_shifts = SCENARIO_IV_SHIFTS
        self.scenarios = ScenarioModel(context, self.spot_shifts)
        self.scenario_view = QTableView()
        self.scenario_view.setModel(self.scenarios)
        self.scenario_view.setShowGrid(False)
        self.scenario_view.verticalHeader().setVisible(False)
        self.scenario_view.verticalHeader().setDefaultSectionSize(21)
        header = self.scenario_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # Two rows at least; the rest scrolls when the dock is short, so the chart keeps its room.
        self.scenario_view.setMinimumHeight(header.sizeHint().height() + 2 * 21 + 4)
        self.scenario_caption = QLabel("Scenarios")
        self.scenario_caption.setObjectName("ticketInfo")
        self.scenario_caption.setContentsMargins(6, 4, 6, 2)
        self.plot.setMinimumHeight(150)

        chart = QWidget()
        chart_layout = QVBoxLayout(chart)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.setSpacing(2)
        chart_layout.addWidget(self.spot_notice)
        chart_layout.addLayout(figures)
        chart_layout.addWidget(self.plot, 1)
        chart_layout.addLayout(sliders)
        table = QWidget()
        table_layout = QVBoxLayout(table)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(2)
        table_layout.addWidget(self.scenario_caption)
        table_layout.addWidget(self.scenario_view, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("payoffChartSplitter")
        right.setChildrenCollapsible(False)
        right.addWidget(chart)
        right.addWidget(table)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([
            300,
            self.scenario_caption.sizeHint().height()
            + header.sizeHint().height()
            + len(self.iv_shifts) * 21
            + 8,
        ])  # fmt: skip

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([460, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.source.currentTextChanged.connect(lambda _: self._source_changed())
        self.underlying.currentTextChanged.connect(lambda _: self._underlying_changed())
        self.expiry.currentIndexChanged.connect(lambda _: self._fill_strikes())
        self.add_button.clicked.connect(self._add_from_controls)
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button.clicked.connect(self.clear_legs)
        self.copy_button.clicked.connect(self.copy_positions)
        for slider in (self.days_slider, self.spot_slider, self.iv_slider):
            slider.valueChanged.connect(lambda _: self.redraw())
        context.bridge.positions_changed.connect(self._positions_changed, QUEUED)
        context.bridge.quotes_changed.connect(self._on_quotes, QUEUED)
        self._underlying_changed()

    # -- building the plot once ------------------------------------------------------------------------

    def _build_plot(self) -> None:
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.12)
        for side in ("left", "bottom"):
            item.getAxis(side).enableAutoSIPrefix(False)
        item.setMenuEnabled(False)
        item.getViewBox().setDefaultPadding(0.08)  # room above the curve for the marker labels
        self.legend = item.addLegend(offset=(10, 10))
        self.profit_fill = pg.PlotDataItem(pen=None, fillLevel=0.0)
        self.loss_fill = pg.PlotDataItem(pen=None, fillLevel=0.0)
        item.addItem(self.profit_fill)
        item.addItem(self.loss_fill)
        self.zero_line = pg.InfiniteLine(pos=0.0, angle=0, movable=False)
        item.addItem(self.zero_line)
        self.expiry_curve = item.plot(name="At expiry", antialias=True)
        self.target_curve = item.plot(name="T+0", antialias=True)
        label_options = {"position": 0.95, "movable": False}
        self.spot_line = pg.InfiniteLine(
            angle=90, label="Spot {value:,.0f}", labelOpts=label_options
        )
        self.target_line = pg.InfiniteLine(
            angle=90, label="Target {value:,.0f}", labelOpts={**label_options, "position": 0.87}
        )
        item.addItem(self.spot_line)
        item.addItem(self.target_line)
        self.breakeven_markers = pg.ScatterPlotItem(size=9, symbol="d")
        item.addItem(self.breakeven_markers)
        self.breakeven_texts = []
        for _ in range(MAX_BREAKEVEN_LABELS):
            text = pg.TextItem(anchor=(0.5, -0.4))
            text.setVisible(False)
            item.addItem(text)
            self.breakeven_texts.append(text)
        self._style_plot()

    def _style_plot(self) -> None:
        """Colour the plot from the current theme (again after the trader switches theme)."""
        palette = self._ctx.theme.palette
        self._styled_for = palette.name
        dark = palette.name == "dark"
        self.plot.setBackground("#101318" if dark else "#ffffff")
        foreground = "#8d98a8" if dark else "#4a5261"
        self._axis_colour = foreground
        item = self.plot.getPlotItem()
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
        item.setLabel("left", "P&L ₹", color=foreground)
        if self._underlying_name:
            item.setLabel("bottom", self._underlying_name, color=foreground)
        self.legend.setLabelTextColor(foreground)

        def faint(colour: QColor, alpha: int) -> QColor:
            shade = QColor(colour)
            shade.setAlpha(alpha)
            return shade

        self.profit_fill.setBrush(pg.mkBrush(faint(palette.up, 46)))
        self.loss_fill.setBrush(pg.mkBrush(faint(palette.down, 46)))
        self.zero_line.setPen(pg.mkPen(foreground, width=1))
        self.expiry_curve.setPen(pg.mkPen(palette.buy, width=2))
        self.target_curve.setPen(pg.mkPen(palette.warning, width=2, style=Qt.PenStyle.DashLine))
        self.spot_line.setPen(pg.mkPen(foreground, width=1, style=Qt.PenStyle.DotLine))
        self.spot_line.label.setColor(foreground)
        self.target_line.setPen(pg.mkPen(palette.warning, width=1, style=Qt.PenStyle.DashDotLine))
        self.target_line.label.setColor(palette.warning)
        self.breakeven_markers.setPen(pg.mkPen(foreground))
        self.breakeven_markers.setBrush(pg.mkBrush(palette.warning))
        for text in self.breakeven_texts:
            text.setColor(foreground)

    @staticmethod
    def _slider(low: int, high: int) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(0)
        return slider

    # -- sources and legs ---------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self.source.currentText()

    def _source_changed(self) -> None:
        self.builder_box.setVisible(self.mode == BUILDER)
        self._excluded.clear()
        self.refresh()

    def _underlying_changed(self) -> None:
        underlying = self.underlying.currentText()
        self.expiry.blockSignals(True)
        self.expiry.clear()
        # Only expiries still trading: the box opens on the nearest live one, never on a chain
        # that expired at today's close and stays listed until the listing is renewed.
        for expiry in self._ctx.api.options_service.live_expiries(underlying):
            self.expiry.addItem(f"{expiry:%d %b %Y}", expiry)
        self.expiry.blockSignals(False)
        self._fill_strikes()
        if any(leg.instrument.underlying != underlying for leg in self._builder):
            self._builder.clear()  # a builder strategy is on one underlying
        self._excluded.clear()
        self._source_changed()

    def _fill_strikes(self) -> None:
        registry = self._ctx.api.instruments
        expiry = self.expiry.currentData()
        self.strike.clear()
        if expiry is None:
            return
        underlying = self.underlying.currentText()
        rows = registry.chain(underlying, expiry)
        for strike, _call, _put in rows:
            self.strike.addItem(f"{strike / 100:,.0f}", strike)
        spot = self._ctx.api.underlying_price(underlying)
        if spot is not None and rows:
            nearest = min(range(len(rows)), key=lambda i: abs(rows[i][0] - spot * 100))
            self.strike.setCurrentIndex(nearest)

    def _add_from_controls(self) -> None:
        expiry, strike = self.expiry.currentData(), self.strike.currentData()
        if expiry is None or strike is None:
            return
        kind = InstrumentType(self.option_type.currentText())
        for row_strike, call, put in self._ctx.api.instruments.chain(
            self.underlying.currentText(), expiry
        ):
            instrument = call if kind is InstrumentType.CE else put
            if row_strike == strike and instrument is not None:
                self.add_leg(instrument, Side(self.side.currentText()), self.lots.value())
                return

    def add_leg(
        self,
        instrument: Instrument,
        side: Side | str,
        lots: int = 1,
        price: Decimal | None = None,
    ) -> StrategyLeg | None:
        """Add a hypothetical leg (at the price it would fill at now unless ``price``) to the
        builder and show the builder; None (with the reason shown) if it has no price."""
        try:
            leg = self._ctx.api.strategy_leg(instrument.token, side, lots, price=price)
        except ValueError as error:
            self._show_error(str(error))
            return None
        if self._builder and self._builder[0].instrument.underlying != instrument.underlying:
            self._builder.clear()
        self._builder.append(leg)
        self._show_builder(instrument.underlying)
        return leg

    def set_legs(self, legs: Sequence[StrategyLeg]) -> None:
        """Replace the builder's legs (one underlying) and show them."""
        self._builder = list(legs)
        if legs:
            self._show_builder(legs[0].instrument.underlying)
        else:
            self.refresh()

    def _show_builder(self, underlying: str) -> None:
        for widget in (self.source, self.underlying):
            widget.blockSignals(True)
        self.source.setCurrentText(BUILDER)
        changed = self.underlying.currentText() != underlying
        self.underlying.setCurrentText(underlying)
        for widget in (self.source, self.underlying):
            widget.blockSignals(False)
        if changed:
            self._underlying_changed()
        else:
            self._source_changed()

    def remove_selected(self) -> None:
        keys = {
            self.legs.row_at(index.row()).key
            for index in self.legs_view.selectionModel().selectedRows()
        }
        if self.mode != BUILDER or not keys:
            return
        self._builder = [
            leg for n, leg in enumerate(self._builder) if _builder_key(leg, n) not in keys
        ]
        self._excluded.clear()
        self.refresh()

    def clear_legs(self) -> None:
        self._builder.clear()
        self._excluded.clear()
        self.refresh()

    def copy_positions(self) -> None:
        legs = self._ctx.api.position_legs(self.underlying.currentText())
        self._builder = [
            StrategyLeg(leg.instrument, leg.quantity, leg.price)
            for leg in legs
            if _position_key(leg) not in self._excluded
        ]
        self._show_builder(self.underlying.currentText())

    def _toggle_leg(self, key: tuple[int, str, int], included: bool) -> None:
        if included:
            self._excluded.discard(key)
        else:
            self._excluded.add(key)
        self.refresh()

    def current_legs(self) -> list[tuple[tuple[int, str, int], StrategyLeg]]:
        """(key, leg) of the source's legs, included or not."""
        if self.mode == BUILDER:
            return [(_builder_key(leg, n), leg) for n, leg in enumerate(self._builder)]
        legs = self._ctx.api.position_legs(self.underlying.currentText())
        return [(_position_key(leg), leg) for leg in legs]

    def _positions_changed(self) -> None:
        if self.mode == POSITIONS:
            self.refresh()

    def _on_quotes(self, tokens: set[int]) -> None:
        if self._tokens & tokens:
            self._quotes_moved.mark()

    # -- pricing and drawing -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reprice the included legs against the market (one engine call), then redraw."""
        legs = self.current_legs()
        included = [leg for key, leg in legs if key not in self._excluded]
        self.strategy = None
        self.error = ""
        if self._underlying_name != self.underlying.currentText():
            self._underlying_name = self.underlying.currentText()
            self.plot.getPlotItem().setLabel(
                "bottom", self._underlying_name, color=self._axis_colour
            )
        if included:
            try:
                self.strategy = self._ctx.api.option_strategy(included)
            except (ValueError, LookupError) as error:
                self.error = str(error)
        self._update_legs(legs)
        self._tokens = self._watched(included)
        self.streams.set_tokens(self._tokens)
        self._show_spot_notice()
        expiries = [leg.instrument.expiry for leg in included if leg.instrument.expiry]
        self._first_expiry_close = self._ctx.api.expiry_moment(min(expiries)) if expiries else None
        self.redraw()

    def _show_spot_notice(self) -> None:
        """Say when the spot the curves are drawn against is a forward, not the underlying's
        own quote (none, or a stale one)."""
        text = ""
        if self.strategy is not None:
            api, name = self._ctx.api, self.strategy.underlying
            lag = api.options_service.spot_lag(name, self._tokens)
            if lag:
                text = f"{name} quote is stale ({duration(lag)} behind its derivatives' quotes)"
            elif api.underlying_price(name) is None:
                text = f"{name} has no quote"
            if text:
                text += ": the nearest forward stands in for its spot"
        self.spot_notice.setText(text)
        self.spot_notice.setVisible(bool(text))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.streams.shown_event()

    def hideEvent(self, event: QHideEvent) -> None:
        self.streams.hidden_event(self, event)
        super().hideEvent(event)

    def _update_legs(self, legs: list[tuple[tuple[int, str, int], StrategyLeg]]) -> None:
        api = self._ctx.api
        ivs: dict[int, float] = {}
        if self.strategy is not None:
            included = [leg for key, leg in legs if key not in self._excluded]
            for leg, priced in zip(included, self.strategy.legs, strict=True):
                if math.isfinite(priced.iv):
                    ivs[leg.instrument.token] = priced.iv
        rows = []
        for key, leg in legs:
            tick = api.tick(leg.instrument.token)
            rows.append(
                LegRow(
                    key,
                    leg,
                    key not in self._excluded,
                    ivs.get(leg.instrument.token),
                    None if tick is None or not tick.ltp else Decimal(tick.ltp) / 100,
                )
            )
        self.legs.set_rows(rows)

    def _watched(self, legs: Sequence[StrategyLeg]) -> set[int]:
        """Quotes that reprice these legs: theirs, their chains' and the underlying's; worked
        out again only when the legs change."""
        held = frozenset(leg.instrument.token for leg in legs)
        if held == self._watched_for:
            return self._tokens
        self._watched_for = held
        registry = self._ctx.api.instruments
        tokens: set[int] = set()
        for leg in legs:
            instrument = leg.instrument
            tokens.add(instrument.token)
            if instrument.is_option and instrument.expiry is not None:
                tokens.update(
                    i.token
                    for i in registry.search(
                        underlying=instrument.underlying, expiry=instrument.expiry, limit=10_000
                    )
                )
        if legs:
            underlying = legs[0].instrument.underlying
            tokens.update(
                i.token
                for i in registry.search(underlying=underlying, limit=10_000)
                if not i.is_derivative
            )
        return tokens

    @property
    def days_forward(self) -> float:
        return self.days_slider.value() / DAY_STEPS

    @property
    def spot_shift(self) -> float:
        return self.spot_slider.value() * SPOT_STEP

    @property
    def iv_shift(self) -> float:
        return self.iv_slider.value() * IV_STEP

    def set_days_forward(self, days: float) -> None:
        self.days_slider.setValue(round(days * DAY_STEPS))

    def set_spot_shift(self, percent: float) -> None:
        self.spot_slider.setValue(round(percent / SPOT_STEP))

    def set_iv_shift(self, points: float) -> None:
        self.iv_slider.setValue(round(points / IV_STEP))

    def reset_sliders(self) -> None:
        for slider in (self.days_slider, self.spot_slider, self.iv_slider):
            slider.blockSignals(True)
            slider.setValue(0)
            slider.blockSignals(False)
        self.redraw()

    def redraw(self) -> None:
        """Curves, markers, figures and scenarios from the priced legs and the sliders."""
        if self._styled_for != self._ctx.theme.palette.name:
            self._style_plot()
        strategy = self.strategy
        if strategy is None:
            self.profile = self.grid = None
            self._clear_plot()
            return
        days_to_expiry = strategy.expiry_years * 365
        self.days_slider.blockSignals(True)
        self.days_slider.setMaximum(max(0, math.ceil(days_to_expiry * DAY_STEPS)))
        self.days_slider.blockSignals(False)
        days = min(self.days_forward, days_to_expiry)
        profile = strategy.payoff(
            days_forward=days, spot_shift=self.spot_shift, iv_shift=self.iv_shift
        )
        grid = strategy.scenarios(
            days_forward=days, spot_shifts=self.spot_shifts, iv_shifts=self.iv_shifts
        )
        self.profile, self.grid = profile, grid
        self._draw(profile)
        self._show_figures(profile)
        self.scenarios.set_rows(
            [
                (float(shift), tuple(float(v) for v in row))
                for shift, row in zip(grid.iv_shifts, grid.pnl, strict=True)
            ]
        )
        self.scenario_caption.setText(
            f"Scenarios at T+{_days(profile.days_forward)}: P&L ₹ by IV shift (rows) and spot "
            f"move (columns), spot {number(profile.spot, signed=False)}"
        )

    def _draw(self, profile: PayoffProfile) -> None:
        spots = profile.spots
        self.expiry_curve.setData(spots, profile.at_expiry)
        self.target_curve.setData(spots, profile.at_target)
        self.profit_fill.setData(spots, np.maximum(profile.at_expiry, 0.0))
        self.loss_fill.setData(spots, np.minimum(profile.at_expiry, 0.0))
        self.legend.getLabel(self.target_curve).setText(
            f"T+{_days(profile.days_forward)}"
            + (f", IV {profile.iv_shift:+g} pts" if profile.iv_shift else "")
        )
        self.spot_line.setVisible(True)
        self.spot_line.setValue(profile.spot)
        # Visible first: a hidden line's label ignores the move.
        self.target_line.setVisible(bool(profile.spot_shift))
        self.target_line.setValue(profile.target_spot)
        shown = [x for x in profile.breakevens if spots[0] <= x <= spots[-1]]
        self.breakeven_markers.setData(shown, [0.0] * len(shown))
        for n, text in enumerate(self.breakeven_texts):
            if n < len(shown):
                text.setText(f"{shown[n]:,.0f}")
                text.setPos(shown[n], 0.0)
            text.setVisible(n < len(shown))
        self.plot.getPlotItem().getViewBox().enableAutoRange()

    def _clear_plot(self) -> None:
        for item in (self.expiry_curve, self.target_curve, self.profit_fill, self.loss_fill):
            item.setData([], [])
        self.breakeven_markers.setData([], [])
        for text in self.breakeven_texts:
            text.setVisible(False)
        self.spot_line.setVisible(False)
        self.target_line.setVisible(False)
        self.scenarios.set_rows([])
        for label in (
            self.premium_label,
            self.max_profit_label,
            self.max_loss_label,
            self.breakeven_label,
            self.greeks_label,
        ):
            label.setText("")
        self.target_label.setText(self.error or "Add legs or pick an underlying with positions")

    def _show_error(self, text: str) -> None:
        self.error = text
        self.target_label.setText(text)

    def _show_figures(self, profile: PayoffProfile) -> None:
        palette = self._ctx.theme.palette
        credit = profile.net_premium
        self.premium_label.setText(
            f"Net {'credit' if credit >= 0 else 'debit'} ₹ {number(abs(credit), signed=False)}"
        )
        self.max_profit_label.setText(
            "Max profit: Unlimited"
            if profile.unlimited_profit
            else f"Max profit ₹ {number(profile.max_profit)}"
        )
        self.max_loss_label.setText(
            "Max loss: Unlimited"
            if profile.unlimited_loss
            else f"Max loss ₹ {number(profile.max_loss)}"
        )
        self.max_profit_label.setStyleSheet(f"color: {palette.up.name()}")
        self.max_loss_label.setStyleSheet(f"color: {palette.down.name()}")
        self.breakeven_label.setText(
            "Breakevens "
            + (", ".join(f"{x:,.2f}" for x in profile.breakevens) if profile.breakevens else "none")
        )
        when = f"T+{_days(profile.days_forward)}"
        self.target_label.setText(
            f"At {number(profile.target_spot, signed=False)} ({profile.spot_shift:+.1f}%): "
            f"{when} ₹ {number(profile.target_pnl)}, expiry ₹ {number(profile.target_expiry_pnl)}"
            f"   ·   now ₹ {number(profile.pnl_now)}"
        )
        self.greeks_label.setText(
            f"Δ {number(profile.delta)}   Γ {gamma_text(profile.gamma)}   "
            f"Θ ₹ {number(profile.theta)}/day   Vega ₹ {number(profile.vega)}/pt   "
            f"expiry in {_days(profile.days_to_expiry)}"
        )
        self.days_label.setText(f"T+{_days(profile.days_forward)}{self._target_date(profile)}")
        self.spot_label.setText(f"{profile.spot_shift:+.1f}%")
        self.iv_label.setText(f"{profile.iv_shift:+.1f} pts")

    def _target_date(self, profile: PayoffProfile) -> str:
        """' (27 Nov)': the target day, counted back from the first expiry's close."""
        if self._first_expiry_close is None:
            return ""
        target = self._first_expiry_close - timedelta(
            days=profile.days_to_expiry - profile.days_forward
        )
        return f" ({target:%d %b})"


def _days(days: float) -> str:
    """'0', '5.5h', '3d', '2.25d'."""
    if days <= 0:
        return "0"
    if days < 1:
        return f"{days * 24:.1f}h"
    return f"{days:.2f}".rstrip("0").rstrip(".") + "d"


def _builder_key(leg: StrategyLeg, n: int) -> tuple[int, str, int]:
    return (leg.instrument.token, "", n)


def _position_key(leg: StrategyLeg) -> tuple[int, str, int]:
    return (leg.instrument.token, leg.product.value if leg.product else "", 0)
