"""Performance figures of an equity curve and its trades: CAGR, Sharpe, Sortino, Calmar, drawdown,
daily P&L, win rate, expectancy, profit factor, charges and slippage.

Conventions (nse_market.md §5.3), stated once here and shown in every report:

- **Returns** are simple returns of the *daily* equity (the last value of each IST trading date),
  the first day measured from the curve's first point (the starting equity).
- **Trading days** are the market calendar's sessions from the curve's first date to its last,
  and any other date the curve has a point on (a simulated market that trades at weekends). A
  session without a point is a day all the same: its close is the previous one (a return of 0).
  A record has a point only when something happens (a fill, a mark while a position is held), so
  counting only the dates with points would compress a strategy that trades on Mondays into a
  year of Mondays.
- **Annualisation**: ``periods_per_year`` trading days, 250 by default (NSE had 248 sessions in
  2025 and 246 in 2026; 252 is the US habit). CAGR = (end / start) ^ (periods / days) - 1 with
  ``days`` the number of trading days the curve spans.
- **Sharpe** = mean(r - rf) / stdev(r - rf, ddof 1) x sqrt(periods), with the daily risk-free
  rf = (1 + rate) ^ (1 / periods) - 1; the rate is configurable, 0 by default.
- **Sortino** = mean(r - rf) / DD x sqrt(periods), DD = sqrt(mean(min(r - rf, 0)^2)) over all
  days (the empyrical convention), the minimum acceptable return being rf.
- **Max drawdown** = min over the curve's points of V / running max(V) - 1, with its rupees, the
  peak, the trough, the recovery (or none yet) and its duration (peak to recovery, or to the end).
- **Calmar** = CAGR / |max drawdown| over the whole curve (not a trailing 36 months).
- **Short records**: CAGR and Calmar are computed for any curve but shown (``shown_cagr``,
  ``shown_calmar``) only from ``MIN_DAYS_TO_ANNUALISE`` trading days on: compounding a single
  day over a year turns a 1% loss into "CAGR -92%", which says nothing about a strategy.

Money stays exact (``Decimal`` rupees) for P&L, charges and slippage; ratios are floats, ``None``
when the data cannot give them (fewer than two days, no losing day, a non-positive equity). A
record without a loss has no finite profit factor or Sortino: ``TradeStats.without_losses`` and
``Metrics.sortino_unbounded`` say so, for the report and the panel to write "∞ (no losses)".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from engine.backtest.trades import Trade
from engine.calendar import packaged_calendar
from engine.core.clock import IST
from engine.domain.values import ZERO

DEFAULT_PERIODS_PER_YEAR = 250
"""Trading days a year the ratios are annualised over (configurable per call)."""

MIN_DAYS_TO_ANNUALISE = 20
"""Trading days (about a month) a record needs before the panel and the report show its CAGR
and Calmar."""

_IST_OFFSET_NS = 19_800 * 10**9
_DAY_NS = 86_400 * 10**9
_EPOCH = date(1970, 1, 1)


class SessionTimes(Protocol):
    @property
    def open(self) -> datetime: ...

    @property
    def close(self) -> datetime: ...


class TradingSessions(Protocol):
    """What the figures need of ``engine.calendar.MarketCalendar``: its sessions between two
    dates (both included)."""

    def sessions(self, start: date, end: date) -> Sequence[SessionTimes]: ...


def trading_days(
    first: int, last: int, calendar: TradingSessions | None = None
) -> npt.NDArray[np.int64]:
    """The calendar's sessions from IST day ``first`` to ``last`` (day numbers, both included),
    as day numbers; the packaged NSE calendar when none is given."""
    sessions = (calendar or packaged_calendar()).sessions(day_of(first), day_of(last))
    numbers = [session.open.astimezone(IST).date().toordinal() for session in sessions]
    return np.asarray(numbers, dtype=np.int64) - _EPOCH.toordinal()


class EquityCurve:
    """Equity at moments: epoch-ns UTC timestamps (non-decreasing) and exact rupee values."""

    __slots__ = ("_floats", "ts_ns", "values")

    def __init__(self, ts_ns: Sequence[int], values: Sequence[Decimal]) -> None:
        if len(ts_ns) != len(values):
            raise ValueError(f"{len(ts_ns)} timestamps for {len(values)} equity values")
        if not values:
            raise ValueError("an equity curve needs at least one point")
        stamps = np.asarray(ts_ns, dtype=np.int64)
        if stamps.size > 1 and bool(np.any(np.diff(stamps) < 0)):
            raise ValueError("equity timestamps must not go backwards")
        for value in values:
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ValueError(f"equity {value!r} is not a finite Decimal amount of rupees")
        self.ts_ns = stamps
        self.values: tuple[Decimal, ...] = tuple(values)
        self._floats = np.array([float(v) for v in values], dtype=np.float64)

    @classmethod
    def of(cls, points: Iterable[tuple[int, Decimal]]) -> EquityCurve:
        pairs = list(points)
        return cls([p[0] for p in pairs], [p[1] for p in pairs])

    def __len__(self) -> int:
        return len(self.values)

    @property
    def floats(self) -> npt.NDArray[np.float64]:
        return self._floats

    @property
    def start(self) -> Decimal:
        return self.values[0]

    @property
    def end(self) -> Decimal:
        return self.values[-1]


def ist_days(ts_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The IST trading date of each moment, as days since 1970-01-01 (vectorised)."""
    return (ts_ns + _IST_OFFSET_NS) // _DAY_NS


