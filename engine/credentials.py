"""Broker secrets in the OS keyring (service ``dalaldesk``), and nowhere else.

Kite's API key, API secret and the day's access token are keyring entries named
``<broker>/<profile>/<name>`` under the service ``dalaldesk`` (Secret Service on Linux, Credential
Manager on Windows, Keychain on macOS), through ``keyring``. Nothing here writes a file, a setting
or a log line that holds a secret; a ``repr`` never shows one.

``keyring`` takes whatever backend is installed, including ``keyrings.alt``'s plain-text file, so
only the operating systems' own stores (``OS_KEYRINGS``) are used; any other backend is refused
with a message that says how to get the OS keyring working, and nothing is written.

The access token is stored with its expiry: Kite invalidates every token at 06:00 IST the next
day (kite_xts_apis.md §A.2), so a token is offered back only until then, and an expired one is
deleted when it is found.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import keyring
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend
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

OS_KEYRINGS = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.libsecret.Keyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.kwallet.DBusKeyringKWallet4",
        "keyring.backends.Windows.WinVaultKeyring",
        "keyring.backends.macOS.Keyring",
    }
)
"""The backends that are the operating system's own secret store (Secret Service / libsecret,
KWallet, Windows Credential Locker, macOS Keychain), by exact class. Everything else ``keyring``
may pick is refused: ``keyrings.alt``'s plain-text and home-made "encrypted" files, the null
backend that silently forgets, the fail backend."""

TEST_KEYRINGS = frozenset({"tests.memory_keyring.MemoryKeyring"})
"""The test suite's in-memory backend, which tests pass explicitly (``backend=``). It never
writes anywhere, and the ``tests`` package is not installed with the desk, so a production desk
cannot end up on it."""


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
    (tests pass an in-memory backend, or none to reach the real Secret Service). Either way only
    an OS keyring (or the tests' in-memory one) is used: see ``OS_KEYRINGS``.
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
            backend = self._keyring("read", broker, name)
            return backend.get_password(self.service, self._entry(broker, name))
        except KeyringError as exc:
            raise self._unavailable("read", broker, name, exc) from exc

    def set(self, broker: str, name: str, value: str) -> None:
        if not value or value != value.strip():
            raise ValueError(f"{broker} {name.replace('_', ' ')} must be non-empty, without spaces")
        try:
            backend = self._keyring("store", broker, name)
            backend.set_password(self.service, self._entry(broker, name), value)
        except KeyringError as exc:
            raise self._unavailable("store", broker, name, exc) from exc

    def delete(self, broker: str, name: str) -> bool:
        """Remove an entry; False if there was none."""
        backend = self._keyring("delete", broker, name)
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

    def _keyring(self, action: str, broker: str, name: str) -> KeyringBackend:
        """The backend to use: the given or picked one if it is an OS keyring; from ``keyring``'s
        chainer, the first OS keyring it chains (never a plain-text file beside it)."""
        backend = self._backend if self._backend is not None else keyring.get_keyring()
        if isinstance(backend, ChainerBackend):
            chained = [b for b in backend.backends if backend_name(b) in OS_KEYRINGS]
            if chained:
                return chained[0]
        if backend_name(backend) in OS_KEYRINGS | TEST_KEYRINGS:
            return backend
        raise CredentialsUnavailable(
            f"could not {action} {self._what(broker, name)}: {no_os_keyring(backend)}. DalalDesk "
            f"keeps broker secrets only in the operating system's keyring, never in a file; "
            f"{how_to_fix()}"
        )

    def _entry(self, broker: str, name: str) -> str:
        return f"{broker}/{self.profile}/{name}"

    @staticmethod
    def _what(broker: str, name: str) -> str:
        return f"the {broker} {name.replace('_', ' ')} in the OS keyring"

    def _unavailable(
        self, action: str, broker: str, name: str, exc: KeyringError
    ) -> CredentialsUnavailable:
        return CredentialsUnavailable(
            f"could not {action} {self._what(broker, name)} ({type(exc).__name__}: {exc}). "
            f"DalalDesk keeps broker secrets only in the keyring: {how_to_fix()}"
        )


def backend_name(backend: KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def no_os_keyring(backend: KeyringBackend) -> str:
    """What is wrong with a refused backend, in a few words."""
    module = type(backend).__module__
    if module in ("keyring.backends.fail", "keyring.backends.chainer"):
        return "no OS keyring is available"
    if module == "keyring.backends.null":
        return "the keyring is switched off (keyring's null backend)"
    return f"the keyring found is {backend_name(backend)}, not the OS keyring"


def how_to_fix() -> str:
    """What the trader does on this OS to get its keyring working."""
    if sys.platform == "win32":
        advice = (
            "Windows Credential Manager holds them: run DalalDesk from your own signed-in Windows "
            "account (not a service or guest account)"
        )
    elif sys.platform == "darwin":
        advice = "the login Keychain holds them: unlock it in Keychain Access"
    else:
        advice = (
            "on Linux start a Secret Service (GNOME Keyring, or KWallet on KDE) and unlock it; "
            "desktops start one at login, elsewhere install gnome-keyring"
        )
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        advice += ", and remove the PYTHON_KEYRING_BACKEND setting that chose another backend"
    return advice + ", then try again"
