"""The desk when the computer's clock jumps: set back a day and put right, or a day ahead for a
few minutes and back (a wrong date typed, a resume that NTP then corrects).

The day's P&L and the daily loss limit survive a clock set back; a fill stamped while the clock
ran ahead is counted in the clock's day, the same by the live book and by the book restored from
the journal; the trader is told once that the clock went back. The schedule runs today's
remaining jobs and the next day's again, and never says a desk that was running was not. The
copy of the book after the session is taken even when the desk opened with a book that morning.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.api import OrderType, Product, Side
from engine.core.clock import IST
from engine.domain.events import BreakerTripped, EngineMessage, Severity
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import RiskLimits, RiskSettings
from engine.runtime import Engine, EngineConfig
from engine.store.backup import list_backups
from tests.support import tick_stock

THURSDAY = datetime(2026, 11, 26, 11, 0, tzinfo=IST)
DAY = 86_400


class ComputerClock:
    """The live clock's contract (epoch ns, IST now) on a time that can be set either way, as
    a computer's can."""

    def __init__(self, start: datetime) -> None:
        self._ns = int(start.timestamp()) * 10**9

    def time_ns(self) -> int:
        return self._ns

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._ns / 1e9, IST)

    def jump(self, seconds: float) -> None:
        self._ns += int(seconds * 1e9)

    def set(self, at: datetime) -> None:
        self._ns = int(at.timestamp()) * 10**9


def desk(
    tmp_path: Path,
    clock: ComputerClock,
    *,
    schedule: bool = False,
    loss_limit: Decimal | None = Decimal(8000),
) -> Engine:
    return Engine.build(
        EngineConfig(
            db_url=f"sqlite:///{tmp_path / 'book.db'}",
            market=SimulatedMarketConfig(seed=4, strikes_each_side=2),
            risk=RiskSettings(RiskLimits(daily_loss_limit=loss_limit, underlying_move_pct=None)),
            schedule_folder=tmp_path / "schedule" if schedule else None,
        ),
        clock=clock,  # type: ignore[arg-type]
    )


def losing_round_trip(engine: Engine, clock: ComputerClock, quantity: int = 100) -> None:
    """Buy RELIANCE at 1,550 and sell a minute later at 1,500: ₹50 a share lost."""
    token = tick_stock(engine, "RELIANCE", 155_000, close=154_000)
    mis = Product.MIS
    assert engine.api.place_order(token, Side.BUY, quantity, OrderType.MARKET, product=mis).ok
    clock.jump(60)
    tick_stock(engine, "RELIANCE", 150_000, close=154_000)
    assert engine.api.place_order(token, Side.SELL, quantity, OrderType.MARKET, product=mis).ok
    clock.jump(1)
    engine.housekeeping.beat()


def day_figures(engine: Engine) -> list[tuple[Any, ...]]:
    return sorted(
        (
            int(p.token),
            p.product.value,
            p.day_buy_quantity,
            p.day_buy_value,
            p.day_sell_quantity,
            p.day_sell_value,
            p.day_charges,
        )
        for p in engine.positions.all()
    )


def said(engine: Engine) -> list[EngineMessage]:
    seen: list[EngineMessage] = []
    engine.bus.subscribe(EngineMessage, seen.append)
    return seen


def test_daily_loss_limit_when_the_clock_goes_back_a_day_and_forward_again_keeps_the_days_loss(
    tmp_path: Path,
) -> None:
    clock = ComputerClock(THURSDAY)
    engine = desk(tmp_path, clock)
    trips: list[str] = []
    engine.api.subscribe(BreakerTripped, lambda e: trips.append(e.breaker))
    try:
        losing_round_trip(engine, clock)
        lost = engine.api.day_pnl()
        assert lost < Decimal(-5000)
        clock.jump(-DAY)  # Wednesday, by mistake
        engine.housekeeping.beat()
        assert engine.api.day_pnl() == lost
        clock.jump(DAY + 60)  # put right: Thursday again
        engine.housekeeping.beat()
        assert engine.api.day_pnl() == lost
        # Bought again, and the price falls 50: 10,000 lost in all, over the limit of 8,000.
        token = tick_stock(engine, "RELIANCE", 155_000, close=154_000)
        order = engine.api.place_order(token, Side.BUY, 100, OrderType.MARKET, product=Product.MIS)
        assert order.ok
        clock.jump(60)
        tick_stock(engine, "RELIANCE", 150_000, close=154_000)
        assert engine.api.day_pnl() < Decimal(-10_000)
        assert trips == ["daily_loss"]
        assert engine.api.trading_state().state.name == "HALTED"
    finally:
        engine.close()


