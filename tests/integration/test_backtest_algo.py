"""An execution algo as a backtest run: the parent starts at the replay's first moment, its
children go through the desk's gate and fill on the replayed bars, on the replay's clock."""

from __future__ import annotations

import pytest

from engine.backtest.run import BacktestError, BacktestRequest
from engine.marketdata.recording import write_bar_recording
from engine.runtime.backtests import run_backtest
from tests.backtest_support import INSTRUMENT, TOKEN, nifty_like_bars

MINUTE_NS = 60_000_000_000


def test_backtest_of_a_twap_algo_fills_its_quantity_in_slices_on_the_replay_clock(
    tmp_path,
) -> None:
    bars = nifty_like_bars(1)
    write_bar_recording(tmp_path / "bars", [INSTRUMENT], bars)
    request = BacktestRequest(
        "twap",
        str(tmp_path / "bars"),
        algo={
            "kind": "twap",
            "token": TOKEN,
            "side": "BUY",
            "quantity": 150,  # under the desk's 200-lot position limit
            "product": "CNC",
            "duration_seconds": 600,
            "slices": 10,
            "order_type": "MARKET",
        },
        mode="bars",
    )
    result = run_backtest(request, tmp_path / "run")
    assert not result.cancelled and result.strategy.startswith("algo ")
    bought = [t for t in result.trades if t[2] == "BUY"]
    assert sum(qty for _ts, _token, _side, qty, _price in bought) == 150
    assert not [t for t in result.trades if t[2] != "BUY"]
    assert len(bought) >= 10  # in slices, not at once
    first, last = min(t[0] for t in bought), max(t[0] for t in bought)
    # Spread over the schedule's ten minutes of replayed time (next-bar fills add a bar).
    assert 8 * MINUTE_NS <= last - first <= 12 * MINUTE_NS
    assert first - bars[0].start_ns <= 2 * MINUTE_NS


def test_backtest_of_an_algo_with_bad_settings_is_refused_in_words(tmp_path) -> None:
    write_bar_recording(tmp_path / "bars", [INSTRUMENT], nifty_like_bars(1))
    request = BacktestRequest(
        "bad",
        str(tmp_path / "bars"),
        algo={"kind": "twap", "token": TOKEN, "side": "BUY", "quantity": -5},
        mode="bars",
    )
    with pytest.raises(BacktestError, match="quantity"):
        run_backtest(request, tmp_path / "run")
    with pytest.raises(
        BacktestError, match="one of a strategy, a portfolio, an algo or a signals file"
    ):
        BacktestRequest("both", "x", strategy="ema_cross", algo={"kind": "twap"})
