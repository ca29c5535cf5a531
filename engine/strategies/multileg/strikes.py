"""Which strike a multileg portfolio's leg trades: every method traders set a leg by
(``multileg_and_panels.md`` §1.2), as plain functions over one chain at one moment.

- **ATM** is the listed strike nearest the reference price — the spot, the future, or the
  synthetic forward (put–call parity, ``K + C − P`` at the strike where the call and the put are
  closest) — half a step up rounding up, as the platforms do.
- **ATM ± n** moves n listed strikes up (+) or down (−) from ATM, the same way for calls and puts
  (Stoxxo's ``ATM+5``); ``otm``/``itm`` turn "n strikes out of (into) the money" into that offset
  for the option's type.
- **Premium**: the strike whose premium is nearest a value, the nearest at or above it, at or
  below it, or within a range (nearest its middle), scanning at most ``depth`` strikes each side
  of ATM and only on the side asked for (out of the money, in the money, or both).
- **Delta**: the strike whose delta is nearest a value (its size: 0.3 finds a put of −0.3).
- **Straddle width**: ATM ± k × (the ATM call's premium + the ATM put's), the nearest strike.

Prices are rupees (``Decimal``); a chain row without the premium or delta a method needs is
passed over. ``NoStrike`` says in words why nothing fits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

PAISA = Decimal("0.01")


class NoStrike(LookupError):
    """No listed strike fits the leg's rule; the text says why."""


class Right(StrEnum):
    CALL = "CE"
    PUT = "PE"


class Reference(StrEnum):
    SPOT = "spot"
    FUTURE = "future"
    SYNTHETIC = "synthetic"


class Moneyness(StrEnum):
    OTM = "otm"
    ITM = "itm"
    BOTH = "both"


class PremiumRule(StrEnum):
    NEAREST = "nearest"
    AT_LEAST = "at_least"
    AT_MOST = "at_most"
    BETWEEN = "between"


@dataclass(frozen=True, slots=True)
class ChainRow:
    strike: Decimal
    call: Decimal | None = None
    """The call's premium (LTP, or the side's price the leg trades at)."""
    put: Decimal | None = None
    call_delta: float | None = None
    put_delta: float | None = None

    def premium(self, right: Right) -> Decimal | None:
        return self.call if right is Right.CALL else self.put

    def delta(self, right: Right) -> float | None:
        return self.call_delta if right is Right.CALL else self.put_delta


@dataclass(frozen=True, slots=True)
class Chain:
    """One expiry's strikes, sorted, with what the methods read."""

    rows: Sequence[ChainRow]
    spot: Decimal | None = None
    future: Decimal | None = None

    def __post_init__(self) -> None:
        strikes = [row.strike for row in self.rows]
        if not strikes:
            raise NoStrike("the chain has no strikes")
        if strikes != sorted(set(strikes)):
            raise ValueError("chain rows must be sorted by strike, each strike once")

    @property
    def strikes(self) -> list[Decimal]:
        return [row.strike for row in self.rows]

    def row(self, strike: Decimal) -> ChainRow:
        for row in self.rows:
            if row.strike == strike:
                return row
        raise NoStrike(f"strike {strike} is not listed")


def synthetic_forward(chain: Chain) -> Decimal:
    """K + C − P at the strike where the call's and the put's premiums are closest."""
    priced = [r for r in chain.rows if r.call is not None and r.put is not None]
    if not priced:
        raise NoStrike("no strike has both a call and a put price for the synthetic forward")
    best = min(priced, key=lambda r: (abs(r.call - r.put), r.strike))  # type: ignore[operator]
    assert best.call is not None and best.put is not None
    return best.strike + best.call - best.put


def reference_price(chain: Chain, reference: Reference) -> Decimal:
    if reference is Reference.SYNTHETIC:
        return synthetic_forward(chain)
    price = chain.spot if reference is Reference.SPOT else chain.future
    if price is None:
        raise NoStrike(f"no {reference.value} price to find the ATM strike from")
    return price


def atm_strike(chain: Chain, reference: Reference = Reference.SPOT) -> Decimal:
    """The listed strike nearest the reference price; exactly between two, the higher."""
    price = reference_price(chain, reference)
    return min(chain.strikes, key=lambda k: (abs(k - price), -k))


def atm_offset(chain: Chain, steps: int, reference: Reference = Reference.SPOT) -> Decimal:
    """``steps`` listed strikes above (+) or below (−) ATM."""
    strikes = chain.strikes
    at = strikes.index(atm_strike(chain, reference)) + steps
    if not 0 <= at < len(strikes):
        raise NoStrike(f"ATM{steps:+d} is beyond the listed strikes")
    return strikes[at]


def otm(right: Right, n: int) -> int:
    """The ATM offset of the strike ``n`` strikes out of the money for this option type."""
    return n if right is Right.CALL else -n


