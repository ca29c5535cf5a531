"""Bar backtest speed against backtrader, on the same 1-minute bars and the same strategy.

A year of a NIFTY-like 1-minute series (250 sessions of 375 bars, a seeded random walk) is kept
as a bar recording; the built-in EMA cross (long while EMA(10) > EMA(30) of closes, flat
otherwise, fixed size, market orders filled at the next bar's open) runs on the desk's own engine
(gate, order manager, paper venue, charges) in bar mode, and the same rule runs on backtrader
with its EMA indicators and default next-bar-open fills. The two must make the same trades at the
same prices and the same P&L before charges; the figure is the speed ratio.

    python tests/bench/bench_backtest.py [--quick] [--repeat N]

Each side runs ``--repeat`` times (2 unless told), interleaved, and the fastest run of each is
compared: on a shared machine one slow spell would otherwise decide the figure.

Last line: JSON with bench, value (bars/s here), unit, reference (bars/s backtrader), ratio,
same_trades (every run of both made the same trades and P&L), trades, gross_pnl, repeat.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.backtest.run import BacktestRequest
from engine.domain.bars import Bar
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars

QUANTITY = 50
FAST, SLOW = 10, 30


def run_desk(
    folder: Path, run: str = "run"
) -> tuple[float, list[tuple[str, int]], Decimal, Decimal]:
    request = BacktestRequest(
        "bench",
        str(folder / "bars"),
        strategy="ema_cross",
        params={"token": TOKEN, "fast": FAST, "slow": SLOW, "quantity": QUANTITY, "product": "CNC"},
        mode="bars",
        equity_every_seconds=3600,
    )
    started = time.perf_counter()
    result = run_backtest(request, folder / run)
    elapsed = time.perf_counter() - started
    trades = [(side, price) for _ts, _token, side, _qty, price in result.trades]
    return elapsed, trades, result.gross_pnl, result.charges


def run_backtrader(bars: list[Bar]) -> tuple[float, list[tuple[str, int]], Decimal]:
    import backtrader as bt
    import pandas as pd

    frame = pd.DataFrame(
        {
            "open": [b.open / 100 for b in bars],
            "high": [b.high / 100 for b in bars],
            "low": [b.low / 100 for b in bars],
            "close": [b.close / 100 for b in bars],
            "volume": [b.volume for b in bars],
        },
        index=pd.DatetimeIndex([datetime.fromtimestamp(b.start_ns / 1e9, UTC) for b in bars]),
    )
    trades: list[tuple[str, int]] = []

    class EmaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast = bt.ind.EMA(self.data.close, period=FAST)
            self.slow = bt.ind.EMA(self.data.close, period=SLOW)
            self.long = False

        def next(self) -> None:
            above = self.fast[0] > self.slow[0]
            if above and not self.long:
                self.buy(size=QUANTITY)
                self.long = True
            elif not above and self.long:
                self.sell(size=QUANTITY)
                self.long = False

        def notify_order(self, order: bt.Order) -> None:
            if order.status == order.Completed:
                side = "BUY" if order.isbuy() else "SELL"
                trades.append((side, round(order.executed.price * 100)))

    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes))
    cerebro.addstrategy(EmaCross)
    cerebro.broker.setcash(10_000_000.0)
    cerebro.run()
    elapsed = time.perf_counter() - started
    gross = Decimal(str(round(cerebro.broker.getvalue() - 10_000_000.0, 2)))
    return elapsed, trades, gross


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 sessions instead of 250")
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="runs of each, interleaved; the fastest of each is compared (default 2)",
    )
    args = parser.parse_args()
    sessions = 20 if args.quick else 250
    bars = nifty_like_bars(sessions)
    desk_times: list[float] = []
    bt_times: list[float] = []
    outcomes: list[tuple[list[tuple[str, int]], Decimal]] = []
    """Each run's trades and P&L, desk and backtrader alike."""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        write_bar_recording(folder / "bars", [INSTRUMENT], bars)
        # Interleaved, so a slow spell of a shared machine does not fall on one side only.
        for run in range(max(args.repeat, 1)):
            elapsed, desk_trades, desk_gross, charges = run_desk(folder, f"run{run}")
            desk_times.append(elapsed)
            outcomes.append((desk_trades, desk_gross))
            elapsed, bt_trades, bt_gross = run_backtrader(bars)
            bt_times.append(elapsed)
            outcomes.append((bt_trades, bt_gross))
    desk_s, bt_s = min(desk_times), min(bt_times)
    same = all(outcome == outcomes[0] for outcome in outcomes)
    print(
        f"bars: {len(bars):,} ({sessions} sessions), trades: {len(desk_trades)} / {len(bt_trades)}"
    )
    print(f"desk engine: {desk_s:.2f} s ({len(bars) / desk_s:,.0f} bars/s), P&L {desk_gross}")
    print(f"backtrader:  {bt_s:.2f} s ({len(bars) / bt_s:,.0f} bars/s), P&L {bt_gross}")
    print(f"charges on the desk: {charges}; speed ratio {bt_s / desk_s:.2f}x; same trades: {same}")
    print(
        f"runs (s), fastest compared: desk {' '.join(f'{t:.2f}' for t in desk_times)}; "
        f"backtrader {' '.join(f'{t:.2f}' for t in bt_times)}"
    )
    print(
        json.dumps(
            {
                "bench": "backtest",
                "value": round(len(bars) / desk_s),
                "unit": "bars/s",
                "reference": round(len(bars) / bt_s),
                "ratio": round(bt_s / desk_s, 2),
                "same_trades": same,
                "trades": len(desk_trades),
                "gross_pnl": str(desk_gross),
                "bars": len(bars),
                "repeat": len(desk_times),
            }
        )
    )


if __name__ == "__main__":
    main()
