"""Health: every part trading depends on, ok / warn / bad in words, refreshed each second.

The banner on top says whether anything holds new orders now, and if so, what (the kill switch,
a session waiting for a login, a journal that cannot write); when nothing does, it still names
the parts that are BAD or WARN, since orders that go out on stale prices or a dead feed are no
comfort. The table below has one row per part (prices and their age, each broker and feed
connection, the event loop's lag, the order throttle, the journal, the risk gate). The window
shows the same banner above its panels while orders are held. "Reconnect prices" asks a live
feed that stopped trying to connect again, and says beside it what was done.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
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
        self.reconnect_button = QPushButton("Reconnect prices", self)
        self.reconnect_button.clicked.connect(self.reconnect_prices)
        self.reconnect_answer = QLabel(self, objectName="healthReconnectAnswer")
        self.reconnect_answer.setWordWrap(True)
        actions = QHBoxLayout()
        actions.addWidget(self.reconnect_button)
        actions.addWidget(self.reconnect_answer, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addLayout(actions)
        layout.addWidget(self.table)
        self._timer = QTimer(self, objectName="health-refresh")
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def refresh(self) -> None:
        rows = self._api.health()
        set_banner(self.banner, self._api.trading_paused(), self._theme.palette, rows)
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            self._fill(index, row)

    def reconnect_prices(self) -> None:
        self.reconnect_answer.setText(self._api.reconnect_feed())
        self.refresh()

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


def set_banner(
    banner: QLabel, paused: str | None, palette: Palette, rows: Sequence[HealthRow] = ()
) -> None:
    """Red with what holds new orders; else that nothing does, naming the ``rows`` that are BAD
    (red) or WARN (amber), and green only when every row is OK."""
    colours = level_colours(palette)
    if paused is not None:
        banner.setText(f"Trading paused — {paused}")
        colour = colours[Level.BAD]
    else:
        text, level = nothing_holds_orders(rows)
        banner.setText(text)
        colour = colours[level]
    banner.setStyleSheet(
        f"QLabel {{ color: {colour.name()}; border: 1px solid {colour.name()}; "
        "padding: 4px 8px; font-weight: 600; }"
    )


def nothing_holds_orders(rows: Sequence[HealthRow]) -> tuple[str, Level]:
    """The banner's words when nothing holds new orders, and its level: the worst row's."""
    bad = [row.part for row in rows if row.level is Level.BAD]
    warn = [row.part for row in rows if row.level is Level.WARN]
    if bad:
        also = f"; {_named(warn)} WARN" if warn else ""
        return f"Nothing holds new orders — but {_named(bad)} BAD{also}.", Level.BAD
    if warn:
        return f"Nothing holds new orders — {_named(warn)} WARN.", Level.WARN
    return "Nothing holds new orders: every part trading needs is working.", Level.OK


def _named(parts: list[str]) -> str:
    return f"{', '.join(parts)} {'is' if len(parts) == 1 else 'are'}"
