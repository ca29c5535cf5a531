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
from json.encoder import encode_basestring
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
    if type(payload) is dict:
        try:
            return _object_text(payload)
        except _Unusual:
            pass  # the general encoder writes it, or refuses it naming the offending key
    return _encode_generally(payload)


def _encode_generally(payload: Mapping[str, Any]) -> str:
    """``encode_payload`` for any payload: a plain copy, checked throughout, then json's encoder."""
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


# -- The quick encoder: an event's payload, straight to JSON text ---------------------------------
#
# Order events are journaled on the order path, where making the plain copy of a payload and then
# encoding it cost more than the SQLite write. Payloads made only of dicts, lists and tuples of
# plain str, int, bool, None, finite float and finite Decimal (every order event's) are written
# here in one pass, as exactly the text the general encoder writes for them: strings through
# json's own escaping, numbers through the reprs its encoder uses, Decimals in their "$dec" tag.
# Anything else (another type, a subclass, a refused key) is left to the general encoder.


class _Unusual(Exception):
    """Internal: the payload holds something the quick encoder leaves to the general one."""


_KEY_TEXT: dict[str, str] = {}
"""'"name":' of keys already checked and written, so each is checked and escaped once."""
_KEY_TEXT_LIMIT = 1024


def _object_text(mapping: dict[Any, Any]) -> str:
    items = []
    for key, value in mapping.items():
        head = _KEY_TEXT.get(key) if type(key) is str else None
        if head is None:
            if type(key) is not str or key.startswith(RESERVED_PREFIX) or key in CREDENTIAL_KEYS:
                raise _Unusual
            head = encode_basestring(key) + ":"
            if len(_KEY_TEXT) < _KEY_TEXT_LIMIT:
                _KEY_TEXT[key] = head
        # The usual values inline, without a call each (this is the hot path).
        kind = type(value)
        if kind is str:
            items.append(head + encode_basestring(value))
        elif kind is int:
            items.append(head + int.__repr__(value))
        elif kind is Decimal and value.is_finite():
            items.append(head + _decimal_text(value))
        elif kind is dict:
            items.append(head + _object_text(value))
        else:
            items.append(head + _value_text(value))
    return "{" + ",".join(items) + "}"


def _decimal_text(value: Decimal) -> str:
    # A finite Decimal's text is digits, a point, an exponent and signs: nothing to escape.
    return '{"' + DECIMAL_TAG + '":"' + str(value) + '"}'


def _value_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if kind is Decimal and value.is_finite():
        return _decimal_text(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is dict:
        return _object_text(value)
    if kind is list or kind is tuple:
        return "[" + ",".join([_value_text(item) for item in value]) + "]"
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    raise _Unusual


# -- The general encoder -----------------------------------------------------------------------------


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