def day_of(number: int) -> date:
    return date.fromordinal(_EPOCH.toordinal() + int(number))


def daily_closes(curve: EquityCurve) -> list[tuple[date, Decimal]]:
    """The last equity of each IST date in the curve, oldest first."""
    days = ist_days(curve.ts_ns)
    last = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    return [(day_of(days[i]), curve.values[i]) for i in last]


def daily_pnl(curve: EquityCurve) -> list[tuple[date, Decimal]]:
    """Each date's P&L, exact: its close less the previous close (the first date: less the
    curve's first value)."""
    closes = daily_closes(curve)
    previous = curve.start
    out = []
    for day, close in closes:
        out.append((day, close - previous))
        previous = close
    return out


def daily_returns(
    curve: EquityCurve, calendar: TradingSessions | None = None
) -> npt.NDArray[np.float64]:
    """Simple returns of the daily closes over every trading day the curve spans (a session
    without a point keeps the previous close), the first against the curve's first value; NaN
    where the previous equity is not positive. ``calendar``: whose sessions (the packaged NSE
    calendar when None)."""
    days = ist_days(curve.ts_ns)
    last = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    marked = days[last]
    spanned = np.union1d(trading_days(int(marked[0]), int(marked[-1]), calendar), marked)
    # Each trading day's close is the last one at or before it (forward-filled).
    carried = np.searchsorted(marked, spanned, side="right") - 1
    closes = np.concatenate(([curve.floats[0]], curve.floats[last][carried]))
    before = closes[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(before > 0, closes[1:] / before - 1.0, np.nan)
    return returns


def drawdown_series(curve: EquityCurve) -> npt.NDArray[np.float64]:
    """V / running max(V) - 1 at each point (0 at a new high, negative below it); NaN while the
    running peak is not positive."""
    values = curve.floats
    peaks = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peaks > 0, values / peaks - 1.0, np.nan)


@dataclass(frozen=True, slots=True)
class Drawdown:
    depth: float
    """The fall from the peak as a fraction, <= 0 (-0.12 is 12 % below the peak)."""
    rupees: Decimal
    """The fall in rupees, <= 0, exact."""
    peak_ns: int
    trough_ns: int
    recovered_ns: int | None
    """When equity first got back to the peak; None while it has not."""
    duration_ns: int
    """Peak to recovery, or to the curve's end while not recovered."""


