"""Black-76 implied volatility for whole chains at once: exact to float64, NaN where none exists.

Every quote is mapped to the out-of-the-money option of its strike (put-call parity) and solved
in normalised coordinates, x = −|ln(F/K)| ≤ 0 and β = time value / (DF·√(F·K)), for s = σ√T in
b(x, s) = β (see black76.normalised_otm_price).

- ln b(s) is increasing and concave in s, with b's inflection point at s_c = √(2|x|), so one
  evaluation there puts each quote on a branch: s < s_c or s ≥ s_c.
- Initial guess. Below s_c: the larger of a Householder(3) step off s_c (ln b's derivatives are
  exact and cheap there, b″ being 0) and two Newton steps on the small-s asymptote
  ln b ≈ ln(s³/(x²√(2π))) − x²/(2s²) − s²/8; both are lower bounds. Above s_c: the
  at-the-money inversion s = −2·Φ⁻¹((e^{x/2} − β)/(e^{x/2} + e^{−x/2})), exact at x = 0.
- Iteration: Householder(3) on g(s) = ln b(x, s) − ln β, whose derivatives are closed-form:
  g′ = v = b′/b with b′ = e^{−(h²+t²)/2}/√(2π); g″/g′ = q − v and g‴/g′ = q² + q′ − 3qv + 2v²,
  with q = b″/b′ = x²/s³ − s/4. The relative error goes as ρ → ≲ρ⁴ near the root, so a lane
  retires once its step is below 1e-4·s: the step it has just taken leaves an error at the ulp
  level. A step that would leave the bracket [lo, hi] kept from the signs of g is replaced by
  bisection. Lanes are compacted as they retire.
- Evaluation uses Φ through normal.ndtr (two per lane-iteration); quotes deeper than
  ln β < −80 (prices below 1e-35 of the forward: never a traded quote) use erfcx, which does not
  underflow.

About 2.1 lane-iterations per quote on a market chain (options_math.md's safeguarded Halley
needs about 3.3); all arithmetic is numpy over blocks of the chain, with no per-option Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from engine.options.black76 import BLOCK, SQRT_2PI, ArrayLike, FloatArray
from engine.options.normal import erfcx, ndtr, ndtri

__all__ = ["implied_vol", "normalised_implied_vol"]

_RETIRE_STEP = 1e-4
"""A lane whose step is below this fraction of s is done: the relative error left is ≲ step⁴."""
_MAX_ITERATIONS = 120
_BISECTING = 8
"""Lanes not retired after this many steps (none on market data) go on by bisection alone."""
_BRACKET_FLOOR = 4.0 * float(np.finfo(np.float64).eps)
_S_MAX = 64.0
"""No representable price below the upper bound needs s = σ√T above this (Φ(−16) < 1e-57)."""
_DEEP_LN_BETA = -80.0
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LN_SQRT_2PI = math.log(SQRT_2PI)

# ln b and b′/b at (x, s), given e^{x/2}.
_Evaluator = Callable[[FloatArray, FloatArray, FloatArray], tuple[FloatArray, FloatArray]]


def implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """The Black-76 volatility at which each discounted option price is matched.

    Arguments broadcast with numpy rules (one forward and expiry for a chain of strikes, or
    one row per option across many chains). ``price`` and ``forward``/``strike`` in one unit,
    ``years`` a year fraction, ``rate`` continuous. Returns a float64 array of the broadcast
    shape (0-d for all-scalar input), NaN wherever no volatility reproduces the price: price ≤
    the discounted intrinsic value (zero time value), price ≥ the upper bound (DF·F for a call,
    DF·K for a put), years ≤ 0, forward or strike ≤ 0, or any input not finite (a missing quote
    passed as NaN).
    """
    p, f, k, t, r, call = np.broadcast_arrays(
        np.asarray(price, dtype=np.float64),
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(years, dtype=np.float64),
        np.asarray(rate, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )
    shape = p.shape
    p, f, k, t, r, call = (a.ravel() for a in (p, f, k, t, r, call))
    if p.size <= BLOCK:
        return _implied_vol(p, f, k, t, r, call).reshape(shape)
    result = np.empty(p.size)
    for block in np.array_split(np.arange(p.size), -(-p.size // BLOCK)):
        part = slice(int(block[0]), int(block[-1]) + 1)
        result[part] = _implied_vol(p[part], f[part], k[part], t[part], r[part], call[part])
    return result.reshape(shape)


def _implied_vol(
    p: FloatArray,
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    r: FloatArray,
    call: npt.NDArray[np.bool_],
) -> FloatArray:
    """The IVs of 1-D arrays (one block)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        discount = np.exp(-r * t)
        x = -np.abs(np.log(f / k))
        intrinsic = np.maximum(np.where(call, f - k, k - f), 0.0)
        beta = (p / discount - intrinsic) / np.sqrt(f * k)
        valid = (beta > 0.0) & (beta < np.exp(0.5 * x)) & (t > 0.0) & np.isfinite(t)
    result = np.full(p.shape, np.nan)
    lanes = np.flatnonzero(valid)
    if lanes.size:
        result[lanes] = normalised_implied_vol(beta[lanes], x[lanes]) / np.sqrt(t[lanes])
    return result


