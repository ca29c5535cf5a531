"""`python -m app.screenshot OUT.png`: a picture of the main window on the paper market.

Runs the workstation for a few seconds on a throwaway journal (the market kept open, so prices
move whatever the hour), then saves what the window shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.strategies.loader import write_examples

if TYPE_CHECKING:
    from engine.api.backtests import BacktestService
    from engine.domain.instruments import Instrument


async def capture(
    out: Path | None,
    seconds: float,
    panels: list[str],
    portfolios: list[str] | None = None,
    editor_out: Path | None = None,
    charts: list[str] | None = None,
    chart_out: Path | None = None,
    docks_out: Mapping[str, Path] | None = None,
    ticket_out: Path | None = None,
    dock_sizes: Mapping[str, tuple[int, int]] | None = None,
    settings_out: Path | None = None,
    past_days: int = 0,
) -> None:
    """Run a desk on a throwaway paper book for ``seconds`` and save the window to ``out``
    (None: no picture of the whole window).

    The other arguments add portfolios, charts, the editor, single panels (each floated at its
    ``dock_sizes`` entry when it has one, to be pictured at a size of its own), the ticket and
    each page of the Settings dialog (``settings_out``: a folder, one picture a group). Some
    panels are given something to show first: alerts set, signals sent, algos started, and a
    backtest run in the Backtest panel. With ``past_days`` the book holds that many days of a
    strategy's trading before today, as a book traded for a while does."""
    from app.gui import session_text
    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="dalaldesk-") as tmp:
        write_examples(Path(tmp) / "strategies")
        market = SimulatedMarketConfig(always_open=True)
        book = Path(tmp) / "screenshot.db"
        if past_days:
            book = await _book_with_past_days(Path(tmp) / "past", market, past_days)
        config = EngineConfig(
            db_url=f"sqlite:///{book}",
            market=market,
            always_open=True,
            strategies_dir=Path(tmp) / "strategies",
        )
        engine = Engine.build(config)
        window = MainWindow(
            engine.api,
            layouts=LayoutStore(Path(tmp) / "layout.ini"),
            session_state=lambda: session_text(engine),
            backtests=_backtests(engine, Path(tmp)),
        )
        window.show()
        window.resize(1500, 900)  # a desktop's size, whatever the screen it is drawn on offscreen
        engine.start()
        await asyncio.sleep(seconds / 2)
        _trade_a_little(engine)
        if "alerts" in (docks_out or {}):
            _set_alerts(engine)
        if "signals" in (docks_out or {}):
            _send_signals(engine)
        if "algos" in (docks_out or {}):
            _start_algos(engine)
        names = [_run_portfolio(engine, key) for key in portfolios or []]
        for name in panels:
            window.show_panel(name)
        if names:
            _show_portfolio(window, names[0])
        opened = [_open_chart(window, engine, spec) for spec in charts or []]
        await asyncio.sleep(seconds / 2)
        if opened:
            await _until_drawn(opened)
        if out is not None and not window.grab().save(str(out)):
            raise SystemExit(f"could not write {out}")
        if editor_out is not None:
            await _capture_editor(window, names[0] if names else None, editor_out)
        if chart_out is not None and opened:
            dock = opened[0].parentWidget()
            if not dock.grab().save(str(chart_out)):
                raise SystemExit(f"could not write {chart_out}")
        for name, dock_out in (docks_out or {}).items():
            if name == "backtest":
                await _run_backtest(window, engine)
            await _capture_dock(window, name, dock_out, (dock_sizes or {}).get(name))
        if ticket_out is not None:
            await _capture_ticket(window, engine, ticket_out)
        if settings_out is not None:
            await _capture_settings(window, settings_out)
        window.stop()
        window.close()
        await engine.stop()


def _run_portfolio(engine: Engine, key: str) -> str:
    """Save the template ``key`` as a portfolio that enters now (no entry window, whatever the
    hour the picture is taken) and start it; its name."""
    api = engine.api
    template = next((t for t in api.portfolio_templates() if t.key == key), None)
    if template is None:
        keys = ", ".join(t.key for t in api.portfolio_templates())
        raise SystemExit(f"no portfolio template {key!r}; there are: {keys}")
    data = template.spec.model_dump(mode="json")
    data["execution"].update(start=None, end=None, square_off=None)
    for leg in data["legs"]:
        if not leg["hedge"]:
            leg["stop"] = {"measure": "percent", "value": "40"}
    problem = api.save_portfolio(data) or api.start_portfolio(template.spec.name)
    if problem is not None:
        raise SystemExit(f"{template.spec.name}: {problem}")
    return template.spec.name


