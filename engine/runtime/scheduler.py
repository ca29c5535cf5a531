"""The desk's day: jobs on each NSE trading day at times that follow that day's session, each at
most once a day.

- ``pre_open_checklist`` (15 minutes before the open: 09:00 IST on a regular day): is the desk
  ready to trade? The broker session, the risk gate armed, the instruments loaded, this year's
  holidays known, free disk space for the book; the answer goes to Messages (a warning naming
  each problem). With an address check set, a second message follows: the public IP against the
  registered static IPs, and the clock's drift (``engine.runtime.preflight``).
- ``start_portfolios`` (5 minutes before the open: 09:10): start each multileg portfolio marked to
  start by itself (and enabled); one that cannot start (the session, a tag's day limit) is named
  with why.
- ``intraday_square_off`` (15 minutes before the close: 15:15): square off every intraday (MIS)
  position the desk holds, before the broker's own auto square-off charges for it.
- ``end_of_day_report`` (15 minutes after the close, once every segment has closed: 15:45): the
  day's P&L per position, charges, orders, fills and denials, written as HTML and JSON to the
  profile's ``reports`` folder, and beside them the book's performance report (per strategy,
  symbol and day, equity, drawdown, metrics, trades).
- ``journal_backup`` (16:00, or 20 minutes after the close of a session that ends later, so after
  its report): a copy of the book with the day's trading in it; skipped only when a daily copy
  was made after the day's close (a desk opened after it copies the book as it starts).

The market calendar decides both the days and the times. A trading day is a date on which NSE's
cash (CM) or F&O segment has a session: the weekdays less the holidays, plus the special sessions
(a Budget Sunday, a Muhurat hour). A job's time is a distance from that day's open or close (the
first segment to open or to close), so on the Muhurat day of 21 Oct 2025 (13:45–14:45) the
intraday square-off is at 14:30 and the report at 15:00, and a regular day keeps the times above.
APScheduler's cron rules gave the times once; with the calendar naming every date (a Sunday
session included) and every session-bound time depending on that date's session, a cron rule
would add nothing but a weekday mask the calendar overrules, so the times are read off the
calendar directly. What drives the jobs is the engine's once-a-second heartbeat on the engine's
clock, so a test clock runs a week in a moment and a replay runs on its own time. A job started
late (the desk opened after its time) still runs within its grace; later than that it waits for
the next trading day. A calendar updated while the desk runs (an imported holiday list or special
session) is read at the next heartbeat.

The heartbeat's clock is the computer's, and a computer's clock can be set back (a wrong date typed
and put right, a resume that NTP corrects). The times due are then read again from the clock as it
is now, and a run recorded for a day after the clock's (done while it ran ahead) gives way to the
run before it: today's remaining jobs run at their times and that later day's run again when it
comes. A job whose whole time the clock jumps over (the computer slept, or its clock was set ahead)
is said as missed in those words, never as a desk that was not running. The jobs themselves are
``engine.runtime.schedule_jobs``'s.

Each run is recorded in the book's ``schedule.json`` before the job starts: after a restart,
or a crash in the middle of a job, a job that ran today does not run again (a square-off twice
would be worse than once missed, and the trader is told of a failure). A job whose second run
does no harm (the report, the backup) and that failed with an error is tried again every few
minutes until its grace ends, after a restart too; the record keeps such a failure apart from a
run, so a job cut off by a crash is still never run twice.

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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from engine.alerts.delivery.report_mail import ReportMailer
from engine.domain.events import EngineMessage, Severity
from engine.runtime.report_mailing import ReportMailing
from engine.runtime.schedule_jobs import (
    DEFAULT_JOBS,
    MIN_FREE_DISK,
    REPORT_JOB,
    network_checklist,
    pre_open_checklist,
)
from engine.runtime.schedule_times import DailyJob, Window
from engine.store.files import write_json
from engine.store.urls import profile_folder

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_JOBS",
    "MIN_FREE_DISK",
    "REPORT_JOB",
    "RETRY_PAUSE",
    "DailySchedule",
    "network_checklist",
    "pre_open_checklist",
    "schedule_folder",
]
"""The jobs themselves are ``engine.runtime.schedule_jobs``'s, named here as before."""

RETRY_PAUSE = timedelta(minutes=5)
"""After a failed job whose second run is safe, the wait before it is tried again."""


def schedule_folder(profile: str) -> Path:
    """Where a profile's run records and reports live: ``<user data dir>/<profile>/schedule``."""
    return profile_folder(profile, "schedule")