@dataclass(frozen=True, slots=True)
class TradeStats:
    trades: int
    wins: int
    losses: int
    win_rate: float | None
    """Trades with net P&L above 0 over all trades."""
    expectancy: Decimal | None
    """Mean net P&L per trade, rupees."""
    profit_factor: float | None
    """Gross net profit of the winners over the gross net loss of the losers (None: no loser;
    ``without_losses`` tells a record of winners from one without trades)."""
    average_win: Decimal | None
    average_loss: Decimal | None
    gross_profit: Decimal
    gross_loss: Decimal
    net: Decimal

    @property
    def without_losses(self) -> bool:
        """Winners and no loser: the profit factor is unbounded, not unknown."""
        return self.wins > 0 and self.losses == 0


@dataclass(frozen=True, slots=True)
class Metrics:
    start_equity: Decimal
    end_equity: Decimal
    net_pnl: Decimal
    days: int
    cagr: float | None
    volatility: float | None
    """Annualised stdev of daily returns."""
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: Drawdown
    longest_drawdown_ns: int
    """The longest time spent below a previous peak (to recovery or to the end)."""
    best_day: Decimal | None
    worst_day: Decimal | None
    trade_stats: TradeStats
    charges: Decimal
    slippage: Decimal
    """Rupees, positive a cost; 0 and ``slippage_measured`` False when no fill had a
    reference price to measure it against."""
    slippage_measured: bool
    periods_per_year: int
    risk_free_rate: float
    sortino_unbounded: bool = False
    """No day fell short of the risk-free rate and the mean beat it: Sortino has no finite
    value (``sortino`` is None), the record has no downside."""

    @property
    def annualised(self) -> bool:
        """Whether the record is long enough for its CAGR and Calmar to be shown."""
        return self.days >= MIN_DAYS_TO_ANNUALISE

    @property
    def shown_cagr(self) -> float | None:
        return self.cagr if self.annualised else None

    @property
    def shown_calmar(self) -> float | None:
        return self.calmar if self.annualised else None

    @property
    def convention(self) -> str:
        """The annualisation, in words, for every report that shows these figures."""
        said = (
            f"daily returns annualised over {self.periods_per_year} trading days; "
            f"risk-free rate {self.risk_free_rate:.2%} a year; Calmar over the whole period"
        )
        if self.annualised:
            return said
        return f"{said}; {self.short_record}"

    @property
    def short_record(self) -> str:
        """Why CAGR and Calmar are blank on a short record."""
        days = f"{self.days} trading day" + ("" if self.days == 1 else "s")
        return (
            f"CAGR and Calmar are shown from {MIN_DAYS_TO_ANNUALISE} trading days on "
            f"(this record has {days})"
        )


def trade_stats(trades: Sequence[Trade]) -> TradeStats:
    nets = [t.net for t in trades]
    wins = [n for n in nets if n > 0]
    losses = [n for n in nets if n < 0]
    gross_profit = sum(wins, ZERO)
    gross_loss = sum(losses, ZERO)
    total = sum(nets, ZERO)
    count = len(nets)
    return TradeStats(
        trades=count,
        wins=len(wins),
        losses=len(losses),
        win_rate=len(wins) / count if count else None,
        expectancy=total / count if count else None,
        profit_factor=float(gross_profit / -gross_loss) if losses else None,
        average_win=gross_profit / len(wins) if wins else None,
        average_loss=gross_loss / len(losses) if losses else None,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net=total,
    )


def max_drawdown(curve: EquityCurve) -> tuple[Drawdown, int]:
    """The deepest drawdown and the longest time under water (ns)."""
    drawdowns = np.nan_to_num(drawdown_series(curve), nan=0.0)
    stamps = curve.ts_ns
    trough = int(np.argmin(drawdowns))
    values = curve.floats
    head = values[: trough + 1]
    peak = trough - int(np.argmax(head[::-1]))  # the last time equity stood at that high
    later = np.flatnonzero(values[trough:] >= values[peak])
    recovered = None if later.size == 0 or drawdowns[trough] == 0 else trough + int(later[0])
    end_ns = int(stamps[-1])
    depth = float(drawdowns[trough])
    drawdown = Drawdown(
        depth=depth,
        rupees=curve.values[trough] - curve.values[peak] if depth < 0 else ZERO,
        peak_ns=int(stamps[peak]),
        trough_ns=int(stamps[trough]),
        recovered_ns=None if recovered is None else int(stamps[recovered]),
        duration_ns=(int(stamps[recovered]) if recovered is not None else end_ns)
        - int(stamps[peak])
        if depth < 0
        else 0,
    )
    return drawdown, _longest_under_water(values, stamps)


