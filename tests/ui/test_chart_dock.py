"""Chart docks with the real QtWebEngine (offscreen): the page holds the engine's bars, order lines
dragged on the page modify orders at the paper venue, fills become markers, charts live in the
workspace, and a chart page never reaches the network."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtWebEngineCore import QWebEnginePage
from PySide6.QtWidgets import QApplication, QLabel

from engine.api import OrderType, Product, Side
from resources import resource_path
from ui.charts.page import chart_profile
from ui.charts.panel import ChartPanel
from ui.charts.settings import ChartSettings
from ui.context import PanelContext, TicketRequest
from ui.dialogs import AboutDialog

PINNED_SHA256 = "e21cc5caa0226ef30bd8549c50b9ef926615f2a4ee6b4e486353477a55f598cf"
"""lightweight-charts 5.2.1 standalone production build (qt_stack.md §1.1)."""


async def until(condition: Callable[[], object], seconds: float = 20.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


async def js(panel: ChartPanel, code: str) -> Any:
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    panel.view.page().runJavaScript(code, 0, lambda result: done.set_result(result))
    return await asyncio.wait_for(done, 10)


def nifty_future(engine):  # type: ignore[no-untyped-def]
    return min(
        (
            i
            for i in engine.registry
            if i.underlying == "NIFTY" and i.instrument_type.value == "FUT"
        ),
        key=lambda i: i.expiry,
    )


def rows(bars) -> list[list[float]]:  # type: ignore[no-untyped-def]
    return [
        [
            b.start_ns // 1_000_000_000,
            b.open / 100,
            b.high / 100,
            b.low / 100,
            b.close / 100,
            b.volume,
        ]
        for b in bars
    ]


@pytest.fixture
def trading_context(context: PanelContext) -> PanelContext:
    """The panels' context with confirmations answered yes and tickets recorded."""
    context.confirm = lambda title, text, action: action()
    context.tickets = []  # type: ignore[attr-defined]
    context.open_ticket = context.tickets.append  # type: ignore[attr-defined]
    return context


def open_chart(qtbot, context: PanelContext, key: int | str, **kw: Any) -> ChartPanel:  # type: ignore[no-untyped-def]
    panel = ChartPanel(context, ChartSettings(key, str(key), **kw))
    qtbot.addWidget(panel)
    panel.resize(900, 520)
    panel.show()
    return panel


def test_chart_vendored_library_is_the_pinned_build_with_its_licence_and_notice() -> None:
    vendored = resource_path("web", "vendor", "lightweight-charts.standalone.production.js")
    digest = hashlib.sha256(vendored.read_bytes()).hexdigest()
    sums = resource_path("web", "vendor", "SHA256SUMS").read_text().split()
    assert digest == PINNED_SHA256 == sums[0]
    assert vendored.read_text()[:200].count("Licensed under Apache License 2.0") == 1
    assert (
        "Apache License"
        in resource_path("web", "vendor", "LICENSE-lightweight-charts.txt").read_text()
    )


def test_chart_about_dialog_shows_the_lightweight_charts_notice_and_link(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    notice = dialog.findChild(QLabel, "chartsNotice")
    assert notice is not None
    assert "TradingView Lightweight Charts" in notice.text()
    assert "Apache License 2.0" in notice.text()
    assert "https://www.tradingview.com/" in notice.text()


def test_chart_when_opened_the_page_holds_the_engines_bars(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="1m")
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        report = panel.page_report
        expected = rows(await engine.api.chart_bars(int(future.token), "1m"))
        assert report["count"] == len(expected) > 100  # the past and this session
        assert report["bars"] == expected
        assert panel.view.channel.errors == []
        # The session goes on: the forming bar and new ones reach the page, one batch a frame.
        market(150)
        await until(
            lambda: (
                panel.bars[-1].start_ns
                == engine.api.session_bars(int(future.token), "1m")[-1].start_ns
            ),
            what="the new bars",
        )
        await asyncio.sleep(0.3)
        held = await js(panel, "JSON.stringify(Array.from(window.dalal.bars()))")
        assert json.loads(held)[-3:] == rows(panel.bars)[-3:]
        panel.close()

    qloop(scenario())


def test_chart_when_an_order_line_is_dragged_on_the_page_the_order_is_modified_at_the_venue(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)
    api = engine.api

    async def scenario() -> None:
        market(1)
        quote = api.quote(future.token)
        limit = (quote.bid - Decimal(40)).quantize(Decimal("0.05"))
        placed = api.place_order(
            future.token,
            Side.BUY,
            future.lot_size,
            OrderType.LIMIT,
            product=Product.NRML,
            price=limit,
        )
        assert placed, placed.reason
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="1m")
        line = f"order:{placed.order_id}:price"
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        await until(lambda: panel._lines_sent, what="the order line")
        await asyncio.sleep(0.2)
        lines = json.loads(await js(panel, "JSON.stringify(window.dalal.lines())"))
        assert lines[line] == float(limit)
        target = limit - Decimal(25)
        y_from = await js(panel, f"window.dalal.lineY('{line}')")
        y_to = await js(panel, f"window.dalal.priceY({float(target)})")
        await js(
            panel,
            f"""(() => {{
                const el = document.getElementById('chart');
                el.dispatchEvent(new MouseEvent('mousedown', {{clientX: 200, clientY: {y_from}, button: 0, bubbles: true}}));
                window.dispatchEvent(new MouseEvent('mousemove', {{clientX: 200, clientY: {y_to}, bubbles: true}}));
                window.dispatchEvent(new MouseEvent('mouseup', {{clientX: 200, clientY: {y_to}, button: 0, bubbles: true}}));
                return true;
            }})()""",
        )
        await until(lambda: api.order(placed.order_id).price != limit, what="the modify")
        moved = api.order(placed.order_id)
        assert abs(moved.price - target) <= Decimal(
            "0.5"
        )  # where the pointer let go, on the tick grid
        assert moved.price % Decimal("0.05") == 0 and moved.status.is_open
        await until(
            lambda: (
                json.loads(panel._lines_sent and json.dumps(panel._lines_sent))[0]["price"]
                == float(moved.price)
            ),
            what="the line at the new price",
        )
        await asyncio.sleep(0.2)
        lines = json.loads(await js(panel, "JSON.stringify(window.dalal.lines())"))
        assert lines[line] == float(moved.price)
        panel.close()

    qloop(scenario())


