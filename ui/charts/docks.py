"""Any number of chart docks in the window, kept with the workspace.

Each chart dock has a stable object name (``chart-1``, ``chart-2``, ...) so the window's saved
arrangement places it; what it shows (``ChartSettings``) is saved beside the arrangement and the
docks are made again before the arrangement is restored. A chart the trader closes is gone (it
stops following its series), not hidden.
"""

from __future__ import annotations

import json
import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow

from ui.charts.panel import ChartPanel
from ui.charts.settings import ChartSettings
from ui.context import PanelContext

log = logging.getLogger(__name__)

MAX_CHARTS = 12
"""Each chart page is a browser renderer (about 100 MB): a bound keeps the desk responsive."""


class ChartDock(QDockWidget):
    closed = Signal(str)

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        self.closed.emit(self.objectName())


class ChartDocks(QObject):
    changed = Signal()

    def __init__(self, window: QMainWindow, context: PanelContext) -> None:
        super().__init__(window)
        self._window = window
        self._context = context
        self.docks: dict[str, ChartDock] = {}
        self.panels: dict[str, ChartPanel] = {}

    def open(
        self, settings: ChartSettings, *, name: str | None = None, beside: QDockWidget | None = None
    ) -> ChartPanel | None:
        """A new chart dock showing ``settings``; None (and the reason in the status bar) when
        the desk already has as many charts as it allows, or a dock has ``name`` already."""
        if len(self.docks) >= MAX_CHARTS:
            self._window.statusBar().showMessage(
                f"{MAX_CHARTS} charts are open: close one to open another", 5000
            )
            return None
        if name is not None and name in self.docks:
            # One name, one dock: the window places docks by name, and a second would be lost.
            log.error("a chart dock is already named %s: not opened again", name)
            return None
        name = name or self._free_name()
        panel = ChartPanel(self._context, settings)
        dock = ChartDock(settings.title, self._window)
        dock.setObjectName(name)
        dock.setWidget(panel)
        dock.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dock.closed.connect(self._closed)
        panel.settings_changed.connect(self.changed)
        dock.dockLocationChanged.connect(lambda _area: self.changed.emit())
        dock.topLevelChanged.connect(lambda _floating: self.changed.emit())
        if beside is not None:
            self._window.tabifyDockWidget(beside, dock)
        else:
            self._window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.show()
        dock.raise_()
        self.docks[name] = dock
        self.panels[name] = panel
        self.changed.emit()
        return panel

    def _free_name(self) -> str:
        n = 1
        while f"chart-{n}" in self.docks:
            n += 1
        return f"chart-{n}"

    def _closed(self, name: str) -> None:
        panel = self.panels.pop(name, None)
        dock = self.docks.pop(name, None)
        if dock is not None:
            # A closed dock is deleted only at the loop's next turn: until then the window's
            # restoreState would place it, not the new chart of the same name that a workspace
            # opens, which would then keep the default place. Out of the window, and nameless,
            # it is neither placed nor saved.
            self._window.removeDockWidget(dock)
            dock.setObjectName("")
        if panel is not None:
            panel.release()
        self.changed.emit()

    def close_all(self) -> None:
        for name in list(self.docks):
            dock = self.docks[name]
            self._window.removeDockWidget(dock)
            dock.close()

    def apply_theme(self) -> None:
        for panel in self.panels.values():
            panel.apply_theme()

    def stop(self) -> None:
        for panel in self.panels.values():
            panel.stop_following()

    # -- workspace -----------------------------------------------------------------------------------

    def saved(self) -> str:
        """The open charts as the workspace keeps them (JSON text)."""
        return json.dumps(
            [{"dock": name, **panel.settings.saved()} for name, panel in self.panels.items()]
        )

    def restore(self, saved: object) -> str | None:
        """Open the charts a workspace kept (replacing those open). A chart that cannot be read
        is left out and named in the returned reason; the others open."""
        self.close_all()
        if saved is None or saved == "":
            return None
        try:
            items = json.loads(str(saved))
        except json.JSONDecodeError as exc:
            return f"the saved charts are not readable ({exc})"
        if not isinstance(items, list):
            return "the saved charts are not a list"
        problems = []
        for item in items:
            try:
                settings = ChartSettings.read(item)
                name = item.get("dock")
                if not isinstance(name, str) or not name.startswith("chart-"):
                    raise ValueError(f"dock name {name!r}")
            except (ValueError, TypeError) as exc:
                problems.append(str(exc))
                continue
            if name in self.docks:
                # Two docks of one name: the window would place one and the other's chart
                # would be lost track of (closing one releases the other's).
                problems.append(f"two charts are saved as {name}; {settings.title} left out")
                continue
            if len(self.docks) >= MAX_CHARTS:
                problems.append(
                    f"{settings.title} left out: the desk opens at most {MAX_CHARTS} charts"
                )
                continue
            self.open(settings, name=name)
        if problems:
            log.warning("charts not restored: %s", "; ".join(problems))
            return "; ".join(problems)
        return None
