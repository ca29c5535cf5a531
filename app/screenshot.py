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
from pathlib import Path

from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.strategies.loader import write_examples


async def _capture(out: Path, seconds: float, panels: list[str]) -> None:

    from app.gui import session_text
    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        write_examples(Path(tmp) / "strategies")
        config = EngineConfig(
            db_url=f"sqlite:///{Path(tmp) / 'screenshot.db'}",
            market=SimulatedMarketConfig(always_open=True),
            always_open=True,
            strategies_dir=Path(tmp) / "strategies",
        )
        engine = Engine.build(config)
        window = MainWindow(
            engine.api,
            layouts=LayoutStore(Path(tmp) / "layout.ini"),
            session_state=lambda: session_text(engine),
        )
        window.show()
        engine.start()
        await asyncio.sleep(seconds / 2)
        _trade_a_little(engine)
        for name in panels:
            window.show_panel(name)
        await asyncio.sleep(seconds / 2)
        if not window.grab().save(str(out)):
            raise SystemExit(f"could not write {out}")
        window.stop()
        window.close()
        await engine.stop()


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
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from app.qt_loop import run_on_qt_loop

    app = QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    run_on_qt_loop(_capture(args.out, args.seconds, args.panel))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