def normalised_implied_vol(beta: FloatArray, x: FloatArray) -> FloatArray:
    """s = σ√T with b(x, s) = β, for 1-D arrays with x ≤ 0 and 0 < β < e^{x/2}.

    NaN for a lane that does not converge (none known: the iteration is bracketed).
    """
    ln_beta = np.log(beta)
    root_b_max = np.exp(0.5 * x)
    s_c = np.sqrt(-2.0 * x)
    b_c = 0.5 * root_b_max - ndtr(-s_c) / root_b_max
    s = np.empty_like(x)
    lo = np.zeros_like(x)
    hi = np.full_like(x, _S_MAX)

    lower = np.flatnonzero(beta < b_c)
    if lower.size:
        s[lower] = _lower_guess(x[lower], ln_beta[lower], s_c[lower], b_c[lower], root_b_max[lower])
        hi[lower] = s_c[lower]
    upper = np.flatnonzero(beta >= b_c)
    if upper.size:
        e = root_b_max[upper]
        at_the_money = -2.0 * ndtri((e - beta[upper]) / (e + 1.0 / e))
        # Within the bracket: β a hair under e^{x/2} would put the guess at infinity.
        s[upper] = np.clip(at_the_money, s_c[upper], 0.5 * _S_MAX)
        lo[upper] = s_c[upper]

    deep = ln_beta < _DEEP_LN_BETA
    if not deep.any():
        return _householder(x, root_b_max, ln_beta, s, lo, hi, _evaluate_with_ndtr)
    result = np.empty_like(x)
    groups: tuple[tuple[npt.NDArray[np.intp], _Evaluator], ...] = (
        (np.flatnonzero(~deep), _evaluate_with_ndtr),
        (np.flatnonzero(deep), _evaluate_with_erfcx),
    )
    for lanes, evaluate in groups:
        if lanes.size:
            result[lanes] = _householder(
                x[lanes],
                root_b_max[lanes],
                ln_beta[lanes],
                s[lanes],
                lo[lanes],
                hi[lanes],
                evaluate,
            )
    return result


def _lower_guess(
    x: FloatArray,
    ln_beta: FloatArray,
    s_c: FloatArray,
    b_c: FloatArray,
    root_b_max: FloatArray,
) -> FloatArray:
    """A lower bound on the root for β below b(x, s_c)."""
    # A Householder(3) step off the inflection point, where b″ = 0 makes g″/g′ = −v and
    # g‴/g′ = 2v² − 1 (v = b′/b = e^{x/2}/(√(2π)·b_c)): exact to fourth order near s_c.
    g_c = np.log(b_c) - ln_beta
    v = root_b_max / (SQRT_2PI * b_c)
    newton = -g_c / v
    off_inflection = s_c + newton * (1.0 - 0.5 * v * newton) / (
        1.0 + newton * (-v + (2.0 * v * v - 1.0) * newton / 6.0)
    )
    # Newton on the concave small-s asymptote, from below: |x|/√(−2 ln β) drops all but e^{−h²/2}.
    xx = x * x
    offset = np.log(xx) + _LN_SQRT_2PI
    s = -x / np.sqrt(-2.0 * ln_beta)
    for _ in range(2):
        ss = s * s
        f = 3.0 * np.log(s) - offset - 0.5 * xx / ss - 0.125 * ss - ln_beta
        s = s - f / (3.0 / s + xx / (ss * s) - 0.25 * s)
    guess = np.fmax(s, off_inflection)
    sane = (guess > 0.0) & (guess < s_c)
    return np.where(sane, guess, 0.5 * s_c)


