"""Option Chain: calls | strike | puts for one underlying and expiry, ATM highlighted and kept in view.

Clicking a bid opens a SELL ticket at that bid, an ask a BUY ticket at that ask, LTP a BUY ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.api import Side
from engine.domain.instruments import Instrument
from ui import format as fmt
from ui.context import PanelContext, TicketRequest
from ui.models.table import Column, RowTableModel


@dataclass(frozen=True)
class StrikeRow:
    strike: int
    """paise"""
    call: Instrument | None
    put: Instrument | None


class ChainModel(RowTableModel[StrikeRow]):
    # (side, attribute) per column; the strike sits in the middle.
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
    )
    TITLES: ClassVar[dict[str, str]] = {
        "oi_change": "OI chg",
        "oi": "OI",
        "volume": "Volume",
        "ltp": "LTP",
        "bid": "Bid",
        "ask": "Ask",
    }

    def __init__(self, context: PanelContext) -> None:
        self._ctx = context
        self.atm_strike: int | None = None
        self._first_oi: dict[int, int] = {}
        palette = lambda: context.theme.palette  # noqa: E731 - the palette can change at run time
        quote = context.api.quote

        def value(side: str, attribute: str):  # type: ignore[no-untyped-def]
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

        def colour(side: str, attribute: str):  # type: ignore[no-untyped-def]
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
                fmt.paise
                if attribute in ("ltp", "bid", "ask")
                else (
                    (lambda v: f"{v:+,}" if v else "0")
                    if attribute == "oi_change"
                    else fmt.lakh_count
                )
            )
            columns.append(
                Column(
                    self.TITLES[attribute],
                    value(side, attribute),
                    text,
                    "right",
                    colour(side, attribute),
                    background(side),
                )
            )
        super().__init__(columns, key=lambda r: r.strike)
        self.underlying_token: int | None = None

    @property
    def spot(self) -> int | None:
        if self.underlying_token is None:
            return None
        tick = self._ctx.api.quote(self.underlying_token)
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
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 2)
        bar.addWidget(QLabel("Underlying"))
        bar.addWidget(self.underlying)
        bar.addWidget(QLabel("Expiry"))
        bar.addWidget(self.expiry)
        bar.addStretch(1)
        bar.addWidget(self.spot_label)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.view.setShowGrid(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        widths = {"oi_change": 70, "oi": 84, "volume": 84, "ltp": 74, "bid": 70, "ask": 70, "": 70}
        for column, (_side, attribute) in enumerate(ChainModel.LAYOUT):
            self.view.setColumnWidth(column, widths[attribute])
        self.view.clicked.connect(self.on_cell_clicked)
        caption = QLabel(
            "CALLS" + " " * 8 + "|" + " " * 8 + "PUTS", alignment=Qt.AlignmentFlag.AlignCenter
        )
        caption.setObjectName("ticketInfo")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(caption)
        layout.addWidget(self.view)
        registry = context.api.instruments
        underlyings = registry.underlyings()
        self.underlying.addItems(underlyings)
        if "NIFTY" in underlyings:
            self.underlying.setCurrentText("NIFTY")
        self.underlying.currentTextChanged.connect(self._underlying_changed)
        self.expiry.currentIndexChanged.connect(lambda _: self._load_chain())
        context.bridge.quotes_changed.connect(self._on_quotes)
        self._underlying_changed(self.underlying.currentText())

    def _underlying_changed(self, underlying: str) -> None:
        registry = self._ctx.api.instruments
        self.expiry.blockSignals(True)
        self.expiry.clear()
        for expiry in registry.expiries(underlying):
            if registry.chain(underlying, expiry):
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
        self.model.set_rows(rows)
        self._tokens = {i.token for r in rows for i in (r.call, r.put) if i is not None}
        if self.model.underlying_token is not None:
            self._tokens.add(self.model.underlying_token)
        self._refresh_atm(force=True)

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        # Scrolling needs a laid-out view: centre the money once the panel is on screen.
        QTimer.singleShot(0, lambda: self._refresh_atm(force=True))

    def _on_quotes(self, tokens: set[int]) -> None:
        if not (tokens & getattr(self, "_tokens", set())):
            return
        self._refresh_atm(force=False)
        self.model.refresh_rows()

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
                self.view.scrollTo(self.model.index(row, 6), QTableView.ScrollHint.PositionAtCenter)

    def on_cell_clicked(self, index: QModelIndex) -> None:
        instrument, attribute = self.model.cell(index)
        if instrument is None or attribute not in ("bid", "ask", "ltp"):
            return
        tick = self._ctx.api.quote(instrument.token)
        price = None if tick is None else Decimal(getattr(tick, attribute)) / 100
        side = Side.SELL if attribute == "bid" else Side.BUY
        self._ctx.open_ticket(TicketRequest(side, instrument, price=price))
