"""Multileg portfolios on the simulated market, end to end: a short straddle and an iron condor go
through every status; each exit (a leg's 30 % stop, the combined target, the trailing combined
stop, the square-off time) fires on the first tick beyond its threshold, worked out here again
from the ticks and fills the bus carried; and the portfolio's P&L is the P&L rebuilt from the
journal's fills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.domain.events import OrderFilled, OrderSubmitted
from engine.domain.orders import Side
from engine.domain.strategy_records import StrategyRecord
from engine.domain.ticks import Tick
from engine.store.pnl_rebuild import read_sqlite_book
from engine.strategies.multileg.legrun import read_tag
from engine.strategies.multileg.status import PortfolioStatus
from tests.multileg_support import (
    MONDAY_0918,
    Recorder,
    build_desk,
    journal_cash,
    run_until,
    template_spec,
)

EVERY_STATUS = [
    "Pending",
    "Monitoring",
    "UnderExecution",
    "Started",
    "UnderExit",
    "Completed",
]


def _statuses(book: Path, strategy: str) -> list[str]:
    """The portfolio's statuses in the order the journal saved them (repeats dropped)."""
    seen: list[str] = []
    for row in read_sqlite_book(book).entries:
        if row.kind != StrategyRecord.kind or row.payload.get("strategy") != strategy:
            continue
        status = row.payload.get("state", {}).get("status")
        if status and (not seen or seen[-1] != status):
            seen.append(status)
    return seen


class Replay:
    """The portfolio's MTM worked out again, tick by tick, from what the bus carried."""

    def __init__(self, recorder: Recorder, strategy: str) -> None:
        self.events = recorder.events
        self.strategy = strategy
        self.owned: dict[str, tuple[int, str]] = {}
        """order id -> (leg, purpose)"""

    def walk(self) -> list[tuple[int, Any, int | None]]:
        """(index, event, MTM in paise at that tick once every leg has entered) for each event."""
        ltp: dict[int, int] = {}
        position: dict[int, int] = {}
        cash = 0
        entered = False
        out: list[tuple[int, Any, int | None]] = []
        for at, event in enumerate(self.events):
            mtm = None
            if isinstance(event, OrderSubmitted) and event.request.strategy == self.strategy:
                tagged = read_tag(event.request.tag)
                assert tagged is not None
                self.owned[event.order_id] = (tagged[0], tagged[1])
                if tagged[1] != "E":
                    entered = True  # exits begun: the MTM check no longer applies
            elif isinstance(event, OrderFilled) and event.order_id in self.owned:
                signed = event.quantity if event.side is Side.BUY else -event.quantity
                position[event.token] = position.get(event.token, 0) + signed
                cash -= signed * event.price
            elif isinstance(event, Tick):
                ltp[event.token] = event.ltp
                if position and not entered:
                    mtm = cash + sum(q * ltp.get(t, 0) for t, q in position.items())
            out.append((at, event, mtm))
        return out

    def first_exit_index(self) -> int:
        self.walk()
        return next(
            at
            for at, event in enumerate(self.events)
            if isinstance(event, OrderSubmitted)
            and event.request.strategy == self.strategy
            and read_tag(event.request.tag)[1] != "E"  # type: ignore[index]
        )


def _start(engine: Any, data: dict[str, Any]) -> str:
    api = engine.api
    assert api.save_portfolio(data) is None
    name = data["defaults"]["name"]
    assert api.start_portfolio(name) is None
    return name


def _view(engine: Any, name: str) -> Any:
    [view] = [v for v in engine.api.portfolios() if v.name == name]
    return view


def _finished(engine: Any, name: str) -> Any:
    return lambda: not _view(engine, name).running


def _assert_pnl_is_the_journals(engine: Any, tmp_path: Path, name: str) -> Decimal:
    view = _view(engine, name)
    assert view.status is PortfolioStatus.COMPLETED
    [pnl] = [p for p in engine.api.strategy_pnl() if p.strategy == view.strategy_id]
    assert pnl.open_positions == 0 and pnl.unrealised == 0
    assert view.mtm == pnl.realised
    engine.close()
    assert Decimal(journal_cash(tmp_path / "book.db", view.strategy_id)) / 100 == view.mtm
    return view.mtm


def test_multileg_short_straddle_when_a_leg_stop_hits_exits_that_leg_then_the_rest_at_the_time(
    tmp_path,
) -> None:
    engine = build_desk(tmp_path)
    recorder = Recorder().attach(engine)
    name = _start(
        engine,
        template_spec(engine, "short_straddle", "Straddle", execution={"square_off": "09:40:00"}),
    )
    assert _view(engine, name).status is PortfolioStatus.PENDING  # 09:18, starts at 09:20
    run_until(engine, _finished(engine, name), limit=30 * 60)
    sid = _view(engine, name).strategy_id
    legs = engine.api.portfolio_legs(name)
    stopped = [leg for leg in legs if "stop hit" in leg.remark]
    assert len(stopped) == 1, legs
    [leg] = stopped
    entry = leg.entry
    stop = entry * Decimal("1.3")
    assert leg.stop == stop
    # The stop fired on the first tick of the leg at or above entry + 30 %, not one later.
    replay = Replay(recorder, sid)
    replay.walk()
    exit_order = next(
        e
        for e in recorder.submitted(sid)
        if read_tag(e.request.tag) == (leg.n, "X", read_tag(e.request.tag)[2])  # type: ignore[index]
    )
    at = recorder.events.index(exit_order)
    ticks = [
        e
        for e in recorder.events[:at]
        if isinstance(e, Tick) and e.token == leg.token and e.ts_ns > 0
    ]
    entry_fill_at = max(
        i
        for i, e in enumerate(recorder.events[:at])
        if isinstance(e, OrderFilled) and e.token == leg.token
    )
    after_entry = [
        e for e in recorder.events[entry_fill_at:at] if isinstance(e, Tick) and e.token == leg.token
    ]
    assert after_entry and Decimal(after_entry[-1].ltp) >= stop * 100
    assert all(Decimal(t.ltp) < stop * 100 for t in after_entry[:-1])
    assert ticks[-1] is after_entry[-1]
    # The other leg stayed until the square-off time.
    [other] = [x for x in legs if x is not leg]
    assert "square-off time 09:40" in other.remark
    last_exit = [e for e in recorder.submitted(sid) if read_tag(e.request.tag)[1] == "X"][-1]  # type: ignore[index]
    square_off = int(MONDAY_0918.replace(minute=40).timestamp()) * 10**9
    assert square_off <= last_exit.ts_ns < square_off + 10**9
    _assert_pnl_is_the_journals(engine, tmp_path, name)
    assert _statuses(tmp_path / "book.db", sid) == EVERY_STATUS


