"""What the Settings dialog shows for alert delivery by Telegram and e-mail, and the secrets that
go with it.

The models hold nothing secret: the bot token and the SMTP password live in the profile's OS
keyring (``DeliveryKeys``), so a settings file, an export or a diagnostics bundle never carries
them.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from engine.credentials import CredentialStore


class Notice(StrEnum):
    """The kinds of event a trader is told about away from the screen."""

    ALERTS = "alerts"
    """An alert rule fired (price cross, % move, day P&L)."""
    REJECTIONS = "rejections"
    """The broker or exchange rejected an order."""
    STOP_LOSS = "stop_loss"
    """A stop-loss order triggered and filled."""
    RISK = "risk"
    """A circuit breaker tripped, the kill switch was pulled, trading was halted or reduced."""


ALL_NOTICES = [Notice.ALERTS, Notice.REJECTIONS, Notice.STOP_LOSS, Notice.RISK]

_ADDRESS = re.compile(
    r"^[^@\s<>,;\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)


def _address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} does not look like an e-mail address (name@example.com)")
    return value


Address = Annotated[str, AfterValidator(_address)]
OptionalAddress = Annotated[str, AfterValidator(lambda v: _address(v) if v.strip() else "")]


def _unique(notices: list[Notice]) -> list[Notice]:
    return [n for n in ALL_NOTICES if n in notices]


def _by_name(value: object) -> object:
    """Events as a settings file holds them: by name (the models are strict otherwise)."""
    if not isinstance(value, list):
        return value
    names = {notice.value: notice for notice in Notice}
    for item in value:
        if isinstance(item, str) and item not in names:
            raise ValueError(f"{item!r} is not an event: the events are {', '.join(names)}")
    return [names.get(item, item) if isinstance(item, str) else item for item in value]


NoticeList = Annotated[list[Notice], BeforeValidator(_by_name), AfterValidator(_unique)]


class TelegramSettings(BaseModel):
    # Strict, as the other settings groups: a file's `enabled: 'yes'` is refused, not read as on.
    model_config = ConfigDict(frozen=True, extra="forbid", title="Telegram", strict=True)

    enabled: bool = Field(
        default=False,
        title="Send alerts by Telegram",
        description="Send the chosen events to a chat.",
    )
    chat_id: str = Field(
        default="",
        title="Chat id",
        description="The chat, group or channel the bot writes to: a number such as 123456789 "
        "(-100... for a group) or @channelname. The bot token is kept in the keyring.",
        max_length=64,
    )
    api_url: str = Field(
        default="https://api.telegram.org",
        title="Bot API address",
        description="Telegram's Bot API, or a local Bot API server.",
        pattern=r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$",
    )
    events: NoticeList = Field(
        default_factory=lambda: list(ALL_NOTICES),
        title="Events",
        description="Which events are sent.",
    )

    @model_validator(mode="after")
    def _chat_when_enabled(self) -> TelegramSettings:
        chat = self.chat_id.strip()
        if self.enabled and not chat:
            raise ValueError("enter the chat id the bot should write to, or turn Telegram off")
        if chat and not re.fullmatch(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{3,}", chat):
            raise ValueError(
                f"a chat id is a number (123456789, -100123456789) or @channelname, not {chat!r}"
            )
        return self


class Security(StrEnum):
    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"


class EmailSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", title="E-mail", strict=True)

    enabled: bool = Field(
        default=False,
        title="Send alerts by e-mail",
        description="Send the chosen events by e-mail.",
    )
    host: str = Field(
        default="",
        title="SMTP server",
        description="The outgoing mail server, such as smtp.gmail.com.",
        max_length=253,
        pattern=r"^[A-Za-z0-9.\-]*$",
    )
    port: int = Field(
        default=587,
        ge=1,
        le=65535,
        title="Port",
        description="587 for STARTTLS, 465 for SSL, 25 plain.",
    )
    security: Security = Field(
        default=Security.STARTTLS,
        strict=False,  # by name, from a settings file
        title="Security",
        description="STARTTLS (upgrade a plain connection), SSL (encrypted from the start) or "
        "none (only for a server on this machine or a trusted network).",
    )
    username: str = Field(
        default="",
        title="User name",
        description="The SMTP login, often the sender's address; empty for a server that asks "
        "for none. The password is kept in the keyring.",
        max_length=254,
    )
    sender: OptionalAddress = Field(
        default="", title="From", description="The address the alerts come from."
    )
    recipients: list[Address] = Field(
        default_factory=list,
        title="To",
        description="Who receives the alerts (one or more addresses).",
        max_length=10,
    )
    events: NoticeList = Field(
        default_factory=lambda: list(ALL_NOTICES),
        title="Events",
        description="Which events are sent.",
    )
    mail_daily_report: bool = Field(
        default=False,
        title="Mail the end-of-day report",
        description="After the close (15:45 on trading days) send the day's report: P&L, "
        "charges, orders and fills, with the report's JSON file attached.",
    )

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> EmailSettings:
        if not self.enabled:
            return self
        missing = [
            what
            for what, value in (
                ("the SMTP server", self.host),
                ("the From address", self.sender),
                ("at least one To address", self.recipients),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"enter {', '.join(missing)}, or turn e-mail off")
        return self


class DeliverySettings(BaseModel):
    """The notifications group's Telegram and e-mail pages."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="Alert delivery")

    telegram: TelegramSettings = Field(
        default=TelegramSettings(), title="Telegram", description="Alerts by Telegram."
    )
    email: EmailSettings = Field(
        default=EmailSettings(), title="E-mail", description="Alerts by e-mail."
    )


# -- the secrets ------------------------------------------------------------------------------------

TELEGRAM = "telegram"
BOT_TOKEN = "bot_token"
SMTP = "smtp"
PASSWORD = "password"


class DeliveryKeys:
    """The bot token and the SMTP password in one profile's keyring, as the settings pages read
    and write them: ``saved`` says only whether each is there, never what it is."""

    def __init__(self, store: CredentialStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"DeliveryKeys({self.store!r})"

    def save_bot_token(self, token: str) -> None:
        token = token.strip()
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", token):
            raise ValueError("a bot token looks like 123456789:AA... (from @BotFather)")
        self.store.set(TELEGRAM, BOT_TOKEN, token)

    def save_smtp_password(self, password: str) -> None:
        if not password or password != password.strip():
            raise ValueError("enter the SMTP password (no spaces at either end)")
        self.store.set(SMTP, PASSWORD, password)

    def forget_bot_token(self) -> bool:
        return self.store.delete(TELEGRAM, BOT_TOKEN)

    def forget_smtp_password(self) -> bool:
        return self.store.delete(SMTP, PASSWORD)

    def saved(self) -> dict[str, bool]:
        """Which secrets are kept: ``{"bot_token": bool, "smtp_password": bool}``."""
        return {
            "bot_token": self.bot_token() is not None,
            "smtp_password": self.smtp_password() is not None,
        }

    def bot_token(self) -> str | None:
        return self.store.get(TELEGRAM, BOT_TOKEN)

    def smtp_password(self) -> str | None:
        return self.store.get(SMTP, PASSWORD)
