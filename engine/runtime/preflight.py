"""The pre-open checklist's network look: this machine's public IP against the static IPs the
trader registered with the broker, and this machine's clock against a server's.

Since 1 April 2026 the exchanges accept API orders (place, modify, cancel) only from a static IP
registered with the broker (a primary and one backup); from any other address every order is
refused, which a trader finds out at the first order of the day unless the desk looks first.
An IP echo service answers with the public address in plain text, and its HTTP ``Date`` header
gives a server's time to the second: one request checks both. The address check is the
trader's choice of service (Settings → Brokers), called once a day before the open.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

MAX_CLOCK_DRIFT_S = 2.0
"""Beyond this the checklist warns: a one-second Date header cannot see less, and time-based
entries, exits and square-offs fire off by as much as the clock is."""
LOOKUP_TIMEOUT_S = 8.0


@dataclass(frozen=True, slots=True)
class AddressCheck:
    public_ip: str | None = None
    clock_offset_s: float | None = None
    """The server's time minus this machine's (positive: this clock is behind)."""
    problem: str | None = None
    """Why the service gave no answer, in words."""


async def look_up_address(url: str, timeout_s: float = LOOKUP_TIMEOUT_S) -> AddressCheck:
    """Ask the IP echo service at ``url``; never raises (a failure is the ``problem``)."""
    import aiohttp  # here, not at the top: a desk that never looks starts without it

    host = urlsplit(url).netloc or url
    sent = time.time()
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as response:
            body = (await response.text())[:200].strip()
            received = time.time()
            if response.status != 200:
                return AddressCheck(problem=f"{host} answered HTTP {response.status}")
            date = response.headers.get("Date")
    except TimeoutError:
        return AddressCheck(problem=f"{host} did not answer within {timeout_s:.0f} s")
    except (aiohttp.ClientError, UnicodeDecodeError) as error:
        return AddressCheck(problem=f"{host} could not be reached ({error})")
    offset = None
    if date:
        try:
            offset = parsedate_to_datetime(date).timestamp() - (sent + received) / 2
        except (TypeError, ValueError):
            offset = None
    try:
        address = str(ipaddress.ip_address(body))
    except ValueError:
        return AddressCheck(
            clock_offset_s=offset, problem=f"{host} did not answer with an IP address"
        )
    return AddressCheck(address, offset)


def address_findings(check: AddressCheck, static_ips: tuple[str, ...], live: bool) -> list[str]:
    """What the checklist says of the check: problems in words, [] when all is well."""
    findings = []
    if check.problem is not None and (static_ips or live):
        findings.append(f"the public IP could not be checked: {check.problem}")
    if check.public_ip is not None and static_ips and check.public_ip not in static_ips:
        findings.append(
            f"this machine's public IP is {check.public_ip}, not the static IP registered with "
            f"the broker ({', '.join(static_ips)}): orders from here will be refused"
        )
    if check.public_ip is not None and live and not static_ips:
        findings.append(
            f"no static IP is set in Settings → Brokers (this machine is {check.public_ip}); "
            "the broker accepts API orders only from the static IP registered with it"
        )
    offset = check.clock_offset_s
    if offset is not None and abs(offset) > MAX_CLOCK_DRIFT_S:
        direction = "behind" if offset > 0 else "ahead"
        findings.append(
            f"this computer's clock is {abs(offset):.0f} s {direction}: timed entries, exits and "
            "square-offs fire that much off (turn on the system's automatic time)"
        )
    return findings
