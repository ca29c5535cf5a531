"""What one engine is built from: broker, feed, book, simulated market, risk settings."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from engine.brokers.paper.config import PaperConfig
from engine.brokers.registry import SIMULATED_FEED, broker_spec, feed_names
from engine.marketdata.simulated import SimulatedMarketConfig
from engine.risk.limits import MarginParameters, RiskSettings
from engine.signals.desk import SignalRules
from engine.signals.tradingview import TRADINGVIEW_ADDRESSES


@dataclass(frozen=True, slots=True)
class EngineConfig:
    db_url: str | None = None
    """SQLAlchemy URL of the journal; None is the default file in the user data directory."""
    broker: str = "paper"
    market: SimulatedMarketConfig = field(default_factory=SimulatedMarketConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    always_open: bool = False
    """Trade the simulated market outside NSE hours (demos and tests)."""
    account: str = "paper"
    """The account id the risk limits are looked up under."""
    risk: RiskSettings = field(default_factory=RiskSettings)
    margin: MarginParameters = field(default_factory=MarginParameters)
    var_interval_seconds: float = 60.0
    """How often VaR is recomputed (in a worker process); 0 switches it off."""
    var_after_fill_seconds: float = 5.0
    """How soon after a fill VaR is recomputed, so the risk panel follows a new position (at
    most this often); the regular recomputation follows the prices."""
    var_paths: int = 10_000
    strategies_dir: Path | None = None
    """The trader's own strategies (``engine.strategies.loader``); None: the built-in ones only."""
    portfolios_dir: Path | None = None
    """The trader's multileg portfolios (``engine.strategies.multileg.desk``); None keeps them in
    memory only."""
    feed: str | None = None
    """Market data: 'simulated' or a live broker's name ('kite'); None is a live broker's own
    feed, else the simulated market. Broker 'paper' on feed 'kite' is paper trading on live
    data (the link is connected by the caller: ``engine.brokers.registry``)."""
    alerts_file: Path | None = None
    """The trader's alert rules (``engine.alerts.book.alerts_path``); None keeps them in memory."""
    schedule_folder: Path | None = None
    """Run the daily jobs (``engine.runtime.scheduler``), keeping their record and reports here;
    None: no schedule (tests, demos, backtests)."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on 127.0.0.1 at this port (0: any free port); None: off."""
    address_check_url: str | None = None
    """The pre-open checklist asks this IP echo service for the public IP and a server's time
    (``engine.runtime.preflight``); None: no network look."""
    static_ips: tuple[str, ...] = ()
    """The static IPs registered with the broker, which API orders must come from."""
    api_port: int | None = None
    """Serve the signals endpoint (``engine.signals.server``) at this port (0: any free one);
    None: off."""
    api_host: str = "127.0.0.1"
    """The interface it listens on; another than loopback only when the trader chooses it."""
    api_allowlist: tuple[str, ...] = TRADINGVIEW_ADDRESSES
    """Addresses (besides loopback) allowed to post signals."""
    signal_rules: SignalRules = field(default_factory=SignalRules)
    signals_folder: Path | None = None
    """Take signal files dropped in ``<folder>/inbox`` (``engine.signals.inbox``); None: off."""
    chart_series: bool = True
    """Sample the option series (straddles, portfolios' MTM, IVs) once a second of market time
    for the chart docks; a backtest, which nothing draws, leaves it off."""
    recordings_dir: Path | None = None
    """Record the desk's feed under this folder (``engine.marketdata.recorder``: Parquet per
    day, for replays and backtests); None: off."""
    close_backup: bool = True
    """Copy the book as the desk closes (``engine.store.backup``). A backtest's book is the
    record of one run, kept whole by its result: it makes no copies."""
    profile: str | None = None
    """The profile whose keyring holds the webhook's passphrase; None: only the environment's
    ``DALALDESK_WEBHOOK_PASSPHRASE``."""

    def __post_init__(self) -> None:
        spec = broker_spec(self.broker)  # ValueError naming the brokers there are
        feeds = feed_names()
        if self.feed is not None and self.feed not in feeds:
            raise ValueError(f"feed {self.feed!r} is unknown; use one of {', '.join(feeds)}")
        if spec.own_feed_only and self.market_feed != self.broker:
            raise ValueError(
                f"the {spec.title} broker trades on its own market data (feed '{self.broker}')"
            )
        if self.var_interval_seconds < 0 or self.var_paths < 100:
            raise ValueError("var_interval_seconds must be >= 0 and var_paths >= 100")
        if self.var_after_fill_seconds <= 0:
            raise ValueError("var_after_fill_seconds must be positive")
        for address in self.static_ips:
            ipaddress.ip_address(address)  # ValueError naming the address
        for address in self.api_allowlist:
            ipaddress.ip_address(address)
        if self.api_port is not None and not 0 <= self.api_port <= 65535:
            raise ValueError(f"the API port must be 0-65535, not {self.api_port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"the metrics port must be 0-65535, not {self.metrics_port}")

    @property
    def market_feed(self) -> str:
        if self.feed is not None:
            return self.feed
        return self.broker if broker_spec(self.broker).live else SIMULATED_FEED
