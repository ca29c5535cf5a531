"""Every P&L the desk states is rebuilt, exactly, from its book alone: fills and marks.

Each test runs on a SQLite book file and on a PostgreSQL book (``book_url``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import create_engine, text

from engine.core.clock import IST, TestClock
from engine.domain.marks import DAY_END, SESSION_END, PnlMarks
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.runtime import Engine, EngineConfig
from engine.store.codec import decode_payload
from engine.store.pnl_rebuild import read_book, rebuild_pnl
from tests.support import atm_call

ROOT = Path(__file__).resolve().parents[2]
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
AMOUNTS = ("realised", "unrealised", "pnl", "charges", "net_pnl", "day_pnl")


def _headless(tmp_path: Path, seconds: int, book_url: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path / "data"))
    command = [
        "-m",
        "app.main",
        "--headless",
        "--db",
        book_url,
        "--duration",
        str(seconds),
        "--demo",
        "--always-open",
    ]
    run = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _by_position(rows: list[dict]) -> dict[tuple[int, str], dict]:
    return {(row["token"], row["product"]): row for row in rows}


def test_headless_session_when_rebuilt_from_the_book_gives_every_printed_pnl_exactly(
    tmp_path: Path, book_url: str
) -> None:
    summary = _headless(tmp_path, 5, book_url)
    assert summary["fills"] >= 1 and summary["positions"], summary
    assert summary["marks_seq"] is not None

    rebuilt = rebuild_pnl(read_book(book_url).entries)

    assert rebuilt.marks_seq == summary["marks_seq"]
    assert rebuilt.marks.reason == SESSION_END
    assert rebuilt.fills == summary["fills"]
    printed = _by_position(summary["positions"])
    again = _by_position([p.to_json() for p in rebuilt.book.positions])
    assert printed.keys() == again.keys()
    for key, line in printed.items():
        assert line["net_quantity"] == again[key]["net_quantity"]
        assert line["ltp"] == again[key]["ltp"]
        for amount in AMOUNTS:
            assert Decimal(line[amount]) == Decimal(again[key][amount]), (key, amount)
        assert Decimal(line["realised"]) + Decimal(line["unrealised"]) == Decimal(line["pnl"])
    for total in ("pnl", "charges", "net_pnl", "day_pnl"):
        assert Decimal(summary[total]) == Decimal(rebuilt.book.totals()[total]), total
    assert Decimal(summary["net_pnl"]) == Decimal(summary["pnl"]) - Decimal(summary["charges"])


def test_headless_session_totals_follow_from_plain_sql_over_fills_and_marks(
    tmp_path: Path, book_url: str
) -> None:
    """The same totals by hand: no engine code but the payload decoder, nothing approximate."""
    summary = _headless(tmp_path, 4, book_url)
    database = create_engine(book_url)
    with database.connect() as connection:
        fills = [
            decode_payload(payload)
            for (payload,) in connection.execute(
                text("SELECT payload FROM journal WHERE kind = 'order_filled' ORDER BY seq")
            )
        ]
        [(marks_text,)] = connection.execute(
            text("SELECT payload FROM journal WHERE seq = :seq AND kind = 'pnl_marks'"),
            {"seq": summary["marks_seq"]},
        ).all()
    database.dispose()
    marks = decode_payload(marks_text)["marks"]
    assert len(fills) == summary["fills"]

    cash: dict[tuple[int, str], int] = {}  # paise: sells less buys
    net: dict[tuple[int, str], int] = {}
    charges = Decimal(0)
    for fill in fills:
        key = (fill["token"], fill["product"])
        sign = 1 if fill["side"] == "BUY" else -1
        cash[key] = cash.get(key, 0) - sign * fill["quantity"] * fill["price"]
        net[key] = net.get(key, 0) + sign * fill["quantity"]
        charges += sum(fill["charges"].values(), Decimal(0))
    assert all(mark["ltp"] is not None for mark in marks)  # the simulated market quotes all
    assert {(m["token"], m["product"]): m["net_quantity"] for m in marks} == net
    pnl_paise = sum(cash[(m["token"], m["product"])] + m["net_quantity"] * m["ltp"] for m in marks)

    assert Decimal(summary["pnl"]) == Decimal(pnl_paise) / 100
    assert Decimal(summary["charges"]) == charges.quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(summary["net_pnl"]) == Decimal(summary["pnl"]) - Decimal(summary["charges"])


def _engine(book_url: str) -> tuple[Engine, TestClock]:
    clock = TestClock(MONDAY_10AM)
    engine = Engine.build(
        EngineConfig(db_url=book_url, market=SimulatedMarketConfig(seed=3)),
        clock=clock,
    )
    return engine, clock


def _run_market(engine: Engine, clock: TestClock, seconds: float) -> None:
    for _ in range(int(seconds / 0.25)):
        clock.advance(0.25)
        for tick in engine.market.step(0.25):
            engine.on_tick(tick)


def _trade(engine: Engine, clock: TestClock) -> None:
    _run_market(engine, clock, 2)
    option = atm_call(engine)
    for side, lots in (("BUY", 3), ("SELL", 1), ("BUY", 2)):
        assert engine.api.place_order(option.token, side, lots * option.lot_size, "MARKET")
        _run_market(engine, clock, 5)


def test_engine_when_stopped_journals_its_marks_and_the_positions_table_is_rebuilt(
    book_url: str,
) -> None:
    engine, clock = _engine(book_url)
    _trade(engine, clock)
    shown = {(p.instrument.token, p.product.value): p for p in engine.api.positions()}
    asyncio.run(engine.stop())
    assert engine.closing_marks_seq is not None

    rebuilt = rebuild_pnl(read_book(book_url).entries)

    assert rebuilt.marks_seq == engine.closing_marks_seq
    assert {(p.token, p.product.value) for p in rebuilt.book.positions} == shown.keys()
    for position in rebuilt.book.positions:
        row = shown[(position.token, position.product.value)]
        assert (position.realised, position.unrealised) == (row.realised, row.unrealised)
        assert (position.pnl, position.charges, position.net_pnl) == (
            row.pnl,
            row.charges,
            row.net_pnl,
        )
        assert position.day_pnl == row.day_pnl


def test_engine_when_the_market_closes_journals_the_days_marks_once(book_url: str) -> None:
    engine, clock = _engine(book_url)
    try:
        _trade(engine, clock)
        engine.mark_day_end(clock.now())  # open: nothing yet
        clock.advance(7 * 3600)  # 17:00 IST, both segments closed
        engine.mark_day_end(clock.now())
        engine.mark_day_end(clock.now())
        rows = read_book(book_url).entries
        marks = [PnlMarks.from_payload(r.ts_ns, r.payload) for r in rows if r.kind == "pnl_marks"]
        assert [m.reason for m in marks] == [DAY_END]
        day = rebuild_pnl(rows).book
        shown = sum((p.day_pnl for p in engine.api.positions()), Decimal(0))
        assert day.day_pnl == shown
    finally:
        engine.close()
