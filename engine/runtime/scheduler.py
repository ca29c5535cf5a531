"""The desk's day: jobs at set times on NSE trading days, each at most once a day.

- ``pre_open_checklist`` (09:00 IST): is the desk ready to trade? The broker session, the risk
  gate armed, the instruments loaded, this year's holidays known, free disk space for the book;
  the answer goes to Messages (a warning naming each problem). With an address check set, a
  second message follows: the public IP against the registered static IPs, and the clock's
  drift (``engine.runtime.preflight``).
- ``start_portfolios`` (09:10): start each multileg portfolio marked to start by itself (and
  enabled); one that cannot start (the session, a tag's day limit) is named with why.
- ``intraday_square_off`` (15:15): square off every intraday (MIS) position the desk holds, before
  the broker's own auto square-off charges for it.
- ``end_of_day_report`` (15:45): the day's P&L per position, charges, orders, fills and denials,
  written as HTML and JSON to the profile's ``reports`` folder, and beside them the book's
  performance report (per strategy, symbol and day, equity, drawdown, metrics, trades).
- ``journal_backup`` (16:00): a copy of the book.

When a job is due comes from an APScheduler ``CronTrigger`` (the maintained scheduler's cron rules,
in IST) and the market calendar, which skips weekends and NSE holidays; what drives it is the
engine's once-a-second heartbeat on the engine's clock, so a test clock runs a week in a moment
and a replay runs on its own time. A job started late (the desk opened after its time) still runs
within its grace; later than that it waits for the next trading day.

Each run is recorded in the profile's ``schedule.json`` before the job starts: after a restart,
or a crash in the middle of a job, a job that ran today does not run again (a square-off twice
would be worse than once missed, and the trader is told of a failure).

With "Mail the end-of-day report" ticked on the e-mail settings (``report_mailer``, set by the app
once it knows the settings), the day's report is mailed once written. The record keeps "mailed"
apart from "ran", written once the server took the mail: a mail that did not go out (the server
down) is tried again every few minutes until the report job's grace ends, after a restart too,
and one that went out is never sent again (``engine.runtime.report_mailing``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.triggers.cron import CronTrigger

from engine.alerts.delivery.report_mail import ReportMailer
from engine.brokers.registry import broker_spec
from engine.calendar import CalendarNotLoaded
from engine.core.clock import IST
from engine.domain.events import EngineMessage, Severity
from engine.domain.orders import Product
from engine.runtime.day_report import end_of_day_report
from engine.runtime.preflight import address_findings, look_up_address
from engine.runtime.report_mailing import ReportMailing
from engine.store.files import write_json
from engine.store.urls import profile_folder

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

MIN_FREE_DISK = 1_000_000_000
"""Below this much free space on the book's disk, the checklist warns (a full disk holds orders)."""

REPORT_JOB = "end_of_day_report"
"""The job whose report is mailed."""


def schedule_folder(profile: str) -> Path:
    """Where a profile's run records and reports live: ``<user data dir>/<profile>/schedule``."""
    return profile_folder(profile, "schedule")


@dataclass(frozen=True, slots=True)
class DailyJob:
    name: str
    at: str
    """``HH:MM`` IST."""
    grace: timedelta
    """How late after ``at`` the job still runs (a desk opened late)."""
    run: Callable[[Engine, datetime], str]
    """Does the job; returns what happened, in words."""

    def trigger(self) -> CronTrigger:
        hour, minute = (int(part) for part in self.at.split(":"))
        return CronTrigger(day_of_week="mon-fri", hour=hour, minute=minute, timezone=IST)


