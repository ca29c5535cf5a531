"""Alert delivery by Telegram and e-mail: each enabled channel has a bounded outbox drained by
its own task on the engine's loop, so a tick or an order never waits on the network.

A message that cannot go out is tried again with a growing pause (as long as the server asked,
for Telegram's 429); while a channel stays down its outbox keeps the newest messages and drops
the oldest, counted. The trader is told once when a channel fails and once when it is back
(Messages and the log, in words, never a traceback); the alerts themselves are in the desk
regardless.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.alerts.delivery.channel import Channel, DeliveryError
from engine.alerts.delivery.notices import EVENTS, notice_for
from engine.alerts.delivery.settings import (
    DeliveryKeys,
    DeliverySettings,
    EmailSettings,
    Notice,
    TelegramSettings,
)
from engine.alerts.delivery.smtp import EmailChannel
from engine.credentials import CredentialsUnavailable
from engine.domain.events import OrderFilled, Severity

log = logging.getLogger(__name__)

SOURCE = "delivery"


class DeskEvents(Protocol):
    """What delivery needs of the engine's facade (``engine.api.EngineApi`` is one)."""

    def subscribe(
        self, event_type: type[Any], handler: Callable[[Any], None]
    ) -> Callable[[], None]: ...

    def order(self, order_id: Any) -> Any: ...

    def tell(self, text: str, severity: Severity = Severity.WARNING, source: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class Pacing:
    """How hard to try: attempts per message, the pause between them, how long to rest a channel
    that stays down before the next try, and how many messages an outbox holds."""

    attempts: int = 4
    backoff: float = 1.0
    """The first pause in seconds; each next one doubles."""
    max_wait: float = 60.0
    rest: float = 30.0
    outbox: int = 100


class Outbox:
    """One channel's queue and the task that drains it."""

    def __init__(
        self, channel: Channel, kinds: frozenset[Notice], tell: Callable[..., None], pacing: Pacing
    ) -> None:
        self.channel = channel
        self.kinds = kinds
        self._tell = tell
        self._pacing = pacing
        self._queue: deque[tuple[str, str]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.failing: str | None = None
        """Why the channel is failing (told once), or None while it delivers."""
        self._dropped_told = 0
        self._busy = False
        """A message is on its way (taken from the queue's head only once delivered)."""

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"alert-delivery-{self.channel.name}"
        )

    def put(self, subject: str, text: str) -> None:
        if len(self._queue) >= self._pacing.outbox:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 50 == 0:
                log.warning(
                    "%s alerts outbox full: %d oldest message(s) dropped so far",
                    self.channel.name,
                    self.dropped,
                )
        self._queue.append((subject, text))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until the outbox is empty (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while self._queue or self._busy:
                await asyncio.sleep(0.01)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                subject, text = self._queue[0]
                self._busy = True
                try:
                    problem = await self._deliver(subject, text)
                finally:
                    self._busy = False
                if problem is None:
                    if self._queue and self._queue[0] == (subject, text):
                        self._queue.popleft()
                    self._recovered()
                    continue
                self._failed(problem)
                if not problem.retry:
                    if self._queue and self._queue[0] == (subject, text):
                        self._queue.popleft()
                        self.dropped += 1
                    continue
                # Down: rest, keeping the message at the head; new ones queue behind it.
                await asyncio.sleep(self._pacing.rest)

    async def _deliver(self, subject: str, text: str) -> DeliveryError | None:
        pacing = self._pacing
        problem = DeliveryError("not tried")
        for attempt in range(pacing.attempts):
            try:
                await self.channel.send(subject, text)
                self.sent += 1
                return None
            except DeliveryError as exc:
                problem = exc
            except Exception as exc:  # a bug or a library surprise: isolated, said in words
                problem = DeliveryError(f"{type(exc).__name__} while sending")
                log.error("%s delivery failed unexpectedly: %s", self.channel.name, problem)
            if not problem.retry or attempt + 1 == pacing.attempts:
                break
            wait = problem.wait if problem.wait is not None else pacing.backoff * 2**attempt
            await asyncio.sleep(min(wait, pacing.max_wait))
        return problem

    def _failed(self, problem: DeliveryError) -> None:
        told = self.failing is not None
        self.failing = str(problem)
        if told:  # once per outage, however its errors vary (refused, 502, timeouts)
            log.debug("%s still failing: %s", self.channel.name, problem)
            return
        text = (
            f"{self.channel.name} alerts not delivered: {problem}. Alerts still show in the desk"
            + ("; later ones will be tried again." if problem.retry else ".")
        )
        log.warning("%s", text)
        self._tell(text, Severity.WARNING, SOURCE)

    def _recovered(self) -> None:
        if self.failing is None:
            return
        self.failing = None
        lost = self.dropped - self._dropped_told
        self._dropped_told = self.dropped
        text = f"{self.channel.name} alerts are delivered again" + (
            f"; {lost} older message(s) were dropped while it was down." if lost else "."
        )
        log.info("%s", text)
        self._tell(text, Severity.INFO, SOURCE)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.channel.close()


class AlertDelivery:
    """The attached channels: listens to the desk's events and fills each channel's outbox."""

    def __init__(self, api: DeskEvents, outboxes: list[Outbox]) -> None:
        self._api = api
        self.outboxes = outboxes
        self._stop_loss_told: deque[object] = deque(maxlen=512)
        self._unsubscribe: list[Callable[[], None]] = []
        if outboxes:
            for outbox in outboxes:
                outbox.start()
            self._unsubscribe = [api.subscribe(kind, self.on_event) for kind in EVENTS]

    def on_event(self, event: object) -> None:
        found = notice_for(event, self._api.order)
        if found is None:
            return
        kind, subject, text = found
        if isinstance(event, OrderFilled):  # one message per stop-loss, however many fills
            if event.order_id in self._stop_loss_told:
                return
            self._stop_loss_told.append(event.order_id)
        for outbox in self.outboxes:
            if kind in outbox.kinds:
                outbox.put(subject, text)

    async def drain(self, timeout: float = 10.0) -> None:
        await asyncio.gather(*(o.drain(timeout) for o in self.outboxes))

    async def close(self, flush: float = 0.0) -> None:
        """Stop listening, give what is queued up to ``flush`` seconds to go out, then stop the
        channels (what is still queued then is not sent)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if flush > 0:
            try:
                await self.drain(flush)
            except TimeoutError:
                left = sum(o.pending for o in self.outboxes)
                log.warning("%d alert message(s) were not sent before the desk closed", left)
        await asyncio.gather(*(o.close() for o in self.outboxes))


def attach_deliveries(
    api: DeskEvents,
    settings: DeliverySettings | None,
    keys: DeliveryKeys,
    *,
    tls_context: ssl.SSLContext | None = None,
    pacing: Pacing = Pacing(),
) -> AlertDelivery:
    """Start delivering the desk's alerts to every enabled channel; call on the running loop and
    ``await handle.close()`` at shutdown (or before attaching again with changed settings).

    A channel that is on but cannot start (no token or password saved, the keyring locked) is
    left out and the trader is told why."""
    settings = settings or DeliverySettings()
    outboxes: list[Outbox] = []
    for channel_settings in (settings.telegram, settings.email):
        if not channel_settings.enabled:
            continue
        channel, problem = _channel(channel_settings, keys, tls_context)
        if channel is None:
            text = f"{problem} Alerts still show in the desk."
            log.warning("%s", text)
            api.tell(text, Severity.WARNING, SOURCE)
            continue
        outboxes.append(Outbox(channel, frozenset(channel_settings.events), api.tell, pacing))
    return AlertDelivery(api, outboxes)


def _channel(
    settings: TelegramSettings | EmailSettings,
    keys: DeliveryKeys,
    tls_context: ssl.SSLContext | None,
) -> tuple[Channel | None, str]:
    try:
        if isinstance(settings, TelegramSettings):
            token = keys.bot_token()
            if not token:
                return (
                    None,
                    "Telegram alerts are on but no bot token is saved: save it in Settings.",
                )
            # Imported here: aiohttp is loaded only by a desk that sends to Telegram.
            from engine.alerts.delivery.telegram import TelegramChannel

            return TelegramChannel(settings.api_url, token, settings.chat_id), ""
        password = keys.smtp_password() if settings.username else None
        if settings.username and not password:
            return None, "E-mail alerts are on but no SMTP password is saved: save it in Settings."
        return EmailChannel(settings, password, tls_context=tls_context), ""
    except CredentialsUnavailable as exc:
        name = "Telegram" if isinstance(settings, TelegramSettings) else "E-mail"
        return None, f"{name} alerts are off for now: {exc}"


TEST_SUBJECT = "DalalDesk test message"
TEST_TEXT = "This is a test from DalalDesk: alerts will arrive here."


async def send_test(
    settings: TelegramSettings | EmailSettings,
    keys: DeliveryKeys,
    *,
    tls_context: ssl.SSLContext | None = None,
) -> tuple[bool, str]:
    """One test message with these (perhaps unsaved) settings, for a "Send test message" button:
    ``(True, where it went)`` or ``(False, why not)``, in words. Sent once, not retried."""
    channel, problem = _channel(settings, keys, tls_context)
    if channel is None:
        return False, problem
    if isinstance(settings, TelegramSettings) and not settings.chat_id.strip():
        return False, "Enter the chat id first."
    if isinstance(settings, EmailSettings) and not (
        settings.host and settings.sender and settings.recipients
    ):
        return False, "Enter the SMTP server, the From address and a To address first."
    try:
        await channel.send(TEST_SUBJECT, TEST_TEXT)
    except DeliveryError as exc:
        return False, f"Not sent: {exc}."
    finally:
        await channel.close()
    if isinstance(settings, TelegramSettings):
        return True, f"Test message sent to Telegram chat {settings.chat_id.strip()}."
    return True, f"Test message sent to {', '.join(settings.recipients)} through {settings.host}."
