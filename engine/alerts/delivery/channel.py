"""What every delivery channel is: something that sends one short text, or says in words why not."""

from __future__ import annotations

from typing import Protocol


class DeliveryError(Exception):
    """A message was not delivered; ``str()`` says why in words, with no secret in it.

    ``retry`` is False when trying again cannot help (a wrong token, an unknown chat, a refused
    login); ``wait`` is how long the server asked us to wait first (Telegram's ``retry_after``).
    """

    def __init__(self, text: str, *, retry: bool = True, wait: float | None = None) -> None:
        super().__init__(text)
        self.retry = retry
        self.wait = wait


class Channel(Protocol):
    name: str
    """As the trader knows it: "Telegram", "E-mail"."""

    async def send(self, subject: str, text: str) -> None:
        """Deliver once (no retries here); ``DeliveryError`` when it was not delivered."""
        ...

    async def close(self) -> None: ...