def itm(right: Right, n: int) -> int:
    return -otm(right, n)


def by_premium(
    chain: Chain,
    right: Right,
    rule: PremiumRule,
    value: Decimal,
    upper: Decimal | None = None,
    *,
    side: Moneyness = Moneyness.BOTH,
    depth: int | None = None,
    reference: Reference = Reference.SPOT,
) -> Decimal:
    """The strike whose premium fits ``rule`` (``upper`` closes a BETWEEN range)."""
    candidates = _scanned(chain, right, side, depth, reference)
    priced = [(row.strike, p) for row in candidates if (p := row.premium(right)) is not None]
    if rule is PremiumRule.AT_LEAST:
        fits = [(k, p) for k, p in priced if p >= value]
        target = value
    elif rule is PremiumRule.AT_MOST:
        fits = [(k, p) for k, p in priced if p <= value]
        target = value
    elif rule is PremiumRule.BETWEEN:
        if upper is None or upper < value:
            raise ValueError("a premium range needs an upper bound at or above the lower")
        fits = [(k, p) for k, p in priced if value <= p <= upper]
        target = (value + upper) / 2
    else:
        fits, target = priced, value
    if not fits:
        raise NoStrike(
            f"no {right.value} premium {rule.value.replace('_', ' ')} {value}"
            + (f"–{upper}" if rule is PremiumRule.BETWEEN else "")
            + f" within {len(candidates)} scanned strikes"
        )
    strike, _ = min(fits, key=lambda kp: (abs(kp[1] - target), kp[0]))
    return strike


def by_delta(
    chain: Chain,
    right: Right,
    delta: float,
    *,
    depth: int | None = None,
    reference: Reference = Reference.SPOT,
) -> Decimal:
    """The strike whose delta is nearest ``delta`` in size."""
    candidates = _scanned(chain, right, Moneyness.BOTH, depth, reference)
    deltas = [(row.strike, d) for row in candidates if (d := row.delta(right)) is not None]
    if not deltas:
        raise NoStrike(f"no {right.value} delta in the chain yet")
    wanted = abs(delta)
    strike, _ = min(deltas, key=lambda kd: (abs(abs(kd[1]) - wanted), kd[0]))
    return strike


def by_straddle_width(
    chain: Chain, multiple: Decimal, *, reference: Reference = Reference.SPOT
) -> Decimal:
    """The strike nearest ATM + ``multiple`` × the ATM straddle's premium (− below ATM)."""
    atm = atm_strike(chain, reference)
    row = chain.row(atm)
    if row.call is None or row.put is None:
        raise NoStrike(f"the ATM strike {atm} has no call and put price for the straddle width")
    target = atm + multiple * (row.call + row.put)
    return min(chain.strikes, key=lambda k: (abs(k - target), -k))


def _scanned(
    chain: Chain, right: Right, side: Moneyness, depth: int | None, reference: Reference
) -> list[ChainRow]:
    """Rows within ``depth`` strikes of ATM (all when None), on the side asked for (the ATM
    strike counts on both sides)."""
    rows = list(chain.rows)
    atm = atm_strike(chain, reference)
    at = chain.strikes.index(atm)
    if depth is not None:
        if depth < 0:
            raise ValueError("depth must be zero or more strikes")
        rows = rows[max(0, at - depth) : at + depth + 1]
    if side is Moneyness.BOTH:
        return rows
    above = side is Moneyness.OTM if right is Right.CALL else side is Moneyness.ITM
    return [r for r in rows if (r.strike > atm if above else r.strike < atm) or r.strike == atm]


def chain_of(
    strikes: Iterable[float],
    calls: Iterable[float],
    puts: Iterable[float],
    call_deltas: Iterable[float] | None = None,
    put_deltas: Iterable[float] | None = None,
    *,
    spot: float | None = None,
    future: float | None = None,
) -> Chain:
    """A chain from the engine's analytics arrays (rupees as floats, NaN where there is no
    price): premiums to the paisa, NaN left out."""

    def money(value: float) -> Decimal | None:
        return None if math.isnan(value) else Decimal(repr(value)).quantize(PAISA, ROUND_HALF_UP)

    def number(value: float) -> float | None:
        return None if math.isnan(value) else value

    strike_list = list(strikes)
    nans = [math.nan] * len(strike_list)
    rows = [
        ChainRow(
            Decimal(repr(k)).quantize(PAISA, ROUND_HALF_UP),
            money(c),
            money(p),
            number(cd),
            number(pd),
        )
        for k, c, p, cd, pd in zip(
            strike_list,
            calls,
            puts,
            nans if call_deltas is None else call_deltas,
            nans if put_deltas is None else put_deltas,
            strict=True,
        )
    ]
    return Chain(
        rows,
        spot=None if spot is None or math.isnan(spot) else money(spot),
        future=None if future is None or math.isnan(future) else money(future),
    )