def _householder(
    x: FloatArray,
    root_b_max: FloatArray,
    ln_beta: FloatArray,
    s: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    evaluate: _Evaluator,
) -> FloatArray:
    result = np.full_like(x, np.nan)
    lane = np.arange(x.size)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        for iteration in range(_MAX_ITERATIONS):
            ln_b, vega_ratio = evaluate(x, root_b_max, s)
            g = ln_b - ln_beta
            above = g > 0.0  # NaN (b underflowed to 0) counts as below
            hi = np.where(above, s, hi)
            lo = np.where(above, lo, s)
            # With v = b′/b, q = b″/b′ = x²/s³ − s/4 and q′ = −3x²/s⁴ − 1/4:
            # g″/g′ = q − v and g‴/g′ = q² + q′ − 3qv + 2v².
            newton = -g / vega_ratio
            ss = s * s
            xx_over_ss = x * x / ss
            q = xx_over_ss / s - 0.25 * s
            halley = q - vega_ratio
            hh3 = (
                q * (q - 3.0 * vega_ratio)
                + 2.0 * vega_ratio * vega_ratio
                - 3.0 * xx_over_ss / ss
                - 0.25
            )
            step = (
                newton
                * (1.0 + 0.5 * halley * newton)
                / (1.0 + newton * (halley + hh3 * newton / 6.0))
            )
            s_next = s + step
            done = np.abs(step) <= _RETIRE_STEP * s
            accept = done | ((s_next > lo) & (s_next < hi))
            if iteration >= _BISECTING:
                # Only where b is flat to its last digits (β within ulps of its bound, σ√T ≳ 15)
                # is a lane still here: g is noise and steps never shrink. Bisect to the ulp.
                accept = done
                s_next = np.where(accept, s_next, 0.5 * (lo + hi))
                done |= hi - lo <= _BRACKET_FLOOR * s_next
            else:
                s_next = np.where(accept, s_next, 0.5 * (lo + hi))
            retired = np.flatnonzero(done)
            if retired.size == lane.size:
                result[lane] = s_next
                break
            if retired.size:
                result[lane[retired]] = s_next[retired]
                keep = np.flatnonzero(~done)
                lane, x, root_b_max, ln_beta = lane[keep], x[keep], root_b_max[keep], ln_beta[keep]
                s, lo, hi = s_next[keep], lo[keep], hi[keep]
            else:
                s = s_next
    return result


def _evaluate_with_ndtr(
    x: FloatArray, root_b_max: FloatArray, s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    h = x / s
    t = 0.5 * s
    # Both Φ in one call: numpy's per-call cost is much of the cost of ndtr at these sizes.
    cdf_plus, cdf_minus = np.split(ndtr(np.concatenate((h + t, h - t))), 2)
    b = root_b_max * cdf_plus - cdf_minus / root_b_max
    vega_ratio = np.exp(-0.5 * (h * h + t * t)) / (SQRT_2PI * b)
    return np.log(b), vega_ratio


def _evaluate_with_erfcx(
    x: FloatArray, root_b_max: FloatArray, s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    h = x / s
    t = 0.5 * s
    spread = erfcx(-(h + t) * _INV_SQRT2) - erfcx((t - h) * _INV_SQRT2)
    ln_b = -0.5 * (h * h + t * t) + np.log(0.5 * spread)
    return ln_b, _SQRT_2_OVER_PI / spread
