"""A live fill the desk hears of late: stamped with the exchange's fill time, it is journaled after
a ``pnl_marks`` row stamped later. The performance figures take it in time order (the same as had
it been journaled on time), and a curve that cannot be built is said in the Performance panel in
words, never raised."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.backtest.performance import DESK, track
from engine.backtest.report import ReportView, report_html
from engine.domain.marks import DAY_END
from engine.runtime import Engine
from engine.store.journal import JournalEntry
from tests.performance_desk import traded_desk
from ui.panels.performance import PerformancePanel

LATE_S = 30


@pytest.fixture
def late_fill_desk(tmp_path: Path) -> Iterator[Engine]:
    """A desk that traded a day, marked its positions, and only then journaled a fill stamped
    ``LATE_S`` seconds before that mark (an order of ``trend``, as a live broker reports it)."""
    engine, _clock = traded_desk(tmp_path / "book.db", days=1, step=60.0)
    engine.record_marks(DAY_END)
    rows = list(engine.journal.read())
    marked = max(r.ts_ns for r in rows if r.kind == "pnl_marks")
    first = rows[0].order_id
    model = [r for r in rows if r.order_id == first]
    assert [r.kind for r in model][:3] == ["order_submitted", "order_status", "order_filled"]
    for row in model:
        payload = dict(row.payload)
        if row.kind == "order_filled":
            payload["trade_id"] = f"LATE-{payload['trade_id']}"
        engine.journal.append(row.kind, payload, order_id="LATE-1", ts_ns=marked - LATE_S * 10**9)
    yield engine
    engine.close()


def _in_time_order(entries: list[JournalEntry]) -> list[JournalEntry]:
    """The same rows as if each had been journaled at its own moment."""
    ordered = sorted(entries, key=lambda e: (e.ts_ns, e.seq))
    return [replace(e, seq=number) for number, e in enumerate(ordered, 1)]


def test_performance_with_a_late_journaled_fill_is_the_same_as_journaled_on_time(
    late_fill_desk: Engine,
) -> None:
    entries = list(late_fill_desk.journal.read())
    late = [e for e in entries if e.order_id == "LATE-1"]
    assert late and max(e.seq for e in entries if e.kind == "pnl_marks") < late[0].seq
    assert max(e.ts_ns for e in entries if e.kind == "pnl_marks") > late[0].ts_ns

    performance = track(entries)
    on_time = track(_in_time_order(entries))
    for owner in [*performance.owners, DESK]:
        curve = performance.curve(owner)
        assert bool(np.all(np.diff(curve.ts_ns) >= 0)), f"{owner}'s curve goes back in time"
        expected = on_time.curve(owner)
        assert list(curve.ts_ns) == list(expected.ts_ns) and curve.values == expected.values
        assert performance.metrics(owner) == on_time.metrics(owner)
        assert performance.days(owner) == on_time.days(owner)
    assert performance.strategies() == on_time.strategies()
    desk = next(r for r in performance.strategies() if r.owner == DESK)
    assert desk.fills == sum(1 for e in entries if e.kind == "order_filled")
    assert "<html" in report_html(ReportView.of(performance), "late fill").lower()

    # The desk's own read (marked at its quotes now) gives the figures too.
    assert late_fill_desk.api.performance().curve().values[-1] == performance.curve().values[-1]


def test_performance_panel_when_the_curve_cannot_be_built_says_so_in_words(
    qtbot, late_fill_desk: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.bridge import EngineBridge
    from ui.context import PanelContext
    from ui.theme import ThemeHolder

    # A curve going back in time, as this book's figures were built before: appended out of order.
    broken = track(list(late_fill_desk.journal.read()))
    first_ns = int(broken.curve().ts_ns[0])
    token = next(
        e.payload["token"] for e in late_fill_desk.journal.read() if e.kind == "order_filled"
    )
    broken.add_marks(first_ns - 10**9, {int(token): 100_000})
    with pytest.raises(ValueError, match="must not go backwards"):
        broken.curve()
    monkeypatch.setattr(late_fill_desk.api, "performance", lambda capital=None: broken)

    bridge = EngineBridge(late_fill_desk.api, frame_ms=20)
    context = PanelContext(api=late_fill_desk.api, bridge=bridge, theme=ThemeHolder("dark"))
    try:
        panel = PerformancePanel(context)
        qtbot.addWidget(panel)
        panel.show()  # refreshes: no exception escapes
        said = panel.figures.text()
        assert "the equity curve and its figures could not be built" in said
        assert "equity timestamps must not go backwards" in said
        _x, y = panel.equity_curve.getData()
        assert y is None or len(y) == 0
        assert {r.owner for r in panel.rows_shown()} == {*broken.owners, DESK}
    finally:
        bridge.stop()