def _show_portfolio(window, name: str) -> None:  # type: ignore[no-untyped-def]
    from ui.panels.multileg import MultilegPanel

    window.show_panel("multileg")
    panel = window.panels["multileg"]
    assert isinstance(panel, MultilegPanel)
    panel.refresh()
    panel.select(name)


async def _capture_editor(window, name: str | None, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The portfolio editor on ``name`` (a new portfolio without one), at its legs page."""
    from ui.panels.multileg import MultilegPanel

    panel = window.panels["multileg"]
    assert isinstance(panel, MultilegPanel)
    editor = panel.edit_selected() if name is not None else panel.new_portfolio()
    assert editor is not None
    editor.pages.setCurrentRow(list(editor.titles).index("legs"))
    await asyncio.sleep(0.5)
    if not editor.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    editor.close()


async def _capture_dock(  # type: ignore[no-untyped-def]
    window, name: str, out: Path, size: tuple[int, int] | None = None
) -> None:
    """One panel's dock alone, brought to the front of its tabs first; floated at ``size``
    (then docked again) when one is given."""
    if name not in window.docks:
        raise SystemExit(f"no panel {name!r}; there are: {', '.join(window.docks)}")
    dock = window.docks[name]
    window.show_panel(name)
    if size is not None:
        dock.setFloating(True)
        dock.resize(*size)
    await asyncio.sleep(0.6)  # a frame or two: the panel repaints with the latest prices
    saved = dock.grab().save(str(out))
    if size is not None:
        dock.setFloating(False)
    if not saved:
        raise SystemExit(f"could not write {out}")


async def _capture_ticket(window, engine: Engine, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The order ticket buying the NIFTY future (the instrument a trader starts with)."""
    from engine.api import Side
    from ui.context import TicketRequest

    window.open_ticket(TicketRequest(Side.BUY, _nearest_future(engine, "NIFTY"), lots=1))
    await asyncio.sleep(1.5)  # the margin line fills in once the terms stop changing
    if not window.ticket.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    window.ticket.close()


async def _capture_settings(window, folder: Path) -> None:  # type: ignore[no-untyped-def]
    """Each page of the Settings dialog, as ``settings-<group>.png``."""
    from engine.api import SETTINGS_GROUPS

    folder.mkdir(parents=True, exist_ok=True)
    dialog = window.open_settings()
    for group, _title in SETTINGS_GROUPS:
        dialog.show_group(group)
        await asyncio.sleep(0.2)
        if not dialog.grab().save(str(folder / f"settings-{group}.png")):
            raise SystemExit(f"could not write {folder / f'settings-{group}.png'}")
    dialog.close()


def _set_alerts(engine: Engine) -> None:
    """A few alerts a trader would set: one a quick move fires before the picture is taken."""
    from decimal import Decimal

    api = engine.api
    nifty = api.instruments.by_symbol("NSE", "NIFTY 50")
    stock = api.instruments.by_symbol("NSE", "RELIANCE")
    if nifty is None or stock is None:
        raise SystemExit("the simulated market has no NIFTY 50 or RELIANCE to set alerts on")
    quote = api.quote(nifty.token)
    level = (quote.ltp if quote is not None and quote.ltp else Decimal(26000)) + 150
    api.add_alert(
        "crosses_above", (level / 50).to_integral() * 50, token=nifty.token, note="add CE"
    )
    api.add_alert("moves_pct", "0.01", token=stock.token, note="watch the breakout")
    api.add_alert("pnl_below", "-25000", note="stop for the day")


def _send_signals(engine: Engine) -> None:
    """Two TradingView signals waiting for approval and one already decided."""
    from datetime import UTC, datetime

    from engine.signals.tradingview import TradingViewAlert

    fired = datetime.now(UTC)
    for values in (
        {"id": "ema-L-0915", "strategy": "ema-9-21", "symbol": "NSE:NIFTY1!", "action": "buy"},
        {"id": "rsi-S-0915", "strategy": "rsi-rev", "symbol": "NSE:RELIANCE", "action": "sell",
         "lots": 25, "order_type": "LIMIT", "price": "1560.50"},
        {"id": "orb-L-0916", "strategy": "orb", "symbol": "NSE:NOSUCHCO", "action": "buy"},
    ):  # fmt: skip
        engine.signals.receive(TradingViewAlert.model_validate({**values, "fired": fired}))


def _nearest_future(engine: Engine, underlying: str) -> Instrument:
    """The future of ``underlying`` that expires first (the one a trader trades)."""
    futures = [
        i
        for i in engine.api.instruments.search(underlying=underlying, limit=5000)
        if i.instrument_type == "FUT"
    ]
    if not futures:
        raise SystemExit(f"the simulated market has no {underlying} future")
    return min(futures, key=lambda i: i.expiry or date.max)


def _start_algos(engine: Engine) -> None:
    """Execution algos in the states a trader sees: a TWAP and a POV working, a slicer done at
    once."""
    from engine.api import Side

    api = engine.api
    future = _nearest_future(engine, "NIFTY")
    stock = api.instruments.by_symbol("NSE", "RELIANCE")
    if stock is None:
        raise SystemExit("the simulated market has no RELIANCE for the algos")
    for settings in (
        {"kind": "twap", "token": int(future.token), "side": Side.BUY.value,
         "quantity": 10 * future.lot_size, "duration_seconds": 60, "slices": 10,
         "owner": "ticket"},
        {"kind": "pov", "token": int(stock.token), "side": Side.BUY.value, "quantity": 150,
         "product": "MIS", "participation_pct": 5, "duration_seconds": 600, "owner": "ticket"},
        {"kind": "slicer", "token": int(future.token), "side": Side.SELL.value,
         "quantity": 2 * future.lot_size, "owner": "api"},
    ):  # fmt: skip
        started = api.start_algo(settings)
        if not started.ok:
            raise SystemExit(f"the {settings['kind']} algo did not start: {started.reason}")


def _backtests(engine: Engine, folder: Path) -> BacktestService:
    """Backtests as the desk wires them (``app.gui.backtest_service``), their recordings and runs
    kept in ``folder`` instead of a profile's."""
    from app.gui import backtest_service

    service = backtest_service(engine, "screenshot")
    service.recordings_dir = folder / "recordings"
    service.runs_dir = folder / "backtests"
    return service


async def _book_with_past_days(folder: Path, market: SimulatedMarketConfig, days: int) -> Path:
    """A paper book holding ``days`` (calendar days, up to today) of the EMA cross trading
    RELIANCE: the paper market's made-up past of it replayed on the desk's own engine, as a
    backtest does. The desk opens on it as on a book it traded for those days."""
    from datetime import datetime, timedelta

    from engine.backtest.history_bars import record_history
    from engine.backtest.run import BARS, BacktestRequest, run_backtest
    from engine.calendar import MarketCalendar
    from engine.calendar.fail_closed import FailClosedCalendar
    from engine.core.clock import IST
    from engine.marketdata.sim_history import SimulatedHistory
    from engine.marketdata.simulated import SimulatedMarket
    from engine.runtime.backtests import build_backtest_desk

    calendar = MarketCalendar.load()
    now = datetime.now(IST)
    simulated = SimulatedMarket(market, lambda: now, FailClosedCalendar(calendar))
    stock = next((i for i in simulated.instruments() if i.tradingsymbol == "RELIANCE"), None)
    if stock is None:
        raise SystemExit("the simulated market has no RELIANCE to trade in the past days")
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    recording = folder / "recording"
    history = SimulatedHistory(simulated, calendar)
    await record_history(history, [stock], today - timedelta(days=days), today, recording)
    params = {"fast": 30, "slow": 90, "quantity": 100}
    request = BacktestRequest("book", str(recording), "ema_cross", params, mode=BARS)
    await run_backtest(request, folder / "book", build_backtest_desk)
    return folder / "book" / "book.db"


async def _run_backtest(window, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """The Backtest panel after a run, as a trader makes one: ten days of the NIFTY future kept
    as a recording by Record history (the paper market's made-up past), then the EMA cross on
    its 1-minute bars, one lot."""
    from ui.panels.backtest import BacktestPanel

    future = _nearest_future(engine, "NIFTY")
    window.show_panel("backtest")
    panel = window.panels["backtest"]
    assert isinstance(panel, BacktestPanel)
    panel.history_symbol.setText(future.tradingsymbol)
    panel.history_days.setValue(10)
    panel.history_button.click()
    await _until(panel.history_button.isEnabled, "the history was not recorded")
    if panel.recording.count() == 0:
        raise SystemExit(f"no recording to run on: {panel.status.text()}")
    panel.strategy.setCurrentIndex(panel.strategy.findData("ema_cross"))
    panel.params.setText(f"fast=20 slow=60 quantity={future.lot_size}")
    panel.run_button.click()
    await _until(panel.run_button.isEnabled, "the backtest did not finish", seconds=120.0)
    if panel.result is None:
        raise SystemExit(f"the backtest did not run: {panel.status.text()}")


async def _until(done: Callable[[], bool], failure: str, seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not done():
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(failure)
        await asyncio.sleep(0.05)


def _open_chart(window, engine: Engine, spec: str):  # type: ignore[no-untyped-def]
    """A chart dock of ``spec``: ``EXCHANGE:SYMBOL`` or a derived series' key prefix
    (``straddle:NIFTY``), then ``@TIMEFRAME`` and ``+INDICATOR`` parts, e.g.
    ``NSE:RELIANCE@5m+EMA 21+VWAP+RSI 14``."""
    from ui.charts.settings import ChartSettings

    what, *indicators = spec.split("+")
    what, _, timeframe = what.partition("@")
    exchange, _, symbol = what.partition(":")
    instrument = engine.api.instruments.by_symbol(exchange, symbol)
    if instrument is not None:
        key: int | str = int(instrument.token)
        title = instrument.tradingsymbol
    else:
        choice = next((c for c in engine.api.chart_choices() if str(c.key).startswith(what)), None)
        if choice is None:
            raise SystemExit(f"nothing to chart as {what!r}")
        key, title = choice.key, choice.title
    settings = ChartSettings(key, title, timeframe or "5m", "candles", indicators)
    panel = window.charts.open(settings, beside=window.docks["optionChain"])
    if panel is None:
        raise SystemExit(f"no chart of {spec!r} could be opened")
    return panel


async def _until_drawn(panels, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + seconds
    while any(getattr(p, "page_report", None) is None for p in panels):
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit("a chart never drew its bars")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the page paints after it reports


def _trade_a_little(engine: Engine) -> None:
    """A few orders so the orderbook, trades and positions panels show something real."""
    from engine.api import OrderType, Product, Side

    engine.api.start_strategy("demo")

    registry = engine.api.instruments
    nifty = engine.api.tick(256265)  # paise, as the instruments' strikes
    calls = [
        i for i in registry.search(underlying="NIFTY", limit=5000) if i.instrument_type == "CE"
    ]
    if nifty is None or not calls:
        return
    expiry = min(i.expiry for i in calls if i.expiry)
    atm = min(
        (i for i in calls if i.expiry == expiry), key=lambda i: abs((i.strike or 0) - nifty.ltp)
    )
    engine.api.place_order(atm.token, Side.BUY, 2 * atm.lot_size, OrderType.MARKET)
    stock = registry.by_symbol("NSE", "RELIANCE")
    if stock is not None:
        engine.api.place_order(stock.token, Side.BUY, 50, OrderType.MARKET, product=Product.CNC)
        quote = engine.api.quote(stock.token)
        if quote is not None and quote.ask is not None:
            engine.api.place_order(
                stock.token,
                Side.SELL,
                25,
                OrderType.LIMIT,
                product=Product.CNC,
                price=quote.ask + 5,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.screenshot")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--panel",
        action="append",
        default=[],
        help="bring this panel to the front first (e.g. risk, payoff, orderbook); repeatable",
    )
    parser.add_argument(
        "--portfolio",
        action="append",
        default=[],
        help="start the multileg portfolio of this template (e.g. iron_condor) and show it",
    )
    parser.add_argument(
        "--editor", type=Path, help="also save a picture of the portfolio editor here"
    )
    parser.add_argument(
        "--chart",
        action="append",
        default=[],
        help="open a chart dock, e.g. 'NSE:RELIANCE@5m+EMA 21+VWAP' or 'straddle:NIFTY@1m'",
    )
    parser.add_argument("--chart-out", type=Path, help="also save a picture of the first chart")
    parser.add_argument(
        "--dock",
        action="append",
        default=[],
        metavar="PANEL=PNG[@WxH]",
        help="also save a picture of one panel, e.g. alerts=alerts.png or "
        "signals=signals.png@900x640 (floated at that size); repeatable",
    )
    parser.add_argument(
        "--settings-out", type=Path, help="also save each Settings page into this folder"
    )
    args = parser.parse_args(argv)
    docks: dict[str, Path] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for item in args.dock:
        name, _, out = item.partition("=")
        out, _, size = out.partition("@")
        if not out:
            parser.error(f"--dock takes PANEL=PNG[@WxH], not {item!r}")
        docks[name] = Path(out)
        if size:
            width, _, height = size.partition("x")
            if not (width.isdigit() and height.isdigit()):
                parser.error(f"--dock size is WxH in pixels, not {size!r}")
            sizes[name] = (int(width), int(height))
    run_offscreen(
        capture(
            args.out,
            args.seconds,
            args.panel,
            args.portfolio,
            args.editor,
            args.chart,
            args.chart_out,
            docks_out=docks,
            dock_sizes=sizes,
            settings_out=args.settings_out,
        )
    )
    print(args.out)
    return 0


def run_offscreen(pictures: Coroutine[Any, Any, None]) -> None:
    """Run ``pictures`` (captures) on a Qt application of its own, offscreen unless the caller
    chose a platform."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from app.qt_loop import run_on_qt_loop
    from ui.charts.page import prepare_web_engine

    prepare_web_engine()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    run_on_qt_loop(pictures)


if __name__ == "__main__":
    sys.exit(main())
