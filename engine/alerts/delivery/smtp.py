"""E-mail through an SMTP server, with aiosmtplib on the engine's loop (STARTTLS, SSL or plain).

aiosmtplib rather than the standard library's smtplib in a thread: a send is then a coroutine
that shutdown can cancel and that holds no executor thread while a slow server answers.

The session is driven step by step (connect, STARTTLS, login, the mail) rather than through
``aiosmtplib.send``, so a failure is known by the step it happened at: a server without STARTTLS
or a login, a TLS handshake on a plain port, an untrusted certificate, a refused address. Those
are settings to change, said in words and not retried; only a server that cannot be reached or
answers "try later" (4xx) is tried again.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from engine.alerts.delivery.channel import DeliveryError
from engine.alerts.delivery.settings import EmailSettings, Security

TIMEOUT = 20.0

WHERE_ADDRESSES_ARE = "Settings → Notifications → E-mail"


@dataclass(frozen=True, slots=True)
class Sent:
    """Where one mail went: the addresses the server took, and those it refused with its reply
    (an address the server refuses does not stop the mail to the others)."""

    host: str
    accepted: tuple[str, ...]
    refused: tuple[tuple[str, str], ...] = ()
    """(address, the server's reply), for each address the server would not take."""

    @property
    def refusal(self) -> str:
        """The refused addresses and the server's reasons in words; "" when none was refused."""
        if not self.refused:
            return ""
        which = "that address" if len(self.refused) == 1 else "those addresses"
        return (
            f"the mail server {self.host} refused {_each(self.refused)}: correct or remove "
            f"{which} in {WHERE_ADDRESSES_ARE}"
        )

    @property
    def where(self) -> str:
        """Whom the mail went to, then whom the server refused and why."""
        went = ", ".join(self.accepted)
        return f"{went}; {self.refusal}" if self.refused else went


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
        """An alert or a test message; an address refused while others took it is a
        ``DeliveryError`` too (not retried: the others have it), so the trader hears of it."""
        message = self.compose(subject)
        message.set_content(text)
        sent = await self.send_message(message)
        if sent.refused:
            raise DeliveryError(
                f"{sent.refusal} (it went to {', '.join(sent.accepted)})", retry=False
            )

    async def send_message(self, message: EmailMessage) -> Sent:
        """Deliver a composed message once (no retries here) and say where it went;
        ``DeliveryError`` in words, with the password never in them, when it went nowhere."""
        s = self._settings
        if s.username and not self._password:
            raise DeliveryError(
                "no SMTP password is saved for this profile: save it in Settings", retry=False
            )
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security is Security.SSL,
            start_tls=False,  # done below, where a server without it can be told apart
            tls_context=self._tls,
            timeout=TIMEOUT,
        )
        try:
            async with client:
                await self._secure_and_log_in(client)
                errors, _ = await client.send_message(message, recipients=list(s.recipients))
        except DeliveryError:
            raise
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise self._login_refused(exc) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise self._every_address_refused(exc) from None
        except aiosmtplib.SMTPSenderRefused as exc:
            raise DeliveryError(
                f"the mail server {s.host} refused the From address {s.sender} "
                f"({exc.code} {self.redact(exc.message)})"
                + ("" if _temporary(exc.code) else ": use an address this login may send from"),
                retry=_temporary(exc.code),
            ) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise DeliveryError(
                f"the mail server {s.host} cannot take this mail ({self.redact(exc.message)})",
                retry=False,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"the mail server {s.host} refused the message ({exc.code} "
                f"{self.redact(exc.message)})",
                retry=_temporary(exc.code),
            ) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise self._not_connected(exc) from None
        accepted = tuple(a for a in s.recipients if a not in errors)
        refused = tuple((a, self.redact(_reply(reply))) for a, reply in errors.items())
        return Sent(s.host, accepted, refused)

    async def _secure_and_log_in(self, client: aiosmtplib.SMTP) -> None:
        """STARTTLS and the login as the settings say, or ``DeliveryError`` naming the setting
        to change when the server offers neither."""
        s = self._settings
        where = f"{s.host}:{s.port}"
        if s.security is Security.STARTTLS:
            await client.ehlo()
            if not client.supports_extension("starttls"):
                raise DeliveryError(
                    f"the mail server {where} does not offer STARTTLS: check the port (587 on "
                    "most servers), choose SSL if the server has it (port 465 on most), or "
                    "none only for a server on this machine or a trusted network",
                    retry=False,
                )
            await client.starttls()
        if not s.username:
            return
        await client.ehlo()
        if not client.supports_extension("auth"):
            raise DeliveryError(
                f"the mail server {where} offers no login on this connection: "
                + (
                    "choose STARTTLS or SSL (most servers take a login only over TLS)"
                    if s.security is Security.NONE
                    else "clear the user name if the server needs no login"
                ),
                retry=False,
            )
        await client.login(s.username, self._password or "")

    def _login_refused(self, exc: aiosmtplib.SMTPResponseException) -> DeliveryError:
        s = self._settings
        if _temporary(exc.code):  # busy, or limiting logins for a while (454 4.7.0)
            return DeliveryError(
                f"the mail server {s.host} refused the login for {s.username} for now "
                f"({exc.code} {self.redact(exc.message)}); it will be tried again"
            )
        return DeliveryError(
            f"the mail server {s.host} refused the login for {s.username} ({exc.code}): "
            "check the user name and the saved password (an app password for Gmail)",
            retry=False,
        )

    def _every_address_refused(self, exc: aiosmtplib.SMTPRecipientsRefused) -> DeliveryError:
        """Every address refused: for good (5xx) the address is to be corrected; a server that
        said "later" for any of them (4xx: a full mailbox, greylisting) is asked again."""
        host = self._settings.host
        refused = tuple((each.recipient, self.redact(_reply(each))) for each in exc.recipients)
        if any(_temporary(each.code) for each in exc.recipients):
            return DeliveryError(
                f"the mail server {host} refused {_each(refused)} for now; it will be tried again"
            )
        which = "the address" if len(refused) == 1 else "the addresses"
        return DeliveryError(
            f"the mail server {host} refused {_each(refused)}: correct {which} in "
            f"{WHERE_ADDRESSES_ARE}",
            retry=False,
        )

    def _not_connected(self, exc: BaseException) -> DeliveryError:
        """No session: a TLS handshake that failed is a setting to change (not retried); a
        server that is down, slow or cut us off is tried again."""
        s = self._settings
        where = f"{s.host}:{s.port}"
        tls = _tls_failure(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            return DeliveryError(
                f"the mail server {where} showed a certificate this computer does not trust "
                f"({tls.verify_message or tls.reason}): enter the server's name as its "
                "certificate has it (such as smtp.gmail.com, not an IP address), or have its "
                "administrator install a certificate from a trusted authority",
                retry=False,
            )
        if tls is not None and s.security is Security.SSL:
            return DeliveryError(
                f"the mail server {where} does not speak SSL on this port (TLS failed: "
                f"{tls.reason or tls}): choose STARTTLS (port 587 on most servers), or the "
                "server's SSL port (465 on most)",
                retry=False,
            )
        if tls is not None:
            return DeliveryError(
                f"the TLS handshake with the mail server {where} failed ({tls.reason or tls}): "
                "check the security (SSL, STARTTLS or none) and the port your mail provider "
                "gives",
                retry=False,
            )
        hint = (
            ": port 465 usually expects SSL"
            if s.port == 465 and s.security is not Security.SSL and isinstance(exc, TimeoutError)
            else ""
        )
        return DeliveryError(
            f"the mail server {where} could not be reached ({self.redact(_words(exc))}){hint}"
        )

    async def close(self) -> None:
        return None


def _each(refused: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{address} ({reply})" for address, reply in refused)


def _reply(response: aiosmtplib.SMTPResponse | aiosmtplib.SMTPResponseException) -> str:
    return f"{response.code} {response.message}"


def _temporary(code: int) -> bool:
    """A 4xx reply: the server asks us to try again later."""
    return 400 <= code < 500


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS failure behind ``exc`` (aiosmtplib wraps one met while connecting), unless it is
    a connection cut mid-handshake, which trying again may mend."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            cut = isinstance(seen, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError)
            return None if cut else seen
        seen = seen.__cause__
    return None


def _words(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    text = str(exc)
    return text or type(exc).__name__
