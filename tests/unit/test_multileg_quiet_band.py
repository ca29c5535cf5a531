"""A running portfolio skips its combined exit's Decimal check while the MTM stays inside the
band ``CombinedExit.quiet_band`` gives; that is only right if, anywhere in the band,
``CombinedExit.hit`` would have found nothing and changed nothing. Checked here on combined
exits of every shape (rupees or percent, trailing stop, lock and trail) after MTM paths that
move their peak, at every paisa near the band's edges."""

from __future__ import annotations

import copy
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.strategies.multileg.exits import CombinedExit, Threshold

rupees = st.integers(min_value=1, max_value=50_000).map(lambda r: Decimal(r) / 4)
thresholds = st.builds(Threshold, rupees, st.booleans())


@st.composite
def combined_exits(draw: st.DrawFn) -> CombinedExit:
    lock_at = draw(st.none() | rupees)
    return CombinedExit(
        premium=draw(rupees),
        target=draw(st.none() | thresholds),
        stop=draw(st.none() | thresholds),
        lock_at=lock_at,
        lock=Decimal(0)
        if lock_at is None
        else lock_at * draw(st.sampled_from([Decimal(0), Decimal("0.25"), Decimal(1)])),
        trail_every=draw(st.none() | rupees),
        trail_by=draw(rupees),
        stop_trail_every=draw(st.none() | rupees),
        stop_trail_by=draw(rupees),
        peak=draw(st.just(Decimal(0)) | rupees),  # restored with the peak it had reached
    )


def _state(combined: CombinedExit) -> tuple[Decimal, Decimal | None]:
    return combined.peak, combined.locked


@settings(max_examples=300, deadline=None)
@given(
    combined_exits(),
    st.lists(st.integers(min_value=-5_000_000, max_value=5_000_000), min_size=1, max_size=8),
)
def test_multileg_quiet_band_when_the_mtm_is_inside_hit_finds_and_changes_nothing(
    combined: CombinedExit, path: list[int]
) -> None:
    for mtm in path:  # paise, as the portfolio marks it; stop at the first MTM that exits
        if combined.hit(Decimal(mtm) / 100) is not None:
            return
    low, high = combined.quiet_band()
    edges = [e for e in (low, high) if e not in (float("inf"), float("-inf"))]
    probes = {int(e) + d for e in edges for d in range(-2, 3)} | set(path)
    for mtm in sorted(probes):
        trial = copy.deepcopy(combined)
        found = trial.hit(Decimal(mtm) / 100)
        if low < mtm <= high:
            assert found is None, (mtm, low, high, found)
            assert _state(trial) == _state(combined), (mtm, low, high)


def test_multileg_quiet_band_when_nothing_bounds_it_is_only_below_the_peak() -> None:
    combined = CombinedExit(premium=Decimal(100))
    assert combined.hit(Decimal("12.34")) is None
    assert combined.quiet_band() == (float("-inf"), 1234)
