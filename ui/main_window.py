"""The main window (first cut): a market watch of the simulated market's underlyings and stocks.

The quote table is a Qt model over the engine's quote snapshots; a timer repaints it at most five
times a second however fast ticks arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QMainWindow, QTableView

from engine.api import EngineApi
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.values import format_rupees

COLUMNS = ("Instrument", "LTP", "Change", "% Change", "Bid", "Ask", "Volume", "OI")


class QuoteTableModel(QAbstractTableModel):
    def __init__(self, api: EngineApi, instruments: list[Instrument]) -> None:
        super().__init__()
        self._api = api
        self._instruments = instruments

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._instruments)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        instrument = self._instruments[index.row()]
        tick = self._api.quote(instrument.token)
        column = index.column()
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        change = (tick.ltp - tick.close) if tick is not None and tick.close else 0
        if role == Qt.ItemDataRole.ForegroundRole and column in (1, 2, 3) and tick is not None:
            return QColor("#26a69a") if change >= 0 else QColor("#ef5350")
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == 0:
            return instrument.tradingsymbol
        if tick is None:
            return "—"
        if column == 1:
            return format_rupees(tick.ltp)
        if column == 2:
            return format_rupees(change)
        if column == 3:
            if not tick.close:
                return "—"
            percent = (Decimal(change * 100) / tick.close).quantize(Decimal("0.01"))
            return f"{percent + 0:.2f}%"  # + 0 turns -0.00 into 0.00
        if column == 4:
            return format_rupees(tick.bid) if tick.bid else "—"
        if column == 5:
            return format_rupees(tick.ask) if tick.ask else "—"
        if column == 6:
            return f"{tick.volume:,}"
        return f"{tick.oi:,}" if tick.oi else "—"

    def refresh(self) -> None:
        if self._instruments:
            self.dataChanged.emit(
                self.index(0, 1), self.index(len(self._instruments) - 1, len(COLUMNS) - 1)
            )


class MainWindow(QMainWindow):
    def __init__(self, api: EngineApi, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("DalalDesk — Paper market")
        self.resize(1100, 520)
        self._api = api
        self._on_close = on_close
        watched = [
            i
            for i in api.instruments
            if i.instrument_type in (InstrumentType.INDEX, InstrumentType.FUT, InstrumentType.EQ)
        ]
        self.quotes = QuoteTableModel(api, watched)
        table = QTableView()
        table.setModel(self.quotes)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.setAlternatingRowColors(True)
        self.setCentralWidget(table)
        self._status = QLabel("Paper market")
        self.statusBar().addWidget(self._status)
        self._repaint = QTimer(self, objectName="quote-repaint")
        self._repaint.setInterval(200)
        self._repaint.timeout.connect(self.quotes.refresh)
        self._repaint.start()

    def stop(self) -> None:
        self._repaint.stop()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._on_close is not None:
            self._on_close()
        event.accept()
