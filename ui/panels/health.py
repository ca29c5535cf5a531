"""Health: every part trading depends on, ok / warn / bad in words, refreshed each second.

The banner on top says whether orders can go out now, and if not, what holds them (the kill
switch, a session waiting for a login, a journal that cannot write); the table below has one row
per part (prices and their age, each broker and feed connection, the event loop's lag, the order
throttle, the journal, the risk gate). The window shows the same banner above its panels.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QLabel,
    QVBoxLayout,
    QWidget,
)

from engine.api import HealthRow, Level
from ui.context import PanelContext
from ui.panels.table_kit import read_only_table, set_cell
from ui.theme import Palette

COLUMNS = ("Part", "State", "Value", "Detail")
REFRESH_MS = 1000


class HealthPanel(QWidget):
    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self.setObjectName("healthPanel")
        self._api = context.api
        self._theme = context.theme
        self.banner = QLabel(self, objectName="healthBanner")
        self.banner.setWordWrap(True)
        self.table = read_only_table(COLUMNS, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.table)
        self._timer = QTimer(self, objectName="health-refresh")
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def refresh(self) -> None:
        paused = self._api.trading_paused()
        set_banner(self.banner, paused, self._theme.palette)
        rows = self._api.health()
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            self._fill(index, row)

    def _fill(self, index: int, row: HealthRow) -> None:
        colour = level_colours(self._theme.palette)[row.level]
        for column, text in enumerate((row.part, row.level.value.upper(), row.value, row.detail)):
            item = set_cell(self.table, index, column, text)
            item.setToolTip(row.detail)
            if column == 1:
                item.setForeground(colour)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)


def level_colours(palette: Palette) -> dict[Level, QColor]:
    """OK, WARN and BAD in the theme's colours for up, a warning and down."""
    return {Level.OK: palette.up, Level.WARN: palette.warning, Level.BAD: palette.down}


def set_banner(banner: QLabel, paused: str | None, palette: Palette) -> None:
    """Green "orders can go out", or red with what holds them."""
    colours = level_colours(palette)
    if paused is None:
        banner.setText("Orders can go out: every part trading needs is working.")
        colour = colours[Level.OK]
    else:
        banner.setText(f"Trading paused — {paused}")
        colour = colours[Level.BAD]
    banner.setStyleSheet(
        f"QLabel {{ color: {colour.name()}; border: 1px solid {colour.name()}; "
        "padding: 4px 8px; font-weight: 600; }"
    )
