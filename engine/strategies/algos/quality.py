"""Execution quality of a parent: how its fills compare with the price when it started (the
arrival mid) and with the market's VWAP over its life, how much of it filled, how fast, in how
many children; and the same figures summed per owner (the strategy or source that started the
algos) and per day. Every figure is computed from the fills (the journal's) and the ticks the
parent saw, in exact decimals; slippage is in basis points, positive when it cost the trader."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal

from engine.core.clock import ist_date_of
from engine.domain.cells import cell_text
from engine.domain.orders import Side
from engine.domain.ticks import Tick

BP = Decimal(10_000)
_CENT = Decimal("0.01")
_PAISE = Decimal(100)


@dataclass(frozen=True, slots=True)
class ExecutionQuality:
    parent_id: str
    kind: str
    owner: str
    symbol: str
    side: str
    day: date
    status: str
    target: int
    filled: int
    fill_rate_pct: Decimal
    arrival: Decimal | None
    """The mid when the parent started, rupees."""
    average_fill: Decimal | None
    interval_vwap: Decimal | None
    """The market's VWAP over the parent's life (ticks it saw), rupees."""
    slippage_arrival_bp: Decimal | None
    slippage_vwap_bp: Decimal | None
    time_to_fill_s: Decimal | None
    """From the start to the last fill; None before any fill."""
    children: int
    market_volume: int
    """What traded on the feed during the parent's life (the volume it saw)."""
    participation_pct: Decimal | None
    """The parent's fills as a share of that volume."""
    ticks_from_ns: int = 0
    ticks_to_ns: int = 0
    """The exchange times of the first and last ticks the VWAP is over."""


def mid_of(tick: Tick) -> Decimal:
    """The arrival price a parent is measured against: the mid (the last price without a
    two-sided quote), paise."""
    if tick.bid and tick.ask:
        return Decimal(tick.bid + tick.ask) / 2
    return Decimal(tick.ltp)


def day_of(ns: int) -> date:
    """The IST trading day of an exchange time, as execution quality groups parents."""
    return ist_date_of(ns).date()


def slippage_bp(side: Side, price: Decimal, reference: Decimal) -> Decimal:
    """What ``price`` cost against ``reference``, in basis points (positive: worse)."""
    return (side.sign * (price - reference) / reference * BP).quantize(_CENT)


def measure(
    *,
    parent_id: str,
    kind: str,
    owner: str,
    symbol: str,
    side: Side,
    day: date,
    status: str,
    target: int,
    started_ns: int,
    arrival_paise: Decimal | None,
    fills: Iterable[tuple[int, int, int]],
    vwap_value_paise: int,
    vwap_volume: int,
    children: int,
    ticks_from_ns: int = 0,
    ticks_to_ns: int = 0,
) -> ExecutionQuality:
    """The figures of one parent from its fills (ts_ns, quantity, price paise) and the tick
    VWAP sums it kept (Σ traded quantity × price in paise, Σ traded quantity)."""
    filled = 0
    value = 0
    last_ns: int | None = None
    for ts_ns, quantity, price in fills:
        filled += quantity
        value += quantity * price
        last_ns = ts_ns if last_ns is None else max(last_ns, ts_ns)
    average = (Decimal(value) / filled / _PAISE) if filled else None
    arrival = None if arrival_paise is None else arrival_paise / _PAISE
    vwap = (Decimal(vwap_value_paise) / vwap_volume / _PAISE) if vwap_volume else None
    return ExecutionQuality(
        parent_id=parent_id,
        kind=kind,
        owner=owner,
        symbol=symbol,
        side=side.value,
        day=day,
        status=status,
        target=target,
        filled=filled,
        fill_rate_pct=(Decimal(100) * filled / target).quantize(_CENT) if target else Decimal(0),
        arrival=None if arrival is None else arrival.quantize(Decimal("0.0001")),
        average_fill=None if average is None else average.quantize(Decimal("0.0001")),
        interval_vwap=None if vwap is None else vwap.quantize(Decimal("0.0001")),
        slippage_arrival_bp=(
            None if average is None or not arrival else slippage_bp(side, average, arrival)
        ),
        slippage_vwap_bp=None if average is None or not vwap else slippage_bp(side, average, vwap),
        time_to_fill_s=(
            None if last_ns is None else (Decimal(last_ns - started_ns) / 10**9).quantize(_CENT)
        ),
        children=children,
        market_volume=vwap_volume,
        participation_pct=(
            (Decimal(100) * filled / vwap_volume).quantize(_CENT) if vwap_volume else None
        ),
        ticks_from_ns=ticks_from_ns,
        ticks_to_ns=ticks_to_ns,
    )


@dataclass(frozen=True, slots=True)
class QualitySummary:
    """Parents grouped (by owner, or by day): notional-weighted slippage."""

    group: str
    parents: int
    target: int
    filled: int
    fill_rate_pct: Decimal
    slippage_arrival_bp: Decimal | None
    slippage_vwap_bp: Decimal | None
    children: int


def summarise(rows: Sequence[ExecutionQuality], by: str) -> list[QualitySummary]:
    """``rows`` grouped ``by`` "owner", "day" or "kind"."""
    if by not in ("owner", "day", "kind"):
        raise ValueError(f"execution quality groups by owner, day or kind, not {by!r}")
    groups: dict[str, list[ExecutionQuality]] = {}
    for row in rows:
        key = str(getattr(row, by))
        groups.setdefault(key, []).append(row)
    out = []
    for key in sorted(groups):
        members = groups[key]
        target = sum(r.target for r in members)
        filled = sum(r.filled for r in members)
        out.append(
            QualitySummary(
                group=key,
                parents=len(members),
                target=target,
                filled=filled,
                fill_rate_pct=(Decimal(100) * filled / target).quantize(_CENT)
                if target
                else Decimal(0),
                slippage_arrival_bp=_weighted(members, "slippage_arrival_bp"),
                slippage_vwap_bp=_weighted(members, "slippage_vwap_bp"),
                children=sum(r.children for r in members),
            )
        )
    return out


def _weighted(rows: Sequence[ExecutionQuality], name: str) -> Decimal | None:
    """Slippage weighted by each parent's filled notional."""
    total = Decimal(0)
    weight = Decimal(0)
    for row in rows:
        value = getattr(row, name)
        if value is None or row.average_fill is None:
            continue
        notional = row.average_fill * row.filled
        total += value * notional
        weight += notional
    return (total / weight).quantize(_CENT) if weight else None


def quality_csv(rows: Iterable[ExecutionQuality]) -> str:
    """The rows as CSV text, one parent a line, headed by the field names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [f.name for f in fields(ExecutionQuality)]
    writer.writerow(names)
    for row in rows:
        values = asdict(row)
        writer.writerow(["" if values[n] is None else cell_text(str(values[n])) for n in names])
    return buffer.getvalue()
