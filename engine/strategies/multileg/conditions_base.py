"""What the running parts of a portfolio's range breakout and extra conditions share
(``conditions``): their settings and saved state, the prices at the money (straddle, synthetic
future) and the days to expiry."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.domain.bars import Timeframe
from engine.domain.instruments import InstrumentType
from engine.strategies.multileg import breakout as rb
from engine.strategies.multileg.candle_rules import (
    Candles,
    level_bounds,
)
from engine.strategies.multileg.conditions_spec import (
    BreakoutCheck,
    LevelCheck,
    LevelSource,
    RangeOn,
    UnderlyingLevel,
)
from engine.strategies.multileg.legrun import LegRun
from engine.strategies.multileg.status import PortfolioEvent, PortfolioStatus

if TYPE_CHECKING:
    from engine.strategies.multileg.portfolio import PortfolioStrategy

NS = 1_000_000_000
MINUTE = 60 * NS
P, E = PortfolioStatus, PortfolioEvent
_SOURCE_KEY = {LevelSource.SPOT: "u", LevelSource.FUTURE: "f", LevelSource.SYNTHETIC: "s"}


def _rupees(paise: int | Decimal) -> str:
    return f"{Decimal(paise) / 100:,.2f}"


class ConditionsBase:
    """The settings and state every part shares."""

    def __init__(self, portfolio: PortfolioStrategy) -> None:
        self.p = portfolio
        spec = portfolio.spec
        rule = spec.range_breakout
        self.rule = rule if rule.enabled else None
        self.extra = spec.conditions
        self.free = {leg.n for leg in rule.no_breakout} if rule.enabled else set()
        wait = self.extra.leg_wait
        self.wait_legs = {leg.n for leg in wait.legs} if wait is not None else set()
        # -- saved ------------------------------------------------------------------------------
        self.ranges: dict[str, rb.PriceRange] = {}
        self.fired: dict[str, list[str]] = {}
        """Range key ("u", "c", "L2") -> the sides that broke out, in order."""
        self.released: dict[int, str] = {}
        """Leg n -> the range key and side that entered it ("u:high")."""
        self.wait_ref: dict[int, int] = {}
        self.wait_done: set[int] = set()
        self.first_fill_ns = 0
        self.combined_ref: int | None = None
        self.combined_done = False
        self.level_hit = False
        self.indicator_hit = False
        self.straddle_ref: int | None = None
        self.straddle_done = False
        # -- not saved ---------------------------------------------------------------------------
        self._last: dict[str, int] = {}
        self._next_minute_ns = 0
        self._candles: Candles | None = None
        """The candles the indicator reads."""
        self._candle_key = ""
        self._level_closes: dict[str, tuple[Timeframe, str]] = {}
        """"entry" / "exit" -> (candle size, price) of a level read at a candle's close."""
        self._tick_entry_key = self._tick_key(self.extra.underlying_entry)
        self._tick_exit_key = self._tick_key(self.extra.underlying_exit)
        self._ready = False
        self._windows_until = 0
        self._range_moved = False
        """A range has a new high or low since it was last saved (saved at each minute)."""
        self._dte_day: date | None = None
        self._dte_problem: str | None = None
        self._leg_keys = {leg.n: f"L{leg.n}" for leg in portfolio.legs}
        self._tick_breakout = self.rule is not None and self.rule.check is BreakoutCheck.TICK
        self._exit_bounds = level_bounds(self.extra.underlying_exit)
        self._windows_ns: tuple[int, int, int | None] = (0, 0, None)
        self._future_token = 0
        self._atm: dict[int, tuple[int, int]] = {}
        """Strike (paise) -> (call token, put token) of the nearest expiry."""
        self._atm_day: date | None = None
        self._needs_synthetic = any(
            rule is not None and rule.source is LevelSource.SYNTHETIC
            for rule in (
                self.extra.underlying_entry,
                self.extra.underlying_exit,
                self.extra.indicator,
            )
        )
        self._range_keys: set[str] = set()
        if self.rule is not None:
            if self.rule.on is RangeOn.UNDERLYING:
                self._range_keys = {"u"}
            elif self.rule.on is RangeOn.COMBINED:
                self._range_keys = {"c"}
            else:
                self._range_keys = {
                    f"L{leg.n}" for leg in portfolio.legs if self._needs_breakout(leg)
                }
        self._needs_combined = "c" in self._range_keys or self.extra.combined_wait is not None

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _amount(ref: int, move: Decimal, percent: bool) -> Decimal:
        return abs(ref) * move / 100 if percent else move * 100

    @staticmethod
    def _move_text(move: Decimal, percent: bool) -> str:
        return f"{move}%" if percent else f"{move} points"

    @staticmethod
    def _tick_key(level: UnderlyingLevel | None) -> str | None:
        """The price a level read on every tick watches, or None."""
        if level is None or level.check is not LevelCheck.TICK:
            return None
        return _SOURCE_KEY[level.source]

    def _entry_end(self) -> time | None:
        rule = self.rule
        if rule is not None and rule.entry_end is not None:
            return rule.entry_end
        return self.p.spec.execution.end

    def _entry_end_ns(self, now: int) -> int | None:
        return self._windows(now)[2]

    def _windows(self, now: int) -> tuple[int, int, int | None]:
        """Today's (range start, range end, entry end) in epoch ns, worked out once a day: the
        tick path compares integers, it never builds a datetime."""
        if now >= self._windows_until:
            p = self.p
            rule = self.rule
            start = 0 if rule is None else p._at(rule.range_start, now) or 0
            end = 0 if rule is None else p._at(rule.range_end, now) or 0
            midnight = p._at(time(0), now) or 0
            self._windows_ns = (start, end, p._at(self._entry_end(), now))
            self._windows_until = midnight + 86_400 * NS
        return self._windows_ns

    def _ranges_text(self) -> str:
        return ", ".join(
            f"{key} {_rupees(found.low)}–{_rupees(found.high)}"
            for key, found in sorted(self.ranges.items())
        )

    def _nearest_expiry(self, today: date) -> date | None:
        underlying = self.p.spec.defaults.underlying
        listed = sorted(
            e for u, e in self.p.ctx.api.option_chains() if u == underlying and e >= today
        )
        return listed[0] if listed else None

    def _atm_pair(self) -> tuple[int, int, int] | None:
        """(strike, call token, put token) at the money now (nearest expiry), or None."""
        p = self.p
        today = p.ctx.now().date()
        if self._atm_day != today:
            self._atm_day, self._atm = today, {}
            expiry = self._nearest_expiry(today)
            if expiry is not None:
                found: dict[int, list[int]] = {}
                for kind, at in ((InstrumentType.CE, 0), (InstrumentType.PE, 1)):
                    for option in p.ctx.api.instruments.search(
                        underlying=p.spec.defaults.underlying,
                        expiry=expiry,
                        instrument_type=kind,
                        limit=2_000,
                    ):
                        if option.strike is not None:
                            found.setdefault(int(option.strike), [0, 0])[at] = int(option.token)
                self._atm = {k: (v[0], v[1]) for k, v in found.items() if v[0] and v[1]}
                if self._atm:
                    p.ctx.watch([t for pair in self._atm.values() for t in pair])
        if not self._atm or not p.spot:
            return None
        strike = min(self._atm, key=lambda k: abs(k - p.spot))
        call, put = self._atm[strike]
        return strike, call, put

    def _straddle(self) -> int | None:
        pair = self._atm_pair()
        if pair is None:
            return None
        api = self.p.ctx.api
        call, put = api.tick(pair[1]), api.tick(pair[2])
        if call is None or put is None:
            return None
        return call.ltp + put.ltp

    def _synthetic(self) -> int | None:
        pair = self._atm_pair()
        if pair is None:
            return None
        api = self.p.ctx.api
        call, put = api.tick(pair[1]), api.tick(pair[2])
        if call is None or put is None:
            return None
        return pair[0] + call.ltp - put.ltp

    def _needs_breakout(self, leg: LegRun) -> bool:
        return self.rule is not None and leg.n not in self.free and not leg.spec.idle

    # -- what the other parts decide ------------------------------------------------------------

    def holds(self, leg: LegRun, now: int) -> bool:
        """Whether a waiting leg must not be sent yet (``leg_waits``)."""
        raise NotImplementedError

    def _release(self, now: int) -> None:
        """Send what may go now (``leg_waits``)."""
        raise NotImplementedError

    def _held_by_breakout(self, leg: LegRun) -> bool:
        """Whether ``leg`` still waits for its side of the breakout (``breakout_run``)."""
        raise NotImplementedError


def trading_days_between(today: date, expiry: date) -> int:
    """Weekdays after ``today`` up to ``expiry`` (0 on the expiry day). Exchange holidays are
    not known here: a holiday in between counts as a trading day."""
    if expiry <= today:
        return 0
    whole, rest = divmod((expiry - today).days, 7)
    days = whole * 5
    for offset in range(1, rest + 1):
        if (today.weekday() + offset) % 7 < 5:
            days += 1
    return days
