"""Backtest-live parity: a multileg portfolio trades the simulated market while the recorder
keeps the feed; the same portfolio backtested on that recording, on the same engine with a
replay feed and a simulated clock, makes the same orders, fills, charges and P&L, row for row of
the two journals."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.backtest.results import read_result
from engine.backtest.run import BacktestRequest
from engine.marketdata.recording import Recording
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime.backtests import record_simulated_session, run_backtest, simulated_config
from engine.store.pnl_rebuild import read_sqlite_book
from tests.multileg_support import MONDAY_0918, template_spec

MARKET = SimulatedMarketConfig(seed=5, strikes_each_side=8, ticks_per_second=60.0)
SPEC_SECTIONS: dict[str, Any] = {"execution": {"square_off": "09:29:00"}}


def _journal_rows(book: Path) -> list[tuple[Any, ...]]:
    """The journal's order and strategy rows with the ids every run draws anew left out."""
    rows = []
    for row in read_sqlite_book(book).entries:
        if not row.kind.startswith("order_") and row.kind != "strategy":
            continue
        payload = dict(row.payload)
        for volatile in ("trade_id", "broker_order_id", "exchange_order_id", "order_id"):
            payload.pop(volatile, None)
        if "request" in payload:
            payload["request"] = {k: v for k, v in payload["request"].items() if k != "tag"}
        rows.append((row.kind, row.ts_ns, repr(sorted(payload.items()))))
    return rows


def test_backtest_of_a_recorded_multileg_session_matches_the_live_journal_exactly(
    tmp_path,
) -> None:
    live_book = tmp_path / "live" / "book.db"
    live_book.parent.mkdir()
    recording = tmp_path / "recording"
    spec: dict[str, Any] = {}

    def start_portfolio(engine: Any) -> None:
        spec.update(template_spec(engine, "short_straddle", "Parity", **SPEC_SECTIONS))
        assert engine.api.save_portfolio(spec) is None
        assert engine.api.start_portfolio("Parity") is None

    live = asyncio.run(
        record_simulated_session(
            simulated_config(
                live_book, market=MARKET, portfolios_dir=tmp_path / "live" / "portfolios"
            ),
            MONDAY_0918,
            12 * 60,
            recording,
            before_run=start_portfolio,
        )
    )
    del live
    [day] = Recording(recording).days()
    assert day.tick_count() > 40_000

    result = run_backtest(
        BacktestRequest("parity", str(recording), portfolio=spec, always_open=False),
        tmp_path / "run",
    )
    live_rows = _journal_rows(live_book)
    replay_rows = _journal_rows(tmp_path / "run" / "book.db")
    fills = [r for r in live_rows if r[0] == "order_filled"]
    assert len(fills) >= 4  # entered both legs and exited them
    assert replay_rows == live_rows
    assert result.fills == len(fills) and result.charges > 0
    summary, equity = read_result(tmp_path / "run" / "book.db")
    assert Decimal(summary["net_pnl"]) == result.net_pnl == result.gross_pnl - result.charges
    assert equity and equity[-1][1] == result.net_pnl


def test_backtest_run_twice_on_one_recording_writes_the_same_journal(tmp_path) -> None:
    """The demo's random orders meet the margin check, the throttle and the venue's depth
    walk: all of it follows the replayed clock, so two runs agree row for row."""
    recording = tmp_path / "recording"
    book = tmp_path / "session.db"
    asyncio.run(
        record_simulated_session(simulated_config(book, market=MARKET), MONDAY_0918, 150, recording)
    )
    runs = [
        run_backtest(BacktestRequest(name, str(recording), strategy="demo"), tmp_path / name)
        for name in ("first", "second")
    ]
    first, second = (_journal_rows(tmp_path / name / "book.db") for name in ("first", "second"))
    assert runs[0].fills > 5 and runs[0].orders >= 20
    assert first == second
    assert runs[0].row() | {"name": "", "seconds": 0} == runs[1].row() | {"name": "", "seconds": 0}
