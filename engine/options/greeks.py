"""Black-76 price and Greeks, vectorised, in the units an Indian options screen shows.

Per unit of the underlying (one index point or share), with the forward held fixed:

- ``delta`` per point of the forward, 0…1 for calls, −1…0 for puts: DF·θ·Φ(θ·d1);
- ``gamma`` change of delta per point: DF·φ(d1)/(F·σ√T);
- ``theta`` price change per day: (−DF·F·φ(d1)·σ/(2√T) + r·V) / ``days_per_year`` (365 by
  default: calendar days, as with calendar-time ``years``; pass 252 with trading-time years);
- ``vega`` price change per vol point (σ 15 % → 16 %): DF·F·φ(d1)·√T / 100;
- ``rho`` price change per 1 % of rate: −T·V / 100 (Black-76: the forward does not move with r).

The price is the discounted intrinsic value plus the out-of-the-money option's time value
(black76.normalised_otm_price), so wing prices keep their digits. These are vollib's
``black.greeks.analytical`` conventions too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from engine.options.black76 import (
    BLOCK,
    DEEP_WING_H,
    SQRT_2PI,
    ArrayLike,
    FloatArray,
    otm_price_from_erfcx,
)
from engine.options.normal import ndtr

__all__ = ["Greeks", "greeks"]

CALENDAR_DAYS_PER_YEAR = 365.0


@dataclass(frozen=True, slots=True, eq=False)
class Greeks(Mapping[str, FloatArray]):
    """Arrays of one broadcast shape; also a read-only mapping by field name."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray

    def __getitem__(self, name: str) -> FloatArray:
        if name not in _FIELD_NAMES:
            raise KeyError(name)
        value: FloatArray = getattr(self, name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELD_NAMES)

    def __len__(self) -> int:
        return len(_FIELD_NAMES)


_FIELD_NAMES = tuple(f.name for f in fields(Greeks))


def greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    days_per_year: float = CALENDAR_DAYS_PER_YEAR,
) -> Greeks:
    """Price and the five Greeks of each option; arguments broadcast with numpy rules.

    ``vol`` is the annualised decimal (0.13); NaN in, NaN out, so the output of
    :func:`implied_vol` can be passed straight in. At zero vol with time left the option is
    its discounted intrinsic value (delta 0 or ±DF, gamma and vega 0, theta r·V per year);
    at or after expiry (``years`` ≤ 0) it is the undiscounted intrinsic value with delta ±1 in
    the money, 0 out of it and at the money (it settles worthless there), and the other Greeks
    0, whatever the vol, NaN included (no IV exists then). Otherwise non-finite inputs, forward
    or strike ≤ 0 and negative vols give NaN. Returns 0-d arrays for all-scalar input.
    """
    if not (isinstance(days_per_year, int | float) and days_per_year > 0):
        raise ValueError(f"days_per_year must be a positive number, got {days_per_year!r}")
    f, k, t, r, v, call = np.broadcast_arrays(
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(years, dtype=np.float64),
        np.asarray(rate, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )
    shape = f.shape
    f, k, t, r, v, call = (a.ravel() for a in (f, k, t, r, v, call))
    if f.size <= BLOCK:
        values = _greeks(f, k, t, r, v, call, days_per_year)
    else:
        values = {name: np.empty(f.size) for name in _FIELD_NAMES}
        for block in np.array_split(np.arange(f.size), -(-f.size // BLOCK)):
            part = slice(int(block[0]), int(block[-1]) + 1)
            for name, value in _greeks(
                f[part], k[part], t[part], r[part], v[part], call[part], days_per_year
            ).items():
                values[name][part] = value
    return Greeks(**{name: value.reshape(shape) for name, value in values.items()})


def _greeks(
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    r: FloatArray,
    v: FloatArray,
    call: npt.NDArray[np.bool_],
    days_per_year: float,
) -> dict[str, FloatArray]:
    """The Greeks of 1-D arrays (one block)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        sign = np.where(call, 1.0, -1.0)
        x = np.log(f / k)
        abs_x = np.abs(x)
        root_t = np.sqrt(t)
        s = v * root_t
        h = -abs_x / s
        half_s = 0.5 * s
        discount = np.exp(-r * t)
        root_b_max = np.exp(-0.5 * abs_x)
        # One call for both: numpy's per-call cost is much of the cost of ndtr at chain sizes.
        cdf_plus, cdf_minus = np.split(ndtr(np.concatenate((h + half_s, h - half_s))), 2)
        b = root_b_max * cdf_plus - cdf_minus / root_b_max
        deep = np.flatnonzero(h < DEEP_WING_H)
        if deep.size:
            b[deep] = otm_price_from_erfcx(h[deep], half_s[deep])
        root_fk = np.sqrt(f * k)
        price = discount * (np.maximum(sign * (f - k), 0.0) + root_fk * np.maximum(b, 0.0))
        # F·φ(d1) = K·φ(d2) = √(F·K)·e^{−(h²+t²)/2}/√(2π)
        density = discount * root_fk * np.exp(-0.5 * (h * h + half_s * half_s)) / SQRT_2PI
        values = {
            "price": price,
            "delta": sign * discount * _delta_cdf(call, sign, x, s, cdf_plus, cdf_minus),
            "gamma": density / (f * f * s),
            "theta": (r * price - 0.5 * density * v / root_t) / days_per_year,
            "vega": density * root_t / 100.0,
            "rho": -t * price / 100.0,
        }
    # ln(F/K) is finite exactly when F and K are positive and finite. A NaN vol (no IV) with
    # time left has already made every value NaN, as it should; expired, the vol is moot.
    live = (t > 0.0) & (v > 0.0) & np.isfinite(s) & np.isfinite(x) & np.isfinite(r)
    degenerate = np.flatnonzero(~(live | (np.isnan(v) & (t > 0.0))))
    if degenerate.size:
        _settle_degenerate(values, degenerate, f, k, t, r, v, sign, days_per_year)
    return values


def _delta_cdf(
    call: npt.NDArray[np.bool_],
    sign: FloatArray,
    x: FloatArray,
    s: FloatArray,
    cdf_plus: FloatArray,
    cdf_minus: FloatArray,
) -> FloatArray:
    """Φ(θ·d1) from the two Φ values the price needed, θ = ±1 (call, put).

    Out of the money it is Φ(h+t) for a call and Φ(h−t) for a put; in the money it is one
    minus the other one, which is exact while that one is at most ½. Only in-the-money puts
    above the inflection point (huge σ√T) fall outside that, and get Φ computed afresh.
    """
    in_the_money = sign * x > 0.0
    other = np.where(call, cdf_minus, cdf_plus)
    cdf = np.where(in_the_money, 1.0 - other, np.where(call, cdf_plus, cdf_minus))
    fresh = np.flatnonzero(in_the_money & (other > 0.5))
    if fresh.size:
        cdf[fresh] = ndtr(sign[fresh] * (x[fresh] / s[fresh] + 0.5 * s[fresh]))
    return np.asarray(cdf, dtype=np.float64)


def _settle_degenerate(
    values: dict[str, FloatArray],
    lanes: npt.NDArray[np.intp],
    f: FloatArray,
    k: FloatArray,
    t: FloatArray,
    r: FloatArray,
    v: FloatArray,
    sign: FloatArray,
    days_per_year: float,
) -> None:
    """Zero vol, expired and invalid options, which the closed forms leave as NaN or 0/0."""
    f, k, t, r, v, sign = (a[lanes] for a in (f, k, t, r, v, sign))
    expired = t <= 0.0
    vol_known = np.isfinite(v) & (v >= 0.0)
    valid = np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(r)
    # implied_vol gives NaN at or after expiry; the option is its intrinsic value all the same.
    valid &= (f > 0.0) & (k > 0.0) & (vol_known | (expired & np.isnan(v)))
    with np.errstate(over="ignore", invalid="ignore"):
        discount = np.where(expired, 1.0, np.exp(-r * np.maximum(t, 0.0)))
        price = discount * np.maximum(sign * (f - k), 0.0)
        settled = {
            "price": price,
            "delta": np.where(sign * (f - k) > 0.0, sign * discount, 0.0),
            "gamma": np.zeros_like(price),
            "theta": np.where(expired, 0.0, r * price / days_per_year),
            "vega": np.zeros_like(price),
            "rho": np.where(expired, 0.0, -t * price / 100.0),
        }
    for name, value in settled.items():
        values[name][lanes] = np.where(valid, value, np.nan)
