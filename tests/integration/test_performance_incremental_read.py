"""The Performance panel's reads after the first take only the journal rows written since, and
give, field by field, the figures a whole read gives: after more fills over more days, after a
fill journaled late among recent rows, and (reading the whole journal again) after one stamped
before everything kept, a duplicate fill, a row set aside since, or the capital changed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

import engine.api.performance as performance_api
from engine.api.performance import DESK, Performance
from engine.backtest.performance import track
from engine.core.clock import IST, TestClock
from engine.domain.events import OrderFilled, OrderSubmitted
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.marks import Mark, PnlMarks
from engine.domain.orders import OrderRequest, OrderSource, OrderType, Product, Side
from engine.domain.values import Paise
from engine.runtime import Engine
from engine.store import open_database
from engine.store.book import scan_journal
from engine.store.journal import Journal
from engine.store.schema import quarantine
from tests.performance_desk import run_market, stock, traded_desk

CAPITAL = Decimal(1_000_000)
DAY = int(datetime(2026, 11, 23, 10, 0, tzinfo=IST).timestamp()) * 10**9
MINUTE = 60 * 10**9
NIFTY, BANK = InstrumentToken(256265), InstrumentToken(260105)
SYMBOLS = {int(NIFTY): "NIFTY", int(BANK): "BANKNIFTY"}
PRICES = {int(NIFTY): 2_400_000, int(BANK): 5_100_000}
NOW = int(datetime(2026, 11, 27, 18, 0, tzinfo=IST).timestamp()) * 10**9  # a Friday evening


def _same_figures(got: Performance, whole: Performance) -> None:
    """Every figure the panel and the report read, owner by owner."""
    assert got.capital == whole.capital
    assert got.owners == whole.owners
    assert got.skipped_marks == whole.skipped_marks
    assert got.strategies() == whole.strategies()
    assert got.symbols() == whole.symbols()
    for owner in [*whole.owners, DESK]:
        assert got.symbols(owner if owner != DESK else None) == whole.symbols(
            owner if owner != DESK else None
        )
        assert list(got.curve(owner).ts_ns) == list(whole.curve(owner).ts_ns)
        assert got.curve(owner).values == whole.curve(owner).values
        assert got.days(owner) == whole.days(owner)
        assert got.trades(owner) == whole.trades(owner)
        assert got.metrics(owner) == whole.metrics(owner)


def _count_rows_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many journal rows each ``Journal.read_tolerant`` call yields (appended as it reads)."""
    real = Journal.read_tolerant
    counts: list[int] = []

    def counted(self: Journal, *args: Any, **kwargs: Any) -> Iterator[Any]:
        counts.append(0)
        for row in real(self, *args, **kwargs):
            counts[-1] += 1
            yield row

    monkeypatch.setattr(Journal, "read_tolerant", counted)
    return counts


def _trade_another_day(engine: Engine, clock: TestClock) -> None:
    """The next weekday: the strategies trade round trips, the trader scalps, the day closes."""
    clock.set(clock.now().replace(hour=9, minute=30) + timedelta(days=1))
    while not engine.calendar.is_trading_day(clock.now().date()):
        clock.advance(24 * 3600)
    run_market(engine, clock, 60, step=5.0)
    for name, symbol, quantity in (("trend", "RELIANCE", 100), ("meanrev", "HDFCBANK", 60)):
        token = stock(engine, symbol).token
        for side in ("BUY", "SELL", "SELL", "BUY"):
            placed = engine.api.place_order(
                token, side, quantity, "MARKET", product="CNC", source="strategy", strategy=name
            )
            assert placed.ok, placed
            run_market(engine, clock, 300, step=30.0)
    share = stock(engine, "RELIANCE").token
    assert engine.api.place_order(share, "BUY", 50, "MARKET", product="CNC", source="manual").ok
    run_market(engine, clock, 120, step=30.0)
    clock.set(clock.now().replace(hour=17, minute=0, second=0, microsecond=0))
    engine.mark_day_end(clock.now())


def test_performance_read_after_more_fills_reads_only_the_new_rows_and_gives_a_whole_reads_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, clock = traded_desk(tmp_path / "book.db", days=3, step=60.0)
    try:
        service = engine.api.performance_service
        first = asyncio.run(service.read_performance())
        whole_then = engine.api.performance()
        _same_figures(first, whole_then)
        assert engine.journal is not None
        read_up_to = engine.journal.last_seq()
        for _ in range(2):
            _trade_another_day(engine, clock)
        written = engine.journal.last_seq() - read_up_to
        counts = _count_rows_read(monkeypatch)

        again = asyncio.run(service.read_performance())

        assert written > 20 and counts == [written]  # the new rows, not the whole journal
        monkeypatch.undo()
        whole = engine.api.performance()
        assert len(whole.days()) == 5 and len(whole.trades()) > len(first.trades())
        _same_figures(again, whole)
        # The figures handed out before are not changed by the reads that followed them.
        first._kept.clear()
        _same_figures(first, whole_then)
        assert len(first.days()) == 3
        # And a new reader of the same book, reading it whole, agrees.
        _same_figures(again, asyncio.run(type(service)(service._parts).read_performance()))
    finally:
        engine.close()


# -- a journal written by hand: late, duplicate and set-aside rows ---------------------------------


