"""Option Chain: calls | strike | puts for one underlying and expiry, ATM highlighted and kept in view.

Clicking a bid opens a SELL ticket at that bid, an ask a BUY ticket at that ask, LTP a BUY ticket.

IV and delta (gamma, theta and vega behind a toggle) come from one batched analytics call per
chain (``EngineApi.chain_analytics``), never per option per tick: at once when the chain is
loaded, then at most four times a second while its quotes move (prices repaint every frame). Each side's
IV is solved from its own price; the Greeks of both sides are at the strike's smile IV (from its
out-of-the-money side), so the in-the-money side's IV is shown muted. The header shows the
forward, ATM IV, PCR and max pain.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.api import ChainAnalytics, Side
from engine.domain.instruments import Instrument
from ui import format as fmt
from ui.bridge import QUEUED, OnFrames
from ui.context import PanelContext, TicketRequest
from ui.models.table import Column, RowTableModel


@dataclass(frozen=True)
class StrikeRow:
    strike: int
    """paise"""
    call: Instrument | None
    put: Instrument | None


ANALYTICS_REFRESH_MS = 250
"""Quote-driven IV and Greeks at most four times a second: each is a solve over the whole chain."""
GREEKS = ("iv", "delta", "gamma", "theta", "vega")
"""Analytics columns of each side; gamma, theta and vega can be hidden."""
OPTIONAL_GREEKS = ("gamma", "theta", "vega")


def _iv_text(value: float) -> str:
    return f"{value * 100:.2f}"


GREEK_TEXT = {
    "iv": _iv_text,
    "delta": lambda value: f"{value:.2f}",
    "gamma": lambda value: f"{value:.4f}",
    "theta": lambda value: f"{value:.2f}",
    "vega": lambda value: f"{value:.2f}",
}
GREEK_SETS = {"IV Δ": False, "IV Δ Γ Θ V": True}
"""Column sets of the Greeks picker: whether gamma, theta and vega are shown."""


class ChainModel(RowTableModel[StrikeRow]):
    # (side, attribute) per logical column. The analytics columns come last, so the quote
    # columns keep their indices; the panel moves them next to the prices on screen.
    LAYOUT = (
        ("call", "oi_change"),
        ("call", "oi"),
        ("call", "volume"),
        ("call", "ltp"),
        ("call", "bid"),
        ("call", "ask"),
        ("strike", ""),
        ("put", "bid"),
        ("put", "ask"),
        ("put", "ltp"),
        ("put", "volume"),
        ("put", "oi"),
        ("put", "oi_change"),
        *(("call", greek) for greek in GREEKS),
        *(("put", greek) for greek in GREEKS),
    )
    STRIKE_COLUMN = 6
    TITLES: ClassVar[dict[str, str]] = {
        "oi_change": "OI chg",
        "oi": "OI",
        "volume": "Volume",
        "ltp": "LTP",
        "bid": "Bid",
        "ask": "Ask",
        "iv": "IV",
        "delta": "Delta",
        "gamma": "Gamma",
        "theta": "Theta",
        "vega": "Vega",
    }
    TOOLTIPS: ClassVar[dict[str, str]] = {
        "iv": "Implied volatility, %, from this option's own price (mid, else LTP)",
        "delta": "Per point of the forward, at the strike's smile IV",
        "gamma": "Change of delta per point",
        "theta": "₹ per unit per calendar day",
        "vega": "₹ per unit per vol point",
    }

    def __init__(self, context: PanelContext) -> None:
        self._ctx = context
        self.atm_strike: int | None = None
        self._first_oi: dict[int, int] = {}
        self.analytics: ChainAnalytics | None = None
        self._strike_index: dict[int, int] = {}
        palette = lambda: context.theme.palette  # noqa: E731 - the palette can change at run time
        quote = context.api.tick

        def greek(side: str, attribute: str):  # type: ignore[no-untyped-def]
            def read(row: StrikeRow) -> float | None:
                analytics = self.analytics
                at = self._strike_index.get(row.strike)
                if analytics is None or at is None:
                    return None
                if attribute == "iv":
                    number = (analytics.call_iv if side == "call" else analytics.put_iv)[at]
                else:
                    number = (analytics.call if side == "call" else analytics.put)[attribute][at]
                return float(number) if math.isfinite(number) else None

            return read

        def value(side: str, attribute: str):  # type: ignore[no-untyped-def]
            if attribute in GREEKS:
                return greek(side, attribute)

            def read(row: StrikeRow) -> int | None:
                instrument = row.call if side == "call" else row.put
                if instrument is None:
                    return None
                tick = quote(instrument.token)
                if tick is None:
                    return None
                if attribute == "oi_change":
                    baseline = self._first_oi.setdefault(instrument.token, tick.oi)
                    return tick.oi - baseline
                return int(getattr(tick, attribute))

            return read

        def background(side: str):  # type: ignore[no-untyped-def]
            def paint(row: StrikeRow) -> QColor | None:
                if row.strike == self.atm_strike:
                    return palette().atm
                spot = self.spot
                if spot is None:
                    return None
                in_the_money = row.strike < spot if side == "call" else row.strike > spot
                return palette().itm if in_the_money and side != "strike" else None

            return paint

        def in_the_money(side: str, row: StrikeRow) -> bool:
            analytics = self.analytics
            if analytics is None or not math.isfinite(analytics.forward):
                return False
            forward = round(analytics.forward * 100)
            return row.strike < forward if side == "call" else row.strike >= forward

        def colour(side: str, attribute: str):  # type: ignore[no-untyped-def]
            if attribute == "iv":
                # The smile (and the Greeks) take each strike's IV from its OTM side.
                return lambda row: palette().muted if in_the_money(side, row) else None
            if attribute in GREEKS:
                return None
            if attribute == "bid":
                return lambda row: palette().sell
            if attribute == "ask":
                return lambda row: palette().buy
            if attribute == "oi_change":
                read = value(side, attribute)
                return lambda row: (
                    palette().up
                    if (read(row) or 0) > 0
                    else palette().down
                    if (read(row) or 0) < 0
                    else palette().muted
                )
            return None

        columns: list[Column[StrikeRow]] = []
        for side, attribute in self.LAYOUT:
            if side == "strike":
                columns.append(
                    Column(
                        "Strike",
                        lambda r: r.strike,
                        lambda v: f"{v // 100:,}",
                        "center",
                        background=background("strike"),
                    )
                )
                continue
            text = (
                GREEK_TEXT[attribute]
                if attribute in GREEKS
                else fmt.paise
                if attribute in ("ltp", "bid", "ask")
                else (
                    (lambda v: f"{v:+,}" if v else "0")
                    if attribute == "oi_change"
                    else fmt.lakh_count
                )
            )
            tip = self.TOOLTIPS.get(attribute)
            columns.append(
                Column(
                    self.TITLES[attribute],
                    value(side, attribute),
                    text,
                    "right",
                    colour(side, attribute),
                    background(side),
                    tooltip=None if tip is None else (lambda row, tip=tip: tip),
                )
            )
        super().__init__(columns, key=lambda r: r.strike)
        self.underlying_token: int | None = None

    def column_of(self, side: str, attribute: str) -> int:
        return self.LAYOUT.index((side, attribute))

    def set_analytics(self, analytics: ChainAnalytics | None) -> None:
        """The chain's analytics of this frame (read by the IV and Greek columns)."""
        self.analytics = analytics
        self._strike_index = (
            {}
            if analytics is None
            else {round(strike * 100): i for i, strike in enumerate(analytics.strikes.tolist())}
        )

    @property
    def spot(self) -> int | None:
        if self.underlying_token is None:
            return None
        tick = self._ctx.api.tick(self.underlying_token)
        return None if tick is None else tick.ltp

    def cell(self, index: QModelIndex) -> tuple[Instrument | None, str]:
        side, attribute = self.LAYOUT[index.column()]
        row = self.row_at(index.row())
        return (row.call if side == "call" else row.put if side == "put" else None), attribute

    def update_atm(self) -> bool:
        """Recompute the strike nearest the underlying; True when it moved."""
        spot = self.spot
        if spot is None or not self.rows:
            return False
        atm = min(self.rows, key=lambda r: abs(r.strike - spot)).strike
        moved = atm != self.atm_strike
        self.atm_strike = atm
        return moved


