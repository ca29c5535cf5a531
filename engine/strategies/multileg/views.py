"""What the Multileg panel and the local API read of a portfolio and its legs: status, MTM and
net premium (₹), and each leg's side, strike, prices and P&L.

A running portfolio is read as it is now; a stopped one as the journal last saved it, or, when
nothing that can be shown was saved, as the idle legs of its settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from engine.domain.strategy_records import StrategyRecord, StrategyStatus
from engine.strategies.multileg.legrun import LegRun
from engine.strategies.multileg.portfolio import PortfolioStrategy, portfolio_strategy_id
from engine.strategies.multileg.spec import Leg, PortfolioSpec
from engine.strategies.multileg.status import LegState, PortfolioStatus


@dataclass(frozen=True, slots=True)
class LegView:
    n: int
    symbol: str
    side: str
    instrument: str
    strike: Decimal | None
    expiry: date | None
    lots: int
    quantity: int
    hedge: bool
    state: str
    entry: Decimal | None
    exit: Decimal | None
    ltp: Decimal | None
    pnl: Decimal
    stop: Decimal | None
    target: Decimal | None
    trailing: bool
    token: int
    remark: str


@dataclass(frozen=True, slots=True)
class PortfolioView:
    name: str
    strategy_id: str
    status: PortfolioStatus
    reason: str
    mode: str
    underlying: str
    legs: int
    mtm: Decimal
    premium: Decimal
    running: bool


def portfolio_view(
    spec: PortfolioSpec, running: PortfolioStrategy | None, record: StrategyRecord | None
) -> PortfolioView:
    """A portfolio as it is now if it is ``running`` (with the settings it started with, not
    those saved since), else as its last ``record`` left it."""
    name = spec.name
    if running is not None:
        status, reason = running.status, running.reason
        mtm, premium = running.mtm, running.net_premium
        ran = running.spec.defaults
    else:
        status, reason, mtm, premium = _last(spec, record)
        ran = spec.defaults
    return PortfolioView(
        name,
        portfolio_strategy_id(name),
        status,
        reason,
        ran.mode.value,
        ran.underlying,
        len(spec.legs) if running is None else len(running.legs),  # with hedges, re-entries
        Decimal(mtm) / 100,
        Decimal(premium) / 100,
        running is not None,
    )


def _last(
    spec: PortfolioSpec, record: StrategyRecord | None
) -> tuple[PortfolioStatus, str, int, int]:
    if not spec.defaults.enabled:
        return PortfolioStatus.DISABLED, "disabled", 0, 0
    if record is None:
        return PortfolioStatus.STOPPED, "", 0, 0
    state = record.state
    status = PortfolioStatus(state["status"]) if state.get("status") else None
    if record.status is StrategyStatus.FAILED:
        return PortfolioStatus.FAILED, record.reason, 0, 0
    if status is None or status not in (
        PortfolioStatus.COMPLETED,
        PortfolioStatus.REJECTED,
        PortfolioStatus.STOPPED,
    ):
        return PortfolioStatus.STOPPED, record.reason, 0, 0
    return status, str(state.get("reason", "")), int(state["mtm"]), int(state["premium"])


def leg_views(
    spec: PortfolioSpec, running: PortfolioStrategy | None, record: StrategyRecord | None
) -> list[LegView]:
    """A portfolio's legs as they are now if it is ``running``, else as its last ``record`` saved
    them (with the settings it ran with and the legs it added), else its settings' idle legs."""
    if running is not None:
        return [_leg_view(leg) for leg in running.legs]
    saved = [] if record is None else record.state.get("legs", [])
    if "spec" in ({} if record is None else record.state):
        spec = PortfolioSpec.model_validate(record.state["spec"])  # type: ignore[union-attr]
    extra = [] if record is None else record.state.get("extra_legs", [])
    specs = [*spec.legs, *(Leg.model_validate(leg["spec"]) for leg in extra)]
    if len(saved) != len(specs) or not all("mtm" in leg for leg in saved):
        return [_idle_view(n, leg) for n, leg in enumerate(spec.legs, start=1)]
    return [_saved_view(leg, state) for leg, state in zip(specs, saved, strict=True)]


def _leg_view(leg: LegRun) -> LegView:
    spec = leg.spec
    return LegView(
        leg.n,
        leg.symbol,
        spec.side.value,
        spec.instrument.value,
        leg.strike,
        leg.expiry,
        spec.lots,
        leg.quantity,
        spec.hedge,
        leg.state.value,
        leg.average_entry,
        leg.average_exit,
        Decimal(leg.ltp) / 100 if leg.ltp else None,
        Decimal(leg.mtm) / 100,
        None if leg.stop is None else leg.stop / 100,
        None if leg.target is None else leg.target / 100,
        spec.trail is not None,
        leg.token,
        leg.remark or leg.exit_reason,
    )


def _saved_view(spec: Leg, saved: dict[str, Any]) -> LegView:
    """A stopped portfolio's leg as it was last saved."""
    run = LegRun(int(saved["n"]), spec, LegState.IDLE, 1 if spec.side.value == "BUY" else -1)
    run.restore(saved)

    def rupees(key: str) -> Decimal | None:
        value = saved.get(key)
        return None if value is None else Decimal(str(value))

    view = _leg_view(run)
    return replace(
        view,
        entry=rupees("entry"),
        exit=rupees("exit"),
        ltp=Decimal(int(saved["ltp"])) / 100 if saved.get("ltp") else None,
        pnl=Decimal(int(saved["mtm"])) / 100,
    )


def _idle_view(n: int, spec: Leg) -> LegView:
    return LegView(
        n,
        "",
        spec.side.value,
        spec.instrument.value,
        None,
        None,
        spec.lots,
        0,
        spec.hedge,
        LegState.IDLE.value,
        None,
        None,
        None,
        Decimal(0),
        None,
        None,
        spec.trail is not None,
        0,
        "",
    )
