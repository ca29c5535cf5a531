"""Themes: a style sheet plus the few colours the models paint themselves (up, down, status)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QApplication, QTableView, QWidget

from resources import read_text


@dataclass(frozen=True)
class Palette:
    name: str
    up: QColor
    down: QColor
    flash_up: QColor
    flash_down: QColor
    buy: QColor
    sell: QColor
    muted: QColor
    warning: QColor
    atm: QColor
    itm: QColor
    total: QColor


DARK = Palette(
    "dark",
    up=QColor("#26c281"),
    down=QColor("#ff5a5f"),
    flash_up=QColor(38, 194, 129, 38),
    flash_down=QColor(255, 90, 95, 38),
    buy=QColor("#4d8dff"),
    sell=QColor("#ff5a5f"),
    muted=QColor("#7d8796"),
    warning=QColor("#f0b429"),
    atm=QColor(61, 126, 255, 60),
    itm=QColor(240, 180, 41, 18),
    total=QColor("#1d2430"),
)
LIGHT = Palette(
    "light",
    up=QColor("#0f8a4f"),
    down=QColor("#c62828"),
    flash_up=QColor(15, 138, 79, 36),
    flash_down=QColor(198, 40, 40, 36),
    buy=QColor("#1f5fd1"),
    sell=QColor("#c62828"),
    muted=QColor("#6b7585"),
    warning=QColor("#b7791f"),
    atm=QColor(42, 111, 240, 50),
    itm=QColor(183, 121, 31, 22),
    total=QColor("#e3e8ef"),
)
THEMES = {"dark": DARK, "light": LIGHT}


ROW_HEIGHTS = {"compact": 22, "comfortable": 28}
"""Table row height (px) for each display density."""

FLASH_ALPHA = 38


class ThemeHolder:
    """The current palette, shared by the models of one window (not a global)."""

    def __init__(self, name: str = "dark") -> None:
        self.palette = THEMES[name]

    def apply(self, name: str, up: str | None = None, down: str | None = None) -> None:
        """Theme ``name``, with the trader's own up / down colours (#RRGGBB) if given."""
        if name not in THEMES:
            raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEMES)}")
        palette = THEMES[name]
        if up is not None:
            palette = replace(palette, up=QColor(up), flash_up=_flash(up))
        if down is not None:
            palette = replace(palette, down=QColor(down), flash_down=_flash(down))
        self.palette = palette
        app = QApplication.instance()
        if isinstance(app, QApplication):
            sheet = read_text("themes", f"{name}.qss")
            if app.styleSheet() != sheet:  # setting it restyles every widget, even unchanged
                app.setStyleSheet(sheet)


def _flash(colour: str) -> QColor:
    flash = QColor(colour)
    flash.setAlpha(FLASH_ALPHA)
    return flash


def apply_density(root: QWidget, density: str) -> None:
    """Row height of every data table under ``root`` (editor tables with taller rows of their
    own, such as a multileg portfolio's legs, keep theirs)."""
    height = ROW_HEIGHTS[density]
    for view in root.findChildren(QTableView):
        header = view.verticalHeader()
        if header.defaultSectionSize() <= max(ROW_HEIGHTS.values()):
            header.setDefaultSectionSize(height)


_system_font: QFont | None = None


def apply_font_size(points: int | None) -> None:
    """The desk's font size in points; None is the system's."""
    global _system_font
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if _system_font is None:
        _system_font = QFont(app.font())
    font = QFont(_system_font)
    if points is not None:
        font.setPointSize(points)
    app.setFont(font)
