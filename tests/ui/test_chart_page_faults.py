"""Chart faults a trader would otherwise meet in silence, with the real QtWebEngine page: damaged
saved charts, bars noted while a page starts, a page that throws or never starts, a chart library
that is missing or altered, a history that did not load, and what the page shows after a switch."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMainWindow

import ui.charts.docks as docks_module
import ui.charts.page as page_module
import ui.charts.panel as panel_module
from engine.api import OrderType, Product, Side
from engine.domain.events import EngineMessage
from resources import resource_path
from tests.ui.test_chart_dock import js, nifty_future, open_chart, rows, trading_context, until
from ui.charts.settings import ChartSettings
from ui.context import PanelContext

__all__ = ["trading_context"]  # the fixture, used by name


async def held(panel) -> list[list[float]]:  # type: ignore[no-untyped-def]
    return json.loads(await js(panel, "JSON.stringify(window.dalal.bars())"))


def docks_in(qtbot, engine):  # type: ignore[no-untyped-def]
    from ui.bridge import EngineBridge
    from ui.charts.docks import ChartDocks
    from ui.theme import ThemeHolder

    window = QMainWindow()
    qtbot.addWidget(window)
    bridge = EngineBridge(engine.api)
    context = PanelContext(api=engine.api, bridge=bridge, theme=ThemeHolder("dark"))
    return window, bridge, ChartDocks(window, context)


def web_copy(tmp_path: Path) -> Path:
    """The chart page's files, copied to be damaged (the shipped ones stay as they are)."""
    root = tmp_path / "resources"
    shutil.copytree(resource_path("web"), root / "web")
    return root


# -- saved charts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ({"style": []}, "chart style [] is not one of"),
        ({"style": {}}, "chart style {} is not one of"),
        ({"timeframe": ["5m"]}, "timeframe ['5m'] is not one of"),
        ({"indicators": [["SMA 20"]]}, "unknown indicators in [['SMA 20']]"),
        ({"indicators": [{}]}, "unknown indicators in [{}]"),
    ],
)
def test_chart_settings_when_a_saved_value_has_the_wrong_type_refuse_it_in_words(
    damage: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValueError) as refused:
        ChartSettings.read({"key": 1, "title": "X", **damage})
    assert str(refused.value).startswith(reason)


def test_chart_settings_when_an_indicator_is_saved_twice_keep_it_once_in_the_menus_order() -> None:
    saved = {"key": 1, "title": "X", "indicators": ["RSI 14", "SMA 20", "RSI 14"]}
    assert ChartSettings.read(saved).indicators == ["SMA 20", "RSI 14"]


def test_chart_docks_when_a_saved_chart_has_a_list_for_its_style_open_the_others_and_say_which_not(
    qtbot, engine
) -> None:  # type: ignore[no-untyped-def]
    _window, bridge, docks = docks_in(qtbot, engine)
    token = int(nifty_future(engine).token)
    saved = json.dumps(
        [
            {"dock": "chart-1", "key": token, "title": "bad", "style": []},
            {"dock": "chart-2", "key": token, "title": "good"},
        ]
    )
    problem = docks.restore(saved)
    assert problem is not None and "chart style [] is not one of" in problem
    assert [p.settings.title for p in docks.panels.values()] == ["good"]
    docks.close_all()
    bridge.stop()


def test_chart_docks_when_two_saved_charts_share_a_dock_name_open_one_and_say_so(
    qtbot, engine
) -> None:  # type: ignore[no-untyped-def]
    window, bridge, docks = docks_in(qtbot, engine)
    token = int(nifty_future(engine).token)
    saved = json.dumps(
        [
            {"dock": "chart-1", "key": token, "title": "5m", "timeframe": "5m"},
            {"dock": "chart-1", "key": token, "title": "1m", "timeframe": "1m"},
        ]
    )
    problem = docks.restore(saved)
    assert problem == "two charts are saved as chart-1; 1m left out"
    chart_docks = [d for d in window.findChildren(docks_module.ChartDock) if not d.isHidden()]
    assert [d.windowTitle() for d in chart_docks] == ["5m"]  # no dock on screen untracked
    assert list(docks.docks) == ["chart-1"]
    docks.close_all()
    bridge.stop()