def test_restore_when_a_fill_was_stamped_while_the_clock_ran_a_day_ahead_counts_it_in_the_clocks_day_as_the_live_book_does(
    tmp_path: Path,
) -> None:
    clock = ComputerClock(THURSDAY)
    engine = desk(tmp_path, clock, loss_limit=None)
    try:
        losing_round_trip(engine, clock)
        clock.jump(DAY)  # Friday for a few minutes: the fills are stamped Friday
        engine.housekeeping.beat()
        losing_round_trip(engine, clock)
        clock.jump(-DAY)  # put right: Thursday
        engine.housekeeping.beat()
        losing_round_trip(engine, clock, 50)
        live = day_figures(engine)
        live_pnl = engine.api.day_pnl()
        live_day = engine.positions.today
    finally:
        engine.close()

    reopened = desk(tmp_path, clock, loss_limit=None)
    try:
        tick_stock(reopened, "RELIANCE", 150_000, close=154_000)
        reopened.housekeeping.beat()
        assert live_day == reopened.positions.today == THURSDAY.date()
        assert day_figures(reopened) == live
        assert reopened.api.day_pnl() == live_pnl
    finally:
        reopened.close()
    # Every round trip of the day counts, the one stamped Friday too (in Thursday's figures).
    ((*_, bought, _, sold, _, _),) = live
    assert bought == sold == 250
    assert live_pnl < Decimal(-12_500)


def test_clock_warning_when_the_clock_goes_back_is_said_once_in_words(tmp_path: Path) -> None:
    clock = ComputerClock(THURSDAY)
    engine = desk(tmp_path, clock)
    messages = said(engine)
    try:
        engine.housekeeping.beat()
        clock.jump(-2)  # NTP's small correction: not a word
        engine.housekeeping.beat()
        clock.jump(-DAY)
        for _ in range(5):
            engine.housekeeping.beat()
            clock.jump(1)
    finally:
        engine.close()
    warned = [m.text for m in messages if "clock went back" in m.text]
    assert warned == [
        "The computer's clock went back 1 day, from Thu 26 Nov 10:59:58 IST to Wed 25 Nov "
        "10:59:58 IST. The desk keeps today's P&L, the daily loss limit's count and any tripped "
        "breaker; the schedule goes by the clock as it is now (a job recorded for a later day "
        "runs again on that day). Fills and orders are stamped with the computer's time: set its "
        "date and time right (automatic time) before trading on."
    ]
    assert [m.severity for m in messages if m.text in warned] == [Severity.WARNING]


