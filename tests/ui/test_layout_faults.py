"""The window's layout when things go wrong: a workspace switched back and forth keeps a floating
chart's place, a damaged layout file is kept aside and said in words, a window whose saved place
is on no screen (or that was dragged off every screen) comes back on the primary screen, fitted
to it; and a panel behind another dock's tab does no work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication

from engine.api import EngineMessage
from engine.domain.events import Severity
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow, default_window_rect

NIFTY_50, NIFTY_BANK = 256265, 260105


def open_window(qtbot, engine, path: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    window = MainWindow(engine.api, layouts=LayoutStore(path))
    qtbot.addWidget(window)
    return window


@pytest.fixture
def told(engine) -> Iterator[list[EngineMessage]]:  # type: ignore[no-untyped-def]
    messages: list[EngineMessage] = []
    unsubscribe = engine.api.subscribe(EngineMessage, messages.append)
    yield messages
    unsubscribe()


def primary_area() -> QRect:
    screen = QGuiApplication.primaryScreen()
    assert screen is not None
    return screen.availableGeometry()


def at_default_place(window: MainWindow) -> bool:
    """The window at its default place on the primary screen: as tall as fits, centred; as
    wide as fits, unless its panels need more (the test screen is 800 wide: it takes 828)."""
    area, placed = primary_area(), window.geometry()
    default = default_window_rect(area)
    width = max(default.width(), window.minimumSizeHint().width())
    return (placed.top(), placed.height(), placed.width()) == (
        default.top(),
        default.height(),
        width,
    ) and area.contains(placed.topLeft())


# -- workspaces ----------------------------------------------------------------------------------


def test_workspace_when_switched_a_b_a_puts_the_floating_chart_back_where_it_was(
    qtbot, engine, market, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    window = open_window(qtbot, engine, tmp_path / "layout.ini")
    window.show()
    qtbot.waitExposed(window)
    window.open_chart(NIFTY_50, "NIFTY 50")
    chart = window.charts.docks["chart-1"]
    chart.setFloating(True)
    chart.setGeometry(QRect(100, 100, 500, 300))
    qtbot.wait(50)
    window.save_workspace("A")
    window.charts.close_all()
    window.open_chart(NIFTY_BANK, "NIFTY BANK")  # docked, under the same name chart-1
    window.save_workspace("B")
    try:
        for _round in range(3):
            assert window.switch_workspace("A")
            qtbot.wait(100)
            again = window.charts.docks["chart-1"]
            assert window.charts.panels["chart-1"].settings.title == "NIFTY 50"
            assert again.isFloating(), "the chart lost its place in workspace A"
            assert again.geometry() == QRect(100, 100, 500, 300)
            assert window.switch_workspace("B")
            qtbot.wait(100)
            assert window.charts.panels["chart-1"].settings.title == "NIFTY BANK"
            assert not window.charts.docks["chart-1"].isFloating()
    finally:
        window.stop()


# -- a damaged layout file -----------------------------------------------------------------------


def saved_layout(qtbot, engine, path: Path) -> bytes:  # type: ignore[no-untyped-def]
    window = open_window(qtbot, engine, path)
    window.show()
    qtbot.waitExposed(window)
    window.docks["messages"].setFloating(True)
    window.save_layout()
    window.close()
    window.stop()
    return path.read_bytes()


DAMAGE = {
    "cut short": lambda good: good[: len(good) // 2],
    "not a settings file": lambda good: b"\x00\xff" * 500,
    "another version": lambda good: good.replace(b"version=1", b"version=2"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_layout_when_the_file_is_damaged_keeps_it_aside_and_says_so_in_words(
    qtbot, engine, tmp_path, told, damage
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "layout.ini"
    damaged = DAMAGE[damage](saved_layout(qtbot, engine, path))
    path.write_bytes(damaged)
    window = open_window(qtbot, engine, path)
    try:
        kept = tmp_path / "layout.ini.bad"
        assert kept.read_bytes() == damaged  # the file as it was, before any save
        warnings = [m for m in told if m.source == "layout" and m.severity is Severity.WARNING]
        assert len(warnings) == 1
        assert str(path) in warnings[0].text and str(kept) in warnings[0].text
        assert "default layout is shown" in warnings[0].text
        assert not window.docks["messages"].isFloating()  # the default layout
        window.save_layout()  # the next save writes a good layout over it; the copy stays
        assert LayoutStore(path).current() is not None
        assert kept.read_bytes() == damaged
    finally:
        window.stop()


def test_layout_when_the_file_is_good_or_missing_says_nothing_and_keeps_no_copy(
    qtbot, engine, tmp_path, told
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "layout.ini"
    open_window(qtbot, engine, path).stop()  # a first run: no file yet
    saved_layout(qtbot, engine, path)
    window = open_window(qtbot, engine, path)
    window.stop()
    assert window.docks["messages"].isFloating()  # restored
    assert [m for m in told if m.source == "layout"] == []
    assert list(tmp_path.glob("*.bad")) == []


# -- the window's place --------------------------------------------------------------------------


def test_layout_default_place_when_the_screen_is_small_fits_the_window_on_it() -> None:
    laptop = QRect(0, 0, 1366, 768)
    fitted = default_window_rect(laptop)
    assert laptop.contains(fitted) and fitted.top() >= 40  # room for the title bar
    assert (fitted.width(), fitted.height()) == (1366, 728)
    monitor = QRect(1920, 0, 1920, 1080)
    placed = default_window_rect(monitor)
    assert (placed.width(), placed.height()) == (1500, 900)
    assert placed.center() == monitor.center()


def test_layout_when_first_opened_the_window_fits_the_screen_height_centred(
    qtbot, engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    window = open_window(qtbot, engine, tmp_path / "layout.ini")
    try:
        assert at_default_place(window)
        assert window.height() <= primary_area().height() - 40
    finally:
        window.stop()


def test_layout_when_the_saved_place_is_on_no_screen_opens_at_the_default_place(
    qtbot, engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "layout.ini"
    first = open_window(qtbot, engine, path)
    first.show()
    qtbot.waitExposed(first)
    first.setGeometry(QRect(5000, 3000, 1400, 900))  # on a monitor that is not there now
    first.save_layout()
    first.close()
    first.stop()
    second = open_window(qtbot, engine, path)
    try:
        assert at_default_place(second), second.geometry()
    finally:
        second.stop()


def test_layout_reset_when_the_window_is_off_every_screen_brings_it_back_centred(
    qtbot, engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    window = open_window(qtbot, engine, tmp_path / "layout.ini")
    window.show()
    qtbot.waitExposed(window)
    try:
        window.move(4000, 3000)
        window.docks["positions"].setFloating(True)
        window.docks["positions"].move(5000, 5000)
        qtbot.wait(20)
        window.reset_layout()
        qtbot.wait(20)
        assert at_default_place(window), window.geometry()
        assert not window.docks["positions"].isFloating()
    finally:
        window.stop()


# -- a panel behind another dock's tab -----------------------------------------------------------


def test_execution_panel_when_its_dock_is_behind_another_tab_reads_no_figures(
    qtbot, engine, market, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    market(1)
    window = open_window(qtbot, engine, tmp_path / "layout.ini")
    window.show()
    qtbot.waitExposed(window)
    try:
        window.show_panel("trades")  # Execution sits behind the Trades tab
        execution = window.panels["execution"]
        reads: list[Any] = []
        quality = engine.api.execution_quality
        monkeypatch.setattr(engine.api, "execution_quality", lambda: reads.append(1) or quality())
        reliance = next(i for i in engine.registry if i.tradingsymbol == "RELIANCE")
        assert engine.api.place_order(reliance.token, "BUY", 1, "MARKET", product="MIS")
        qtbot.wait(1300)  # an order update and the panel's once-a-second refresh
        execution.refresh()
        assert reads == [], "the hidden panel read every order's figures"
        window.show_panel("execution")
        qtbot.waitUntil(lambda: bool(reads), timeout=3000)  # shown: read within the second
    finally:
        window.stop()