def test_chart_docks_when_more_charts_are_saved_than_the_desk_opens_say_which_were_left_out(
    qtbot, engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(docks_module, "MAX_CHARTS", 2)
    _window, bridge, docks = docks_in(qtbot, engine)
    token = int(nifty_future(engine).token)
    saved = json.dumps(
        [{"dock": f"chart-{n}", "key": token, "title": f"c{n}"} for n in range(1, 5)]
    )
    problem = docks.restore(saved)
    assert problem == (
        "c3 left out: the desk opens at most 2 charts; c4 left out: the desk opens at most 2 charts"
    )
    assert list(docks.docks) == ["chart-1", "chart-2"]
    docks.close_all()
    bridge.stop()


# -- bars and the page ------------------------------------------------------------------------------


def test_chart_when_bars_are_noted_while_the_page_starts_the_page_holds_every_bar(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="1m")
        await until(lambda: panel._loaded, what="the history")
        assert not panel.view.channel.is_ready  # the page is still starting
        market(150)  # the session goes on: bars close and open meanwhile
        panel._frame()
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        await asyncio.sleep(0.3)
        panel._frame()
        assert await held(panel) == rows(panel.bars)
        # The bars the desk built after the first (which joins history's copy of it).
        desk = rows(engine.api.session_bars(int(future.token), "1m"))
        assert len(desk) == 3 and rows(panel.bars)[-2:] == desk[-2:]
        panel.close()

    qloop(scenario())


def test_chart_when_the_page_throws_while_drawing_says_so_and_draws_a_fresh_page(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="1m")
        said: list[str] = []
        shown = panel.status.setText
        panel.status.setText = lambda text: (said.append(text), shown(text))  # type: ignore[method-assign]
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        await js(panel, "state.main.update = () => { throw new Error('simulated fault'); }; 1")
        market(90)
        await until(lambda: panel.view.channel.errors, what="the fault")
        assert any(
            t.startswith("chart stopped drawing: bars: Error: simulated fault; drawing it again")
            for t in said
        )
        await until(lambda: panel.status.text() == panel_module.REDRAWN, what="the new page")
        market(60)
        await asyncio.sleep(0.6)
        assert await held(panel) == rows(panel.bars)  # a fresh page, drawing again
        panel.close()

    qloop(scenario())


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_chart_when_the_library_is_missing_or_altered_it_is_not_run_and_the_trader_is_told(
    qtbot, qloop, engine, market, trading_context, monkeypatch, tmp_path, damage
) -> None:  # type: ignore[no-untyped-def]
    root = web_copy(tmp_path)
    library = root / "web" / "vendor" / page_module.LIBRARY_FILE
    if damage == "altered":
        library.write_text(library.read_text() + "\nwindow.__altered = true;\n")
    else:
        library.unlink()
    monkeypatch.setattr(page_module, "resource_path", lambda *parts: Path(root, *parts))
    monkeypatch.setattr(page_module, "_reported", set())
    told: list[EngineMessage] = []
    engine.api.subscribe(EngineMessage, told.append)
    checks = page_module._checked_library.cache_info()

    async def scenario() -> None:
        market(1)
        first = open_chart(qtbot, trading_context, int(nifty_future(engine).token))
        second = open_chart(qtbot, trading_context, int(nifty_future(engine).token))
        assert first.status.text().startswith(page_module.LIBRARY_PROBLEM)
        assert second.view.problem == page_module.LIBRARY_PROBLEM
        after = page_module._checked_library.cache_info()
        assert (after.misses - checks.misses, after.hits - checks.hits) == (1, 1)  # hashed once
        await until(lambda: first.view.page().url().scheme() == "data", what="the notice")
        await asyncio.sleep(0.3)
        shown = await js(first, "document.body.innerText")
        assert shown == page_module.LIBRARY_PROBLEM
        assert await js(first, "typeof window.LightweightCharts + String(window.__altered)") == (
            "undefinedundefined"
        )
        assert [m.text for m in told] == [
            f"Chart {first.settings.title}: {page_module.LIBRARY_PROBLEM}"
        ]  # one message for all the charts
        first.close()
        second.close()

    qloop(scenario())


def test_chart_when_the_page_does_not_start_in_time_says_why_and_logs_its_console(
    qtbot, qloop, engine, market, trading_context, monkeypatch, tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    root = web_copy(tmp_path)
    (root / "web" / "chart.js").write_text('console.error("the page script broke at start");\n')
    monkeypatch.setattr(page_module, "resource_path", lambda *parts: Path(root, *parts))
    monkeypatch.setattr(page_module, "START_TIMEOUT_MS", 1500)
    caplog.set_level(logging.INFO, logger="ui.charts.page")

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(nifty_future(engine).token))
        await until(lambda: "did not start" in panel.status.text(), seconds=10, what="the word")
        assert panel.status.text() == ("chart page did not start: the page script broke at start")
        assert any(
            "chart page console: the page script broke at start (chart.js:1)" in r.getMessage()
            for r in caplog.records
        )
        panel.close()

    qloop(scenario())


def test_chart_when_history_does_not_load_says_so_until_it_does_and_asks_again(
    qtbot, qloop, engine, market, trading_context, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    api = engine.api
    future = nifty_future(engine)
    real = api.chart_history
    asked: list[str] = []

    async def busy_once(key, timeframe):  # type: ignore[no-untyped-def]
        asked.append(timeframe)
        if len(asked) == 1:
            raise RuntimeError("Too many requests (429)")
        return await real(key, timeframe)

    monkeypatch.setattr(api, "chart_history", busy_once)
    monkeypatch.setattr(panel_module, "HISTORY_RETRY_SECONDS", (1,))

    async def scenario() -> None:
        market(1)
        unfollow = api.follow_bars(int(future.token), "1m", lambda bar: None)
        market(180)  # the desk has built this session's bars
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="1m")
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        assert panel.status.text() == (
            "history not loaded (Too many requests (429)): session bars only; asking again in 1 s"
        )
        session = len(panel.page_report["bars"])
        market(1)
        await asyncio.sleep(0.5)  # frames come meanwhile: the failure stays said
        assert panel.status.text().startswith("history not loaded (Too many requests (429))")
        await until(lambda: len(asked) == 2 and panel.page_report["count"] > session, what="2nd")
        assert panel.status.text() == ""
        assert panel.page_report["bars"] == rows(await api.chart_bars(int(future.token), "1m"))
        panel.close()
        unfollow()

    qloop(scenario())


def test_chart_when_bars_come_after_no_bars_yet_the_note_goes(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    options = [
        i for i in engine.registry if i.instrument_type.value == "CE" and i.underlying == "NIFTY"
    ]
    option = min(options, key=lambda i: (i.expiry, abs(float(i.strike) - 26_000)))

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, f"iv:{option.token}", timeframe="1m")
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        assert panel.status.text() == "no bars yet"
        market(70)
        await until(lambda: panel.bars, what="the IV's bars")
        await until(lambda: panel.status.text() == "", what="the note to go")
        panel.close()

    qloop(scenario())


# -- what the page shows ------------------------------------------------------------------------------


def test_chart_when_the_timeframe_is_switched_the_legend_names_the_new_one(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(nifty_future(engine).token), timeframe="5m")
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        panel.page_report = None
        panel.timeframe_box.setCurrentText("15m")  # as the trader picks it
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the switch")
        legend = await js(panel, "document.getElementById('legend').textContent")
        assert legend.startswith(f"{panel.settings.title} · 15m")
        panel.close()

    qloop(scenario())


def test_chart_when_the_style_is_switched_the_fill_markers_stay(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)

    async def scenario() -> None:
        market(1)
        panel = open_chart(qtbot, trading_context, int(future.token), timeframe="1m")
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        done = engine.api.place_order(
            future.token, Side.BUY, future.lot_size, OrderType.MARKET, product=Product.NRML
        )
        assert done, done.reason
        market(1)
        await until(lambda: panel._markers_sent, what="the marker")
        for style in ("line", "heikin", "candles"):
            panel.page_report = None
            panel.set_style(style)
            await until(lambda: getattr(panel, "page_report", None) is not None, what=style)
            assert await js(panel, "window.dalal.markers()") == 1, style
        panel.close()

    qloop(scenario())


def test_chart_legend_when_no_crosshair_shows_the_last_bars_indicator_values(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        market(1)
        panel = open_chart(
            qtbot, trading_context, int(nifty_future(engine).token), indicators=["SMA 20"]
        )
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        sma = engine.api.chart_indicators(panel.bars, ["SMA 20"])[0].values[-1]
        legend = await js(panel, "document.getElementById('legend').textContent")
        assert f"SMA 20 {sma:.2f}" in legend
        # Prices keep clear of the volume histogram below them.
        margin = await js(panel, "state.main.priceScale().options().scaleMargins.bottom")
        assert margin == 0.25
        panel.close()

    qloop(scenario())


def test_chart_heikin_ashi_when_bars_change_the_page_holds_the_candles_of_every_bar_afresh(
    qtbot, qloop, engine, market, trading_context
) -> None:  # type: ignore[no-untyped-def]
    future = nifty_future(engine)

    async def scenario() -> None:
        market(1)
        panel = open_chart(
            qtbot,
            trading_context,
            int(future.token),
            timeframe="1m",
            style="heikin",
            indicators=["SuperTrend 10, 3", "Bollinger 20, 2"],
        )
        await until(lambda: getattr(panel, "page_report", None) is not None, what="the page")
        for _ in range(6):  # the forming bar changes and new bars open, frame by frame
            market(20)
            panel._frame()
        await asyncio.sleep(0.3)
        assert await held(panel) == rows(engine.api.heikin_ashi(panel.bars))
        panel.close()

    qloop(scenario())
