"""Small non-modal dialogs: keyboard shortcuts and About (with third-party notices)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resources import read_text
from resources.build_info import current_build
from resources.notices import third_party_notices


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
        self.build = current_build()
        text = QLabel(
            f"<b>DalalDesk</b> {html.escape(self.build.describe())}<br>"
            "A trading workstation for Indian markets.<br><br>"
            "Built with Qt 6 through PySide6 (Qt for Python), used under the GNU LGPLv3: the Qt "
            "libraries ship as separate shared libraries in the install folder and may be "
            "replaced with a build of the same Qt version. Also pyqtgraph, qasync, SQLAlchemy, "
            "pydantic, numpy, keyring and kiteconnect; every licence is under "
            "<i>Third-party licences</i>."
        )
        text.setObjectName("aboutText")
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
        licences = buttons.addButton(
            "Third-party licences…", QDialogButtonBox.ButtonRole.ActionRole
        )
        licences.clicked.connect(self.show_licences)
        self.licences: QDialog | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(charts)
        layout.addWidget(buttons)
        self.resize(560, 320)

    def show_licences(self) -> QDialog:
        """Every third-party component and package with its licence text, in a window of its own."""
        if self.licences is None:
            dialog = QDialog(self)
            dialog.setWindowTitle("Third-party licences")
            view = QPlainTextEdit(dialog)
            view.setObjectName("licencesText")
            view.setReadOnly(True)
            view.setPlainText(third_party_notices())
            close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            close.rejected.connect(dialog.close)
            layout = QVBoxLayout(dialog)
            layout.addWidget(view)
            layout.addWidget(close)
            dialog.resize(760, 620)
            self.licences = dialog
        self.licences.show()
        self.licences.raise_()
        return self.licences
