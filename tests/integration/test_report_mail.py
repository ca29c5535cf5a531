"""The end-of-day report by e-mail, against an SMTP server on 127.0.0.1 (STARTTLS and a login):
one multipart mail a day once the report is written, tried again while the server is down, and
never twice, across a restart too; a report that could not be written at first is mailed once a
later try writes it, and when none is written by the end of the grace the trader is told the mail
will not come."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest

from engine.alerts.delivery import DeliveryKeys, EmailSettings, ReportMailer
from engine.api import EngineMessage, OrderType, Product, Side
from engine.core.clock import IST, TestClock
from engine.credentials import CredentialStore
from engine.runtime import Engine
from tests.memory_keyring import MemoryKeyring
from tests.smtp_fake import Received, SmtpFake, tls_pair
from tests.support import schedule_desk as build
from tests.support import tick_stock

PASSWORD = "s3cret-app-pass"
USER = "desk@example.com"
DAY = "2026-12-04"  # a Friday, a trading day
AFTERNOON = datetime(2026, 12, 4, 15, 20, tzinfo=IST)  # the session still open


def at(clock: str) -> datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    return AFTERNOON.replace(hour=hour, minute=minute)


@pytest.fixture(scope="module")
def tls() -> tuple[Any, Any]:
    return tls_pair()


@pytest.fixture
def keys() -> DeliveryKeys:
    keys = DeliveryKeys(CredentialStore("report-mail", backend=MemoryKeyring()))
    keys.save_smtp_password(PASSWORD)
    return keys


class MailServer(SmtpFake):
    """Made, not started: each test says when the server is up (``start``)."""

    running = False

    def start(self) -> None:
        super().start()
        self.running = True


@pytest.fixture
def smtp(tls: tuple[Any, Any]) -> Iterator[MailServer]:
    fake = MailServer("starttls", users={USER: PASSWORD}, server_tls=tls[0])
    yield fake
    if fake.running:
        fake.stop()


def mailer(
    fake: SmtpFake, keys: DeliveryKeys, tls: tuple[Any, Any], **changes: object
) -> ReportMailer:
    values: dict[str, object] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": fake.port,
        "security": "starttls",
        "username": USER,
        "sender": USER,
        "recipients": ["trader@example.com"],
        "mail_daily_report": True,
    }
    values.update(changes)
    return ReportMailer(EmailSettings.model_validate(values), keys, tls_context=tls[1])


def told(engine: Engine) -> list[str]:
    seen: list[str] = []
    engine.bus.subscribe(EngineMessage, lambda m: seen.append(m.text))
    return seen


def trade_reliance(engine: Engine) -> None:
    """A delivery (CNC) buy filled on the paper market, and a later price to mark it at."""
    token = tick_stock(engine, "RELIANCE", 155_000)
    assert engine.api.place_order(token, Side.BUY, 10, OrderType.MARKET, product=Product.CNC).ok
    tick_stock(engine, "RELIANCE", 156_000)
    assert len(engine.api.trades()) == 1


async def run_until(engine: Engine, end: datetime) -> list[str]:
    """Heartbeats a minute apart until ``end``, each mail on its way awaited: the jobs run."""
    clock = engine.clock
    schedule = engine.schedule
    assert isinstance(clock, TestClock) and schedule is not None
    ran: list[str] = []
    while clock.now() < end:
        ran += [f"{clock.now():%H:%M} {name}" for name in schedule.tick(clock.now())]
        if schedule.mailing is not None:
            await asyncio.wait_for(asyncio.shield(schedule.mailing), 30)
        clock.advance(60)
    return ran


async def session(
    tmp_path: Path, start: datetime, end: datetime, report_mailer: ReportMailer | None
) -> list[str]:
    """A desk started on the profile at ``start``, mailing with ``report_mailer``, run to
    ``end`` and closed: the jobs run."""
    engine = build(tmp_path, start)
    try:
        assert engine.schedule is not None
        engine.schedule.report_mailer = report_mailer
        return await run_until(engine, end)
    finally:
        engine.close()


def parts(mail: Received) -> dict[str, Any]:
    message = mail.message
    assert message.get_content_type() == "multipart/mixed"
    found: dict[str, Any] = {}
    for part in message.walk():
        kind = part.get_content_type()
        if part.get_filename():
            found["attachment"] = (part.get_filename(), part.get_payload(decode=True))
        elif kind in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[kind] = payload.decode(part.get_content_charset() or "utf-8")
    return found


def record(tmp_path: Path) -> dict[str, Any]:
    data = json.loads((tmp_path / "schedule" / "schedule.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


async def test_report_mail_when_the_day_ends_sends_one_multipart_mail_with_the_report(
    tmp_path: Path, keys: DeliveryKeys, smtp: MailServer, tls: tuple[Any, Any]
) -> None:
    smtp.start()
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    try:
        assert engine.schedule is not None
        engine.schedule.report_mailer = mailer(smtp, keys, tls)
        trade_reliance(engine)
        ran = await run_until(engine, at("16:10"))
    finally:
        engine.close()

    assert "15:45 end_of_day_report" in ran
    report = json.loads((tmp_path / "schedule" / "reports" / f"{DAY}.json").read_text())
    assert report["fills"] == 1 and report["day_pnl"] not in ("0", "0.00")
    assert len(smtp.received) == 1
    mail = smtp.received[0]
    assert mail.tls and mail.login == USER and mail.recipients == ["trader@example.com"]
    rupees = f"{Decimal(report['day_pnl']):.2f}"
    subject = str(make_header(decode_header(mail.message["Subject"])))
    assert subject == f"DalalDesk end-of-day report {DAY}: day P&L ₹{rupees}"
    found = parts(mail)
    assert f"Day P&L (net of charges): ₹{rupees}" in found["text/plain"]
    assert "RELIANCE CNC: net 10" in found["text/plain"]
    assert found["text/html"].startswith("<!doctype html>")
    assert f"₹{rupees}" in found["text/html"]  # to the paisa, as the subject says it
    name, attached = found["attachment"]
    assert name == f"{DAY}.json" and json.loads(attached) == report
    assert f"End-of-day report of {DAY} mailed to trader@example.com" in messages
    assert record(tmp_path)["mailed"] == {"end_of_day_report": DAY}


async def test_report_mail_when_the_server_is_down_says_so_then_sends_once_it_is_back(
    tmp_path: Path,
    keys: DeliveryKeys,
    smtp: MailServer,
    tls: tuple[Any, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    try:
        schedule = engine.schedule
        assert schedule is not None
        schedule.report_mailer = mailer(smtp, keys, tls)
        trade_reliance(engine)
        await run_until(engine, at("15:46"))  # 15:45: the server is down
        assert smtp.received == [] and schedule.mailed_on("end_of_day_report") is None
        assert schedule.ran_on("end_of_day_report") == DAY
        assert record(tmp_path)["mailed"] == {}
        down = [m for m in messages if m.startswith("End-of-day report of")]
        assert len(down) == 1
        assert down[0].startswith(
            f"End-of-day report of {DAY} not mailed: the mail server 127.0.0.1:{smtp.port} "
            "could not be reached ("
        )
        assert down[0].endswith("). Tried again every 5 minutes until 23:45")
        await run_until(engine, at("15:52"))  # a second try at 15:50
        assert [m for m in messages if m.startswith("End-of-day report of")] == down  # told once

        smtp.start()
        await run_until(engine, at("15:54"))  # 15:52, 15:53: still paused
        assert smtp.received == []
        await run_until(engine, at("17:30"))  # the try at 15:55 goes out
    finally:
        engine.close()
    assert len(smtp.received) == 1
    assert record(tmp_path)["mailed"] == {"end_of_day_report": DAY}
    assert f"End-of-day report of {DAY} mailed to trader@example.com" in messages
    encoded = base64.b64encode(PASSWORD.encode()).decode()  # as AUTH LOGIN sends it
    assert PASSWORD not in caplog.text and encoded not in caplog.text
    assert "Traceback" not in caplog.text
    assert all(PASSWORD not in m for m in messages)


async def test_report_mail_after_a_restart_is_not_sent_again_and_a_failed_one_is(
    tmp_path: Path, keys: DeliveryKeys, smtp: MailServer, tls: tuple[Any, Any]
) -> None:
    first = build(tmp_path, AFTERNOON)
    try:
        assert first.schedule is not None
        first.schedule.report_mailer = mailer(smtp, keys, tls)
        trade_reliance(first)
        await run_until(first, at("15:50"))  # down at 15:45: not mailed
    finally:
        first.close()
    assert record(tmp_path)["mailed"] == {}

    smtp.start()
    # restarted at 15:50, same day
    ran = await session(tmp_path, at("15:50"), at("15:55"), mailer(smtp, keys, tls))
    assert "end_of_day_report" not in " ".join(ran)  # the report is not written twice
    assert len(smtp.received) == 1  # the written report is mailed at the first heartbeat

    # and again: mailed already
    await session(tmp_path, at("16:00"), at("18:30"), mailer(smtp, keys, tls))
    assert len(smtp.received) == 1
    saved = record(tmp_path)
    assert saved["ran"]["end_of_day_report"] == DAY and saved["ran"]["journal_backup"] == DAY
    assert saved["mailed"] == {"end_of_day_report": DAY}


async def test_report_mail_reads_a_record_from_before_mailing_and_mails_the_written_report(
    tmp_path: Path, keys: DeliveryKeys, smtp: MailServer, tls: tuple[Any, Any]
) -> None:
    await session(tmp_path, AFTERNOON, at("15:50"), None)  # no mailer: written only
    (tmp_path / "schedule" / "schedule.json").write_text(
        json.dumps({"ran": {"end_of_day_report": DAY}}), encoding="utf-8"
    )
    smtp.start()
    await session(tmp_path, at("15:50"), at("15:52"), mailer(smtp, keys, tls))
    assert len(smtp.received) == 1


async def test_report_mail_only_when_email_is_on_and_the_report_is_ticked(
    tmp_path: Path, keys: DeliveryKeys, smtp: MailServer, tls: tuple[Any, Any]
) -> None:
    smtp.start()
    engine = build(tmp_path, AFTERNOON)
    try:
        schedule = engine.schedule
        assert schedule is not None
        schedule.report_mailer = mailer(smtp, keys, tls, mail_daily_report=False)
        await run_until(engine, at("15:50"))
        schedule.report_mailer = mailer(smtp, keys, tls, enabled=False)
        await run_until(engine, at("15:55"))
        assert smtp.received == [] and schedule.mailed_on("end_of_day_report") is None
        schedule.report_mailer = mailer(smtp, keys, tls)  # ticked in Settings later that day
        await run_until(engine, at("15:57"))
    finally:
        engine.close()
    assert len(smtp.received) == 1


async def test_report_mail_when_the_login_is_refused_says_so_once_and_waits_for_a_new_password(
    tmp_path: Path,
    keys: DeliveryKeys,
    smtp: MailServer,
    tls: tuple[Any, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp.start()
    keys.save_smtp_password("not-the-password")
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    try:
        schedule = engine.schedule
        assert schedule is not None
        schedule.report_mailer = mailer(smtp, keys, tls)
        await run_until(engine, at("16:30"))
        said = [m for m in messages if m.startswith("End-of-day report of")]
        assert said == [
            f"End-of-day report of {DAY} not mailed: the mail server 127.0.0.1 refused the login "
            f"for {USER} (535): check the user name and the saved password (an app password for "
            "Gmail). Tried again when the e-mail settings or the saved password change, or the "
            "desk restarts"
        ]
        assert smtp.received == [] and "not-the-password" not in caplog.text
        # The app's "E-mail password…" saves the right one and hands the schedule its mailer again.
        keys.save_smtp_password(PASSWORD)
        schedule.report_mailer = mailer(smtp, keys, tls)
        await run_until(engine, at("16:32"))
    finally:
        engine.close()
    assert len(smtp.received) == 1 and smtp.received[0].login == USER


def block_reports(tmp_path: Path) -> Path:
    """The reports folder's place taken by a file: the report cannot be written (a full disk)."""
    blocker = tmp_path / "schedule" / "reports"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder", encoding="utf-8")
    return blocker


