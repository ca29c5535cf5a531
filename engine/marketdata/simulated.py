"""The simulated NSE market: DalalDesk's default market, for demos, tests and benchmarks.

Underlyings (three indices and ten stocks) follow correlated geometric Brownian motions in trading
time, driven by one seeded ``numpy.random.Generator(PCG64(seed))``: the same seed and the same
sequence of ``step()`` calls give the same ticks. Futures are ``spot·e^{rT}``; options are priced
with Black-76 on their expiry's forward off a smile

    iv(K) = atm · (1 + skew·m + curvature·m²),   m = M·tanh(ln(K/F) / (M·√T))

whose ATM level drifts with a mean-reverting factor that moves against the index. The ``tanh``
keeps far wings bounded without the kink a hard clip would put in the smile (a kink where the
slope drops is a butterfly arbitrage). Time to expiry is calendar ACT/365 to the calendar's F&O
close on the expiry day, as the desk's own option maths uses; diffusion runs on trading time (252 days of 6¼ hours).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from engine.core.clock import ist_day_number
from engine.domain.instruments import Instrument
from engine.domain.ticks import Tick
from engine.marketdata.sim_book import BookState, TickFactory
from engine.marketdata.sim_config import SimulatedMarketConfig
from engine.marketdata.sim_spec import load_universe_spec
from engine.marketdata.sim_universe import (
    KIND_FUTURE,
    KIND_OPTION,
    ExpiryCalendar,
    build_universe,
    former_contract,
)
from engine.options import black76

__all__ = ["SimulatedMarket", "SimulatedMarketConfig"]

NS_PER_SECOND = 1_000_000_000
CALENDAR_YEAR_NS = 365 * 86_400 * NS_PER_SECOND
TRADING_YEAR_SECONDS = 252 * 6.25 * 3600

_SMILE_BOUND = 1.0
"""M in the smile: how far (in ln-moneyness per √year) the wings keep bending."""
_IV_FLOOR, _IV_CAP = 0.25, 4.0
"""Any smile stays within these multiples of its ATM level."""
_MIN_SMILE_YEARS = 60 / (365 * 86_400)
"""Time floor under the smile's √T, so the last minute before expiry does not divide by zero."""
_VOL_MEAN_REVERSION = 20.0
_VOL_OF_VOL = 0.9
_SPOT_VOL_CORRELATION = -0.7
_OPENING_GAP_DAYS = 0.3
"""The opening gap from the previous close, in daily standard deviations."""
_WING_OPTION_SHARE = 0.02
"""Trading weight of a far-wing option relative to an at-the-money one."""


@dataclass(frozen=True, slots=True)
class _Pricing:
    """Every instrument priced at one moment, aligned with the universe."""

    theo: npt.NDArray[np.float64]
    """Unrounded theoretical price, rupees."""
    iv: npt.NDArray[np.float64]
    """The smile's vol for live options; NaN elsewhere."""
    liquidity: npt.NDArray[np.float64]
    """1 at the money (and for non-options), falling towards 0 in the wings."""
    wing: npt.NDArray[np.float64]
    """Standard deviations between an option's strike and its forward; 0 for non-options."""
    option_weight: npt.NDArray[np.float64]
    """Relative trading rate of each option (aligned with the option rows); 0 once expired."""


