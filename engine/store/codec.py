"""JSON for journal payloads, with exact money and timezone-aware time.

Plain JSON would turn ``Decimal("0.10")`` into a float and a datetime into nothing at all, so
values JSON cannot hold are written as one-key tagged objects and decode back to the same type:

- ``Decimal("123.45")`` ↔ ``{"$dec": "123.45"}`` (digits and exponent kept: ``0.10`` stays ``0.10``)
- ``date(2024, 6, 27)`` ↔ ``{"$date": "2024-06-27"}``
- an aware ``datetime`` ↔ ``{"$dt": "2024-06-27T09:15:00+05:30"}``, plus ``"$tz": "Asia/Kolkata"``
  when its zone is a ``ZoneInfo``, so it decodes in the same zone, not merely the same offset.

Keys starting with ``$`` are reserved for these tags. Tuples decode as lists, ``str``/``int``
subclasses (``StrEnum``, ``IntEnum``) as their plain values. Anything else is refused with the
path of the offending key, before anything is written.

Credentials never reach the database: a payload key that names one (``access_token``,
``api_secret``, ...) is refused, as a last line of defence behind the rule that secrets live only
in the OS keyring.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

DECIMAL_TAG = "$dec"
DATE_TAG = "$date"
DATETIME_TAG = "$dt"
ZONE_TAG = "$tz"
RESERVED_PREFIX = "$"

# Exact key names, as the broker APIs and our own config spell them.
CREDENTIAL_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pin",
        "secret",
        "api_secret",
        "secret_key",
        "secretKey",
        "private_key",
        "access_token",
        "request_token",
        "refresh_token",
        "enctoken",
        "totp",
        "totp_secret",
        "totp_seed",
        "webhook_secret",
    }
)

_SCALARS = (str, int, type(None))  # bool is an int; subclasses (StrEnum, IntEnum) included
_NATIVE_TYPES = frozenset({str, int, bool, type(None)})  # floats need a finiteness check
_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)


class _Refused(Exception):
    """Internal: carries the reason outwards while each level adds its key to the path."""

    def __init__(self, error_type: type[Exception], reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason
        self.path: list[str | int] = []


def encode_payload(payload: Mapping[str, Any]) -> str:
    """Payload as compact JSON text.

    Raises ``TypeError`` for a value of a type the journal cannot hold (or a naive datetime) and
    ``ValueError`` for a non-finite number, a reserved ``$`` key or a credential key; the message
    names the key, e.g. ``payload['legs'][1]['price']``.
    """
    if not isinstance(payload, Mapping):
        raise TypeError(f"journal payload must be a mapping, not {type(payload).__name__}")
    try:
        plain = _plain_mapping(payload)
    except _Refused as refused:
        where = "payload" + "".join(f"[{step!r}]" for step in reversed(refused.path))
        raise refused.error_type(f"{where}: {refused.reason}") from None
    return _encoder.encode(plain)


def decode_payload(text: str) -> dict[str, Any]:
    """The payload written by ``encode_payload``, with tagged values restored."""
    decoded = json.loads(text, object_hook=_untag)
    if not isinstance(decoded, dict):
        raise ValueError(f"journal payload is not a JSON object: {text[:80]!r}")
    return decoded


def _plain_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for key, value in mapping.items():
        if type(key) is not str or key.startswith(RESERVED_PREFIX) or key in CREDENTIAL_KEYS:
            _refuse_key(key)
        if type(value) in _NATIVE_TYPES:  # the common case, without a call (this is the hot path)
            plain[key] = value
            continue
        try:
            plain[key] = _plain(value)
        except _Refused as refused:
            refused.path.append(key)
            raise
    return plain


def _refuse_key(key: Any) -> None:
    if not isinstance(key, str):
        raise _Refused(TypeError, f"key {key!r} is a {type(key).__name__}, not a str")
    if key.startswith(RESERVED_PREFIX):
        refused = _Refused(ValueError, f"keys starting with {RESERVED_PREFIX!r} are reserved")
    elif key in CREDENTIAL_KEYS:
        refused = _Refused(
            ValueError,
            "looks like a credential; credentials live only in the OS keyring, "
            "never in the journal",
        )
    else:  # a str subclass with an ordinary name
        return
    refused.path.append(key)
    raise refused


def _plain(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(ValueError, f"{value!r} is not a finite number")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Refused(ValueError, f"Decimal {value} is not a finite number")
        return {DECIMAL_TAG: str(value)}
    if isinstance(value, datetime):
        return _plain_datetime(value)
    if isinstance(value, date):
        return {DATE_TAG: value.isoformat()}
    if isinstance(value, Mapping):
        return _plain_mapping(value)
    if isinstance(value, list | tuple):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_plain(item))
            except _Refused as refused:
                refused.path.append(index)
                raise
        return items
    raise _Refused(TypeError, f"cannot journal a {type(value).__qualname__}")


def _plain_datetime(value: datetime) -> dict[str, str]:
    if value.tzinfo is None or value.utcoffset() is None:
        raise _Refused(TypeError, f"naive datetime {value.isoformat()} (needs a timezone)")
    if isinstance(value.tzinfo, ZoneInfo) and value.tzinfo.key is not None:
        return {DATETIME_TAG: value.isoformat(), ZONE_TAG: value.tzinfo.key}
    return {DATETIME_TAG: value.isoformat()}


def _untag(obj: dict[str, Any]) -> Any:
    size = len(obj)
    if size == 1:
        if DECIMAL_TAG in obj:
            return Decimal(obj[DECIMAL_TAG])
        if DATE_TAG in obj:
            return date.fromisoformat(obj[DATE_TAG])
        if DATETIME_TAG in obj:
            return datetime.fromisoformat(obj[DATETIME_TAG])
    elif size == 2 and DATETIME_TAG in obj and ZONE_TAG in obj:
        return datetime.fromisoformat(obj[DATETIME_TAG]).astimezone(ZoneInfo(obj[ZONE_TAG]))
    return obj