def test_schedule_when_the_clock_runs_a_day_ahead_for_minutes_runs_todays_jobs_and_the_next_days(
    tmp_path: Path,
) -> None:
    clock = ComputerClock(datetime(2026, 11, 26, 8, 50, tzinfo=IST))
    engine = desk(tmp_path, clock, schedule=True)
    messages = said(engine)
    assert engine.schedule is not None
    ran: list[str] = []

    def run(start: datetime, end: datetime) -> None:
        clock.set(start)
        while clock.now() < end:
            ran.extend(f"{clock.now():%a %H:%M} {job}" for job in engine.schedule.tick(clock.now()))
            clock.jump(60)

    try:
        run(clock.now(), datetime(2026, 11, 26, 10, 0, tzinfo=IST))
        run(datetime(2026, 11, 27, 10, 0, tzinfo=IST), datetime(2026, 11, 27, 10, 2, tzinfo=IST))
        run(datetime(2026, 11, 26, 10, 2, tzinfo=IST), datetime(2026, 11, 27, 17, 0, tzinfo=IST))
    finally:
        engine.close()
    assert ran == [
        "Thu 09:00 pre_open_checklist",
        "Thu 09:10 start_portfolios",
        "Fri 10:00 pre_open_checklist",  # the clock said Friday: it could not know better
        "Fri 10:00 start_portfolios",
        "Thu 15:15 intraday_square_off",
        "Thu 15:45 end_of_day_report",
        "Thu 16:00 journal_backup",
        "Fri 09:00 pre_open_checklist",
        "Fri 09:10 start_portfolios",
        "Fri 15:15 intraday_square_off",
        "Fri 15:45 end_of_day_report",
        "Fri 16:00 journal_backup",
    ]
    texts = [m.text for m in messages if m.source == "schedule"]
    assert not [t for t in texts if "not running" in t]
    assert (
        "intraday_square_off of 2026-11-26 was missed: the desk's clock went from Thu 26 Nov "
        "09:59 IST to Fri 27 Nov 10:00 IST in one step, past its time (15:15–15:25 IST); the "
        "computer slept or its clock was changed"
    ) in texts
    assert (
        "The clock went back to Thu 26 Nov 10:02 IST: what was recorded as done for a later day "
        "(pre_open_checklist, start_portfolios) is done again on that day, and today's remaining "
        "jobs run at their times"
    ) in texts
    record = (tmp_path / "schedule" / "schedule.json").read_text()
    assert '"intraday_square_off": "2026-11-27"' in record


def copies(tmp_path: Path, reason: str = "daily") -> list[Path]:
    return [b.path for b in list_backups(tmp_path / "book.db") if b.reason == reason]


def opened_with_a_book(tmp_path: Path, at: datetime, copied_at: datetime) -> Engine:
    """The desk opened at ``at`` on a book traded the day before; the copy it takes as it opens
    is dated ``copied_at`` (the test's clock is not the wall clock copies are timed by)."""
    clock = ComputerClock((at - timedelta(days=1)).replace(hour=11, minute=0))
    first = desk(tmp_path, clock)
    try:
        losing_round_trip(first, clock)
    finally:
        first.close()
    clock.set(at)
    engine = desk(tmp_path, clock, schedule=True)
    (opening,) = copies(tmp_path)
    os.utime(opening, (copied_at.timestamp(), copied_at.timestamp()))
    return engine


def run_schedule(engine: Engine, end: datetime) -> list[str]:
    clock = engine.clock
    assert isinstance(clock, ComputerClock) and engine.schedule is not None
    ran = []
    while clock.now() < end:
        ran += engine.schedule.tick(clock.now())
        clock.jump(60)
    return ran


def test_backup_schedule_when_the_desk_opened_with_a_book_copies_it_after_the_session(
    tmp_path: Path,
) -> None:
    morning = datetime(2026, 11, 26, 8, 50, tzinfo=IST)
    engine = opened_with_a_book(tmp_path, morning, copied_at=morning)
    try:
        ran = run_schedule(engine, datetime(2026, 11, 26, 16, 5, tzinfo=IST))
    finally:
        engine.close()
    assert "journal_backup" in ran
    assert len(copies(tmp_path)) == 2  # the morning's, and the day's after its session


def test_backup_schedule_when_a_daily_copy_was_made_after_the_close_takes_no_second(
    tmp_path: Path,
) -> None:
    evening = datetime(2026, 11, 26, 15, 50, tzinfo=IST)  # after the 15:40 close
    engine = opened_with_a_book(tmp_path, evening, copied_at=evening)
    try:
        ran = run_schedule(engine, datetime(2026, 11, 26, 16, 5, tzinfo=IST))
    finally:
        engine.close()
    assert "journal_backup" in ran
    assert len(copies(tmp_path)) == 1
