"""Telegram through the Bot API (``POST {api}/bot{token}/sendMessage``), with aiohttp on the
engine's loop.

The token is part of every request's address, so no address, and no error text that might
quote one, leaves this module without the token cut out of it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from engine.alerts.delivery.channel import DeliveryError

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
MAX_TEXT = 4096  # Telegram's limit for one message


class TelegramChannel:
    name = "Telegram"

    def __init__(self, api_url: str, token: str, chat_id: str) -> None:
        self._api = api_url.rstrip("/")
        self._token = token
        self._chat = chat_id.strip()
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"TelegramChannel({self._api!r}, chat={self._chat!r})"

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<bot token>") if self._token else text

    async def send(self, subject: str, text: str) -> None:
        body = f"{subject}\n{text}" if subject else text
        try:
            reply = await self._post({"chat_id": self._chat, "text": body[:MAX_TEXT]})
        except DeliveryError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(
                f"Telegram could not be reached at {self._api} ({self.redact(_words(exc))})"
            ) from None
        if reply.get("ok") is not True:
            raise DeliveryError(f"Telegram answered unexpectedly: {self.redact(str(reply)[:200])}")

    async def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        url = f"{self._api}/bot{self._token}/sendMessage"
        async with self._session.post(url, json=payload) as response:
            raw = await response.text()
            status = response.status
        try:
            reply = json.loads(raw)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            if status >= 500:
                raise DeliveryError(f"Telegram's server failed (HTTP {status})")
            raise DeliveryError(
                f"Telegram answered HTTP {status} with no Bot API reply; check the Bot API address",
                retry=status >= 500,
            )
        if status == 200:
            return reply
        described = self.redact(str(reply.get("description") or f"HTTP {status}"))
        if status == 429:
            parameters = reply.get("parameters")
            wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
            return_after = float(wait) if isinstance(wait, int | float) and wait >= 0 else None
            raise DeliveryError(f"Telegram asked to slow down ({described})", wait=return_after)
        if status in (401, 404):
            raise DeliveryError(
                "Telegram refused the bot token (Unauthorized): save the token @BotFather gave",
                retry=False,
            )
        if status in (400, 403):
            raise DeliveryError(
                f"Telegram refused the message for chat {self._chat}: {described} (check the "
                "chat id, and that the bot was added to the chat or started by you)",
                retry=False,
            )
        raise DeliveryError(f"Telegram's server failed (HTTP {status}: {described})")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _words(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