class SimulatedMarket:
    def __init__(
        self,
        config: SimulatedMarketConfig,
        clock_now: Callable[[], datetime],
        calendar: ExpiryCalendar,
    ) -> None:
        now = clock_now()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"clock_now() must return an aware datetime, got {now!r}")
        self._config = config
        self._clock_now = clock_now
        self._calendar = calendar
        self._rng = np.random.Generator(np.random.PCG64(config.seed))
        self._now_ns = _epoch_ns(now)
        self._steps = 0

        self._spec = spec = load_universe_spec(config.universe_path)
        self._universe = universe = build_universe(spec, config, calendar, now)
        self._row_of_token: dict[int, int] = {
            instr.token: row for row, instr in enumerate(universe.instruments)
        }
        processes = universe.processes
        previous_close = np.array([p.start_price for p in processes])
        self._vol = np.array([p.annual_vol for p in processes])
        self._loading = np.array([p.market_loading for p in processes])
        self._idiosyncratic = np.sqrt(1.0 - self._loading**2)
        self._atm_iv = np.array([p.atm_iv for p in processes])
        self._vol_factor = np.zeros(len(processes))
        gap = self._rng.standard_normal(len(processes)) * self._vol * _OPENING_GAP_DAYS / 252**0.5
        self._spot = previous_close * np.exp(gap)

        kind = universe.kind
        self._options = options = np.flatnonzero(kind == KIND_OPTION)
        self._futures = np.flatnonzero(kind == KIND_FUTURE)
        self._always_ticking = np.flatnonzero(kind != KIND_OPTION)
        option_process = universe.process_of[options]
        self._option_process = option_process
        self._option_strike = universe.strike[options]
        self._option_is_call = universe.is_call[options]
        self._option_expiry_ns = universe.expiry_ns[options]
        near_first = 1.0 + universe.expiry_rank[options]
        self._option_activity = (
            np.array([p.activity for p in processes])[option_process] / near_first
        )
        self._option_skew = np.array([p.skew for p in processes])[option_process]
        self._option_curvature = np.array([p.curvature for p in processes])[option_process]

        self._factory = TickFactory(universe)
        self._pricing = self._price(self._spot)
        self._priced_at_step = self._steps
        self._book = self._opening_book(self._price(previous_close).theo)
        self._day = ist_day_number(self._now_ns)
        """The IST day the market's prices are of: at the next, its last prices become the
        previous close."""

    # ---------------------------------------------------------------------------- public API

    @property
    def config(self) -> SimulatedMarketConfig:
        return self._config

    @property
    def now(self) -> datetime:
        """Market time: construction time plus every ``step()``."""
        return datetime.fromtimestamp(self._now_ns / NS_PER_SECOND, tz=UTC)

    def instruments(self) -> list[Instrument]:
        return list(self._universe.instruments)

    def former(self, token: int) -> Instrument | None:
        """A contract of this market that expired before now, named from its token
        (``sim_universe.former_contract``); None for any other token."""
        return former_contract(self._spec, self._calendar, token, self._clock_now())

    def step(self, seconds: float) -> list[Tick]:
        """Advance ``seconds`` of market time; ticks for the instruments that traded meanwhile.

        Underlyings and live futures tick every step; each live option trades with a probability
        weighted towards the money and the near expiries, sized so the universe ticks at about
        ``ticks_per_second``.
        """
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"step needs a positive number of seconds, got {seconds!r}")
        self._diffuse(seconds)
        self._now_ns += round(seconds * NS_PER_SECOND)
        self._steps += 1
        if ist_day_number(self._now_ns) != self._day:
            self._start_day()
        pricing = self._current()

        expiry_ns = self._universe.expiry_ns[self._always_ticking]
        chosen = self._always_ticking[(expiry_ns == 0) | (expiry_ns > self._now_ns)]
        budget = self._config.ticks_per_second * seconds - len(chosen)
        draws = self._rng.random(len(self._options))
        total_weight = float(pricing.option_weight.sum())
        if budget > 0 and total_weight > 0:
            probability = np.minimum(budget * pricing.option_weight / total_weight, 1.0)
            chosen = np.concatenate([chosen, self._options[draws < probability]])
        return self._ticks(chosen, pricing, self._rng, trade=True)

    def snapshot(self) -> list[Tick]:
        """A full quote for every instrument, as the market stands (no trades happen)."""
        rows = np.arange(len(self._universe))
        return self._ticks(rows, self._current(), self._side_rng(0), trade=False)

    def quote(self, token: int) -> Tick:
        """The current quote of one instrument (KeyError if the market does not list it)."""
        row = self._row(token)
        return self._ticks(np.array([row]), self._current(), self._side_rng(1, row), trade=False)[0]

    def theoretical(self, token: int) -> tuple[float, float]:
        """(unrounded price in rupees, implied vol) now; the vol is NaN for non-options."""
        row = self._row(token)
        pricing = self._current()
        return float(pricing.theo[row]), float(pricing.iv[row])

    async def run(self, publish: Callable[[Tick], None], stop: asyncio.Event) -> None:
        """Tick on the running loop every ``batch_interval`` until ``stop`` is set.

        While the calendar says the F&O market is closed (and ``always_open`` is off) nothing is
        published; after such a pause market time jumps to the clock, without a price move.
        """
        interval = self._config.batch_interval
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not stop.is_set():
            now = self._clock_now()
            if not self._config.always_open and not self._calendar.is_open(now, "FO"):
                await _wait_for_stop(stop, self._config.closed_poll_seconds)
                last = loop.time()
                continue
            self._catch_up(now, interval)
            # Step by the time that really passed (a late wake-up makes one larger batch, not a
            # burst of batches), so the market keeps its tick rate when the loop is busy.
            started = loop.time()
            elapsed = min(max(started - last, interval), 4 * interval)
            last = started
            for tick in self.step(elapsed):
                publish(tick)
            await _wait_for_stop(stop, max(started + interval - loop.time(), 0.0))

    # ------------------------------------------------------------------------------ internals

    def _row(self, token: int) -> int:
        row = self._row_of_token.get(token)
        if row is None:
            raise KeyError(f"the simulated market lists no instrument with token {token}")
        return row

    def _diffuse(self, seconds: float) -> None:
        dt = seconds / TRADING_YEAR_SECONDS
        n = len(self._spot)
        shocks = self._rng.standard_normal(1 + 2 * n)
        market, own, vol_noise = shocks[0], shocks[1 : n + 1], shocks[n + 1 :]
        z = self._loading * market + self._idiosyncratic * own
        sqrt_dt = math.sqrt(dt)
        self._spot = self._spot * np.exp(-0.5 * self._vol**2 * dt + self._vol * sqrt_dt * z)
        vol_shock = _SPOT_VOL_CORRELATION * z + math.sqrt(1 - _SPOT_VOL_CORRELATION**2) * vol_noise
        decay = math.exp(-_VOL_MEAN_REVERSION * dt)
        self._vol_factor = self._vol_factor * decay + _VOL_OF_VOL * sqrt_dt * vol_shock

    def _current(self) -> _Pricing:
        if self._priced_at_step != self._steps:
            self._pricing = self._price(self._spot)
            self._priced_at_step = self._steps
        return self._pricing

    def _price(self, spot_by_process: npt.NDArray[np.float64]) -> _Pricing:
        """Every instrument priced at market time with the underlyings at ``spot_by_process``."""
        universe = self._universe
        rate = self._config.rate
        count = len(universe)
        theo = spot_by_process[universe.process_of]
        futures = self._futures
        future_years = (universe.expiry_ns[futures] - self._now_ns) / CALENDAR_YEAR_NS
        theo[futures] *= np.exp(rate * np.maximum(future_years, 0.0))

        spot = spot_by_process[self._option_process]
        years = (self._option_expiry_ns - self._now_ns) / CALENDAR_YEAR_NS
        alive = years > 0
        forward = spot * np.exp(rate * np.maximum(years, 0.0))
        atm = (self._atm_iv * np.exp(self._vol_factor))[self._option_process]
        log_moneyness = np.log(self._option_strike / forward)
        root_t = np.sqrt(np.maximum(years, _MIN_SMILE_YEARS))
        m = _SMILE_BOUND * np.tanh(log_moneyness / (root_t * _SMILE_BOUND))
        iv = atm * (1.0 + self._option_skew * m + self._option_curvature * m * m)
        iv = np.clip(iv, _IV_FLOOR * atm, _IV_CAP * atm)
        options = self._options
        theo[options] = black76.price(
            forward, self._option_strike, years, rate, iv, self._option_is_call
        )

        # Distance from the money in standard deviations sets liquidity, spread and trade rate.
        wing_sd = np.abs(log_moneyness) / (atm * root_t)
        closeness = np.exp(-0.5 * wing_sd * wing_sd)
        liquidity, wing, iv_out = np.ones(count), np.zeros(count), np.full(count, np.nan)
        liquidity[options] = closeness
        wing[options] = wing_sd
        iv_out[options] = np.where(alive, iv, np.nan)
        weight = np.where(alive, self._option_activity * (closeness + _WING_OPTION_SHARE), 0.0)
        return _Pricing(theo, iv_out, liquidity, wing, weight)

    def _opening_book(self, close_theo: npt.NDArray[np.float64]) -> BookState:
        universe = self._universe
        tick = universe.tick
        current = self._pricing
        processes = universe.processes
        oi_lots = np.zeros(len(universe))
        oi_lots[self._futures] = [
            processes[p].future_oi_lots for p in universe.process_of[self._futures]
        ]
        # Open interest piles up at the money and in the near expiries.
        oi_lots[self._options] = (
            np.array([p.option_oi_lots for p in processes])[self._option_process]
            * np.maximum(current.liquidity[self._options], 0.01)
            / (1.0 + universe.expiry_rank[self._options])
        )
        oi_lots *= self._rng.lognormal(0.0, 0.3, len(universe))
        return BookState(
            ltp=_on_grid(current.theo, tick),
            close=_on_grid(close_theo, tick),
            volume=np.zeros(len(universe), dtype=np.int64),
            oi=np.rint(oi_lots).astype(np.int64) * universe.lot,
            last_qty=np.zeros(len(universe), dtype=np.int64),
        )

    def _ticks(
        self,
        rows: npt.NDArray[np.int64],
        pricing: _Pricing,
        rng: np.random.Generator,
        *,
        trade: bool,
    ) -> list[Tick]:
        return self._factory.ticks(
            rows,
            pricing.theo[rows],
            pricing.liquidity[rows],
            pricing.wing[rows],
            self._book,
            rng,
            self._now_ns,
            trade=trade,
        )

    def _side_rng(self, purpose: int, row: int = 0) -> np.random.Generator:
        # Quotes draw depth from their own stream, so looking at the market never changes it.
        return np.random.Generator(np.random.PCG64([self._config.seed, self._steps, purpose, row]))

    def _start_day(self) -> None:
        """A new day, as an exchange's feed starts one: the last prices are the previous close
        (a desk left running marks what it carries from them) and the day's volume is zero."""
        self._day = ist_day_number(self._now_ns)
        self._book.close = self._book.ltp.copy()
        self._book.volume[:] = 0

    def _catch_up(self, now: datetime, interval: float) -> None:
        behind_ns = _epoch_ns(now) - self._now_ns
        if behind_ns > max(5.0, 4 * interval) * NS_PER_SECOND:
            self._now_ns += behind_ns
            self._priced_at_step = -1


def _on_grid(rupees: npt.NDArray[np.float64], tick: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Nearest tick in paise, at least one tick."""
    return np.maximum(np.rint(rupees * 100.0 / tick).astype(np.int64), 1) * tick


def _epoch_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


async def _wait_for_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` on the loop, waking early if ``stop`` is set."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass  # the normal outcome: the interval passed without a stop