def _order(journal: Journal, n: int, token: InstrumentToken, side: Side, strategy: str) -> None:
    request = OrderRequest(
        token,
        side,
        25,
        OrderType.MARKET,
        Product.NRML,
        source=OrderSource.STRATEGY,
        strategy=strategy,  # type: ignore[arg-type]
    )
    submitted = OrderSubmitted(OrderId(f"O{n}"), DAY, request, arrival=Decimal(PRICES[token]))
    journal.append(submitted.kind, submitted.to_payload(), order_id=f"O{n}", ts_ns=DAY)


def _fill(
    journal: Journal, n: int, token: InstrumentToken, side: Side, at: int, price: int
) -> None:
    fill = OrderFilled(
        OrderId(f"O{n}"), at, TradeId(f"T{n}"), token, side, Product.NRML, 25, Paise(price)
    )
    journal.append(fill.kind, fill.to_payload(), order_id=f"O{n}", ts_ns=at)


def _marks(journal: Journal, at: int, prices: dict[InstrumentToken, int]) -> None:
    marks = PnlMarks(
        at,
        "test",
        datetime.fromtimestamp(at / 1e9, IST).date(),
        tuple(Mark(t, Product.NRML, 25, Paise(p), None) for t, p in prices.items()),
    )
    journal.append(marks.kind, marks.to_payload(), order_id=None, ts_ns=at)


def _trade(journal: Journal, first: int, count: int, start: int) -> None:
    """``count`` fills from order ``first`` on, a minute apart, the two strategies in turn."""
    for n in range(first, first + count):
        token, name = (NIFTY, "trend") if n % 2 else (BANK, "meanrev")
        side = Side.BUY if (n // 2) % 2 == 0 else Side.SELL
        _order(journal, n, token, side, name)
        _fill(journal, n, token, side, start + n * MINUTE, PRICES[token] + 100 * (n % 7))
        if n % 5 == 0:
            _marks(journal, start + n * MINUTE + 1, {token: PRICES[token] + 50 * (n % 3)})


def _read(tally: Any) -> Performance:
    tokens = tally.catch_up()
    figures = tally.figures({t: SYMBOLS[t] for t in tokens}, PRICES, NOW)
    assert isinstance(figures, Performance)
    return figures


def _whole(journal: Journal, capital: Decimal = CAPITAL) -> Performance:
    performance = track(
        scan_journal(journal, record=False).entries,
        symbol_of=lambda token: SYMBOLS[int(token)],
        capital=capital,
        last_prices=lambda token: PRICES.get(int(token)),
        now_ns=NOW,
    )
    performance.prepare()
    return performance


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_database(f"sqlite:///{tmp_path / 'book.db'}") as database:
        _trade(database.journal, 0, 40, DAY)
        yield database.journal


def test_performance_tally_when_a_fill_is_journaled_late_among_recent_rows_reads_only_new_rows(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    tally = performance_api._Tally(journal, CAPITAL, None)
    _same_figures(_read(tally), _whole(journal))
    _trade(journal, 40, 10, DAY)
    # Heard late: stamped two minutes before the newest fill, journaled after it.
    _order(journal, 99, NIFTY, Side.SELL, "trend")
    _fill(journal, 99, NIFTY, Side.SELL, DAY + 47 * MINUTE, PRICES[NIFTY] - 300)
    counts = _count_rows_read(monkeypatch)

    got = _read(tally)

    assert counts == [10 * 2 + 2 + 2]  # ten orders and fills, two marks, the late one
    _same_figures(got, _whole(journal))


@pytest.mark.parametrize("change", ["fill before the settled", "duplicate", "set aside"])
def test_performance_tally_when_a_row_changes_what_is_kept_reads_the_whole_journal_again(
    journal: Journal, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    tally = performance_api._Tally(journal, CAPITAL, None)
    _read(tally)
    _trade(journal, 40, 30, DAY)  # half an hour more: the first fills are settled
    _read(tally)
    if change == "fill before the settled":
        _order(journal, 99, BANK, Side.BUY, "latecomer")
        _fill(journal, 99, BANK, Side.BUY, DAY + 2 * MINUTE, PRICES[BANK])
    elif change == "duplicate":  # written twice; the order refuses the second
        _fill(journal, 3, NIFTY, Side.SELL, DAY + 3 * MINUTE, PRICES[NIFTY] + 300)
    else:  # ``book repair`` sets a row read before aside
        with journal.engine.begin() as connection:
            connection.execute(insert(quarantine), [{"seq": 6, "reason": "t", "quarantined_ns": 1}])
    counts = _count_rows_read(monkeypatch)

    got = _read(tally)

    if change == "duplicate":
        assert counts == [1]  # it changes nothing: the new row only
    else:
        assert len(counts) in (1, 2) and counts[-1] == journal.count()  # every row again
    whole = _whole(journal)
    _same_figures(got, whole)
    if change == "set aside":  # the order of a settled fill: the fill is not counted now
        assert whole.strategies()[-1].fills == 69


def test_performance_read_when_the_capital_changes_measures_against_the_new_one(
    tmp_path: Path,
) -> None:
    engine, _clock = traded_desk(tmp_path / "book.db", days=1, step=60.0)
    try:
        service = engine.api.performance_service
        asyncio.run(service.read_performance())
        got = asyncio.run(service.read_performance(Decimal(2_500_000)))
        _same_figures(got, engine.api.performance(Decimal(2_500_000)))
    finally:
        engine.close()
