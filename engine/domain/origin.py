"""Who asked for an order: its source (manual, strategy, signal, api, risk, broker) and, for
strategies and signals, the strategy's id. The gate's privileges follow the source, from one
table; P&L is attributed per strategy from the journal by the strategy id every order carries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import NewType

StrategyId = NewType("StrategyId", str)
"""A strategy's stable name in the desk (a portfolio, an algo, a Python strategy): letters,
digits and ``-_.``, at most ``MAX_STRATEGY_ID`` characters."""

MAX_STRATEGY_ID = 48


class OrderSource(StrEnum):
    MANUAL = "manual"
    """The trader: the order ticket, a hotkey, a square-off from the positions panel."""
    STRATEGY = "strategy"
    """A strategy running in the desk (carries its ``StrategyId``)."""
    SIGNAL = "signal"
    """An external signal: a TradingView webhook, a local API signal, a dropped file."""
    API = "api"
    """A script driving the desk through its API."""
    RISK = "risk"
    """The risk layer itself: the kill switch flattening the book."""
    BROKER = "broker"
    """The venue or broker: an intraday auto square-off, an order placed outside the desk."""


@dataclass(frozen=True, slots=True)
class Privileges:
    reduce_when_halted: bool
    """May close positions while trading is halted (others may only when squaring off)."""
    skip_duplicate_check: bool
    """Not held back as a duplicate of a recent order (a flattening repeats by design)."""
    reduce_on_position_alone: bool
    """Whether an order reduces is judged on the position alone, not net of working orders."""


_ORDINARY = Privileges(False, False, False)

PRIVILEGES = MappingProxyType(
    {
        OrderSource.MANUAL: _ORDINARY,
        OrderSource.STRATEGY: _ORDINARY,
        OrderSource.SIGNAL: _ORDINARY,
        OrderSource.API: _ORDINARY,
        OrderSource.RISK: Privileges(True, True, True),
        OrderSource.BROKER: _ORDINARY,
    }
)
"""What each source may do beyond an ordinary order; every source is listed."""

_OLD_NAMES = {
    "ticket": OrderSource.MANUAL,
    "hotkey": OrderSource.MANUAL,
    "square-off": OrderSource.MANUAL,
    "webhook": OrderSource.SIGNAL,
    "venue": OrderSource.BROKER,
    "kite": OrderSource.BROKER,
}


_STRATEGY_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_STRATEGY_ID}}}")


def is_strategy_id(text: str) -> bool:
    return _STRATEGY_ID.fullmatch(text) is not None


def source_of_text(text: str) -> tuple[OrderSource, StrategyId | None, bool]:
    """Source, strategy and square-off intent of the free text older journals recorded
    (``ticket``, ``strategy:demo``, ``risk:kill-switch``, ``square-off``, ``venue:...``)."""
    head, _, rest = text.partition(":")
    try:
        source = OrderSource(head)
    except ValueError:
        source = _OLD_NAMES.get(head, OrderSource.API)
    strategy = None
    if source in (OrderSource.STRATEGY, OrderSource.SIGNAL) and is_strategy_id(rest):
        strategy = StrategyId(rest)
    return source, strategy, head == "square-off"


def attribution(source: OrderSource, strategy: StrategyId | None) -> str:
    """Whose an order's P&L is: its strategy's id, or for an order of no strategy its source."""
    return strategy or source.value


def origin_label(source: OrderSource, strategy: StrategyId | None) -> str:
    """How the orderbook shows where an order came from: ``strategy demo``, ``manual``."""
    return f"{source.value} {strategy}" if strategy else source.value
