"""An XTS interactive account's keys and the day's token in the OS keyring (through the desk's
``CredentialStore``, entries ``xts/<profile>/<name>`` of the service ``dalaldesk``).

The interactive app's key and secret key, and the market-data app's pair (a second app of the
same account). The root URL
and ``source`` are kept beside them: an XTS account is one broker's server with one app, so they
belong together (they are not secrets, and nothing else in the desk reads them). The token is kept
with its expiry, the user id and whether the login is a retail one (no ``clientID`` needed): XTS
tokens live for a trading day (kite_xts_apis.md §C.2), taken here as until the next 06:00 IST, and
a new login with the same app key kills the old token, which the adapter then sees refused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from engine.brokers.xts.marketdata_session import XtsMarketDataKeys
from engine.credentials import CredentialStore, kite_token_expiry

log = logging.getLogger(__name__)

XTS = "xts"
ROOT = "interactive_root"
SOURCE = "interactive_source"
APP_KEY = "interactive_app_key"
SECRET_KEY = "interactive_secret_key"
TOKEN = "interactive_token"
MARKET_DATA_APP_KEY = "marketdata_app_key"
MARKET_DATA_SECRET_KEY = "marketdata_secret_key"


@dataclass(frozen=True, slots=True)
class XtsAccount:
    root: str
    app_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    source: str = "WEBAPI"


@dataclass(frozen=True, slots=True)
class SavedToken:
    token: str = field(repr=False)
    expires: datetime
    user_id: str
    is_investor_client: bool


def save_xts_account(store: CredentialStore, account: XtsAccount) -> None:
    """Keep the account; a changed app key forgets the old key's token."""
    if not account.root.startswith(("http://", "https://")):
        raise ValueError(f"the XTS root URL must start with https://, not {account.root!r}")
    if store.get(XTS, APP_KEY) not in (None, account.app_key):
        forget_xts_token(store)
    store.set(XTS, ROOT, account.root)
    store.set(XTS, SOURCE, account.source)
    store.set(XTS, APP_KEY, account.app_key)
    store.set(XTS, SECRET_KEY, account.secret_key)


def xts_account(store: CredentialStore) -> XtsAccount | None:
    """The stored account, or None when its root, key or secret is missing."""
    root, key, secret = (store.get(XTS, name) for name in (ROOT, APP_KEY, SECRET_KEY))
    if not root or not key or not secret:
        return None
    return XtsAccount(root, key, secret, store.get(XTS, SOURCE) or "WEBAPI")


def save_xts_market_data_keys(store: CredentialStore, app_key: str, secret_key: str) -> None:
    """The market-data app's keys (a second XTS app of the same account, same server)."""
    store.set(XTS, MARKET_DATA_APP_KEY, app_key)
    store.set(XTS, MARKET_DATA_SECRET_KEY, secret_key)


def xts_market_data_keys(store: CredentialStore) -> XtsMarketDataKeys | None:
    account = xts_account(store)
    key, secret = store.get(XTS, MARKET_DATA_APP_KEY), store.get(XTS, MARKET_DATA_SECRET_KEY)
    if account is None or not key or not secret:
        return None
    return XtsMarketDataKeys(account.root, key, secret, account.source)


def save_xts_token(
    store: CredentialStore, token: str, user_id: str, investor: bool, issued: datetime
) -> SavedToken:
    saved = SavedToken(token, kite_token_expiry(issued), user_id, investor)
    payload = {
        "token": token,
        "expires": saved.expires.isoformat(),
        "user_id": user_id,
        "investor": investor,
    }
    store.set(XTS, TOKEN, json.dumps(payload))
    return saved


def xts_token(store: CredentialStore, now: datetime) -> SavedToken | None:
    """Today's token if it has not expired at ``now``; an expired or unreadable one is deleted."""
    raw = store.get(XTS, TOKEN)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        saved = SavedToken(
            str(data["token"]),
            datetime.fromisoformat(data["expires"]),
            str(data["user_id"]),
            bool(data["investor"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("the stored XTS session is unreadable (%s); it is forgotten", type(exc))
        forget_xts_token(store)
        return None
    if now >= saved.expires:
        log.info("the stored XTS session expired at %s; it is forgotten", saved.expires)
        forget_xts_token(store)
        return None
    return saved


def forget_xts_token(store: CredentialStore) -> bool:
    return store.delete(XTS, TOKEN)


def forget_xts(store: CredentialStore) -> None:
    """Remove every XTS entry of this profile."""
    names = (TOKEN, SECRET_KEY, APP_KEY, MARKET_DATA_SECRET_KEY, MARKET_DATA_APP_KEY, SOURCE, ROOT)
    for name in names:
        store.delete(XTS, name)