class DailySchedule:
    """The jobs, when each is next due, and which ran on which day."""

    def __init__(self, engine: Engine, jobs: list[DailyJob], folder: Path | None) -> None:
        self._engine = engine
        self.jobs = jobs
        self.folder = folder
        self._ran, self._mailed = self._load()
        """Job name -> the last trading day (ISO date) it ran for; and the last it was mailed."""
        self._due: dict[str, datetime] = {}
        self._mail = ReportMailing(engine, self._last_mail_try, self._mailed_now, self._tell)

    @property
    def report_mailer(self) -> ReportMailer | None:
        return self._mail.mailer

    @report_mailer.setter
    def report_mailer(self, mailer: ReportMailer | None) -> None:
        """The e-mail settings (the app sets them when known, and again when they change)."""
        self._mail.mailer = mailer

    # -- when --------------------------------------------------------------------------------------

    def next_due(self, job: DailyJob, after: datetime) -> datetime:
        """The job's first time on a trading day at or after ``after``."""
        trigger = job.trigger()
        moment = trigger.get_next_fire_time(None, after)
        while moment is not None and not self._trading_day(moment.date()):
            moment = trigger.get_next_fire_time(moment, moment + timedelta(minutes=1))
        assert moment is not None  # a weekday cron always has a next time
        return moment

    def _trading_day(self, day: date) -> bool:
        try:
            return self._engine.calendar.is_trading_day(day)
        except CalendarNotLoaded:
            return True  # a year whose holidays are unknown: weekdays (the checklist says so)

    # -- running -----------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[str]:
        """Run whatever is due at ``now`` (from the heartbeat); the names of the jobs run."""
        ran = []
        for job in self.jobs:
            due = self._due.get(job.name)
            if due is None:  # the first look: a job of today still within its grace counts
                self._missed_today(job, now)
                due = self._due[job.name] = self.next_due(job, now - job.grace)
            if now < due:
                continue
            day = due.date().isoformat()
            self._due[job.name] = self.next_due(job, due + timedelta(minutes=1))
            if self._ran.get(job.name) == day:
                continue  # ran before a restart
            if now - due > job.grace:
                self._tell(
                    Severity.WARNING, f"{job.name} of {day} was missed (the desk was not running)"
                )
                continue
            self._ran[job.name] = day
            self._save()
            ran.append(job.name)
            self._run(job, now)
        self._mail_report(now)
        return ran

    def _mail_report(self, now: datetime) -> None:
        """The report written last, if it is not mailed yet (and Settings say to mail it)."""
        written = self._ran.get(REPORT_JOB)
        if written is None or self.folder is None or self._mailed.get(REPORT_JOB) == written:
            return
        self._mail.tick(now, written, self.folder / "reports" / f"{written}.json")

    def _missed_today(self, job: DailyJob, now: datetime) -> None:
        today = self.next_due(job, now.replace(hour=0, minute=0, second=0, microsecond=0))
        day = today.date().isoformat()
        if (
            today.date() == now.date()
            and now - today > job.grace
            and self._ran.get(job.name) != day
        ):
            self._tell(
                Severity.WARNING, f"{job.name} of {day} was missed (the desk was not running)"
            )

    def _run(self, job: DailyJob, now: datetime) -> None:
        try:
            text = job.run(self._engine, now)
        except (
            Exception
        ) as failure:  # a job's failure is the trader's to know, never the desk's end
            log.exception("scheduled job %s failed", job.name)
            self._tell(Severity.ERROR, f"{job.name} failed: {failure}")
            return
        log.info("scheduled job %s: %s", job.name, text)

    def ran_on(self, name: str) -> str | None:
        return self._ran.get(name)

    def mailed_on(self, name: str) -> str | None:
        return self._mailed.get(name)

    @property
    def mailing(self) -> asyncio.Task[None] | None:
        """The day's report on its way to the mail server, if it is."""
        return self._mail.task

    def _last_mail_try(self, day: str) -> datetime | None:
        """The end of the report job's grace on ``day``: the last time its mail is tried."""
        job = next((j for j in self.jobs if j.name == REPORT_JOB), None)
        if job is None:
            return None
        return self.next_due(job, datetime.fromisoformat(day).replace(tzinfo=IST)) + job.grace

    def _mailed_now(self, day: str) -> None:
        self._mailed[REPORT_JOB] = day
        self._save()

    # -- the record --------------------------------------------------------------------------------

    def _load(self) -> tuple[dict[str, str], dict[str, str]]:
        """``ran`` and ``mailed`` (a record from before mailing has none)."""
        if self.folder is None:
            return {}, {}
        path = self.folder / "schedule.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, {}
        except (OSError, ValueError) as problem:
            log.warning(
                "the schedule's record %s could not be read (%s); starting afresh", path, problem
            )
            return {}, {}
        if not isinstance(data, dict):
            return {}, {}
        return _days(data.get("ran")), _days(data.get("mailed"))

    def _save(self) -> None:
        if self.folder is None:
            return
        record = {"ran": self._ran, "mailed": self._mailed}
        unsaved = write_json(self.folder / "schedule.json", record)
        if unsaved is not None:
            self._tell(
                Severity.WARNING,
                f"the schedule's record was not saved ({unsaved}); a job may run again after a restart",
            )

    def _tell(self, severity: Severity, text: str) -> None:
        self._engine.bus.publish(
            EngineMessage(self._engine.clock.time_ns(), severity, text, "schedule")
        )


def _days(names: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


# -- the jobs ----------------------------------------------------------------------------------------


def pre_open_checklist(engine: Engine, now: datetime) -> str:
    problems = []
    paused = engine.api.trading_paused()
    if paused is not None:
        problems.append(paused)
    if not any(True for _ in engine.api.instruments):
        problems.append("no instruments are loaded")
    if engine.calendar.is_provisional(now.year):
        problems.append(f"NSE's {now.year} holidays are not loaded (Settings → Calendar)")
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
    copy = engine.back_up("daily")
    return (
        "no backup needed (an empty book or today's copy exists)"
        if copy is None
        else f"book copied to {copy}"
    )


DEFAULT_JOBS = [
    DailyJob("pre_open_checklist", "09:00", timedelta(hours=6, minutes=30), pre_open_checklist),
    DailyJob("start_portfolios", "09:10", timedelta(hours=6), start_portfolios),
    DailyJob("intraday_square_off", "15:15", timedelta(minutes=10), intraday_square_off),
    DailyJob("end_of_day_report", "15:45", timedelta(hours=8), end_of_day_report),
    DailyJob("journal_backup", "16:00", timedelta(hours=7, minutes=59), journal_backup),
]
