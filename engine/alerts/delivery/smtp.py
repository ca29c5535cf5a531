"""E-mail through an SMTP server, with aiosmtplib on the engine's loop (STARTTLS, SSL or plain).

aiosmtplib rather than the standard library's smtplib in a thread: a send is then a coroutine
that shutdown can cancel and that holds no executor thread while a slow server answers.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from engine.alerts.delivery.channel import DeliveryError
from engine.alerts.delivery.settings import EmailSettings, Security

TIMEOUT = 20.0


class EmailChannel:
    name = "E-mail"

    def __init__(
        self,
        settings: EmailSettings,
        password: str | None,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._password = password
        self._tls = tls_context
        """Who to trust for TLS; None trusts the system's certificate authorities."""

    def __repr__(self) -> str:
        s = self._settings
        return f"EmailChannel({s.host}:{s.port}, {s.security.value})"

    def redact(self, text: str) -> str:
        return text.replace(self._password, "<password>") if self._password else text

    def compose(self, subject: str) -> EmailMessage:
        """A message from the sender to the recipients with this subject, for a body to be set."""
        s = self._settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = ", ".join(s.recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="dalaldesk.local")
        return message

    async def send(self, subject: str, text: str) -> None:
        message = self.compose(subject)
        message.set_content(text)
        await self.send_message(message)

    async def send_message(self, message: EmailMessage) -> None:
        """Deliver a composed message once (no retries here); ``DeliveryError`` in words, with
        the password never in them, when it was not delivered."""
        s = self._settings
        login = bool(s.username)
        if login and not self._password:
            raise DeliveryError(
                "no SMTP password is saved for this profile: save it in Settings", retry=False
            )
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username if login else None,
                password=self._password if login else None,
                use_tls=s.security is Security.SSL,
                start_tls=s.security is Security.STARTTLS,
                tls_context=self._tls,
                timeout=TIMEOUT,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"the mail server {s.host} refused the login for {s.username} ({exc.code}): "
                "check the user name and the saved password (an app password for Gmail)",
                retry=False,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"the mail server {s.host} refused the message ({exc.code} "
                f"{self.redact(exc.message)})",
                retry=exc.code >= 400 and exc.code < 500,
            ) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"the mail server {s.host}:{s.port} could not be reached "
                f"({self.redact(_words(exc))})"
            ) from None

    async def close(self) -> None:
        return None


def _words(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    text = str(exc)
    return text or type(exc).__name__
