"""What the backtest tests and benchmark share: a deterministic NIFTY-like 1-minute series, and
a bar run of the EMA cross on it."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from engine.backtest.run import BacktestRequest
from engine.core.clock import IST
from engine.domain.bars import Bar
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment
from engine.domain.values import Paise

TOKEN = 256_777
INSTRUMENT = Instrument(
    token=InstrumentToken(TOKEN),
    exchange=Exchange.NSE,
    segment=Segment.NSE,
    tradingsymbol="NIFTYLIKE",
    name="NIFTY-like series",
    instrument_type=InstrumentType.EQ,
    underlying="NIFTYLIKE",
    tick_size=Paise(5),
    lot_size=1,
)


def ema_cross_request(recording: Path, name: str = "ema", **params: object) -> BacktestRequest:
    """A bar run of the EMA cross on the NIFTY-like instrument, 10 a trade; ``params`` add to
    those or replace them."""
    return BacktestRequest(
        name,
        str(recording),
        strategy="ema_cross",
        params={"token": TOKEN, "quantity": 10, **params},
        mode="bars",
    )


def nifty_like_bars(sessions: int, seed: int = 18) -> list[Bar]:
    """``sessions`` weekdays of 375 one-minute bars from 09:15 IST, a seeded random walk about
    ₹240 (an index ETF's scale) on the 5-paise grid."""
    rng = np.random.Generator(np.random.PCG64(seed))
    bars: list[Bar] = []
    price = 24_000.0  # paise
    day = date(2025, 1, 1)
    made = 0
    while made < sessions:
        day += timedelta(days=1)
        if day.weekday() >= 5:
            continue
        made += 1
        open_ns = int(datetime(day.year, day.month, day.day, 9, 15, tzinfo=IST).timestamp()) * 10**9
        steps = rng.normal(0.0, 0.0009, (375, 4)) * price
        for minute in range(375):
            path = price + np.cumsum(steps[minute])
            prices = [round(p / 5) * 5 for p in (price, *path)]
            prices = [max(p, 5) for p in prices]
            o, c = prices[0], prices[-1]
            bars.append(
                Bar(TOKEN, open_ns + minute * 60 * 10**9, o, max(prices), min(prices), c, 1_000)
            )
            price = float(c)
    return bars


def tradingview_alert(action: str, at_ns: int, **extra: object) -> dict[str, object]:
    """A TradingView alert on the NIFTY-like index, as an alert file holds it: 40 lots of CNC
    (``extra`` overrides), ``fired`` at ``at_ns`` in UTC."""
    fired = datetime.fromtimestamp(at_ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")
    return {
        "strategy": "tv-ema",
        "symbol": "NSE:NIFTYLIKE",
        "action": action,
        "lots": 40,
        "product": "CNC",
        "fired": fired,
        **extra,
    }


def run_backtest_reading_slowly(
    request: BacktestRequest, folder: Path, *, progress: Any = None, cancel: Any = None
) -> Any:
    """``run_backtest`` (in a run's own process) on a recording as slow to read as a large one:
    a tenth of a second a day, each day reported."""
    from engine.backtest import run as run_module
    from engine.marketdata import recording
    from engine.runtime.backtests import run_backtest

    read = recording.RecordedDay.bars

    def slowly(day: recording.RecordedDay) -> list[Bar]:
        time.sleep(0.1)
        return read(day)

    run_module.READ_REPORT_S = 0.0
    recording.RecordedDay.bars = slowly  # type: ignore[method-assign]
    return run_backtest(request, folder, progress=progress, cancel=cancel)


def trades_csv(path: Path, bars: list[Bar], *, symbol: str = "NIFTYLIKE") -> Path:
    """A CSV file of trades (timestamp,symbol,ltp,qty): one at each bar's open and one at its
    close, 20 s apart, of 40 to 46 shares; row 10 (the header is row 1) is of another
    instrument and row 21 has a negative quantity."""
    lines = ["timestamp,symbol,ltp,qty"]
    for n, bar in enumerate(bars):
        for seconds, price in ((0, bar.open), (20, bar.close)):
            moment = f"{bar.start + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S}"  # IST
            lines.append(f"{moment},{symbol},{price / 100:.2f},{40 + n % 7}")
    lines[9] = lines[9].replace(symbol, "RELIANCE")
    lines[20] = lines[20].rsplit(",", 1)[0] + ",-3"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
