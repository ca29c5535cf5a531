"""Settings → Display → Font size: the text the trader reads takes the size (the theme's style
sheet does not pin it), live on open widgets, and table rows grow to fit it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QFontInfo, QFontMetrics
from PySide6.QtWidgets import QApplication, QTableView, QWidget

from engine.settings import SettingsStore
from ui import format as fmt
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.panels.market_watch import MarketWatchPanel
from ui.theme import ROW_HEIGHTS, apply_font_size


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.yaml")


@pytest.fixture
def window(qtbot, engine, tmp_path, store) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"), settings=store)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.stop()
    # The application font and style sheet are the process's: put them back for other tests.
    fmt.set_number_format("indian")
    apply_font_size(None)


def watch_view(window: MainWindow) -> QTableView:
    watch = window.panels["marketWatch"]
    assert isinstance(watch, MarketWatchPanel)
    return watch.current_view()


def points(widget: QWidget) -> int:
    """The size the widget's text is drawn at, once the style sheet has had its say."""
    widget.ensurePolished()
    return QFontInfo(widget.font()).pointSize()


def reading_widgets(window: MainWindow) -> dict[str, QWidget]:
    return {
        "watch table": watch_view(window),
        "watch dock": window.docks["marketWatch"],
        "positions table": window.panels["positions"].findChild(QTableView),
        "status bar": window.statusBar(),
        "day MTM in the status bar": window.mtm_label,
        "clock in the status bar": window.clock_label,
        "ticket lots": window.ticket.lots,
    }


def test_font_size_when_16_the_watch_status_bar_and_ticket_render_at_16_points(
    window: MainWindow, store: SettingsStore, qtbot
) -> None:  # type: ignore[no-untyped-def]
    system = QApplication.font().pointSize()
    assert system != 16, "the test needs a system font of another size"
    assert store.update("display", font_size=16) is None
    sizes = {name: points(widget) for name, widget in reading_widgets(window).items()}
    assert sizes == dict.fromkeys(sizes, 16)
    window.ticket.show()
    qtbot.waitExposed(window.ticket)
    assert points(window.ticket.lots) == 16, "the ticket opened after the change too"


def test_font_size_when_changed_live_every_table_row_fits_its_text_and_shrinks_back(
    window: MainWindow, store: SettingsStore
) -> None:
    tables = window.findChildren(QTableView)
    assert len(tables) > 10
    before = {table: table.verticalHeader().defaultSectionSize() for table in tables}
    for size, density in ((16, "compact"), (20, "comfortable"), (12, "compact")):
        assert store.update("display", font_size=size, density=density) is None
        for table in tables:
            text = QFontMetrics(table.font()).height()
            assert points(table) == size, table.objectName()
            row = table.verticalHeader().defaultSectionSize()
            assert row >= text + 6, f"{table.objectName() or table}: {row} px rows, {text} px text"
            assert row >= ROW_HEIGHTS[density]
    assert store.update("display", font_size=None, density="compact") is None
    after = {table: table.verticalHeader().defaultSectionSize() for table in tables}
    assert after == before, "the system font's rows again, editor tables' own taller rows kept"


def test_font_size_a_table_shown_after_the_change_gets_rows_for_the_new_font(
    window: MainWindow, store: SettingsStore, qtbot
) -> None:  # type: ignore[no-untyped-def]
    assert store.update("display", font_size=18) is None
    watch = window.panels["marketWatch"]
    assert isinstance(watch, MarketWatchPanel)
    later = watch.add_watchlist("Later")
    watch.tabs.setCurrentWidget(later)
    qtbot.waitUntil(later.isVisible)
    text = QFontMetrics(later.font()).height()
    assert points(later) == 18
    assert later.verticalHeader().defaultSectionSize() >= text + 6
    assert store.update("display", font_size=None) is None
    assert later.verticalHeader().defaultSectionSize() == ROW_HEIGHTS["compact"]
