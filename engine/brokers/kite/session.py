"""The Kite login session: request token in, the day's access token kept until it expires.

    LOGGED_OUT ──login──▶ LOGGED_IN ──TokenException / 06:00 IST / ticker refused──▶ EXPIRED
         ▲                    ▲                                                       │
         └────── logout ──────┴──────────────────── login ◀───────────────────────────┘

The login page's redirect carries a single-use ``request_token``; ``complete_login`` exchanges it
(checksum with the API secret from the keyring) for the access token, which goes back to the
keyring with its expiry and nowhere else. Listeners hear every change: the adapter pauses order
flow on EXPIRED and resumes it on LOGGED_IN, the feed takes the new token.
"""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

from engine.brokers.kite.config import KiteRestConfig
from engine.brokers.kite.errors import KiteError
from engine.brokers.kite.rest import KiteRest
from engine.brokers.session_state import (
    SessionChange,
    SessionListener,
    SessionState,
    SessionStates,
)
from engine.core.clock import Clock
from engine.credentials import CredentialStore, CredentialsUnavailable

log = logging.getLogger(__name__)

KITE_LOGIN_URL = "https://kite.zerodha.com/connect/login"


class LoginError(ValueError):
    """A login that cannot go on; the message tells the trader what to do."""


def login_url(api_key: str, root: str = KITE_LOGIN_URL) -> str:
    """The page where the trader logs in (client id, password, TOTP) for this app."""
    return f"{root}?{urlencode({'api_key': api_key, 'v': '3'})}"


def request_token_from(redirect: str) -> str:
    """The ``request_token`` of a login redirect URL (or a bare token pasted by the trader)."""
    text = redirect.strip()
    if not text:
        raise LoginError("paste the address Kite redirected to after the login")
    if "=" not in text and "/" not in text:
        token = text
    else:
        text = html.unescape(text)  # copied from a page's source: &amp; between the fields
        try:
            query_text = urlsplit(text).query if "?" in text else text  # a query alone
        except ValueError as problem:  # urllib's own words: "Invalid IPv6 URL"
            raise LoginError(f"that address cannot be read ({problem}): paste it again") from None
        query = parse_qs(query_text)
        status = query.get("status", ["success"])[0]
        if status != "success":
            raise LoginError(f"Kite reported the login as {status!r}; log in again")
        tokens = query.get("request_token", [])
        if not tokens:
            raise LoginError(
                "that address has no request_token: paste the whole address Kite redirected "
                "to after the login"
            )
        token = tokens[0]
    if not token.isalnum():
        raise LoginError("the request token must be letters and digits only")
    return token


class KiteSession(SessionStates):
    title = "Kite"
    login_errors: tuple[type[Exception], ...] = (LoginError, KiteError, CredentialsUnavailable)
    browser_login = True
    """What a failed login raises; the login window shows its text."""

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        clock: Clock,
        rest_config: KiteRestConfig | None = None,
        login_root: str = KITE_LOGIN_URL,
    ) -> None:
        super().__init__(clock)
        api_key = credentials.kite_api_key()
        if not api_key:
            raise LoginError(
                "no Kite API key in the keyring: enter the API key and secret in "
                "Settings → Brokers first"
            )
        self.api_key = api_key
        self.credentials = credentials
        self._login_root = login_root
        self.rest = KiteRest(api_key, config=rest_config, on_session_expired=self._refused)
        self.user_id: str | None = None
        self._access_token: str | None = None
        self._exchanging = asyncio.Lock()

    def __repr__(self) -> str:
        return f"KiteSession({self.state}, expires={self.expires_at})"

    @property
    def access_token(self) -> str | None:
        """The live token (in memory and in the keyring only); None unless logged in."""
        return self._access_token if self.state is SessionState.LOGGED_IN else None

    def login_url(self) -> str:
        return login_url(self.api_key, self._login_root)

    def resume_saved(self) -> bool:
        """Log in with the token saved earlier today, if it has not expired."""
        saved = self.credentials.kite_access_token(self._clock.now())
        if saved is None:
            return False
        self._enter(saved.token, saved.expires, None, "the session saved earlier today")
        return True

    async def complete_login(self, redirect: str) -> None:
        """Exchange the login redirect's request token (or the pasted redirect address); one
        exchange at a time (a redirect caught and pasted too is exchanged once, then refused
        as used without touching the session the first one opened)."""
        async with self._exchanging:
            await self._exchange(redirect)

    async def _exchange(self, redirect: str) -> None:
        request_token = request_token_from(redirect)
        secret = self.credentials.kite_api_secret()
        if not secret:
            raise LoginError("no Kite API secret in the keyring: enter it in Settings → Brokers")
        data = await self.rest.generate_session(request_token, secret)
        token = str(data.get("access_token") or "")
        if not token:
            raise LoginError("Kite's reply to the login had no access token; log in again")
        try:
            stored = self.credentials.save_kite_access_token(token, self._clock.now())
        except CredentialsUnavailable as problem:  # the login link is spent: a whole new login
            raise LoginError(
                f"{problem}. The Kite login itself is used up: unlock the keyring, then log in "
                "to Kite again"
            ) from problem
        user = data.get("user_id")
        self._enter(token, stored.expires, str(user) if user else None, "login")

    def _forget_token(self) -> None:
        self.credentials.forget_kite_access_token()

    def logout(self, reason: str = "logged out") -> None:
        if self.state is SessionState.LOGGED_OUT:
            return
        self._logged_in.clear()
        self._access_token = None
        self.credentials.forget_kite_access_token()
        self._move(SessionState.LOGGED_OUT, reason)

    async def close(self) -> None:
        await self.rest.close()

    # -- internals -------------------------------------------------------------------------------

    def _enter(self, token: str, expires: datetime, user: str | None, reason: str) -> None:
        self._access_token = token
        self.expires_at = expires
        if user:
            self.user_id = user
        self.rest.set_access_token(token)
        self._move(SessionState.LOGGED_IN, reason)
        self._logged_in.set()

    def _refused(self) -> None:
        self.expire("Kite refused the access token (TokenException)")


__all__ = ["KiteSession", "LoginError", "SessionChange", "SessionListener", "SessionState"]