class OptionChainPanel(QWidget):
    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self._ctx = context
        self.model = ChainModel(context)
        self.underlying = QComboBox()
        self.expiry = QComboBox()
        self.spot_label = QLabel("")
        self.stats_label = QLabel("")
        self.stats_label.setObjectName("ticketInfo")
        self.greek_set = QComboBox()
        self.greek_set.addItems(list(GREEK_SETS))
        self.greek_set.setToolTip("Analytics columns: IV and delta, or gamma, theta and vega too")
        self.greek_set.currentTextChanged.connect(
            lambda name: self.show_more_greeks(GREEK_SETS[name])
        )
        self.analytics_seconds = 0.0
        """Wall time of the last analytics call (one per chain per frame)."""
        self.analytics_error = ""
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 2)
        bar.addWidget(QLabel("Underlying"))
        bar.addWidget(self.underlying)
        bar.addWidget(QLabel("Expiry"))
        bar.addWidget(self.expiry)
        bar.addWidget(QLabel("Greeks"))
        bar.addWidget(self.greek_set)
        bar.addStretch(1)
        bar.addWidget(self.spot_label)
        self.view = QTableView()
        self.view.setAccessibleName("Option chain")
        self.view.setModel(self.model)
        self.view.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.view.setShowGrid(False)
        # By the pixel: scrolling by whole columns could not centre the Strike column.
        self.view.setHorizontalScrollMode(QTableView.ScrollMode.ScrollPerPixel)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        widths = {
            "oi_change": 62,
            "oi": 82,
            "volume": 78,
            "ltp": 68,
            "bid": 64,
            "ask": 64,
            "": 64,
            "iv": 50,
            "delta": 52,
            "gamma": 60,
            "theta": 56,
            "vega": 52,
        }
        self._natural_widths = [widths[attribute] for _side, attribute in ChainModel.LAYOUT]
        for column, width in enumerate(self._natural_widths):
            self.view.setColumnWidth(column, width)
        self._arrange_columns()
        # Centring waits a turn of the loop: the view takes new column widths into its scroll
        # range only then.
        self._centre_timer = QTimer(self)
        self._centre_timer.setObjectName("chainCentre")
        self._centre_timer.setSingleShot(True)
        self._centre_timer.setInterval(0)
        self._centre_timer.timeout.connect(self._centre_view)
        self._quotes_moved = OnFrames(
            context.bridge, ANALYTICS_REFRESH_MS, self._analytics_due, parent=self
        )
        self.view.viewport().installEventFilter(self)
        self.show_more_greeks(False)
        self.volume_box = QCheckBox("Volume")
        self.volume_box.setToolTip("Show the volume columns (OI and OI change always show)")
        self.volume_box.toggled.connect(self.show_volume)
        self.show_volume(False)
        bar.insertWidget(bar.count() - 2, self.volume_box)
        self.view.clicked.connect(self.on_cell_clicked)
        self.view.activated.connect(self.on_cell_clicked)  # Enter on a cell, as a click
        # Second row: the chain's statistics between the CALLS and PUTS captions, so the panel
        # stays narrow enough to share the screen with the market watch.
        caption = QHBoxLayout()
        caption.setContentsMargins(6, 0, 6, 2)
        calls, puts = QLabel("CALLS"), QLabel("PUTS")
        for label in (calls, puts):
            label.setObjectName("ticketInfo")
        caption.addWidget(calls)
        caption.addStretch(1)
        caption.addWidget(self.stats_label)
        caption.addStretch(1)
        caption.addWidget(puts)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addLayout(caption)
        layout.addWidget(self.view)
        registry = context.api.instruments
        underlyings = registry.underlyings()
        self.underlying.addItems(underlyings)
        if "NIFTY" in underlyings:
            self.underlying.setCurrentText("NIFTY")
        self.underlying.currentTextChanged.connect(self._underlying_changed)
        self.expiry.currentIndexChanged.connect(lambda _: self._load_chain())
        context.bridge.quotes_changed.connect(self._on_quotes, QUEUED)
        self._underlying_changed(self.underlying.currentText())

    def _arrange_columns(self) -> None:
        """On screen: calls' Greeks left of their prices, puts' right of theirs (mirrored)."""
        model = self.model
        greeks_out = list(reversed(GREEKS))
        calls = [
            "oi_change",
            "oi",
            "volume",
            *greeks_out,
            "ltp",
            "bid",
            "ask",
        ]
        puts = ["bid", "ask", "ltp", *GREEKS, "volume", "oi", "oi_change"]
        order = (
            [model.column_of("call", a) for a in calls]
            + [model.STRIKE_COLUMN]
            + [model.column_of("put", a) for a in puts]
        )
        header = self.view.horizontalHeader()
        for visual, logical in enumerate(order):
            header.moveSection(header.visualIndex(logical), visual)

    def show_more_greeks(self, shown: bool) -> None:
        for column, (_side, attribute) in enumerate(self.model.LAYOUT):
            if attribute in OPTIONAL_GREEKS:
                self.view.setColumnHidden(column, not shown)
        self.fit_columns()

    def show_volume(self, shown: bool) -> None:
        for column, (_side, attribute) in enumerate(self.model.LAYOUT):
            if attribute == "volume":
                self.view.setColumnHidden(column, not shown)
        self.fit_columns()

    def fit_columns(self) -> None:
        """Wider than the columns need, they widen to fill the panel, so the Strike column is in
        the middle, calls under CALLS and puts under PUTS; narrower, they keep their widths and
        the view centres on the Strike column (both sides lose the same)."""
        shown = [c for c in range(len(self._natural_widths)) if not self.view.isColumnHidden(c)]
        natural = sum(self._natural_widths[c] for c in shown)
        room = self.view.viewport().width()
        scale = max(1.0, room / natural) if natural else 1.0
        widths = {column: int(self._natural_widths[column] * scale) for column in shown}
        if scale > 1.0 and self.model.STRIKE_COLUMN in widths:
            # What rounding left over goes to the middle, keeping both sides alike.
            widths[self.model.STRIKE_COLUMN] += room - sum(widths.values())
        for column, width in widths.items():
            self.view.setColumnWidth(column, width)
        self._centre_timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            if event.size().width() != event.oldSize().width():  # type: ignore[attr-defined]
                self.fit_columns()  # a height change keeps widths the trader may have set
            else:
                self._centre_timer.start()
        return super().eventFilter(watched, event)

    def _underlying_changed(self, underlying: str) -> None:
        registry = self._ctx.api.instruments
        self.expiry.blockSignals(True)
        self.expiry.clear()
        # Only expiries still trading: the box opens on the nearest live one, never on a chain
        # that expired at today's close and stays listed until the listing is renewed.
        for expiry in self._ctx.api.options_service.live_expiries(underlying):
            self.expiry.addItem(f"{expiry:%d %b %Y}", expiry)
        self.expiry.blockSignals(False)
        spot = next(
            (i for i in registry.search(underlying=underlying, limit=1000) if not i.tradable), None
        )
        self.model.underlying_token = None if spot is None else spot.token
        self._load_chain()

    def select(self, underlying: str, expiry_index: int = 0) -> None:
        self.underlying.setCurrentText(underlying)
        self.expiry.setCurrentIndex(expiry_index)

    def _load_chain(self) -> None:
        expiry = self.expiry.currentData()
        if expiry is None:
            self.model.set_rows([])
            return
        rows = [
            StrikeRow(strike, call, put)
            for strike, call, put in self._ctx.api.instruments.chain(
                self.underlying.currentText(), expiry
            )
        ]
        self.model.set_rows([])
        self.model.atm_strike = None
        self.model.set_analytics(None)
        self.model.set_rows(rows)
        self._tokens = {i.token for r in rows for i in (r.call, r.put) if i is not None}
        if self.model.underlying_token is not None:
            self._tokens.add(self.model.underlying_token)
        self._ctx.api.watch(self._tokens)  # a live feed streams only what is shown
        self._refresh_analytics()
        self._refresh_atm(force=True)

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        # Scrolling needs a laid-out view: centre the money once the panel is on screen.
        self._centre_timer.start()

    def _on_quotes(self, tokens: set[int]) -> None:
        if not (tokens & getattr(self, "_tokens", set())):
            return
        self._quotes_moved.mark()
        self._refresh_atm(force=False)
        self.model.refresh_rows()

    def _analytics_due(self) -> None:
        self._refresh_analytics()
        self.model.refresh_rows()

    def _refresh_analytics(self) -> None:
        """One batched analytics call for the whole chain, then the header figures."""
        expiry = self.expiry.currentData()
        if expiry is None:
            self.model.set_analytics(None)
            self.stats_label.setText("")
            return
        started = time.perf_counter()
        try:
            analytics = self._ctx.api.chain_analytics(self.underlying.currentText(), expiry)
        except LookupError as error:  # a chain without quotes yet: say so, keep the rest live
            self.analytics_error = str(error)
            self.model.set_analytics(None)
            self.stats_label.setText(str(error))
            return
        self.analytics_seconds = time.perf_counter() - started
        self.analytics_error = ""
        self.model.set_analytics(analytics)
        self.stats_label.setText(chain_summary(analytics))

    def _refresh_atm(self, *, force: bool) -> None:
        if self.model.update_atm() or force:
            spot = self.model.spot
            self.spot_label.setText(f"Spot {fmt.paise(spot)}" if spot else "")
            row = (
                self.model.row_of(self.model.atm_strike)
                if self.model.atm_strike is not None
                else None
            )
            if row is not None:
                self.centre_on(row)
                if not self.view.currentIndex().isValid():
                    # The keyboard starts at the money, not at the chain's far corner.
                    self.view.selectionModel().setCurrentIndex(
                        self.model.index(row, self.model.STRIKE_COLUMN),
                        QItemSelectionModel.SelectionFlag.NoUpdate,
                    )

    def centre_on(self, row: int) -> None:
        """The ATM row in the middle, centred on the Strike column, so calls stay under CALLS and
        puts under PUTS (scrolling to any other column would slide the sides sideways)."""
        strike = self.model.index(row, self.model.STRIKE_COLUMN)
        self.view.scrollTo(strike, QTableView.ScrollHint.PositionAtCenter)

    def _centre_view(self) -> None:
        """After a resize or a show: the Strike column in the middle, the ATM row too if known."""
        self._refresh_atm(force=True)
        if self.model.atm_strike is None:
            header = self.view.horizontalHeader()
            strike = self.model.STRIKE_COLUMN
            middle = header.sectionPosition(strike) + header.sectionSize(strike) // 2
            self.view.horizontalScrollBar().setValue(middle - self.view.viewport().width() // 2)

    def on_cell_clicked(self, index: QModelIndex) -> None:
        """A click (or Enter) on a call's or a put's Bid (a sell ticket), Ask or LTP (a buy
        ticket) at that price."""
        instrument, attribute = self.model.cell(index)
        if instrument is None or attribute not in ("bid", "ask", "ltp"):
            return
        quote = self._ctx.api.quote(instrument.token)
        price = None if quote is None else getattr(quote, attribute)
        side = Side.SELL if attribute == "bid" else Side.BUY
        self._ctx.open_ticket(TicketRequest(side, instrument, price=price))


def chain_summary(analytics: ChainAnalytics) -> str:
    """Forward, ATM IV, PCR, max pain and time left, as the panel header shows them."""

    def shown(value: float, spec: str, scale: float = 1.0, suffix: str = "") -> str:
        return f"{value * scale:{spec}}{suffix}" if math.isfinite(value) else "—"

    source = {"future": "fut", "synthetic": "syn", "none": "—"}[analytics.forward_source.value]
    days = analytics.years * 365
    left = f"{days:.1f}d" if days >= 1 else f"{days * 24:.1f}h" if days > 0 else "expired"
    return "   ".join(
        [
            f"Fwd {shown(analytics.forward, ',.2f')} ({source})",
            f"ATM IV {shown(analytics.atm_iv, '.2f', 100, '%')}",
            f"PCR {shown(analytics.pcr_oi, '.2f')}",
            f"Max pain {shown(analytics.max_pain, ',.0f')}",
            f"{left} to expiry",
        ]
    )
