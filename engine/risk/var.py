"""1-day Value at Risk and expected shortfall of the current portfolio (nse_market.md §5.1).

Two methods, both revaluing every position in full (options with Black-76, never by delta):

- historical: today's positions under each of the last N daily moves of their underlyings (the
  options' vols held, one day of time decay);
- Monte Carlo: correlated normal moves with EWMA (λ = 0.94) volatilities and the historical
  correlation, plus a relative vol shock per underlying (±25 % at the 99th percentile, moving
  against the underlying), ``paths`` paths from a fixed seed; the standard error of VaR 99 comes
  from batch means.

VaR_α = −quantile_{1−α}(P&L); ES_α = −mean(P&L | P&L ≤ −VaR_α). Losses are positive rupees.

``compute_var`` is a plain function of plain arrays: the runtime calls it in a process pool off
the event loop (it takes tens of milliseconds for a few hundred positions and 10,000 paths).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.options import black76

FloatArray = npt.NDArray[np.float64]

KIND_LINEAR = 0
"""Cash or a future: value moves one for one with the underlying (times the carry)."""
KIND_OPTION = 1

EWMA_LAMBDA = 0.94
VOL_SHOCK_AT_99 = 0.25
_Z99 = 2.326
_SPOT_VOL_CORRELATION = -0.7


@dataclass(frozen=True, slots=True)
class VarPortfolio:
    """The portfolio as arrays aligned by position, and its underlyings' history."""

    underlyings: tuple[str, ...]
    spot: FloatArray
    """Rupees, one per underlying."""
    returns: FloatArray
    """Daily log returns, shape (days, underlyings), oldest first."""
    underlying_of: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    quantity: FloatArray
    """Signed units."""
    price: FloatArray
    """Rupees per unit now (option premium or price)."""
    strike: FloatArray
    years: FloatArray
    vol: FloatArray
    is_call: npt.NDArray[np.bool_]
    rate: float = 0.065


@dataclass(frozen=True, slots=True)
class VarResult:
    historical: dict[float, tuple[float, float]]
    """confidence -> (VaR, ES), rupees."""
    monte_carlo: dict[float, tuple[float, float]]
    mc_standard_error_99: float
    scenarios: int
    paths: int
    seconds: float


def _var_es(pnl: FloatArray, confidence: float) -> tuple[float, float]:
    var = -float(np.quantile(pnl, 1.0 - confidence))
    tail = pnl[pnl <= -var]
    es = -float(tail.mean()) if tail.size else var
    return var, es


def _revalue(portfolio: VarPortfolio, spot_move: FloatArray, vol_shock: FloatArray) -> FloatArray:
    """P&L of the portfolio for each scenario row: spot_move (rows, underlyings) as log moves,
    vol_shock (rows, underlyings) as relative vol changes."""
    p = portfolio
    day = 1 / 365
    u = p.underlying_of
    new_spot = p.spot[u] * np.exp(spot_move[:, u])  # (rows, positions)
    value = np.where(p.kind == KIND_LINEAR, p.price * new_spot / p.spot[u], 0.0)
    options = np.flatnonzero(p.kind == KIND_OPTION)
    if options.size:
        years = np.maximum(p.years[options] - day, 0.0)
        forward = new_spot[:, options] * np.exp(p.rate * years)
        vol = np.maximum(p.vol[options] * (1.0 + vol_shock[:, u[options]]), 1e-4)
        value[:, options] = black76.price(
            forward, p.strike[options], years, p.rate, vol, p.is_call[options]
        )
    return (value - p.price) @ p.quantity


def ewma_covariance(returns: FloatArray, lam: float = EWMA_LAMBDA) -> FloatArray:
    """RiskMetrics EWMA covariance of daily returns (rows oldest first)."""
    days = returns.shape[0]
    weights = (1 - lam) * lam ** np.arange(days - 1, -1, -1, dtype=np.float64)
    weights /= weights.sum()
    centred = returns - returns.mean(axis=0)
    return np.asarray((centred * weights[:, None]).T @ centred, dtype=np.float64)


def compute_var(
    portfolio: VarPortfolio,
    *,
    paths: int = 10_000,
    seed: int = 20_260_401,
    confidences: tuple[float, ...] = (0.95, 0.99),
) -> VarResult:
    started = time.perf_counter()
    n_under = len(portfolio.underlyings)
    returns = portfolio.returns
    if returns.ndim != 2 or returns.shape[1] != n_under or returns.shape[0] < 20:
        raise ValueError(
            f"need at least 20 days of returns for {n_under} underlyings, got {returns.shape}"
        )
    vol_sd = VOL_SHOCK_AT_99 / _Z99
    # Historical: each past day's moves; the vol moves against the index as in the MC.
    hist_vol = np.clip(
        _SPOT_VOL_CORRELATION * vol_sd * returns / returns.std(axis=0, ddof=1), -0.5, 0.5
    )
    hist_pnl = _revalue(portfolio, returns, hist_vol)
    historical = {c: _var_es(hist_pnl, c) for c in confidences}

    rng = np.random.Generator(np.random.PCG64(seed))
    covariance = ewma_covariance(returns)
    # A tiny ridge keeps Cholesky happy when two underlyings move as one.
    chol = np.linalg.cholesky(covariance + np.eye(n_under) * 1e-12)
    z = rng.standard_normal((paths, n_under))
    moves = z @ chol.T - 0.5 * np.diag(covariance)
    std = np.sqrt(np.diag(covariance))
    spot_z = moves / np.where(std > 0, std, 1.0)
    vol_noise = rng.standard_normal((paths, n_under))
    shock = vol_sd * (
        _SPOT_VOL_CORRELATION * spot_z + math.sqrt(1 - _SPOT_VOL_CORRELATION**2) * vol_noise
    )
    mc_pnl = _revalue(portfolio, moves, np.clip(shock, -0.6, 0.6))
    monte_carlo = {c: _var_es(mc_pnl, c) for c in confidences}
    batches = 20
    batch_vars = [_var_es(chunk, 0.99)[0] for chunk in np.array_split(mc_pnl, batches)]
    standard_error = float(np.std(batch_vars, ddof=1) / math.sqrt(batches))
    return VarResult(
        historical,
        monte_carlo,
        standard_error,
        int(returns.shape[0]),
        paths,
        time.perf_counter() - started,
    )


def synthetic_returns(
    vols: FloatArray, market_loading: FloatArray, days: int = 250, seed: int = 7
) -> FloatArray:
    """Daily log returns with the given annual vols and one-factor correlation, Student-t (5 dof)
    tails: a stand-in history for the simulated market until a bar store keeps real closes."""
    rng = np.random.Generator(np.random.PCG64(seed))
    dof = 5
    scale = math.sqrt((dof - 2) / dof)
    market = rng.standard_t(dof, size=(days, 1)) * scale
    own = rng.standard_t(dof, size=(days, len(vols))) * scale
    z = market_loading * market + np.sqrt(1 - market_loading**2) * own
    daily = vols / math.sqrt(252)
    return np.asarray(z * daily - 0.5 * daily**2, dtype=np.float64)
