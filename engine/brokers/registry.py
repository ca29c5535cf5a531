"""Brokers by name: the one place the desk learns which brokers it can trade through.

A broker is a ``BrokerSpec``: how to build its order port for an engine, and, for a live broker,
how to connect (keys from the keyring, a login, the day's instruments). The runtime, the command
line and the windows ask this registry; a new broker registers itself here and nothing else in
the desk changes. Kite's modules are imported only when Kite is used (kiteconnect is slow to
import).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime

from engine.brokers.base import Broker, BrokerLink, LoginSession, Quotes
from engine.brokers.paper.config import PaperConfig
from engine.core.clock import Clock
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.ticks import Tick

SIMULATED_FEED = "simulated"
"""The built-in simulated NSE market; every other feed is a live broker's."""

LoginPrompt = Callable[[LoginSession, str], Awaitable[None]]
"""Shows a login (the window's) with a reason and returns once the session is logged in."""


class ConnectProblem(Exception):
    """A live broker could not be connected for a reason the trader can fix; the text says
    what to do."""


@dataclass(frozen=True, slots=True)
class BrokerContext:
    """What a broker's order port is built from."""

    instruments: Callable[[InstrumentToken], Instrument | None]
    quotes: Quotes
    clock: Clock
    session_open: Callable[[Instrument, datetime], bool]
    publish: Callable[[object], None]
    paper: PaperConfig
    link: BrokerLink | None
    """The live connection, for a broker that trades through one."""
    day_close: Callable[[date], datetime | None] | None = None
    """A trading day's close by the market calendar (None: not a trading day), for a venue that
    squares off intraday positions before it."""
    expiry_close: Callable[[date], datetime] | None = None
    """An expiry day's F&O close by the desk's market calendar (None: the packaged calendar's),
    for a venue that stops an expired contract's trading and settles it then."""
    index_quote: Callable[[str], Tick | None] | None = None
    """An underlying's name -> the last quote of its index (None: none, or not an index), for a
    venue that settles index futures and options at expiry (the paper venue; a live broker
    settles on its own side)."""


@dataclass(frozen=True, slots=True)
class Connected:
    """A live broker connected: its link and the day's instruments."""

    link: BrokerLink
    instruments: list[Instrument]


@dataclass(frozen=True, slots=True)
class BrokerSpec:
    name: str
    """What ``--broker`` and the book's name use ("paper", "kite")."""
    title: str
    """What the trader reads ("Paper", "Zerodha Kite")."""
    make: Callable[[BrokerContext], Broker]
    """The order port: a venue in this process, or the live link's order side."""
    connect: Callable[[str, LoginPrompt | None], Awaitable[Connected]] | None = None
    """Connects a live broker for a profile (None: no login, no feed of its own). Raises
    ``ConnectProblem`` when the trader must fix something (keys missing, no saved session)."""
    own_feed_only: bool = False
    """Trades only on its own prices (a live broker cannot fill on simulated ones)."""
    one_feed_session: bool = False
    """Its market data allows one session per app key: a second login knocks the first off, so
    two accounts of one desk cannot both take its prices."""

    @property
    def live(self) -> bool:
        return self.connect is not None


_BROKERS: dict[str, BrokerSpec] = {}


def register(spec: BrokerSpec) -> Callable[[], None]:
    """Add a broker; returns what takes it away again (tests)."""
    if spec.name in _BROKERS:
        raise ValueError(f"a broker named {spec.name!r} is already registered")
    if not spec.name or spec.name == SIMULATED_FEED or not spec.name.isidentifier():
        raise ValueError(f"{spec.name!r} cannot name a broker")
    _BROKERS[spec.name] = spec

    def unregister() -> None:
        _BROKERS.pop(spec.name, None)

    return unregister


def broker_names() -> tuple[str, ...]:
    return tuple(_BROKERS)


def feed_names() -> tuple[str, ...]:
    """The simulated market and every live broker's feed."""
    return (SIMULATED_FEED, *(s.name for s in _BROKERS.values() if s.live))


def broker_spec(name: str) -> BrokerSpec:
    spec = _BROKERS.get(name)
    if spec is None:
        raise ValueError(
            f"broker {name!r} is not available in this build; use one of {', '.join(_BROKERS)}"
        )
    return spec


# -- the built-in brokers --------------------------------------------------------------------------


def _paper(context: BrokerContext) -> Broker:
    from engine.brokers.paper.venue import PaperVenue

    return PaperVenue(
        instruments=context.instruments,
        quotes=context.quotes,
        clock=context.clock,
        session_open=context.session_open,
        config=context.paper,
        day_close=context.day_close,
        index_quote=context.index_quote,
        publish=context.publish,
        expiry_close=context.expiry_close,
    )


def link_broker(context: BrokerContext) -> Broker:
    """The order port of a live broker: its link's order side."""
    if context.link is None:
        raise ValueError("a live broker trades through its link; connect it first")
    return context.link.make_broker(instruments=context.instruments, publish=context.publish)


async def _connect_kite(profile: str, login: LoginPrompt | None) -> Connected:
    from engine.brokers.kite.connect import connect_kite

    return await connect_kite(profile, login=login)


async def _connect_xts(profile: str, login: LoginPrompt | None) -> Connected:
    from engine.brokers.xts.connect import connect_xts

    return await connect_xts(profile, login=login)


register(BrokerSpec("paper", "Paper", _paper))
register(
    BrokerSpec(
        "kite",
        "Zerodha Kite",
        link_broker,
        connect=_connect_kite,
        own_feed_only=True,
    )
)
register(
    BrokerSpec(
        "xts",
        "Symphony XTS",
        link_broker,
        connect=_connect_xts,
        own_feed_only=True,
        one_feed_session=True,
    )
)
