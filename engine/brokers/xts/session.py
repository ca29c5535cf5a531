"""The XTS interactive login: app key and secret key from the keyring in, the day's token kept
until it expires or XTS refuses it.

XTS has no browser login (kite_xts_apis.md §C.2): ``login`` posts the keys to
``/interactive/user/session`` and gets the token, the user id and whether the login is a retail
one. The token goes to the keyring (``engine.brokers.xts.credentials``) and nowhere else. The
session ends (EXPIRED) when XTS refuses the token on any call (by the body, §C.13), when the
interactive socket says ``logout`` (another login with the same app key) or at its expiry;
the adapter then holds new orders and the desk asks for a login, as for Kite.

For the login window (``LoginSession``), ``login_url`` is the broker's server and
``complete_login`` ignores its text: the keys are in the keyring already.
"""

from __future__ import annotations

import logging
from datetime import datetime

from engine.brokers.session_state import SessionState, SessionStates
from engine.brokers.xts.config import XtsRestConfig
from engine.brokers.xts.credentials import (
    XtsAccount,
    forget_xts_token,
    save_xts_token,
    xts_account,
    xts_token,
)
from engine.brokers.xts.errors import XtsError
from engine.brokers.xts.rest import XtsLogin, XtsRest
from engine.core.clock import Clock
from engine.credentials import CredentialStore, CredentialsUnavailable

log = logging.getLogger(__name__)


class LoginError(ValueError):
    """A login that cannot go on; the message tells the trader what to do."""


class XtsSession(SessionStates):
    title = "XTS"
    login_errors: tuple[type[Exception], ...] = (LoginError, XtsError, CredentialsUnavailable)
    browser_login = False

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        clock: Clock,
        rest_config: XtsRestConfig | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(clock)
        account = xts_account(credentials)
        if account is None:
            raise LoginError(
                "no XTS account in the keyring: enter the broker's XTS address, the interactive "
                "app key and the secret key in Settings → Brokers first"
            )
        self.account: XtsAccount = account
        self.credentials = credentials
        self._client_id = client_id
        config = rest_config or XtsRestConfig(root=account.root, source=account.source)
        self.rest = XtsRest(config, on_session_expired=self._refused)
        self.user_id: str | None = None
        self.logins = 0
        self.logging_in = False
        """A login is on its way: XTS ends the previous token meanwhile (one session per app
        key), and what it says about that token is not news."""

    def __repr__(self) -> str:
        return f"XtsSession({self.state}, user={self.user_id}, expires={self.expires_at})"

    @property
    def token(self) -> str | None:
        """The live token (in memory and in the keyring only); None unless logged in."""
        return self._token if self.logged_in else None

    def login_url(self) -> str:
        return self.rest.config.base

    def resume_saved(self) -> bool:
        """Log in with the token saved earlier today, if it has not expired."""
        saved = xts_token(self.credentials, self._clock.now())
        if saved is None:
            return False
        login = XtsLogin(saved.token, saved.user_id, saved.is_investor_client, ())
        self._enter(login, saved.expires, "the session saved earlier today")
        return True

    async def login(self) -> None:
        """Log in with the keys; ``XtsError`` (``LoginRefused``) when XTS says no."""
        account = self.account
        self.logging_in = True
        try:
            login = await self.rest.login(account.app_key, account.secret_key)
        finally:
            self.logging_in = False
        saved = save_xts_token(
            self.credentials,
            login.token,
            login.user_id,
            login.is_investor_client,
            self._clock.now(),
        )
        self.logins += 1
        self._enter(login, saved.expires, "login")

    async def complete_login(self, redirect: str) -> None:
        await self.login()

    def _forget_token(self) -> None:
        self.rest.forget()
        forget_xts_token(self.credentials)

    async def logout(self, reason: str = "logged out") -> None:
        if self.state is SessionState.LOGGED_OUT:
            return
        try:
            await self.rest.logout()
        except XtsError as exc:
            log.warning("XTS logout was not confirmed: %s", exc)
        self._logged_in.clear()
        forget_xts_token(self.credentials)
        self._move(SessionState.LOGGED_OUT, reason)

    async def close(self) -> None:
        await self.rest.close()

    # -- internals -------------------------------------------------------------------------------

    _token: str | None = None

    def _enter(self, login: XtsLogin, expires: datetime, reason: str) -> None:
        self.rest.use(login, self._client_id)
        self._token = login.token
        self.user_id = login.user_id
        self.expires_at = expires
        self._move(SessionState.LOGGED_IN, reason)
        self._logged_in.set()

    def _refused(self) -> None:
        self.expire("XTS refused the token (logged in elsewhere, or it expired)")
