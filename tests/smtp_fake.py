"""An SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that records what it receives, with
LOGIN/PLAIN authentication and STARTTLS or SSL on a certificate made for the test.

``tls_pair()`` makes a self-signed certificate for 127.0.0.1 with ``cryptography`` and gives the
server's context and a client context that trusts exactly that certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message
    login: str | None
    tls: bool

    @property
    def text(self) -> str:
        payload = self.message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()


def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for a certificate on 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpFake:
    """``security``: "starttls" (STARTTLS required before AUTH), "ssl" (TLS from the start) or
    "none" (plain, no AUTH). On "ssl" aiosmtpd warns on each connection that AUTH does not
    require TLS: it counts only STARTTLS as TLS, though every connection there is."""

    def __init__(
        self,
        security: str = "starttls",
        *,
        users: dict[str, str] | None = None,
        server_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.security = security
        self.users = users or {}
        self.received: list[Received] = []
        self.port = free_port()
        handler = _Recorder(self)
        kwargs: dict[str, Any] = {
            "authenticator": self._authenticate,
            # implicit TLS is TLS too, though aiosmtpd only counts STARTTLS as such
            "auth_require_tls": security == "starttls",
            "auth_required": bool(self.users),
        }
        if security == "starttls":
            assert server_tls is not None
            kwargs.update(tls_context=server_tls, require_starttls=True)
        self._controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=server_tls if self.security == "ssl" else None,
            server_hostname="127.0.0.1",
            **kwargs,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)


class _Recorder:
    def __init__(self, fake: SmtpFake) -> None:
        self._fake = fake

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        self._fake.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                message_from_bytes(content),
                session.auth_data if session.authenticated else None,
                # every connection to the SSL server is TLS; aiosmtpd marks only STARTTLS ones
                self._fake.security == "ssl" or session.ssl is not None,
            )
        )
        return "250 Message accepted for delivery"
