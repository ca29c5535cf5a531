"""Broker secrets in the OS keyring (service ``dalaldesk``), and nowhere else.

Kite's API key, API secret and the day's access token are keyring entries named
``<broker>/<profile>/<name>`` under the service ``dalaldesk`` (Secret Service on Linux, Credential
Manager on Windows, Keychain on macOS), through ``keyring``. Nothing here writes a file, a setting
or a log line that holds a secret; a ``repr`` never shows one.

The access token is stored with its expiry: Kite invalidates every token at 06:00 IST the next
day (kite_xts_apis.md §A.2), so a token is offered back only until then, and an expired one is
deleted when it is found.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError

from engine.core.clock import IST

log = logging.getLogger(__name__)

SERVICE = "dalaldesk"
KITE = "kite"
API_KEY = "api_key"
API_SECRET = "api_secret"
ACCESS_TOKEN = "access_token"
KITE_TOKEN_EXPIRES_AT = time(6, 0)
"""Kite flushes every access token at 06:00 IST (the documented expiry)."""


class CredentialsUnavailable(RuntimeError):
    """The OS keyring cannot be used (no Secret Service, locked, refused); the message says how
    to fix it."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str = field(repr=False)
    expires: datetime

    def __post_init__(self) -> None:
        if self.expires.tzinfo is None:
            raise ValueError("an access token's expiry must be an aware datetime")

    def valid_at(self, now: datetime) -> bool:
        return now < self.expires


def kite_token_expiry(issued: datetime) -> datetime:
    """The 06:00 IST after ``issued``: the same day's before 06:00, else the next day's."""
    if issued.tzinfo is None:
        raise ValueError("issued must be an aware datetime")
    local = issued.astimezone(IST)
    expiry = datetime.combine(local.date(), KITE_TOKEN_EXPIRES_AT, tzinfo=IST)
    if local >= expiry:
        expiry = datetime.combine(
            local.date() + timedelta(days=1), KITE_TOKEN_EXPIRES_AT, tzinfo=IST
        )
    return expiry


class CredentialStore:
    """Secrets of one profile (one account) in the keyring.

    ``backend`` is the keyring backend to use; None is the one ``keyring`` picks for this machine
    (tests pass an in-memory backend, or none to reach the real Secret Service).
    """

    def __init__(
        self,
        profile: str = "default",
        *,
        backend: KeyringBackend | None = None,
        service: str = SERVICE,
    ) -> None:
        if not profile or "/" in profile:
            raise ValueError(f"profile {profile!r} must be a non-empty name without '/'")
        self.profile = profile
        self.service = service
        self._backend = backend

    def __repr__(self) -> str:
        return f"CredentialStore(profile={self.profile!r}, service={self.service!r})"

    # -- generic entries ---------------------------------------------------------------------------

    def get(self, broker: str, name: str) -> str | None:
        try:
            return self._keyring().get_password(self.service, self._entry(broker, name))
        except KeyringError as exc:
            raise self._unavailable("read", broker, name, exc) from exc

    def set(self, broker: str, name: str, value: str) -> None:
        if not value or value != value.strip():
            raise ValueError(f"{broker} {name.replace('_', ' ')} must be non-empty, without spaces")
        try:
            self._keyring().set_password(self.service, self._entry(broker, name), value)
        except KeyringError as exc:
            raise self._unavailable("store", broker, name, exc) from exc

    def delete(self, broker: str, name: str) -> bool:
        """Remove an entry; False if there was none."""
        backend = self._keyring()
        entry = self._entry(broker, name)
        try:
            if backend.get_password(self.service, entry) is None:
                return False
            backend.delete_password(self.service, entry)
        except PasswordDeleteError:
            return False
        except KeyringError as exc:
            raise self._unavailable("delete", broker, name, exc) from exc
        return True

    # -- Kite ------------------------------------------------------------------------------------------

    def kite_api_key(self) -> str | None:
        return self.get(KITE, API_KEY)

    def kite_api_secret(self) -> str | None:
        return self.get(KITE, API_SECRET)

    def save_kite_keys(self, api_key: str, api_secret: str) -> None:
        """Store the app's API key and secret; a changed key forgets the old key's token."""
        if not api_key.isalnum() or not api_secret.isalnum():
            raise ValueError("the Kite API key and secret are letters and digits only")
        if self.kite_api_key() not in (None, api_key):
            self.forget_kite_access_token()
        self.set(KITE, API_KEY, api_key)
        self.set(KITE, API_SECRET, api_secret)

    def kite_access_token(self, now: datetime) -> AccessToken | None:
        """The stored access token if it has not expired at ``now``; an expired one is deleted."""
        raw = self.get(KITE, ACCESS_TOKEN)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            token = AccessToken(str(data["token"]), datetime.fromisoformat(data["expires"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("the stored Kite session is unreadable (%s); it is forgotten", type(exc))
            self.forget_kite_access_token()
            return None
        if not token.valid_at(now):
            log.info("the stored Kite session expired at %s; it is forgotten", token.expires)
            self.forget_kite_access_token()
            return None
        return token

    def save_kite_access_token(self, token: str, issued: datetime) -> AccessToken:
        """Keep the day's access token until Kite's expiry (06:00 IST after ``issued``)."""
        stored = AccessToken(token, kite_token_expiry(issued))
        payload = json.dumps({"token": stored.token, "expires": stored.expires.isoformat()})
        self.set(KITE, ACCESS_TOKEN, payload)
        return stored

    def forget_kite_access_token(self) -> bool:
        return self.delete(KITE, ACCESS_TOKEN)

    def forget_kite(self) -> None:
        """Remove every Kite entry of this profile."""
        for name in (ACCESS_TOKEN, API_SECRET, API_KEY):
            self.delete(KITE, name)

    # -- internals -------------------------------------------------------------------------------------

    def _keyring(self) -> KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def _entry(self, broker: str, name: str) -> str:
        return f"{broker}/{self.profile}/{name}"

    def _unavailable(
        self, action: str, broker: str, name: str, exc: KeyringError
    ) -> CredentialsUnavailable:
        backend = type(self._keyring()).__module__
        return CredentialsUnavailable(
            f"could not {action} the {broker} {name.replace('_', ' ')} in the OS keyring "
            f"({backend}: {exc}). DalalDesk keeps broker secrets only in the keyring: on Linux "
            "start a Secret Service (GNOME Keyring or KWallet) and unlock it, then try again"
        )
