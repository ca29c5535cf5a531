"""A multileg leg as the trader sets it (side, option type, expiry, how its strike is chosen,
lots, hedge) and its resolution to the one contract it trades at a moment: the expiry from the
listed ones, the strike from that expiry's chain (``strikes``), the instrument from the desk's
instruments. Resolution is pure given the chain; ``chain_from`` builds the chain from the facade.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import Side
from engine.options.chain import ChainAnalytics
from engine.strategies.multileg.expiries import ExpiryCode, resolve_expiry
from engine.strategies.multileg.strikes import (
    Chain,
    Moneyness,
    NoStrike,
    PremiumRule,
    Reference,
    Right,
    atm_offset,
    by_delta,
    by_premium,
    by_straddle_width,
    chain_of,
)
from engine.strategies.ports import Instruments


@dataclass(frozen=True, slots=True)
class AtmOffset:
    steps: int = 0
    """Listed strikes above (+) or below (−) ATM; ``otm``/``itm`` give it per option type."""


@dataclass(frozen=True, slots=True)
class FixedStrike:
    strike: Decimal


@dataclass(frozen=True, slots=True)
class ByPremium:
    rule: PremiumRule
    value: Decimal
    upper: Decimal | None = None
    side: Moneyness = Moneyness.BOTH
    depth: int | None = None


@dataclass(frozen=True, slots=True)
class ByDelta:
    delta: float


@dataclass(frozen=True, slots=True)
class ByStraddleWidth:
    multiple: Decimal


StrikeRule = AtmOffset | FixedStrike | ByPremium | ByDelta | ByStraddleWidth


@dataclass(frozen=True, slots=True)
class LegSpec:
    side: Side
    right: Right
    expiry: ExpiryCode | date = ExpiryCode.CURRENT_WEEK
    strike: StrikeRule = AtmOffset()
    lots: int = 1
    hedge: bool = False
    """Bought first and exited last."""

    def __post_init__(self) -> None:
        if type(self.lots) is not int or self.lots < 1:
            raise ValueError(f"a leg trades one lot or more, not {self.lots!r}")


def strike_of(spec: LegSpec, chain: Chain, reference: Reference) -> Decimal:
    """The strike ``spec`` names in ``chain`` (rupees)."""
    rule = spec.strike
    if isinstance(rule, AtmOffset):
        return atm_offset(chain, rule.steps, reference)
    if isinstance(rule, FixedStrike):
        return chain.row(rule.strike).strike
    if isinstance(rule, ByPremium):
        return by_premium(
            chain,
            spec.right,
            rule.rule,
            rule.value,
            rule.upper,
            side=rule.side,
            depth=rule.depth,
            reference=reference,
        )
    if isinstance(rule, ByDelta):
        return by_delta(chain, spec.right, rule.delta, reference=reference)
    return by_straddle_width(chain, rule.multiple, reference=reference)


def contract_of(
    instruments: Instruments, underlying: str, expiry: date, right: Right, strike: Decimal
) -> Instrument:
    """The listed option; ``NoStrike`` if the desk does not list it."""
    kind = InstrumentType.CE if right is Right.CALL else InstrumentType.PE
    paise = int(strike * 100)
    found = instruments.search(
        underlying=underlying, expiry=expiry, strike=paise, instrument_type=kind, limit=2
    )
    if not found:
        raise NoStrike(f"{underlying} {expiry:%d %b %Y} {strike} {right.value} is not listed")
    return found[0]


def chain_tokens(instruments: Instruments, underlying: str, expiries: Iterable[date]) -> list[int]:
    """What strikes are chosen from: every call and put of these expiries and the underlying's
    nearest future (the forward of ATM by the future)."""
    tokens = []
    for expiry in sorted(set(expiries)):
        for kind in (InstrumentType.CE, InstrumentType.PE):
            found = instruments.search(
                underlying=underlying, expiry=expiry, instrument_type=kind, limit=2_000
            )
            tokens += [int(option.token) for option in found]
    futures = instruments.search(underlying=underlying, instrument_type=InstrumentType.FUT)
    if futures:
        tokens.append(int(min(futures, key=lambda f: f.expiry or date.max).token))
    return tokens


def expiry_of(spec: LegSpec, listed: list[date], today: date) -> date:
    return resolve_expiry(listed, spec.expiry, today)


def chain_from(analytics: ChainAnalytics, spot: Decimal | None, future: Decimal | None) -> Chain:
    """The strike-selection chain of one expiry from the facade's chain analytics."""
    return chain_of(
        analytics.strikes.tolist(),
        analytics.call_price.tolist(),
        analytics.put_price.tolist(),
        analytics.call.delta.tolist(),
        analytics.put.delta.tolist(),
        spot=None if spot is None else float(spot),
        future=None if future is None else float(future),
    )
