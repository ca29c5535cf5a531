"""Mailing the day's report for the schedule: once it is written, when the e-mail settings say so,
as a task the engine keeps; while the server is down, tried again every few minutes until the
report job's grace ends. The schedule keeps the record of the day mailed (``schedule.json``), so
a mail that went out is never sent again, after a restart either.

A report not written yet is waited for, not taken as a failure: the report job may write its
files a moment after it returns, or be tried again after a failure (a full disk).

The trader hears of a mail that did not go out once per outage, in words (never a traceback and
never the password), of the mail when it went, and of giving up when the grace ends, also when
no report was written to mail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from engine.alerts.delivery.channel import DeliveryError
from engine.alerts.delivery.report_mail import ReportMailer
from engine.domain.events import Severity

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

MAIL_PAUSE = timedelta(minutes=5)
"""After a mail of the day's report that did not go out, the wait before the next try."""


class ReportMailing:
    """When to try mailing the day's report, the try on its way, and what the trader was told."""

    def __init__(
        self,
        engine: Engine,
        last_try: Callable[[str], datetime | None],
        mailed: Callable[[str], None],
        tell: Callable[[Severity, str], None],
    ) -> None:
        self._engine = engine
        self._last_try = last_try
        """The last time a day's report is tried (the end of the report job's grace)."""
        self._mailed = mailed
        """Records the day as mailed (before a restart could send it again)."""
        self._tell = tell
        self._mailer: ReportMailer | None = None
        self.task: asyncio.Task[None] | None = None
        """The try on its way, if one is."""
        self._next_try: datetime | None = None
        self._failing: str | None = None
        """Why the last try failed (told once per outage), or None."""
        self._refused: str | None = None
        """The day whose mail was refused in a way a retry cannot mend (a wrong password)."""
        self._waiting: str | None = None
        """The day whose mail this session waits to send (its giving up is said once)."""

    @property
    def mailer(self) -> ReportMailer | None:
        return self._mailer

    @mailer.setter
    def mailer(self, mailer: ReportMailer | None) -> None:
        """New e-mail settings or password: a mail refused or waiting is tried at the next tick."""
        self._mailer = mailer
        self._next_try = None
        self._refused = None

    def tick(self, now: datetime, day: str, report: Path) -> None:
        """Start mailing ``day``'s report (not mailed yet) unless a try is on its way or paused.

        A report not on disk yet is waited for until the grace ends: the report job may still be
        writing it, or be tried again after a failure. Then the trader is told it will not come.
        """
        mailer = self._mailer
        if mailer is None or not mailer.wanted or self.task is not None or self._refused == day:
            return
        last_try = self._last_try(day)
        if last_try is None or now > last_try:
            self._give_up(day, report, last_try)
            return
        self._waiting = day
        if (self._next_try is not None and now < self._next_try) or not report.exists():
            return
        self.task = self._engine.spawn(
            self._send(mailer, day, report, last_try), "end-of-day-report-mail"
        )

    def _give_up(self, day: str, report: Path, last_try: datetime | None) -> None:
        """Once the grace has ended: say so if this session waited to mail ``day``'s report."""
        if self._waiting != day:
            return  # not waited for in this session (a desk started after the grace): said then
        self._waiting = None
        failing, self._failing = self._failing, None
        ended = "" if last_try is None else f" by {last_try:%H:%M}"
        if failing is not None:
            text = (
                f"End-of-day report of {day} was not mailed (the last try: {failing}); "
                f"it is saved as {report.with_suffix('.html')}"
            )
        elif not report.exists():
            text = (
                f"End-of-day report of {day} will not be mailed: the report was not written"
                f"{ended} (the end_of_day_report messages say why)"
            )
        else:
            text = (
                f"End-of-day report of {day} was not mailed{ended}; "
                f"it is saved as {report.with_suffix('.html')}"
            )
        log.warning("%s", text)
        self._tell(Severity.WARNING, text)

    async def _send(self, mailer: ReportMailer, day: str, report: Path, last_try: datetime) -> None:
        try:
            await mailer.send(report)
        except DeliveryError as problem:
            self._failed(day, problem, last_try)
            return
        except Exception as surprise:  # a bug or a library surprise: said in words, tried again
            log.error("mailing the end-of-day report failed: %s", type(surprise).__name__)
            self._failed(day, DeliveryError(f"{type(surprise).__name__} while sending"), last_try)
            return
        finally:
            self.task = None
        self._mailed(day)
        self._failing = None
        self._waiting = None
        text = f"End-of-day report of {day} mailed to {mailer.recipients}"
        refused = mailer.last_sent is not None and bool(mailer.last_sent.refused)
        log.log(logging.WARNING if refused else logging.INFO, "%s", text)
        self._tell(Severity.WARNING if refused else Severity.INFO, text)

    def _failed(self, day: str, problem: DeliveryError, last_try: datetime) -> None:
        self._next_try = self._engine.clock.now() + MAIL_PAUSE
        if not problem.retry:
            self._refused = day
            self._failing = None
            text = (
                f"End-of-day report of {day} not mailed: {problem}. Tried again when the "
                "e-mail settings or the saved password change, or the desk restarts"
            )
            log.warning("%s", text)
            self._tell(Severity.WARNING, text)
            return
        told = self._failing is not None
        self._failing = str(problem)
        if told:  # once per outage, however its errors vary
            log.info("end-of-day report of %s still not mailed: %s", day, problem)
            return
        minutes = int(MAIL_PAUSE.total_seconds() // 60)
        text = (
            f"End-of-day report of {day} not mailed: {problem}. Tried again every {minutes} "
            f"minutes until {last_try:%H:%M}"
        )
        log.warning("%s", text)
        self._tell(Severity.WARNING, text)
