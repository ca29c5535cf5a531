"""Themes: a style sheet plus the few colours the models paint themselves (up, down, status)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QProxyStyle, QTableView, QWidget

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
"""Table row height (px) for each display density: the least a row gets, whatever the font."""
ROW_PADDING = {"compact": 6, "comfortable": 8}
"""Room (px) around a row's text when the font is too big for ``ROW_HEIGHTS``."""
EDITOR_ROW_PADDING = 16
"""Room (px) around the text of a row of a table with taller rows of its own (spin boxes and
combos in its cells): none added at the default font, whose text fits the rows they chose."""
DESIGNED_ROW_HEIGHT = "designedRowHeight"
"""Property of a table's vertical header: the row height its panel gave it, which tells a data
table (at most ``ROW_HEIGHTS``) from an editor table with taller rows of its own."""

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
        _desk_sheet.theme = name
        _desk_sheet.restyle()


def _flash(colour: str) -> QColor:
    flash = QColor(colour)
    flash.setAlpha(FLASH_ALPHA)
    return flash


def apply_density(root: QWidget, density: str) -> None:
    """Row height of every table under ``root`` now, and of every table shown from now on
    (panels built later, a new watchlist's tab), for ``density`` and each table's font."""
    if density not in ROW_HEIGHTS:
        raise ValueError(f"unknown density {density!r}; choose one of {', '.join(ROW_HEIGHTS)}")
    _row_style().density = density
    for view in root.findChildren(QTableView):
        size_rows(view, density)


def row_height(view: QTableView, density: str) -> int:
    """Rows tall enough for the view's font: the density's height, more for a bigger font.
    An editor table with taller rows of its own (a multileg portfolio's legs) keeps them,
    grown as much as its font needs."""
    header = view.verticalHeader()
    designed = header.property(DESIGNED_ROW_HEIGHT)
    if not isinstance(designed, int):
        designed = header.defaultSectionSize()
        if designed <= header.minimumSectionSize():
            # Qt raised the row height its panel asked for to fit the font (a table built at a
            # big font size): a data table, whose rows asked for less than that.
            designed = min(designed, max(ROW_HEIGHTS.values()))
        header.setProperty(DESIGNED_ROW_HEIGHT, designed)
    text = QFontMetrics(view.font()).height()
    if designed > max(ROW_HEIGHTS.values()):
        return max(designed, text + EDITOR_ROW_PADDING)
    return max(ROW_HEIGHTS[density], text + ROW_PADDING[density])


def size_rows(view: QTableView, density: str) -> None:
    header = view.verticalHeader()
    height = row_height(view, density)
    if header.defaultSectionSize() != height:
        header.setDefaultSectionSize(height)


class RowHeightStyle(QProxyStyle):
    """The application's style, which also sizes the rows of each table as it is polished (first
    shown, or restyled): panels set a fixed row height when built, and those built after the
    Display settings were applied would otherwise keep it whatever the font."""

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self.density = "compact"

    def polish(self, target):  # type: ignore[no-untyped-def,override]
        # One override for Qt's three: a widget, the application, or a palette (returned).
        polished = super().polish(target)
        if isinstance(target, QTableView):
            size_rows(target, self.density)
        return polished


_installed_style: RowHeightStyle | None = None


def _row_style() -> RowHeightStyle:
    """The application's RowHeightStyle, installed over its current style the first time."""
    global _installed_style
    if _installed_style is None:
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            raise RuntimeError("row heights need a QApplication")
        style = RowHeightStyle(app.style().name())
        app.setStyle(style)  # the application owns it from here
        _installed_style = style
    return _installed_style


class _DeskSheet:
    """The application's style sheet: the theme's, then the desk's font size.

    The size is in the sheet, not only the application font: with a style sheet set, Qt hands a
    new application font to each widget in no particular order, each taking its parent's font
    as it is then, so a dock could keep the old size while its parent took the new one."""

    def __init__(self) -> None:
        self.theme: str | None = None
        """The theme whose sheet is in use; None until a window applies one."""
        self.font: QFont | None = None
        """The desk's font; None is the application's own."""

    def restyle(self) -> None:
        app = QApplication.instance()
        if not isinstance(app, QApplication) or self.theme is None:
            return
        sheet = read_text("themes", f"{self.theme}.qss") + _font_rule(self.font or app.font())
        if app.styleSheet() != sheet:  # setting it restyles every widget, even unchanged
            app.setStyleSheet(sheet)


def _font_rule(font: QFont) -> str:
    size = f"{font.pointSizeF():g}pt" if font.pointSizeF() > 0 else f"{font.pixelSize()}px"
    return f"\nQWidget {{ font-size: {size}; }}\n"


_desk_sheet = _DeskSheet()
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
    _desk_sheet.font = font
    _desk_sheet.restyle()
