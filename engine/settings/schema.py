"""Every preference the desk reads, declared once: its type, default, bounds, description, and
whether it takes effect only at the next start.

The Settings dialog is generated from these models (``ui.panels.settings_dialog``), the file is
checked against them at load (``engine.settings.store``), and a test finds no preference read
anywhere else. Broker keys, tokens and passwords are not preferences: they live in the OS
keyring (``engine.credentials``) and never in this file. Risk limits are the book's, kept in its
journal (``api.set_risk_limits``), so that every desk on a shared book trades under the same ones.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import JsonDict

from engine.alerts.delivery import EmailSettings, TelegramSettings

RESTART: JsonDict = {"restart": True}
"""``json_schema_extra`` of a preference that takes effect at the next start."""

SCHEMA_VERSION = 1

COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"


class Section(BaseModel):
    # Strict: a file's `default_lots: true` or `confirm_orders: 'yes'` is refused in words, not
    # read as 1 or on (a whole number still fills a decimal preference).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BrokerPreferences(Section):
    """Which market the desk opens on when it is started without --broker / --feed."""

    start_broker: Literal["paper", "kite", "xts"] = Field(
        default="paper",
        title="Broker at start",
        description="Where orders go when the desk starts: the built-in paper market, Zerodha "
        "Kite or Symphony XTS (keys under Broker keys…); --broker overrides it",
        json_schema_extra=RESTART,
    )
    paper_feed: Literal["simulated", "kite", "xts"] = Field(
        default="simulated",
        title="Paper trades on",
        description="The prices paper orders fill against: the simulated market, or a live "
        "broker's feed (paper trading on real prices); --feed overrides it",
        json_schema_extra=RESTART,
    )
    paper_latency_ms: float = Field(
        default=0.0,
        ge=0,
        le=5000,
        title="Paper venue latency (ms)",
        description="How long the paper venue takes to act on an order, as a real exchange does",
        json_schema_extra=RESTART,
    )
    nse_hours: bool = Field(
        default=False,
        title="Simulated market keeps NSE hours",
        description="Off: the simulated market trades whenever the desk runs. On: it follows "
        "NSE's sessions and holidays, closed is closed",
        json_schema_extra=RESTART,
    )

    static_ip: str | None = Field(
        default=None,
        title="Registered static IP",
        description="The static IP registered with the broker for API orders (NSE's rule from 1 "
        "April 2026); the pre-open checklist checks this machine's public IP against it",
        json_schema_extra=RESTART,
    )
    backup_static_ip: str | None = Field(
        default=None,
        title="Backup static IP",
        description="The second static IP the broker allows, if registered",
        json_schema_extra=RESTART,
    )
    address_check_url: str | None = Field(
        default="https://api.ipify.org",
        title="IP check service",
        description="Asked once a day before the open for this machine's public IP (plain text) "
        "and, from its Date header, the clock's drift; off: no network look",
        json_schema_extra=RESTART,
    )

    @field_validator("static_ip", "backup_static_ip")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address (such as 203.0.113.7)") from None

    @field_validator("address_check_url")
    @classmethod
    def _a_web_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if urlsplit(value.strip()).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not a web address (https://…)")
        return value.strip()


class TradingPreferences(Section):
    """What the order ticket opens with, and what it asks before sending."""

    default_order_type: Literal["LIMIT", "MARKET", "SL", "SL-M"] = Field(
        default="LIMIT", description="The order type a new ticket opens with"
    )
    default_derivative_product: Literal["NRML", "MIS"] = Field(
        default="NRML",
        title="Product for F&O",
        description="NRML carries the position overnight; MIS is intraday, squared off at 15:20",
    )
    default_equity_product: Literal["CNC", "MIS"] = Field(
        default="CNC",
        title="Product for equity",
        description="CNC is delivery; MIS is intraday, squared off at 15:20",
    )
    default_lots: int = Field(
        default=1, ge=1, le=10_000, description="The quantity a new ticket opens with, in lots"
    )
    confirm_orders: bool = Field(
        default=False,
        title="Confirm each order",
        description="Ask before the ticket sends an order or a modification",
    )


class RiskPreferences(Section):
    """How often the desk's own risk figures are recomputed. The limits themselves are the
    book's: Risk limits…"""

    var_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        title="VaR every (s)",
        description="How often value at risk is recomputed, in a worker process; 0 switches "
        "VaR off",
        json_schema_extra=RESTART,
    )
    var_paths: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        title="VaR paths",
        description="Simulated paths per VaR run: more is steadier and slower",
        json_schema_extra=RESTART,
    )


class NotificationPreferences(Section):
    """Where the desk tells the trader about alerts and events that need them: on the screen, and
    away from it by Telegram and e-mail (the bot token and the mail password are kept in the
    keyring: the buttons below)."""

    desktop: bool = Field(
        default=True,
        title="Desktop notifications",
        description="Show fired alerts as the operating system's notifications too (they are "
        "always in the Alerts panel, Messages and the status bar)",
    )
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)


TRADINGVIEW_ADDRESSES = "52.89.214.238, 34.212.75.30, 54.218.53.128, 52.32.178.7"
SIGNAL_MODES = ("approve", "auto", "off")


