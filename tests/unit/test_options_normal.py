"""engine.options.normal against scipy.special and against high-precision values.

scipy is a test dependency only. Where scipy itself is accurate (Φ for x ≥ −1, erfcx for
x ≥ −0.47, Φ⁻¹ everywhere) the two agree to a few ulps. In the lower tails scipy's Φ and erfcx
round x² (x/√2 before erfc; x² before exp), which costs about x²·eps relative: there the bound
is that, and accuracy is checked against values computed with mpmath at 50 digits instead.
Measured when written (scipy 1.17/1.18, numpy 2.x): Φ 7.9e-16 (x ≥ −1), erfcx 8.3e-16
(x ≥ −0.47), Φ⁻¹ 1.0e-15 against scipy; Φ 7.6e-16, erfcx 5.3e-16, Φ⁻¹ 6.7e-16 against mpmath
(scipy's own: 2.2e-13, 5.6e-14, 6.4e-16 on the same grids).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.options.normal import erfcx, ndtr, ndtri

special = pytest.importorskip("scipy.special")

EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)  # below it values are subnormal: fewer digits to compare
BOUNDARIES = (0.46875, 4.0)  # Cody's ranges, in erf's argument


def grid() -> np.ndarray:
    dense = np.linspace(-40.0, 40.0, 200_001)
    edges = np.array(BOUNDARIES)
    edges = np.concatenate([edges, edges * np.sqrt(2.0)])  # the same edges in Φ's argument
    near_edges = np.concatenate([np.nextafter(edges, 0.0), np.nextafter(edges, np.inf), edges])
    special_points = np.array(
        [0.0, 5e-324, 1e-300, 1e-17, 1e-8, 0.5, 1.0, 26.5, 26.6, 37.5, 38.0, 1e5, 1e10, 1e300]
    )
    points = np.concatenate([dense, near_edges, special_points])
    return np.concatenate([points, -points])


def relative_error(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.abs(ours - reference) / np.abs(reference)
    return np.where(ours == reference, 0.0, error)


def scipy_tail_bound(x: np.ndarray) -> np.ndarray:
    """A few ulps (both sides' rounding) plus x² ulps for scipy's rounding of x² in a tail."""
    return 4.0 * EPS * (1.0 + np.square(np.minimum(np.abs(x), 1e3)))


def test_ndtr_when_compared_with_scipy_agrees_to_a_few_ulps() -> None:
    x = grid()
    ours, reference = ndtr(x), special.ndtr(x)
    error = relative_error(ours, reference)
    normal = np.abs(reference) >= TINY
    assert error[normal & (x >= -1.0)].max() <= 1e-15
    # Below, scipy's Φ carries its argument's rounding, amplified by about x².
    assert np.all(error[normal] <= scipy_tail_bound(x[normal]))
    # Subnormal results carry fewer digits: there the bound is absolute, at the normal edge's scale.
    # (scipy returns 0 below x ≈ −37.68, where Φ is still 6e-311: ours keeps the subnormal.)
    subnormal = ~normal & (reference > 0.0)
    assert np.all(np.abs(ours - reference)[subnormal] <= TINY * scipy_tail_bound(x[subnormal]))
    assert np.all(ours[reference == 0.0] < 1e-310)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (-37.5, 4.6053530095819548438e-308),
        (-30.0, 4.9067139271481870595e-198),
        (-20.0, 2.7536241186062336951e-89),
        (-10.5, 4.3190063178092303465e-26),
        (-5.25, 7.6049605164887142511e-8),
        (-1.5, 0.066807201268858066004),
    ],
)
def test_ndtr_when_deep_in_the_lower_tail_keeps_full_relative_precision(
    x: float, expected: float
) -> None:
    # mpmath.ncdf at 50 digits.
    assert abs(float(ndtr(x)) - expected) <= 4.0 * EPS * expected


def test_ndtr_when_given_limits_and_nan_returns_the_limits() -> None:
    values = ndtr(np.array([-np.inf, np.inf, np.nan, 0.0, -0.0, -38.5, 40.0]))
    np.testing.assert_array_equal(values, [0.0, 1.0, np.nan, 0.5, 0.5, 0.0, 1.0])


def test_erfcx_when_compared_with_scipy_agrees_to_a_few_ulps() -> None:
    x = grid()
    ours, reference = erfcx(x), special.erfcx(x)
    error = relative_error(ours, reference)
    normal = np.isfinite(reference) & (np.abs(reference) >= TINY)
    assert error[normal & (x >= -0.47)].max() <= 1e-15
    # erfcx(−y) = 2·e^{y²} − erfcx(y): scipy's e^{y²} rounds y², about 2y²·eps relative.
    assert np.all(error[normal] <= scipy_tail_bound(x[normal]))
    # Past about −26.64, 2·e^{x²} overflows; both say so.
    np.testing.assert_array_equal(np.isinf(ours[x < -26.65]), True)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (-26.0, 7.6577249314905683515e293),
        (-10.3, 2.3731849241323385479e46),
        (-2.5, 1035.8148429726229083),
        (0.3, 0.73459933456765514992),
        (2.5, 0.21080636406114358065),
        (30.0, 0.018795888861416751497),
        (1e5, 5.6418958351954680777e-6),
    ],
)
def test_erfcx_when_checked_against_high_precision_values_is_within_a_few_ulps(
    x: float, expected: float
) -> None:
    # exp(x²)·erfc(x) in mpmath at 50 digits.
    assert abs(float(erfcx(x)) - expected) <= 4.0 * EPS * expected


def test_erfcx_when_given_limits_and_nan_returns_the_limits() -> None:
    values = erfcx(np.array([np.inf, -np.inf, np.nan, 0.0, 1e308]))
    assert values[0] == 0.0 and values[1] == np.inf and np.isnan(values[2]) and values[3] == 1.0
    assert values[4] == pytest.approx(1.0 / (np.sqrt(np.pi) * 1e308), rel=1e-15)


def test_ndtri_when_compared_with_scipy_agrees_to_a_few_ulps() -> None:
    p = np.concatenate(
        [
            np.linspace(0.0, 1.0, 200_001),
            np.logspace(-307, -1, 20_000),
            1.0 - np.logspace(-16, -1, 2_000),
            [0.075, 0.925, np.nextafter(0.075, 1.0), 5e-324, 1e-310],  # edges of AS241's ranges
        ]
    )
    ours, reference = ndtri(p), special.ndtri(p)
    finite = np.isfinite(reference) & (reference != 0.0)
    # Each is within about 3 ulps of the truth (measured against mpmath): 1.0e-15 apart at most.
    assert relative_error(ours, reference)[finite].max() <= 1.5e-15
    np.testing.assert_array_equal(ours[~finite], reference[~finite])


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (1e-300, -37.047096299361199237),
        (1e-100, -21.273453560965324295),
        (1e-20, -9.2623400897984075737),
        (0.025, -1.9599639845400542355),
        (0.975, 1.9599639845400542355),
    ],
)
def test_ndtri_when_checked_against_high_precision_values_is_within_a_few_ulps(
    p: float, expected: float
) -> None:
    # The root of mpmath.ncdf(z) = p at 50 digits.
    assert abs(float(ndtri(p)) - expected) <= 4.0 * EPS * abs(expected)


def test_ndtri_when_outside_the_unit_interval_returns_nan_and_infinite_at_the_ends() -> None:
    values = ndtri(np.array([0.0, 1.0, -0.1, 1.1, np.nan, 0.5]))
    np.testing.assert_array_equal(values, [-np.inf, np.inf, np.nan, np.nan, np.nan, 0.0])


def test_ndtri_when_fed_to_ndtr_returns_the_probability() -> None:
    p = np.logspace(-300, np.log10(0.5), 5_000)
    z = ndtri(p)
    # Φ′/Φ ≈ |z| in the tail, so z's few ulps become about z² ulps of p.
    assert np.all(relative_error(ndtr(z), p) <= 4.0 * EPS * (1.0 + z * z))


def test_functions_when_given_scalars_or_arrays_keep_the_shape() -> None:
    assert ndtr(0.3).shape == () and erfcx(0.3).shape == () and ndtri(0.3).shape == ()
    block = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
    assert ndtr(block).shape == (3, 4) and erfcx(block).shape == (3, 4)
    assert ndtri(ndtr(block)).shape == (3, 4)
    assert ndtr(np.array([], dtype=np.float64)).shape == (0,)
