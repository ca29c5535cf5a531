"""Themes: a style sheet plus the few colours the models paint themselves (up, down, status)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

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


class ThemeHolder:
    """The current palette, shared by the models of one window (not a global)."""

    def __init__(self, name: str = "dark") -> None:
        self.palette = THEMES[name]

    def apply(self, name: str) -> None:
        if name not in THEMES:
            raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEMES)}")
        self.palette = THEMES[name]
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setStyleSheet(read_text("themes", f"{name}.qss"))
