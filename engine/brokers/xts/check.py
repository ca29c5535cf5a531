"""Settings → Brokers → XTS: what the keyring holds for XTS (never the secrets), saving what the
trader typed, and the Test connection button's check.

The check logs both apps in: the interactive one (its token is then today's, kept for the desk's
next start: XTS allows one session per app key, so a live desk's session is asked about instead of
replaced) and the market-data one (logged out again).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.brokers.base import LoginSession
from engine.brokers.xts.credentials import (
    APP_KEY,
    MARKET_DATA_APP_KEY,
    MARKET_DATA_SECRET_KEY,
    ROOT,
    SECRET_KEY,
    SOURCE,
    XTS,
    XtsAccount,
    forget_xts,
    save_xts_account,
    save_xts_market_data_keys,
    xts_market_data_keys,
)
from engine.brokers.xts.errors import XtsError
from engine.brokers.xts.marketdata_session import MarketDataSession, XtsMarketDataError
from engine.brokers.xts.session import LoginError, XtsSession
from engine.core.clock import LiveClock
from engine.credentials import CredentialStore, CredentialsUnavailable


@dataclass(frozen=True, slots=True)
class XtsStored:
    root: str
    source: str
    app_key: str
    has_secret: bool
    market_data_app_key: str
    has_market_data_secret: bool


class XtsKeys:
    """The XTS entries of one profile's keyring, as the settings page reads and writes them
    (its ``XtsKeyStore``)."""

    def __init__(self, store: CredentialStore) -> None:
        self.store = store

    def xts_saved(self) -> XtsStored:
        get = self.store.get
        return XtsStored(
            get(XTS, ROOT) or "",
            get(XTS, SOURCE) or "WEBAPI",
            get(XTS, APP_KEY) or "",
            get(XTS, SECRET_KEY) is not None,
            get(XTS, MARKET_DATA_APP_KEY) or "",
            get(XTS, MARKET_DATA_SECRET_KEY) is not None,
        )

    def save_xts(
        self,
        root: str,
        source: str,
        app_key: str,
        secret_key: str | None,
        market_data_app_key: str,
        market_data_secret_key: str | None,
    ) -> None:
        """Keep what was typed; a secret of None keeps the stored one (ValueError when none is)."""
        secret = secret_key or self.store.get(XTS, SECRET_KEY)
        market_data_secret = market_data_secret_key or self.store.get(XTS, MARKET_DATA_SECRET_KEY)
        if not secret:
            raise ValueError("Enter the interactive secret key.")
        if not market_data_secret:
            raise ValueError("Enter the market data secret key.")
        save_xts_account(self.store, XtsAccount(root.rstrip("/"), app_key, secret, source))
        save_xts_market_data_keys(self.store, market_data_app_key, market_data_secret)

    def forget_xts(self) -> None:
        forget_xts(self.store)


async def check_xts_keys(store: CredentialStore, session: LoginSession | None) -> tuple[bool, str]:
    """Both apps log in with the stored keys (or the live session is asked about)."""
    if isinstance(session, XtsSession) and session.logged_in:
        return True, f"XTS session of {session.user_id} is live; the keys are in use"
    try:
        interactive = XtsSession(store, clock=LiveClock())
        keys = xts_market_data_keys(store)
    except (LoginError, CredentialsUnavailable) as problem:
        return False, str(problem)
    if keys is None:
        return False, "the market data app's keys are missing"
    market_data = MarketDataSession(keys)
    try:
        await interactive.login()
        await market_data.login()
        await market_data.logout()
    except (XtsError, XtsMarketDataError) as problem:
        return False, str(problem)
    finally:
        await interactive.rest.close()
        await market_data.close()
    return True, f"XTS accepts both apps (interactive and market data) of {interactive.user_id}"
