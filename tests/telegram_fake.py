"""A Telegram Bot API server on 127.0.0.1 that answers ``sendMessage`` the way Telegram does and
records what it was sent.

Replies follow the Bot API's shape: ``{"ok": true, "result": <Message>}``; a token it does not
know is 401 ``Unauthorized``; a chat it does not know is 400 ``Bad Request: chat not found``;
``throttle(n, retry_after)`` makes the next ``n`` sends 429 with ``parameters.retry_after``;
``fail(n)`` makes the next ``n`` sends 502.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fake_server import FakeServer


@dataclass
class SentMessage:
    token: str
    chat_id: str
    text: str
    at: float = field(default_factory=time.monotonic)


class TelegramFake(FakeServer):
    def __init__(self, token: str, chats: tuple[str, ...] = ("123456789",)) -> None:
        self.token = token
        self.chats = set(chats)
        self.messages: list[SentMessage] = []
        self.requests: list[float] = []
        """When each sendMessage arrived (monotonic), answered or not."""
        self._throttle = 0
        self._retry_after = 1
        self._failures = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def throttle(self, times: int, retry_after: int) -> None:
        self._throttle, self._retry_after = times, retry_after

    def fail(self, times: int) -> None:
        self._failures = times

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send_message)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _send_message(self, request: web.Request) -> web.Response:
        self.requests.append(time.monotonic())
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        if self._failures:
            self._failures -= 1
            return web.Response(status=502, text="<html>Bad Gateway</html>")
        if self._throttle:
            self._throttle -= 1
            return _error(
                429,
                f"Too Many Requests: retry after {self._retry_after}",
                parameters={"retry_after": self._retry_after},
            )
        body = await request.json()
        chat = str(body.get("chat_id", ""))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if chat not in self.chats:
            return _error(400, "Bad Request: chat not found")
        self.messages.append(SentMessage(self.token, chat, text))
        message = {
            "message_id": len(self.messages),
            "from": {"id": 1, "is_bot": True, "first_name": "DalalDesk", "username": "desk_bot"},
            "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else 0, "type": "private"},
            "date": int(time.time()),
            "text": text,
        }
        return web.json_response({"ok": True, "result": message})


def _error(status: int, description: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description, **extra}, status=status
    )
