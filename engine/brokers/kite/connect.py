"""Connecting the desk to Kite for a profile: keys from the keyring, today's session (or a login
through the prompt the caller gives), and the day's instruments master."""

from __future__ import annotations

from engine.brokers.kite.link import KiteLink
from engine.brokers.kite.session import KiteSession, LoginError
from engine.brokers.registry import Connected, ConnectProblem, LoginPrompt
from engine.core.clock import LiveClock
from engine.credentials import CredentialStore, CredentialsUnavailable


async def connect_kite(
    profile: str, *, login: LoginPrompt | None, store: CredentialStore | None = None
) -> Connected:
    """The Kite link of ``profile``, logged in, with the day's instruments; ``ConnectProblem``
    with a readable text when the keys are missing or refused or no session can be had."""
    clock = LiveClock()
    try:
        session = KiteSession(store or CredentialStore(profile), clock=clock)
    except (LoginError, CredentialsUnavailable) as problem:
        raise ConnectProblem(str(problem)) from problem
    link = KiteLink(session, clock=clock)
    try:
        if not session.resume_saved():
            if login is None:
                raise ConnectProblem(
                    "no Kite session saved today: log in once from the workstation "
                    "(dalaldesk --broker kite), then run headless"
                )
            await login(session, "Log in to Zerodha Kite to start the day.")
        loaded = await link.load_instruments()
    except (LoginError, CredentialsUnavailable) as problem:
        await session.close()
        raise ConnectProblem(str(problem)) from problem
    return Connected(link, loaded.instruments)
