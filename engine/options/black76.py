"""Black-76 option prices on a forward, vectorised over whole chains.

Every argument broadcasts with numpy rules, so one call prices a chain (array strikes, scalar
forward) or many chains at once. Units are the caller's: forward, strike and price in one
currency unit (rupees or paise), ``years`` a year fraction, ``rate`` and ``vol`` annualised
decimals (0.065, 0.13).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from engine.options.normal import erfcx, ndtr

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]


def price(
    forward: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Discounted Black-76 price ``exp(-rT)·(θF·N(θd1) − θK·N(θd2))``, θ = +1 call, −1 put.

    Where the option has no time value left (``years <= 0``) or no volatility (``vol <= 0``) the
    price is the intrinsic value of the forward, discounted only while time remains. Returns a
    float64 array of the broadcast shape (0-d for all-scalar input).
    """
    f, k, t, r, v, call = np.broadcast_arrays(
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(years, dtype=np.float64),
        np.asarray(rate, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )
    theta = np.where(call, 1.0, -1.0)
    discount = np.exp(-r * np.maximum(t, 0.0))
    intrinsic = np.maximum(theta * (f - k), 0.0)

    has_time_value = (t > 0.0) & (v > 0.0)
    # Dummy inputs where there is no time value keep log/sqrt quiet; np.where discards them.
    t_safe = np.where(has_time_value, t, 1.0)
    v_safe = np.where(has_time_value, v, 1.0)
    std_dev = v_safe * np.sqrt(t_safe)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = np.log(f / k) / std_dev + 0.5 * std_dev
    d2 = d1 - std_dev
    undiscounted = theta * (f * ndtr(theta * d1) - k * ndtr(theta * d2))
    # Rounding can leave a deep in/out-of-the-money price a hair below intrinsic (or below zero).
    undiscounted = np.maximum(undiscounted, intrinsic)

    result = discount * np.where(has_time_value, undiscounted, intrinsic)
    return np.asarray(result, dtype=np.float64)


# ------------------------------------------------------------------ normalised coordinates
#
# With x = ln(F/K), s = σ√T, h = x/s and t = s/2, the undiscounted Black-76 call price divided by
# √(F·K) is b(x, s) = e^{x/2}·Φ(h+t) − e^{−x/2}·Φ(h−t). Put-call parity makes the time value of
# the call at x equal to that of the put at −x, so every option's time value is b(−|x|, s): the
# price of the out-of-the-money option. Working there keeps the intrinsic value out of the
# subtraction, which is where wing prices lose their digits in the textbook formula.

SQRT_2PI = math.sqrt(2.0 * math.pi)
BLOCK = 8192
"""Options a vectorised pass takes at a time. Blocks keep a pass's temporaries in cache and
under the size at which malloc maps (and the kernel zeroes) fresh pages for every one: up to
1.4× on a 20,000-option chain."""
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
DEEP_WING_H = -12.0
"""Below this h = x/s, Φ(h±t) carries too few correct digits (its exp(−z²/2) does) and the
difference of the two terms is taken from erfcx instead."""


def normalised_otm_price(x: FloatArray, s: FloatArray) -> FloatArray:
    """b(x, s) for x ≤ 0 and s > 0: an option's time value over √(F·K), undiscounted.

    Accurate to a few ulps times the cancellation |x|/s² in the wings (where both Φ terms are
    tiny and close); from |h| = 12 outwards it is taken as ½·e^{−(h²+t²)/2}·[erfcx(−(h+t)/√2) −
    erfcx((t−h)/√2)], which neither underflows early nor loses the exponent's digits.
    """
    h = x / s
    t = 0.5 * s
    b_max = np.exp(0.5 * x)
    b = np.asarray(b_max * ndtr(h + t) - ndtr(h - t) / b_max, dtype=np.float64)
    deep = np.flatnonzero(h < DEEP_WING_H)
    if deep.size:
        b[deep] = otm_price_from_erfcx(h[deep], t[deep])
    return np.maximum(b, 0.0)


def otm_price_from_erfcx(h: FloatArray, t: FloatArray) -> FloatArray:
    """b from h = x/s ≤ 0 and t = s/2 through erfcx: for the deep wing (h < DEEP_WING_H)."""
    spread = erfcx(-(h + t) * _INV_SQRT2) - erfcx((t - h) * _INV_SQRT2)
    return np.asarray(0.5 * np.exp(-0.5 * (h * h + t * t)) * spread, dtype=np.float64)
