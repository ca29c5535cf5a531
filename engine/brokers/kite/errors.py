"""What can go wrong talking to Kite, as one exception tree with messages a trader can read.

Classification follows kite_xts_apis.md §A.3: the HTTP status first (429 carries no reliable
``error_type``), then Kite's ``error_type``. Transport failures and 5xx on a write are an *unknown
outcome*: the request may have reached the OMS, so it is never simply sent again.
"""

from __future__ import annotations

from engine.brokers.base import BrokerError, SessionEnded
from engine.brokers.base import OutcomeUnknown as AnyOutcomeUnknown


class KiteError(BrokerError):
    """Base of every Kite failure; ``str()`` is the readable message."""

    def __init__(
        self, message: str, *, http_status: int | None = None, error_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.error_type = error_type


class SessionExpired(KiteError, SessionEnded):
    """The access token was refused (expired at 06:00 IST, logged out elsewhere): log in again."""


class LoginRefused(KiteError):
    """Kite refused the login exchange: the request token was used already or has expired, or
    the API secret is not the key's. The session the desk holds, if any, is untouched."""


class PermissionDenied(KiteError):
    """The account or the app is not allowed to make this call."""


class RateLimited(KiteError):
    """Kite answered 429 more often than the client would wait for."""


class OrderRejected(KiteError):
    """Kite or the exchange refused the request (bad parameters, margin, holdings, RMS): final."""


class KiteUnavailable(KiteError):
    """Kite could not be reached or failed (5xx, timeouts) for a read, after the retries."""


class OutcomeUnknown(KiteError, AnyOutcomeUnknown):
    """A place / modify / cancel whose result is unknown; it was not re-sent.

    Reconciliation (the orderbook, by ``tag``) decides what happened.
    """

    def __init__(
        self,
        message: str,
        *,
        tag: str | None = None,
        http_status: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, error_type=error_type)
        self.tag = tag


REJECTION_TYPES = frozenset(
    {"InputException", "OrderException", "MarginException", "HoldingException", "UserException"}
)


def readable(action: str, message: str, error_type: str | None, http_status: int | None) -> str:
    """'Kite refused to place the order: Insufficient funds (MarginException, HTTP 400)'."""
    detail = ", ".join(part for part in (error_type, http_status and f"HTTP {http_status}") if part)
    text = message.strip().rstrip(".") or "no reason given"
    return f"Kite could not {action}: {text}" + (f" ({detail})" if detail else "")
