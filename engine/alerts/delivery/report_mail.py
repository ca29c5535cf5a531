"""The end-of-day report by e-mail: a short summary as text, the report's page as the HTML
alternative a mail program shows, and the report's JSON file attached. It goes through the
profile's e-mail alert settings (Settings → Notifications → E-mail, with "Mail the end-of-day
report" ticked) and the SMTP password in the keyring, by the same ``EmailChannel`` as the alerts.

One call sends once. When to try again, and whether the day's report already went out, is the
schedule's to keep (``engine.runtime.scheduler``).
"""

from __future__ import annotations

import json
import ssl
from email.message import EmailMessage
from pathlib import Path

from engine.alerts.delivery.channel import DeliveryError
from engine.alerts.delivery.settings import DeliveryKeys, EmailSettings
from engine.alerts.delivery.smtp import EmailChannel, Sent
from engine.credentials import CredentialsUnavailable
from engine.domain.marks import paisa_text


class ReportMailer:
    """Mails a saved end-of-day report with one profile's e-mail settings and keyring."""

    def __init__(
        self,
        settings: EmailSettings,
        keys: DeliveryKeys,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self._keys = keys
        self._tls = tls_context
        """Who to trust for TLS; None trusts the system's certificate authorities."""
        self.last_sent: Sent | None = None
        """Where the last report mailed went (the server may have refused some addresses)."""

    def __repr__(self) -> str:
        s = self.settings
        return f"ReportMailer({s.host}:{s.port}, to {len(s.recipients)} address(es))"

    @property
    def wanted(self) -> bool:
        """E-mail is on and the daily report is to be mailed."""
        return self.settings.enabled and self.settings.mail_daily_report

    @property
    def recipients(self) -> str:
        """Whom the report goes to; after a mail the server took for some addresses only, whom
        it went to, then whom the server refused and why."""
        sent = self.last_sent
        return sent.where if sent is not None else ", ".join(self.settings.recipients)

    async def send(self, report_file: Path) -> None:
        """Mail the report saved as ``report_file`` (the ``.json``, its ``.html`` beside it);
        ``DeliveryError`` in words, with no password in them, when it did not go out."""
        try:
            raw = report_file.read_bytes()
            page = report_file.with_suffix(".html").read_text(encoding="utf-8")
            report = json.loads(raw)
        except (OSError, ValueError) as problem:
            raise DeliveryError(
                f"the report {report_file} could not be read ({problem})", retry=False
            ) from None
        if not isinstance(report, dict):
            raise DeliveryError(f"the report {report_file} is not a report", retry=False)
        channel = self._channel()
        self.last_sent = None
        try:
            self.last_sent = await channel.send_message(report_message(channel, report, page, raw))
        finally:
            await channel.close()

    def _channel(self) -> EmailChannel:
        s = self.settings
        try:
            password = self._keys.smtp_password() if s.username else None
        except CredentialsUnavailable as problem:  # a locked keyring may open later: retry
            raise DeliveryError(f"the SMTP password could not be read ({problem})") from None
        return EmailChannel(s, password, tls_context=self._tls)


def report_message(
    channel: EmailChannel, report: dict[str, object], page: str, raw: bytes
) -> EmailMessage:
    """text/plain summary and text/html page as alternatives, the JSON report attached."""
    day = report.get("day", "")
    message = channel.compose(
        f"DalalDesk end-of-day report {day}: day P&L ₹{paisa_text(report.get('day_pnl'))}"
    )
    message.set_content(report_summary(report))
    message.add_alternative(page, subtype="html")
    message.add_attachment(raw, maintype="application", subtype="json", filename=f"{day}.json")
    return message


def report_summary(report: dict[str, object]) -> str:
    """The report in a few lines of text, for a mail program that shows no HTML."""
    lines = [
        f"DalalDesk end-of-day report, {report.get('day', '')}",
        "",
        f"Day P&L (net of charges): ₹{paisa_text(report.get('day_pnl'))}",
        f"Charges: ₹{paisa_text(report.get('charges'))}",
        f"Orders: {report.get('orders', '?')}, fills: {report.get('fills', '?')}, "
        f"rejected: {report.get('rejected', '?')}",
    ]
    positions = report.get("positions")
    if isinstance(positions, list) and positions:
        lines += ["", "Positions:"]
        lines += [
            f"  {row.get('instrument')} {row.get('product')}: net {row.get('net_quantity')}, "
            f"day P&L ₹{paisa_text(row.get('day_pnl'))}, charges ₹{paisa_text(row.get('charges'))}"
            for row in positions
            if isinstance(row, dict)
        ]
    lines += ["", "The full report is attached as JSON."]
    return "\n".join(lines) + "\n"
