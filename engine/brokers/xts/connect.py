"""Connecting the desk to XTS for a profile: the account from the keyring, today's interactive
session (saved, or a new login with the keys: XTS needs no browser), the market-data app, and
the day's instrument master with NSE's indices (downloaded through the market-data app)."""

from __future__ import annotations

from engine.brokers.registry import Connected, ConnectProblem, LoginPrompt
from engine.brokers.xts.credentials import xts_market_data_keys
from engine.brokers.xts.errors import XtsError
from engine.brokers.xts.link import XtsLink
from engine.brokers.xts.marketdata_session import MarketDataSession, XtsMarketDataError
from engine.brokers.xts.master import download_master, parse_index_list
from engine.brokers.xts.session import LoginError, XtsSession
from engine.core.clock import LiveClock
from engine.credentials import CredentialStore, CredentialsUnavailable

NSE_CASH = 1
"""The segment whose index list gives the spot of NIFTY, BANKNIFTY, FINNIFTY (§C.8)."""


async def connect_xts(
    profile: str, *, login: LoginPrompt | None, store: CredentialStore | None = None
) -> Connected:
    """The XTS link of ``profile``, logged in, with the day's instruments; ``ConnectProblem``
    with a readable text when the keys are missing or refused. ``login`` is not used: XTS logs
    in with the keys alone."""
    clock = LiveClock()
    store = store or CredentialStore(profile)
    try:
        session = XtsSession(store, clock=clock)
        keys = xts_market_data_keys(store)
    except (LoginError, CredentialsUnavailable) as problem:
        raise ConnectProblem(str(problem)) from problem
    if keys is None:
        raise ConnectProblem(
            "no XTS market-data keys in the keyring: enter the market-data app key and secret "
            "key in Settings → Brokers (the desk needs XTS's prices and instrument master)"
        )
    market_data = MarketDataSession(keys)
    link = XtsLink(session, clock=clock, market_data=market_data)
    try:
        if not session.resume_saved():
            await session.login()  # the keys are the login: no window needed
        await market_data.login()
        master = await download_master(market_data.master)
        indices = parse_index_list(await market_data.index_list(NSE_CASH), NSE_CASH)
    except (XtsError, XtsMarketDataError, CredentialsUnavailable, ValueError) as problem:
        await link.close()
        raise ConnectProblem(f"XTS could not be connected: {problem}") from problem
    if not master.instruments:
        await link.close()
        raise ConnectProblem("XTS sent an instrument master without an instrument the desk trades")
    known = {instrument.token for instrument in master.instruments}
    extra = [index for index in indices.instruments if index.token not in known]
    return Connected(link, [*master.instruments, *extra])