async def test_report_mail_when_the_report_fails_at_first_writes_and_mails_it_when_tried_again(
    tmp_path: Path, keys: DeliveryKeys, smtp: MailServer, tls: tuple[Any, Any]
) -> None:
    smtp.start()
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    try:
        assert engine.schedule is not None
        engine.schedule.report_mailer = mailer(smtp, keys, tls)
        trade_reliance(engine)
        blocker = block_reports(tmp_path)
        ran = await run_until(engine, at("15:52"))
        failed = [m for m in messages if m.startswith("end_of_day_report")]
        assert len(failed) == 1 and failed[0].startswith("end_of_day_report failed: ")
        assert failed[0].endswith(". Tried again every 5 minutes until 23:45")
        assert smtp.received == []
        blocker.unlink()  # space again
        ran += await run_until(engine, at("16:30"))
    finally:
        engine.close()
    assert [r for r in ran if "end_of_day_report" in r] == [
        "15:45 end_of_day_report",
        "15:50 end_of_day_report",
        "15:55 end_of_day_report",
    ]
    assert json.loads((tmp_path / "schedule" / "reports" / f"{DAY}.json").read_text())["fills"] == 1
    assert len(smtp.received) == 1
    assert f"end_of_day_report of {DAY} done when tried again" in messages
    assert f"End-of-day report of {DAY} mailed to trader@example.com" in messages
    assert not [m for m in messages if "not mailed" in m or "will not be mailed" in m]


async def test_report_mail_when_no_report_is_written_by_the_grace_end_says_the_mail_will_not_come(
    tmp_path: Path, keys: DeliveryKeys, smtp: MailServer, tls: tuple[Any, Any]
) -> None:
    smtp.start()
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    try:
        assert engine.schedule is not None
        engine.schedule.report_mailer = mailer(smtp, keys, tls)
        block_reports(tmp_path)  # all evening
        await run_until(engine, at("23:50"))
    finally:
        engine.close()
    assert smtp.received == []
    mail = [m for m in messages if m.startswith("End-of-day report of")]
    assert mail == [
        f"End-of-day report of {DAY} will not be mailed: the report was not written by 23:45 "
        "(the end_of_day_report messages say why)"
    ]
    assert [m for m in messages if m.startswith("end_of_day_report failed")][-1].endswith(
        f"Not tried again: its time for {DAY} ends at 23:45"
    )