@pytest.mark.parametrize(
    ("sections", "rule"),
    [
        pytest.param(
            {"target": {"combined": {"value": "400"}}},
            lambda mtm, peak: mtm >= 40_000,
            id="combined-target",
        ),
        pytest.param(
            {"stop_loss": {"combined": {"value": "300"}, "trail_every": "100", "trail_by": "100"}},
            lambda mtm, peak: mtm <= -30_000 + (max(peak, 0) // 10_000) * 10_000,
            id="trailing-combined-stop",
        ),
    ],
)
def test_multileg_short_straddle_combined_exit_fires_on_the_first_tick_beyond_it(
    tmp_path, sections: dict[str, Any], rule: Any
) -> None:
    engine = build_desk(tmp_path)
    recorder = Recorder().attach(engine)
    legs = [
        {"side": "SELL", "instrument": "CE", "strike": {"kind": "atm"}},
        {"side": "SELL", "instrument": "PE", "strike": {"kind": "atm"}},
    ]
    name = _start(
        engine,
        template_spec(
            engine,
            "short_straddle",
            "Combined",
            legs=legs,
            execution={"square_off": "11:00:00"},
            **sections,
        ),
    )
    run_until(engine, _finished(engine, name), limit=100 * 60)
    sid = _view(engine, name).strategy_id
    replay = Replay(recorder, sid)
    walked = replay.walk()
    first_exit = replay.first_exit_index()
    peak = 0
    fired_at = None
    for at, _event, mtm in walked:
        if mtm is None:
            continue
        if at > first_exit:
            break
        peak = max(peak, mtm)
        if rule(mtm, peak):
            fired_at = at
            break
    assert fired_at is not None, "the threshold was never crossed"
    # The exit orders follow the crossing tick directly: no tick between them.
    between = recorder.events[fired_at + 1 : first_exit]
    assert not any(isinstance(e, Tick) for e in between), between[:3]
    assert "combined" in _view(engine, name).reason
    _assert_pnl_is_the_journals(engine, tmp_path, name)
    assert _statuses(tmp_path / "book.db", sid) == EVERY_STATUS


def test_multileg_iron_condor_buys_its_hedges_first_and_sells_them_last(tmp_path) -> None:
    engine = build_desk(tmp_path)
    recorder = Recorder().attach(engine)
    name = _start(engine, template_spec(engine, "iron_condor", "Condor"))
    run_until(engine, lambda: _view(engine, name).status is PortfolioStatus.STARTED, limit=600)
    sid = _view(engine, name).strategy_id
    legs = engine.api.portfolio_legs(name)
    assert [leg.state for leg in legs] == ["entered"] * 4
    strikes = {(leg.side, leg.instrument): leg.strike for leg in legs}
    assert strikes[("BUY", "PE")] < strikes[("SELL", "PE")] < strikes[("SELL", "CE")]
    assert strikes[("SELL", "CE")] < strikes[("BUY", "CE")]
    entries = [e for e in recorder.submitted(sid) if read_tag(e.request.tag)[1] == "E"]  # type: ignore[index]
    first_sell = next(recorder.events.index(e) for e in entries if e.request.side is Side.SELL)
    hedge_fills = [
        i
        for i, e in enumerate(recorder.events)
        if isinstance(e, OrderFilled)
        and e.side is Side.BUY
        and e.order_id in {x.order_id for x in entries}
    ]
    assert len(hedge_fills) >= 2 and max(hedge_fills) < first_sell
    assert engine.api.square_off_portfolio(name) is None
    run_until(engine, _finished(engine, name), limit=600)
    exits = [e for e in recorder.submitted(sid) if read_tag(e.request.tag)[1] == "X"]  # type: ignore[index]
    first_buy_exit = next(recorder.events.index(e) for e in exits if e.request.side is Side.SELL)
    sell_exit_fills = [
        i
        for i, e in enumerate(recorder.events)
        if isinstance(e, OrderFilled)
        and e.side is Side.BUY
        and e.order_id in {x.order_id for x in exits}
    ]
    assert len(sell_exit_fills) >= 2 and max(sell_exit_fills) < first_buy_exit
    assert _view(engine, name).reason == "squared off by the trader"
    _assert_pnl_is_the_journals(engine, tmp_path, name)
    assert _statuses(tmp_path / "book.db", sid) == EVERY_STATUS