def test_chart_when_an_order_fills_a_marker_and_the_average_price_line_appear(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)
    api = engine.api

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="1m")
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        assert await js(panel, "window.dalal.markers()") == 0
        done = api.place_order(
            future.token, Side.BUY, future.lot_size, OrderType.MARKET, product=Product.NRML
        )
        assert done, done.reason
        market(1)
        await until(lambda: api.trades(), what="the fill")
        await until(lambda: panel._markers_sent, what="the marker")
        await asyncio.sleep(0.2)
        assert await js(panel, "window.dalal.markers()") == 1
        lines = json.loads(await js(panel, "JSON.stringify(window.dalal.lines())"))
        position = api.positions()[0]
        assert lines == {f"avg:{position.product.value}": float(position.average_price)}
        panel.close()

    qloop(scenario())


@pytest.mark.qt_log_ignore("^This plugin does not support grabbing the keyboard")
def test_chart_when_right_clicked_offers_buy_and_sell_at_that_price(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="5m")
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        price = float(panel.bars[-1].close / 100)
        y = await js(panel, f"window.dalal.priceY({price})")
        await js(
            panel,
            f"document.getElementById('chart').dispatchEvent(new MouseEvent('contextmenu', "
            f"{{clientX: 300, clientY: {y}, button: 2, bubbles: true, cancelable: true}})); 1",
        )
        await until(lambda: getattr(panel, "price_menu", None) is not None, what="the menu")
        buy, sell = panel.price_menu.actions()
        assert buy.text().startswith("Buy at ") and sell.text().startswith("Sell at ")
        sell.trigger()
        request: TicketRequest = trading_context.tickets[-1]  # type: ignore[attr-defined]
        assert request.side is Side.SELL and request.instrument == future
        assert abs(request.price - Decimal(str(price))) < Decimal(2)
        assert request.price % (Decimal(future.tick_size) / 100) == 0
        panel.price_menu.close()
        panel.close()

    qloop(scenario())