def _longest_under_water(values: npt.NDArray[np.float64], stamps: npt.NDArray[np.int64]) -> int:
    peaks = np.maximum.accumulate(values)
    at_high = values >= peaks
    high_index = np.maximum.accumulate(np.where(at_high, np.arange(values.size), 0))
    # Each point under water has been so since its last high; a spell ends at the next high.
    under = ~at_high
    if not under.any():
        return 0
    spell_start = stamps[high_index]
    next_high = np.where(at_high, np.arange(values.size), values.size)
    next_high = np.minimum.accumulate(next_high[::-1])[::-1]
    ends = np.where(
        next_high < values.size, stamps[np.minimum(next_high, values.size - 1)], stamps[-1]
    )
    return int(np.max((ends - spell_start)[under]))


def compute_metrics(
    curve: EquityCurve,
    trades: Sequence[Trade] = (),
    *,
    periods_per_year: int = DEFAULT_PERIODS_PER_YEAR,
    risk_free_rate: float = 0.0,
    charges: Decimal | None = None,
    slippage: Decimal | None = None,
    slippage_measured: bool = True,
    calendar: TradingSessions | None = None,
) -> Metrics:
    """Every figure of one curve and its trades. ``charges`` and ``slippage`` default to the
    trades' sums (pass the fills' own when some lots are still open); ``calendar`` gives the
    trading days (the packaged NSE calendar when None)."""
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be above 0, not {periods_per_year}")
    if not math.isfinite(risk_free_rate) or risk_free_rate <= -1:
        raise ValueError(f"risk_free_rate {risk_free_rate!r} is not a usable yearly rate")
    returns = daily_returns(curve, calendar)
    days = int(returns.size)
    rf = (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0
    excess = returns - rf
    usable = bool(np.all(np.isfinite(returns)))
    start, end = float(curve.start), float(curve.end)
    cagr = (
        (end / start) ** (periods_per_year / days) - 1.0
        if usable and days and start > 0 and end > 0
        else None
    )
    volatility = sharpe = sortino = None
    sortino_unbounded = False
    if usable and days >= 2:
        spread = float(np.std(returns, ddof=1))
        volatility = spread * math.sqrt(periods_per_year)
        excess_spread = float(np.std(excess, ddof=1))
        if excess_spread > 0:
            sharpe = float(np.mean(excess)) / excess_spread * math.sqrt(periods_per_year)
        downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
        if downside > 0:
            sortino = float(np.mean(excess)) / downside * math.sqrt(periods_per_year)
        else:
            sortino_unbounded = float(np.mean(excess)) > 0
    drawdown, longest = max_drawdown(curve)
    calmar = cagr / abs(drawdown.depth) if cagr is not None and drawdown.depth < 0 else None
    pnl = [p for _, p in daily_pnl(curve)]
    return Metrics(
        start_equity=curve.start,
        end_equity=curve.end,
        net_pnl=curve.end - curve.start,
        days=days,
        cagr=cagr,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=drawdown,
        longest_drawdown_ns=longest,
        best_day=max(pnl) if pnl else None,
        worst_day=min(pnl) if pnl else None,
        trade_stats=trade_stats(trades),
        charges=charges if charges is not None else sum((t.charges for t in trades), ZERO),
        slippage=slippage if slippage is not None else sum((t.slippage for t in trades), ZERO),
        slippage_measured=slippage_measured,
        periods_per_year=periods_per_year,
        risk_free_rate=risk_free_rate,
        sortino_unbounded=sortino_unbounded,
    )
