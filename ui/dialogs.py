"""Small non-modal dialogs: keyboard shortcuts and About (with third-party notices)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resources import read_text


class ShortcutsDialog(QDialog):
    def __init__(
        self, shortcuts: tuple[tuple[str, str], ...], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(len(shortcuts), 2, self)
        table.setHorizontalHeaderLabels(["Key", "Action"])
        table.verticalHeader().setVisible(False)
        for row, (key, action) in enumerate(shortcuts):
            table.setItem(row, 0, QTableWidgetItem(key))
            table.setItem(row, 1, QTableWidgetItem(action))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Shortcuts follow the NEST/NEAT convention traders know."))
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(460, 480)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About DalalDesk")
        text = QLabel(
            "<b>DalalDesk</b> — a trading workstation for Indian markets.<br>"
            "Built with PySide6 (Qt for Python, LGPLv3), pyqtgraph, qasync, SQLAlchemy, numpy, "
            "scipy and pandas."
        )
        text.setWordWrap(True)
        notice = read_text("web", "vendor", "NOTICE-lightweight-charts.txt").strip()
        charts = QLabel(
            "<b>Charts</b>: TradingView Lightweight Charts™ 5.2.1, licensed under the "
            "Apache License 2.0 (the licence text is shipped as "
            "<i>resources/web/vendor/LICENSE-lightweight-charts.txt</i>).<br>"
            + html.escape(notice).replace("\n", "<br>")
            + '<br><a href="https://www.tradingview.com/">https://www.tradingview.com/</a>'
        )
        charts.setObjectName("chartsNotice")
        charts.setWordWrap(True)
        charts.setOpenExternalLinks(True)
        charts.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(charts)
        layout.addWidget(buttons)
        self.resize(520, 260)
