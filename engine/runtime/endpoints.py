"""What a desk serves on the network while it runs, each until the desk stops: the Prometheus
metrics endpoint and the signals endpoint (TradingView webhooks and the local API), with the
secrets they are guarded by. A port already taken is told to the trader, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.credentials import CredentialStore, CredentialsUnavailable

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

WEBHOOK_PASSPHRASE_VARIABLE = "DALALDESK_WEBHOOK_PASSPHRASE"
API_TOKEN_VARIABLE = "DALALDESK_API_TOKEN"
"""Where scripts and tests hand the desk the webhook's passphrase (else the keyring's)."""

Warn = Callable[[str, str], None]
"""(text, source): tell the trader."""


async def serve_metrics(engine: Engine, port: int, stop: asyncio.Event, warn: Warn) -> None:
    """The Prometheus endpoint until ``stop``; the server is ``engine.metrics`` meanwhile."""
    # Imported here: a desk that serves nothing starts without aiohttp.
    from engine.runtime.metrics import MetricsServer, MetricsUnavailable

    server = MetricsServer(engine, port)
    try:
        await server.start()
    except MetricsUnavailable as problem:
        warn(str(problem), "metrics")
        return
    engine.metrics = server
    try:
        await stop.wait()
    finally:
        await server.stop()


async def serve_signals(engine: Engine, port: int, stop: asyncio.Event, warn: Warn) -> None:
    """The signals endpoint until ``stop``; the server is ``engine.signal_server`` meanwhile."""
    from engine.signals.local_api import LocalApi
    from engine.signals.server import SignalServer

    config = engine.config
    local_api = LocalApi(
        engine.api,
        engine.signals,
        token=engine.api_token,
        today=lambda: engine.clock.now().date(),
    )
    server = SignalServer(
        engine.signals,
        passphrase=engine.webhook_passphrase,
        host=config.api_host,
        port=port,
        allowlist=config.api_allowlist,
        local_api=local_api,
    )
    try:
        await server.start()
    except OSError as problem:
        warn(
            f"the signals endpoint could not listen on {config.api_host}:{port} "
            f"({problem.strerror or problem}); signals are not received",
            "signals",
        )
        return
    engine.signal_server = server
    try:
        await stop.wait()
    finally:
        await server.close()
        engine.signal_server = None


def webhook_passphrase(profile: str | None) -> str | None:
    """``DALALDESK_WEBHOOK_PASSPHRASE`` (scripts, tests), else the profile's keyring entry."""
    return keyring_secret(WEBHOOK_PASSPHRASE_VARIABLE, profile, "signals", "webhook_passphrase")


def keyring_secret(variable: str, profile: str | None, group: str, name: str) -> str | None:
    """A secret from the environment (scripts, tests), else from the profile's keyring; None when
    neither has one. ``CredentialsUnavailable`` when the keyring cannot be read (locked, or no
    keyring): the servers then answer that, not that no secret is set."""
    from_environment = os.environ.get(variable)
    if from_environment or profile is None:
        return from_environment or None
    try:
        return CredentialStore(profile).get(group, name)
    except CredentialsUnavailable as problem:
        log.warning("the %s %s could not be read: %s", group, name.replace("_", " "), problem)
        raise
