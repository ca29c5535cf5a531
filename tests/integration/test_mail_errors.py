"""What the mail server says no to, against real SMTP servers on 127.0.0.1 (aiosmtpd): a refused
address, a security setting the server does not match, a login refused for now. A setting to
change is said in words and not tried again; a server that says "later" is tried again; a mail
the server took for some addresses is not sent again, and the trader reads whom it missed."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from engine.alerts.delivery import DeliveryKeys, EmailSettings, ReportMailer, send_test
from engine.alerts.delivery.channel import DeliveryError
from engine.credentials import CredentialStore
from engine.domain.events import EngineMessage, Severity
from tests.integration.test_report_mail import AFTERNOON, DAY, at, build, record, run_until, told
from tests.memory_keyring import MemoryKeyring
from tests.smtp_fake import SmtpFake, free_port, tls_pair

PASSWORD = "pw-Zq81-secret"
USER = "desk@example.com"
UNKNOWN = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"


class Mailbox:
    """A plain SMTP server's handler: refuses the addresses in ``refusals`` (address -> the
    server's reply) and records each RCPT and each mail delivered."""

    def __init__(self) -> None:
        self.refusals: dict[str, str] = {}
        self.rcpt: list[str] = []
        self.delivered: list[list[str]] = []

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.rcpt.append(address)
        refusal = self.refusals.get(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.delivered.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class BusyLogins:
    """Answers AUTH with 454 4.7.0 (as a busy or rate-limiting server does) while ``busy``."""

    def __init__(self) -> None:
        self.busy = True
        self.tries = 0

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.tries += 1
        if self.busy:
            return AuthResult(
                success=False,
                handled=False,
                message="454 4.7.0 Temporary authentication failure, try later",
            )
        right = isinstance(data, LoginPassword) and data.password.decode() == PASSWORD
        return AuthResult(success=right, auth_data=USER if right else None)


@pytest.fixture
def keys() -> DeliveryKeys:
    keys = DeliveryKeys(CredentialStore("mail-errors", backend=MemoryKeyring()))
    keys.save_smtp_password(PASSWORD)
    return keys


@contextmanager
def serving(handler: object, **options: Any) -> Iterator[int]:
    """A real SMTP server on 127.0.0.1 with this handler, for the ``with`` block: its port."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def plain_port(mailbox: Mailbox) -> Iterator[int]:
    """A plain server without STARTTLS or AUTH (a relay on the local network)."""
    with serving(mailbox) as port:
        yield port


def settings(port: int, **changes: object) -> EmailSettings:
    values: dict[str, object] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": USER,
        "recipients": ["trader@example.com"],
        "mail_daily_report": True,
    }
    return EmailSettings.model_validate(values | changes)


def saved_report(tmp_path: Path) -> Path:
    report = tmp_path / f"{DAY}.json"
    report.write_text(f'{{"day": "{DAY}", "day_pnl": "1250.50"}}', encoding="utf-8")
    report.with_suffix(".html").write_text("<!doctype html><p>report</p>", encoding="utf-8")
    return report


def mail_lines(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith("End-of-day report of")]


async def test_report_mail_when_the_only_recipient_is_refused_names_it_and_is_not_retried(
    tmp_path: Path, keys: DeliveryKeys, mailbox: Mailbox, plain_port: int
) -> None:
    mailbox.refusals["gone@example.com"] = UNKNOWN
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    try:
        assert engine.schedule is not None
        engine.schedule.report_mailer = ReportMailer(
            settings(plain_port, recipients=["gone@example.com"]), keys
        )
        await run_until(engine, at("18:00"))
    finally:
        engine.close()
    assert mailbox.rcpt == ["gone@example.com"]  # asked once, not every 5 minutes all evening
    assert mailbox.delivered == []
    assert mail_lines(messages) == [
        f"End-of-day report of {DAY} not mailed: the mail server 127.0.0.1 refused "
        f"gone@example.com ({UNKNOWN}): correct the address in Settings → Notifications → "
        "E-mail. Tried again when the e-mail settings or the saved password change, or the "
        "desk restarts"
    ]
    assert record(tmp_path)["mailed"] == {}


async def test_report_mail_when_one_recipient_is_refused_goes_to_the_others_once_and_names_it(
    tmp_path: Path, keys: DeliveryKeys, mailbox: Mailbox, plain_port: int
) -> None:
    mailbox.refusals["gone@example.com"] = UNKNOWN
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    warnings: list[str] = []
    engine.bus.subscribe(
        EngineMessage,
        lambda m: warnings.append(m.text) if m.severity is Severity.WARNING else None,
    )
    try:
        assert engine.schedule is not None
        engine.schedule.report_mailer = ReportMailer(
            settings(plain_port, recipients=["trader@example.com", "gone@example.com"]), keys
        )
        await run_until(engine, at("18:00"))
    finally:
        engine.close()
    assert mail_lines(warnings) == mail_lines(messages)  # a refused address is a warning
    assert mailbox.delivered == [["trader@example.com"]]
    assert mailbox.rcpt == ["trader@example.com", "gone@example.com"]  # not sent again
    assert mail_lines(messages) == [
        f"End-of-day report of {DAY} mailed to trader@example.com; the mail server 127.0.0.1 "
        f"refused gone@example.com ({UNKNOWN}): correct or remove that address in Settings → "
        "Notifications → E-mail"
    ]
    assert record(tmp_path)["mailed"] == {"end_of_day_report": DAY}


async def test_mail_alert_when_one_recipient_is_refused_says_so_instead_of_sent_to_all(
    keys: DeliveryKeys, mailbox: Mailbox, plain_port: int
) -> None:
    mailbox.refusals["gone@example.com"] = UNKNOWN
    ok, text = await send_test(
        settings(plain_port, recipients=["trader@example.com", "gone@example.com"]), keys
    )
    assert (ok, text) == (
        False,
        f"Not sent: the mail server 127.0.0.1 refused gone@example.com ({UNKNOWN}): correct or "
        "remove that address in Settings → Notifications → E-mail (it went to "
        "trader@example.com).",
    )
    assert mailbox.delivered == [["trader@example.com"]]


async def test_report_mail_when_a_recipient_is_refused_for_now_is_tried_again_and_sent(
    tmp_path: Path, keys: DeliveryKeys, mailbox: Mailbox, plain_port: int
) -> None:
    greylisted = "450 4.2.0 <trader@example.com>: Recipient address rejected: Greylisted"
    mailbox.refusals["trader@example.com"] = greylisted
    engine = build(tmp_path, AFTERNOON)
    messages = told(engine)
    try:
        assert engine.schedule is not None
        engine.schedule.report_mailer = ReportMailer(settings(plain_port), keys)
        await run_until(engine, at("15:47"))  # 15:45: greylisted
        assert mailbox.delivered == []
        mailbox.refusals.clear()  # the greylist lets the sender through on the next try
        await run_until(engine, at("16:00"))
    finally:
        engine.close()
    assert mailbox.delivered == [["trader@example.com"]]
    assert mail_lines(messages) == [
        f"End-of-day report of {DAY} not mailed: the mail server 127.0.0.1 refused "
        f"trader@example.com ({greylisted}) for now; it will be tried again. Tried again every "
        "5 minutes until 23:45",
        f"End-of-day report of {DAY} mailed to trader@example.com",
    ]


def security_cases() -> list[Any]:
    return [
        pytest.param(
            "plain",
            {"security": "ssl"},
            "does not speak SSL on this port (TLS failed: WRONG_VERSION_NUMBER): choose "
            "STARTTLS (port 587 on most servers), or the server's SSL port (465 on most)",
            id="ssl-against-a-plain-server",
        ),
        pytest.param(
            "plain",
            {"security": "starttls", "username": USER},
            "does not offer STARTTLS: check the port (587 on most servers), choose SSL if the "
            "server has it (port 465 on most), or none only for a server on this machine or a "
            "trusted network",
            id="starttls-against-a-server-without-it",
        ),
        pytest.param(
            "plain",
            {"security": "none", "username": USER},
            "offers no login on this connection: choose STARTTLS or SSL (most servers take a "
            "login only over TLS)",
            id="login-without-tls-against-a-server-offering-none",
        ),
        pytest.param(
            "self-signed",
            {"security": "starttls", "username": USER},
            "showed a certificate this computer does not trust (self-signed certificate): enter "
            "the server's name as its certificate has it (such as smtp.gmail.com, not an IP "
            "address), or have its administrator install a certificate from a trusted authority",
            id="starttls-with-an-untrusted-certificate",
        ),
    ]


@pytest.mark.parametrize(("server", "changes", "words"), security_cases())
async def test_report_mail_when_the_security_does_not_match_the_server_says_what_to_change(
    tmp_path: Path,
    keys: DeliveryKeys,
    mailbox: Mailbox,
    plain_port: int,
    server: str,
    changes: dict[str, object],
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake: SmtpFake | None = None
    port = plain_port
    if server == "self-signed":
        fake = SmtpFake("starttls", users={USER: PASSWORD}, server_tls=tls_pair()[0])
        fake.start()
        port = fake.port
    try:
        mailer = ReportMailer(settings(port, **changes), keys)  # trusts the system's CAs
        with pytest.raises(DeliveryError) as refused:
            await mailer.send(saved_report(tmp_path))
    finally:
        if fake is not None:
            fake.stop()
    assert str(refused.value) == f"the mail server 127.0.0.1:{port} {words}"
    assert refused.value.retry is False
    assert "could not be reached" not in str(refused.value)
    assert mailbox.delivered == [] and (fake is None or fake.received == [])
    assert PASSWORD not in str(refused.value) and PASSWORD not in caplog.text


async def test_report_mail_when_the_login_is_refused_for_now_is_tried_again_and_sent(
    tmp_path: Path, keys: DeliveryKeys, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logins = BusyLogins()
    with serving(mailbox, authenticator=logins, auth_require_tls=False) as port:
        engine = build(tmp_path, AFTERNOON)
        messages = told(engine)
        try:
            assert engine.schedule is not None
            engine.schedule.report_mailer = ReportMailer(settings(port, username=USER), keys)
            await run_until(engine, at("15:50"))  # 15:45: 454, the login refused for now
            assert logins.tries > 0 and mailbox.delivered == []
            logins.busy = False  # the server takes logins again
            await run_until(engine, at("16:30"))
        finally:
            engine.close()
    assert mailbox.delivered == [["trader@example.com"]]
    assert mail_lines(messages) == [
        f"End-of-day report of {DAY} not mailed: the mail server 127.0.0.1 refused the login "
        f"for {USER} for now (454 4.7.0 Temporary authentication failure, try later); it will "
        "be tried again. Tried again every 5 minutes until 23:45",
        f"End-of-day report of {DAY} mailed to trader@example.com",
    ]
    assert record(tmp_path)["mailed"] == {"end_of_day_report": DAY}
    encoded = base64.b64encode(PASSWORD.encode()).decode()  # as AUTH LOGIN sends it
    assert PASSWORD not in caplog.text and encoded not in caplog.text
    assert all(PASSWORD not in m for m in messages)
