"""The desk's daily jobs and their times (``engine.runtime.scheduler`` runs them and says more):
the pre-open checklist, the portfolios' start, the intraday square-off, the end-of-day report
and the book's copy after the session. Split from the scheduler to keep each module readable in
one sitting.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from engine.brokers.registry import broker_spec
from engine.domain.events import EngineMessage, Severity
from engine.domain.orders import Product
from engine.runtime.book_session import back_up_after_session
from engine.runtime.day_report import end_of_day_report
from engine.runtime.preflight import address_findings, look_up_address
from engine.runtime.schedule_times import DailyJob, JobTime, TradingDay

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

MIN_FREE_DISK = 1_000_000_000
"""Below this much free space on the book's disk, the checklist warns (a full disk holds orders)."""

REPORT_JOB = "end_of_day_report"
"""The job whose report is mailed."""


def pre_open_checklist(engine: Engine, now: datetime) -> str:
    problems = []
    paused = engine.api.trading_paused()
    if paused is not None:
        problems.append(paused)
    if not any(True for _ in engine.api.instruments):
        problems.append("no instruments are loaded")
    if engine.calendar.is_provisional(now.year):
        problems.append(
            f"NSE's {now.year} holidays are not loaded (Help → Update market calendar…)"
        )
    if unannounced := engine.calendar.unannounced_warning(now.date()):
        problems.append(unannounced)
    book = engine.book_file
    if book is not None:
        free = shutil.disk_usage(book.parent).free
        if free < MIN_FREE_DISK:
            problems.append(f"only {free / 1e9:.1f} GB free on the book's disk")
    if engine.config.address_check_url is not None:
        engine.spawn(network_checklist(engine), "pre-open-network")
    if problems:
        text = "Pre-open checklist: " + "; ".join(problems)
        engine.bus.publish(
            EngineMessage(engine.clock.time_ns(), Severity.WARNING, text, "schedule")
        )
    else:
        text = "Pre-open checklist: ready (session, risk gate, instruments, calendar, disk)"
        engine.bus.publish(EngineMessage(engine.clock.time_ns(), Severity.INFO, text, "schedule"))
    return text


async def network_checklist(engine: Engine) -> str:
    """The checklist's network look, said in Messages when the answer comes."""
    config = engine.config
    assert config.address_check_url is not None
    check = await look_up_address(config.address_check_url)
    live = broker_spec(config.broker).live
    findings = address_findings(check, config.static_ips, live)
    if findings:
        text = "Pre-open checklist, network: " + "; ".join(findings)
        severity = Severity.WARNING
    else:
        where = f"public IP {check.public_ip}" if check.public_ip else "no public IP"
        text = f"Pre-open checklist, network: {where}, clock on time"
        severity = Severity.INFO
    engine.bus.publish(EngineMessage(engine.clock.time_ns(), severity, text, "schedule"))
    return text


def start_portfolios(engine: Engine, now: datetime) -> str:
    desk = engine.multileg
    marked = [
        name
        for name in desk.names()
        if (spec := desk.spec(name)) is not None
        and spec.defaults.auto_start
        and spec.defaults.enabled
        and desk.running(name) is None
    ]
    if not marked:
        return "Portfolios: none to start by themselves"
    problems = {name: desk.start(name) for name in marked}
    started = [name for name, problem in problems.items() if problem is None]
    refused = [f"{name} ({problem})" for name, problem in problems.items() if problem is not None]
    text = f"Portfolios started by the schedule: {', '.join(started) or 'none'}"
    if refused:
        text += f"; not started: {'; '.join(refused)}"
    severity = Severity.WARNING if refused else Severity.INFO
    engine.bus.publish(EngineMessage(engine.clock.time_ns(), severity, text, "schedule"))
    return text


def intraday_square_off(engine: Engine, now: datetime) -> str:
    if engine.config.always_open:
        return "Intraday square-off: not on a simulated market kept open"
    open_mis = [p for p in engine.positions.open() if p.product is Product.MIS]
    outcomes = [o for p in open_mis for o in engine.api.square_off(p.token, p.product)]
    refused = [o.reason for o in outcomes if not o.ok]
    text = f"Intraday square-off: {len(outcomes) - len(refused)} orders for {len(open_mis)} MIS positions"
    if refused:
        text += f"; refused: {'; '.join(refused)}"
    severity = Severity.WARNING if refused else Severity.INFO
    engine.bus.publish(EngineMessage(engine.clock.time_ns(), severity, text, "schedule"))
    return text


def journal_backup(engine: Engine, now: datetime) -> str:
    hours = TradingDay.on(engine.calendar, now.date())
    close = now if hours is None else min(now, hours.last_close)
    return back_up_after_session(engine, close)


END_OF_DAY = JobTime.of_day("23:59")
"""A job for the day is done on its day (the record counts runs by the day)."""

DEFAULT_JOBS = [
    DailyJob(
        "pre_open_checklist",
        JobTime.from_open(-15),
        timedelta(hours=6, minutes=30),
        pre_open_checklist,
        until=JobTime.from_close(0),
    ),
    DailyJob(
        "start_portfolios",
        JobTime.from_open(-5),
        timedelta(hours=6),
        start_portfolios,
        until=JobTime.from_close(-20),  # not after the session: a portfolio started to no market
    ),
    DailyJob(
        "intraday_square_off", JobTime.from_close(-15), timedelta(minutes=10), intraday_square_off
    ),
    DailyJob(
        REPORT_JOB,
        JobTime.from_close(15, after_close=timedelta(0)),
        timedelta(hours=8),
        end_of_day_report,
        until=END_OF_DAY,
        retry=True,
    ),
    DailyJob(
        "journal_backup",
        JobTime.of_day("16:00", after_close=timedelta(minutes=20)),  # after an evening report
        timedelta(hours=7, minutes=59),
        journal_backup,
        until=END_OF_DAY,
        retry=True,
    ),
]
