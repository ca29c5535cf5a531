"""Help → Update market calendar…: load a year's holiday list without waiting for a release.

Non-modal. The trader imports a file (checked against the calendar schema: an error names the
line and the field) or fetches NSE's published list; the window shows which years are loaded and
what happened. The work itself is the engine's, passed in as callables, so this widget knows
nothing of files' formats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

ImportFile = Callable[[Path], str]
"""Imports a file; returns what was loaded, raises ValueError (or OSError) with the reason."""
Fetch = Callable[[int, Callable[[bool, str], None]], None]
"""Starts fetching NSE's list for a year (off the event loop); calls back (loaded, text)."""


class CalendarUpdateDialog(QDialog):
    def __init__(
        self,
        *,
        coverage: Callable[[], str],
        import_file: ImportFile,
        fetch: Fetch,
        year: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("calendarUpdate")
        self.setWindowTitle("Update market calendar")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # a new one each time asked
        self._coverage = coverage
        self._import_file = import_file
        self._fetch = fetch
        self.coverage_label = QLabel(coverage())
        self.coverage_label.setWordWrap(True)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setObjectName("calendarResult")
        self.year = QSpinBox()
        self.year.setRange(2024, 2100)
        self.year.setValue(year)
        self.import_button = QPushButton("Import a file…")
        self.fetch_button = QPushButton("Fetch NSE's list")
        close = QPushButton("Close")
        self.import_button.clicked.connect(self._choose_file)
        self.fetch_button.clicked.connect(self._start_fetch)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addWidget(QLabel("Year"))
        buttons.addWidget(self.year)
        buttons.addWidget(self.fetch_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.coverage_label)
        layout.addLayout(buttons)
        layout.addWidget(self.result_label)
        self.resize(560, 180)

    def import_path(self, path: Path) -> bool:
        """Import ``path`` (also what the file chooser does); True when it was loaded."""
        return self._run(lambda: self._import_file(path))

    def _choose_file(self) -> None:
        chooser = QFileDialog(self, "Calendar file", "", "Calendar files (*.json)")
        chooser.fileSelected.connect(lambda name: self.import_path(Path(name)))
        chooser.finished.connect(chooser.deleteLater)
        chooser.open()  # non-modal: no nested event loop

    def _start_fetch(self) -> None:
        self.fetch_button.setEnabled(False)
        self.result_label.setText(f"Fetching NSE's {self.year.value()} list…")
        self._fetch(self.year.value(), self._fetched)

    def _fetched(self, loaded: bool, text: str) -> None:
        if shiboken6.isValid(self):  # closed (and deleted) meanwhile: nothing left to tell
            self.show_result(loaded, text)

    def show_result(self, loaded: bool, text: str) -> None:
        self.fetch_button.setEnabled(True)
        self.result_label.setText(f"Loaded: {text}" if loaded else f"Not loaded: {text}")
        if loaded:
            self.coverage_label.setText(self._coverage())

    def _run(self, action: Callable[[], str]) -> bool:
        try:
            done = action()
        except (ValueError, OSError) as problem:  # OSError: a file the engine did not word
            self.result_label.setText(f"Not loaded: {problem}")
            return False
        except Exception as problem:  # a Qt slot must not raise; the trader is told, not left
            log.exception("calendar import failed unexpectedly")
            self.result_label.setText(
                f"Not loaded: the import stopped on an unexpected error "
                f"({type(problem).__name__}: {problem}); the details are in the log."
            )
            return False
        self.result_label.setText(f"Loaded: {done}")
        self.coverage_label.setText(self._coverage())
        return True
