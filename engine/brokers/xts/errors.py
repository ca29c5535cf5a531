"""What can go wrong talking to XTS, as one exception tree with messages a trader can read.

XTS answers in an envelope ``{type, code, description, result}`` (kite_xts_apis.md §C.1). The
class comes from the body first (§C.13: a dead token may arrive as HTTP 200 with ``type:
"error"``), then from the HTTP status. A transport failure or a 5xx on an order action is an
*unknown outcome*: the request may have reached the OMS, so it is never simply sent again.
"""

from __future__ import annotations

from engine.brokers.base import BrokerError, SessionEnded
from engine.brokers.base import OutcomeUnknown as AnyOutcomeUnknown


class XtsError(BrokerError):
    """Base of every XTS failure; ``str()`` is the readable message."""

    def __init__(
        self, message: str, *, http_status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code


class SessionExpired(XtsError, SessionEnded):
    """The token was refused (expired, or a login elsewhere with the same app key): log in."""


class LoginRefused(XtsError):
    """The login itself was refused (wrong app key or secret, app expired)."""


class RateLimited(XtsError):
    """XTS answered 429 more often than the client would wait for."""


class OrderRejected(XtsError):
    """XTS or the exchange refused the request (bad parameters, margin, RMS): final."""


class XtsUnavailable(XtsError):
    """XTS could not be reached or failed (5xx, time-outs) for a read, after the retries."""


class XtsDataError(ValueError):
    """An XTS object that is missing fields or carries impossible values."""


class OutcomeUnknown(XtsError, AnyOutcomeUnknown):
    """A place / modify / cancel whose result is unknown; it was not re-sent."""


TOKEN_WORDS = ("invalid token", "token expired", "token is expired", "session expired")
"""Descriptions XTS deployments give a dead token (the code is not consistent across them)."""


def is_token_error(description: str, http_status: int) -> bool:
    """An error envelope that says the token is dead (HTTP 400, 401, or 200 per §C.13)."""
    text = description.strip().lower()
    return http_status == 401 or any(word in text for word in TOKEN_WORDS)


def readable(action: str, message: str, code: str | None, http_status: int | None) -> str:
    """'XTS could not place the order: Insufficient funds (e-orders-0005, HTTP 400)'."""
    detail = ", ".join(part for part in (code, http_status and f"HTTP {http_status}") if part)
    text = message.strip().rstrip(".") or "no reason given"
    return f"XTS could not {action}: {text}" + (f" ({detail})" if detail else "")
