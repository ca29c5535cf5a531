"""Connecting the desk to Kite for a profile: keys from the keyring, today's session (or a login
through the prompt the caller gives), and the day's instruments master; and the check behind
Settings → Brokers → Test."""

from __future__ import annotations

from engine.brokers.base import LoginSession
from engine.brokers.kite.errors import KiteError
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
    except ConnectProblem:  # the login was given up
        await session.close()
        raise
    return Connected(link, loaded.instruments)


async def check_kite_keys(store: CredentialStore, session: LoginSession | None) -> tuple[bool, str]:
    """Settings → Brokers → Test: the keyring answers, and Kite accepts the session if any."""
    try:
        key, secret = store.kite_api_key(), store.kite_api_secret()
    except CredentialsUnavailable as exc:
        return False, str(exc)
    if not key or not secret:
        return False, "the API key or secret is missing"
    if not isinstance(session, KiteSession) or not session.logged_in or session.api_key != key:
        return True, "stored in the keyring; Kite checks the secret at the next login"
    try:
        profile = await session.rest.profile()
    except KiteError as exc:
        return False, str(exc)
    return True, f"Kite accepts the session of {profile.get('user_name', profile.get('user_id'))}"