class SignalPreferences(Section):
    """Signals from TradingView and scripts: where the desk listens, and what a signal does. The
    webhook's passphrase is kept in the keyring (Set passphrase…)."""

    api_port: int | None = Field(
        default=None,
        ge=1024,
        le=65535,
        title="Listen on port",
        description="Receive signals at http://127.0.0.1:PORT/webhook/tradingview; off: no "
        "endpoint (--api-port overrides it)",
        json_schema_extra=RESTART,
    )
    every_interface: bool = Field(
        default=False,
        title="Listen beyond this machine",
        description="On: every network interface, answering only the addresses allowed below; "
        "off: this machine only (a tunnel or reverse proxy delivers from here)",
        json_schema_extra=RESTART,
    )
    allowed_addresses: str = Field(
        default=TRADINGVIEW_ADDRESSES,
        max_length=400,
        title="Allowed addresses",
        description="Who may send signals from beyond this machine, comma-separated (TradingView "
        "posts from these four)",
        json_schema_extra=RESTART,
    )
    mode: Literal["approve", "auto", "off"] = Field(
        default="approve",
        description="approve: each signal waits for you in the Signals panel; auto: straight to "
        "the risk check; off: every signal refused (--signal-mode overrides it)",
    )
    strategy_modes: str = Field(
        default="",
        max_length=400,
        title="Modes by strategy",
        description="A strategy's own mode, over the one above: ema-9-21=auto, rsi-turn=off",
    )
    max_age_seconds: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        title="Refuse older than (s)",
        description="A signal fired longer ago than this is refused as stale",
    )
    approval_seconds: float = Field(
        default=60.0,
        ge=5,
        le=900,
        title="Approval expires after (s)",
        description="A signal not approved within this time expires and places nothing",
    )
    lots_multiplier: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Every signal's lots are multiplied by this",
    )

    @field_validator("strategy_modes")
    @classmethod
    def _modes(cls, value: str) -> str:
        pairs = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            strategy, _, mode = (text.strip() for text in item.partition("="))
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,48}", strategy) or mode not in SIGNAL_MODES:
                raise ValueError(
                    f"{item!r} is not strategy=mode (a mode is {', '.join(SIGNAL_MODES)})"
                )
            pairs.append(f"{strategy}={mode}")
        return ", ".join(pairs)

    @field_validator("allowed_addresses", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value  # YAML read 52.89 a number

    @field_validator("allowed_addresses")
    @classmethod
    def _addresses(cls, value: str) -> str:
        addresses = [a.strip() for a in value.split(",") if a.strip()]
        for address in addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
        return ", ".join(addresses)


class DisplayPreferences(Section):
    theme: Literal["dark", "light"] = Field(default="dark", description="Colours of the whole desk")
    density: Literal["compact", "comfortable"] = Field(
        default="compact", description="Row height of every table: compact fits more rows"
    )
    number_format: Literal["indian", "international"] = Field(
        default="indian",
        description="Digit grouping: indian is 1,23,45,678.50 (lakhs, crores); international "
        "is 12,345,678.50",
    )
    font_size: int | None = Field(
        default=None,
        ge=7,
        le=20,
        title="Font size (pt)",
        description="The desk's font size; off is the system's",
    )
    up_colour: str | None = Field(
        default=None,
        pattern=COLOUR_PATTERN,
        title="Up colour",
        description="Colour of rising prices and profits, as #RRGGBB (try #1e88e5 blue for "
        "red-green colour blindness); off is the theme's green",
    )
    down_colour: str | None = Field(
        default=None,
        pattern=COLOUR_PATTERN,
        title="Down colour",
        description="Colour of falling prices and losses, as #RRGGBB (try #fb8c00 orange); off "
        "is the theme's red",
    )


class Settings(Section):
    """A profile's preferences, in six groups."""

    version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    brokers: BrokerPreferences = Field(default_factory=BrokerPreferences)
    trading: TradingPreferences = Field(default_factory=TradingPreferences)
    risk: RiskPreferences = Field(default_factory=RiskPreferences)
    notifications: NotificationPreferences = Field(default_factory=NotificationPreferences)
    signals: SignalPreferences = Field(default_factory=SignalPreferences)
    display: DisplayPreferences = Field(default_factory=DisplayPreferences)


GROUPS: tuple[tuple[str, str], ...] = (
    ("brokers", "Brokers"),
    ("trading", "Trading"),
    ("risk", "Risk"),
    ("notifications", "Notifications"),
    ("signals", "Signals"),
    ("display", "Display"),
)
"""The dialog's pages, in order: (field of ``Settings``, title)."""


def leaf_paths(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Every preference's dotted path (``display.theme``), nested models walked."""
    paths: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += leaf_paths(annotation, f"{path}.")
        else:
            paths.append(path)
    return paths


def needs_restart(path: str) -> bool:
    model: type[BaseModel] = Settings
    *parents, leaf = path.split(".")
    for name in parents:
        annotation = model.model_fields[name].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation
    extra = model.model_fields[leaf].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("restart"))


def value_at(settings: BaseModel, path: str) -> Any:
    value: Any = settings
    for name in path.split("."):
        value = getattr(value, name)
    return value


def changed_paths(old: Settings, new: Settings) -> list[str]:
    return [p for p in leaf_paths() if value_at(old, p) != value_at(new, p)]


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """A validation error as (field path, what is wrong in words) pairs."""
    found = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a DalalDesk setting (a typo, or a newer version's)"
        elif item["type"] == "string_pattern_mismatch":
            message = "should be a colour as #RRGGBB"
        found.append((path or "(the file)", message))
    return found


def problems_text(error: ValidationError) -> str:
    return "; ".join(f"{path}: {message}" for path, message in problems_of(error))
