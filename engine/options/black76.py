"""Black-76 option prices on a forward, vectorised over whole chains.

Every argument broadcasts with numpy rules, so one call prices a chain (array strikes, scalar
forward) or many chains at once. Units are the caller's: forward, strike and price in one
currency unit (rupees or paise), ``years`` a year fraction, ``rate`` and ``vol`` annualised
decimals (0.065, 0.13).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

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