def test_chart_when_opened_makes_no_network_request(
    qtbot, qloop, engine, market, trading_context, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def loopback_only(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not isinstance(address, str):
            attempts.append(address)
            raise OSError(f"the test allows only 127.0.0.1, not {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    future = nifty_future(engine)

    refused_before = list(chart_profile()[1].refused)  # the profile lives as long as the app

    async def scenario() -> None:
        market(1)
        panel = open_chart(
            qtbot, trading_context, int(future.token), indicators=["SMA 20", "RSI 14"]
        )
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        guard = panel.view.guard
        assert guard.allowed >= 3  # the page, the library, our script
        assert guard.refused == refused_before
        # Anything beyond the page's own files is refused by the charts' profile itself (the
        # page's content policy refuses it before that).
        stray = QWebEnginePage(chart_profile()[0])
        stray.load(QUrl("https://example.com/x"))
        await until(lambda: len(guard.refused) > len(refused_before), what="the refusal")
        assert guard.refused == [*refused_before, "https://example.com/x"]
        stray.deleteLater()
        panel.close()

    qloop(scenario())
    assert attempts == []


def test_chart_docks_when_the_workspace_is_saved_come_back_with_their_settings(
    qtbot, qloop, engine, market, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow

    future = nifty_future(engine)
    store = tmp_path / "layout.ini"

    async def scenario() -> None:
        market(1)
        first = MainWindow(engine.api, layouts=LayoutStore(store))
        qtbot.addWidget(first)
        first.show()
        first.open_chart(int(future.token))
        first.open_chart(int(future.token))
        panels = list(first.charts.panels.values())
        panels[1].set_timeframe("15m")
        panels[1].set_indicator("SuperTrend 10, 3", True)
        panels[1].set_style("heikin")
        saved = [p.settings.saved() for p in panels]
        first.save_layout()
        first.close()
        first.stop()
        second = MainWindow(engine.api, layouts=LayoutStore(store))
        qtbot.addWidget(second)
        assert [p.settings.saved() for p in second.charts.panels.values()] == saved
        assert sorted(second.charts.docks) == ["chart-1", "chart-2"]
        await until(
            lambda: all(getattr(p, "page_report", None) for p in second.charts.panels.values()),
            what="the restored charts",
        )
        second.close()
        second.stop()

    qloop(scenario())


def test_chart_docks_when_saved_charts_are_damaged_open_the_good_ones_and_say_which_not(
    qtbot, engine
) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMainWindow

    from ui.bridge import EngineBridge
    from ui.charts.docks import ChartDocks
    from ui.theme import ThemeHolder

    window = QMainWindow()
    qtbot.addWidget(window)
    bridge = EngineBridge(engine.api)
    docks = ChartDocks(
        window, PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark"))
    )
    token = int(nifty_future(engine).token)
    saved = json.dumps(
        [
            {"dock": "chart-1", "key": token, "title": "NIFTY FUT", "timeframe": "2m"},
            {"dock": "chart-2", "key": token, "title": "NIFTY FUT", "timeframe": "5m"},
            "not a chart",
        ]
    )
    problem = docks.restore(saved)
    assert problem is not None and "timeframe '2m'" in problem and "must be an object" in problem
    assert list(docks.docks) == ["chart-2"]
    assert docks.restore("{broken") is not None and docks.docks == {}
    bridge.stop()
    QApplication.processEvents()


def test_chart_when_asked_from_the_chain_positions_or_for_an_iv_charts_what_is_selected(
    qtbot, qloop, engine, market, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow

    api = engine.api
    future = nifty_future(engine)

    async def scenario() -> None:
        market(1)
        window = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"))
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        # The option chain's cell under the cursor.
        window.show_panel("optionChain")
        chain = window.panels["optionChain"]
        row = chain.model.rowCount() // 2
        column = chain.model.column_of("call", "ltp")
        chain.view.setCurrentIndex(chain.model.index(row, column))
        chain.view.setFocus()
        await until(lambda: QApplication.focusWidget() is chain.view, what="the chain's focus")
        option = chain.model.cell(chain.model.index(row, column))[0]
        window.open_chart()
        assert list(window.charts.panels.values())[-1].settings.key == int(option.token)
        # Its implied volatility, kept as a series while the chart shows it.
        chain.view.setFocus()
        await until(lambda: QApplication.focusWidget() is chain.view, what="the chain's focus")
        window.open_iv_chart()
        iv_chart = list(window.charts.panels.values())[-1]
        assert iv_chart.settings.key == f"iv:{option.token}"
        assert iv_chart.target is not None and iv_chart.target.unit == "%"
        market(3)
        await until(lambda: iv_chart.bars, what="the IV's bars")
        assert 5 < iv_chart.bars[-1].close / 100 < 100  # a percentage, in basis points / 100
        window.charts.docks[iv_chart.parentWidget().objectName()].close()
        assert f"iv:{option.token}" not in [c.key for c in api.chart_choices()]
        # The position selected in the positions panel.
        done = api.place_order(
            future.token, Side.BUY, future.lot_size, OrderType.MARKET, product=Product.NRML
        )
        assert done, done.reason
        market(1)
        window.show_panel("positions")
        positions = window.panels["positions"]
        await until(lambda: positions.lines(), what="the position")
        positions.view.setFocus()
        await until(lambda: QApplication.focusWidget() is positions.view, what="the focus")
        # Selected with nothing between it and the chart: a refresh while the loop ran could
        # move the rows under an earlier selection.
        positions.refresh()
        positions.view.selectRow(0)
        assert [line.token for line in positions.selected_lines()] == [future.token]
        window.open_chart()
        assert list(window.charts.panels.values())[-1].settings.key == int(future.token)
        window.close()
        window.stop()

    qloop(scenario())