class DailySchedule:
    """The jobs, when each is next due, and which ran on which day."""

    def __init__(self, engine: Engine, jobs: list[DailyJob], folder: Path | None) -> None:
        self._engine = engine
        self.jobs = jobs
        self.folder = folder
        self._ran, self._mailed, self._failed = self._load()
        """Job name -> the last trading day (ISO date) it ran for; the last it was mailed; the
        last whose run failed with an error (a job to try again, not one cut off by a crash)."""
        self._due: dict[str, Window] = {}
        self._calendar = engine.calendar
        """The calendar the windows in ``_due`` were read from."""
        self._looked: set[str] = set()
        """The jobs looked at once (and a missed run of today said) since the desk started."""
        self._retries: dict[str, tuple[Window, datetime]] = {}
        """A failed job to try again: its window and when."""
        self._failing: set[str] = set()
        """The jobs whose failure the trader was told of, with the tries to come."""
        self._unsaved = False
        """The record could not be saved the last time (said once until it saves again)."""
        self._last_now: datetime | None = None
        """The heartbeat's time at the last tick: a clock set back or jumping is seen against it."""
        self._ran_before: dict[str, str] = {}
        self._mailed_before: dict[str, str] = {}
        """Job -> the day it ran (was mailed) for before its last run: it stands again if the
        clock goes back before the last one's day."""
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
        return job.next_window(self._engine.calendar, after).at

    # -- running -----------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[str]:
        """Run whatever is due at ``now`` (from the heartbeat); the names of the jobs run."""
        if self._engine.calendar is not self._calendar:  # updated: a session added or cancelled
            self._calendar = self._engine.calendar
            self._due.clear()
        last, self._last_now = self._last_now, now
        if last is not None and now < last:
            self._clock_went_back(now)
        ran = []
        for job in self.jobs:
            window = self._due.get(job.name)
            if window is None:  # a job of today still within its grace counts
                window = self._due[job.name] = self._first_look(job, now)
            if self._try_again(job, now):
                ran.append(job.name)
            if now < window.at:
                continue
            self._due[job.name] = job.next_window(
                self._engine.calendar, window.at + timedelta(minutes=1)
            )
            day = window.day.isoformat()
            if self._ran.get(job.name) == day:
                continue  # ran before a restart (a failed one is tried again by _try_again)
            if now > window.until:
                since = "" if last is None else f" from {last:%a %d %b %H:%M} IST"
                self._tell(
                    Severity.WARNING,
                    f"{job.name} of {day} was missed: the desk's clock "
                    f"went{since} to {now:%a %d %b %H:%M} IST in one step, past its time "
                    f"({window.at:%H:%M}–{window.until:%H:%M} IST); the computer slept or its "
                    "clock was changed",
                )
                continue
            ran.append(job.name)
            self._attempt(job, window, now)
        self._mail_report(now)
        return ran

    def _clock_went_back(self, now: datetime) -> None:
        """The clock was set back: the times due are read again from ``now``, and the runs
        recorded for a day after now's (done while the clock ran ahead) give way to the run
        before them, so today's remaining jobs run and that day's run again when it comes."""
        self._due.clear()
        today = now.date()
        self._retries = {n: retry for n, retry in self._retries.items() if retry[0].day <= today}
        day = today.isoformat()
        undone = _undo_later(self._ran, self._ran_before, day)
        undone += _undo_later(self._mailed, self._mailed_before, day)
        undone += _undo_later(self._failed, {}, day)
        if not undone:
            return
        self._save()
        names = ", ".join(sorted(set(undone)))
        self._tell(
            Severity.INFO,
            f"The clock went back to {now:%a %d %b %H:%M} IST: what was recorded as done for a "
            f"later day ({names}) is done again on that day, and today's remaining jobs run at "
            "their times",
        )

    def _first_look(self, job: DailyJob, now: datetime) -> Window:
        window = job.next_window(self._engine.calendar, now, running=True)
        if job.name in self._looked:
            return window  # the calendar changed: what was missed today was said already
        self._looked.add(job.name)
        today = job.window(self._engine.calendar, now.date())
        if (
            today is not None
            and now > today.until
            and self._ran.get(job.name) != today.day.isoformat()
        ):
            self._tell(
                Severity.WARNING,
                f"{job.name} of {today.day.isoformat()} was missed (the desk was not running)",
            )
        failed = self._failed.get(job.name) == window.day.isoformat()
        if job.retry and failed and now >= window.at and job.name not in self._retries:
            self._retries[job.name] = (window, now)  # it failed before the restart: try it now
        return window

    def _try_again(self, job: DailyJob, now: datetime) -> bool:
        """Try a failed job again when its pause is over; whether it was tried."""
        retry = self._retries.get(job.name)
        if retry is None or now < retry[1]:
            return False
        window = retry[0]
        del self._retries[job.name]
        if now > window.until:  # the clock jumped past the grace (the desk was asleep)
            self._failing.discard(job.name)
            self._tell(
                Severity.ERROR,
                f"{job.name} of {window.day.isoformat()} was not done: it failed, and its time "
                f"ended at {window.until:%H:%M} before it was tried again",
            )
            return False
        self._attempt(job, window, now)
        return True

    def _attempt(self, job: DailyJob, window: Window, now: datetime) -> None:
        day = window.day.isoformat()
        if (before := self._ran.get(job.name)) is not None and before != day:
            self._ran_before[job.name] = before
        self._ran[job.name] = day  # before the job: one cut off by a crash never runs twice
        self._failed.pop(job.name, None)
        self._save()
        try:
            text = job.run(self._engine, now)
        except Exception as failure:  # the trader's to know, never the desk's end
            self._job_failed(job, window, now, failure)
            return
        log.info("scheduled job %s: %s", job.name, text)
        if job.name in self._failing:
            self._failing.discard(job.name)
            self._tell(Severity.INFO, f"{job.name} of {day} done when tried again")

    def _job_failed(self, job: DailyJob, window: Window, now: datetime, failure: Exception) -> None:
        if job.name in self._failing:  # said once, with its traceback; the tries go on in the log
            log.warning("scheduled job %s failed again: %s", job.name, failure)
        else:
            log.error("scheduled job %s failed", job.name, exc_info=failure)
        if not job.retry:
            self._tell(Severity.ERROR, f"{job.name} failed: {failure}")
            return
        day = window.day.isoformat()
        self._failed[job.name] = day
        self._save()
        again = now + RETRY_PAUSE
        if again > window.until:
            self._failing.discard(job.name)
            self._tell(
                Severity.ERROR,
                f"{job.name} failed: {failure}. Not tried again: its time for {day} ends at "
                f"{window.until:%H:%M}",
            )
            return
        self._retries[job.name] = (window, again)
        if job.name in self._failing:
            return
        self._failing.add(job.name)
        minutes = int(RETRY_PAUSE.total_seconds() // 60)
        self._tell(
            Severity.ERROR,
            f"{job.name} failed: {failure}. Tried again every {minutes} minutes until "
            f"{window.until:%H:%M}",
        )

    def _mail_report(self, now: datetime) -> None:
        """The report written last, if it is not mailed yet (and Settings say to mail it)."""
        written = self._ran.get(REPORT_JOB)
        if written is None or self.folder is None or self._mailed.get(REPORT_JOB) == written:
            return
        self._mail.tick(now, written, self.folder / "reports" / f"{written}.json")

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
        window = job.window(self._engine.calendar, date.fromisoformat(day))
        return None if window is None else window.until

    def _mailed_now(self, day: str) -> None:
        if (before := self._mailed.get(REPORT_JOB)) is not None and before != day:
            self._mailed_before[REPORT_JOB] = before
        self._mailed[REPORT_JOB] = day
        self._save()

    # -- the record --------------------------------------------------------------------------------

    def _load(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """``ran``, ``mailed`` and ``failed`` (a record from before mailing has none)."""
        if self.folder is None:
            return {}, {}, {}
        path = self.folder / "schedule.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, {}, {}
        except (OSError, ValueError) as problem:
            log.warning(
                "the schedule's record %s could not be read (%s); starting afresh", path, problem
            )
            return {}, {}, {}
        if not isinstance(data, dict):
            return {}, {}, {}
        return _days(data.get("ran")), _days(data.get("mailed")), _days(data.get("failed"))

    def _save(self) -> None:
        if self.folder is None:
            return
        record = {"ran": self._ran, "mailed": self._mailed, "failed": self._failed}
        unsaved = write_json(self.folder / "schedule.json", record)
        if unsaved is None:
            self._unsaved = False
        elif not self._unsaved:  # once until it saves again, however many saves fail meanwhile
            self._unsaved = True
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


def _undo_later(record: dict[str, str], before: dict[str, str], today: str) -> list[str]:
    """Take out of ``record`` the days after ``today`` (ISO dates compare as text), putting
    back the day before each where it is not later too; the names of the jobs undone."""
    undone = [name for name, day in record.items() if day > today]
    for name in undone:
        earlier = before.pop(name, None)
        if earlier is not None and earlier <= today:
            record[name] = earlier
        else:
            del record[name]
    return undone
