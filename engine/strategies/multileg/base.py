"""What every part of a running multileg portfolio shares: its settings, its state (status,
legs, the orders it has working, its clock), its views (MTM, net premium) and how it moves its
status and tells the trader. The portfolio is assembled from its parts: entering
(``entering``), placing and chasing orders (``execution``), watching stops and targets
(``watching``) and the decisions that tie them together (``portfolio``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from engine.domain.events import Severity
from engine.domain.ids import OrderId
from engine.domain.orders import Side
from engine.domain.origin import StrategyId
from engine.strategies.kernel import Strategy, StrategyContext
from engine.strategies.multileg.conditions import PortfolioConditions
from engine.strategies.multileg.conditions_spec import uses_conditions
from engine.strategies.multileg.exits import CombinedExit, Threshold
from engine.strategies.multileg.legrun import ENTRY, EXIT, STOP, LegOrder, LegRun
from engine.strategies.multileg.spec import Measure, Mode, PortfolioSpec
from engine.strategies.multileg.status import (
    LegState,
    PortfolioEvent,
    PortfolioStatus,
    portfolio_step,
)
from engine.strategies.multileg.tags import TagGuard

log = logging.getLogger(__name__)

NS = 1_000_000_000
PRICES_WAIT_NS = 10 * NS
"""How long a portfolio about to choose its strikes waits for the first prices of its chains on
a feed that streams only what is asked for (a live broker's); then it chooses on what it has."""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
P, E = PortfolioStatus, PortfolioEvent


def start_problem(
    spec: PortfolioSpec,
    live_problem: Callable[[], str | None],
    paper_problem: Callable[[], str | None],
) -> str | None:
    """Why ``spec`` may not start now (disabled; live without a broker session; paper on a desk
    whose orders go to a live broker), or None. The mode says where the orders go; the desk's
    broker is where they do go: the two must agree, so a paper portfolio never trades live."""
    if not spec.defaults.enabled:
        return f"{spec.name} is disabled"
    if spec.defaults.mode is Mode.LIVE:
        problem = live_problem()
        if problem is not None:
            return f"{spec.name} trades live and {problem}"
    else:
        problem = paper_problem()
        if problem is not None:
            return (
                f"{spec.name} is a paper portfolio and {problem}: set its mode to live to trade "
                "it here, or run it on a paper desk"
            )
    return None


def portfolio_strategy_id(name: str) -> StrategyId:
    """The strategy id a portfolio's orders carry: ``ml.`` and its name (spaces as ``_``)."""
    return StrategyId("ml." + name.replace(" ", "_"))


class PortfolioBase(Strategy):
    """The state and settings every part of a portfolio shares."""

    title = "Multileg portfolio"
    description = "A multileg options portfolio"

    def __init__(
        self, ctx: StrategyContext, spec: PortfolioSpec, tags: TagGuard | None = None
    ) -> None:
        super().__init__(ctx)
        self._tags = tags
        self._settings(spec)
        self._reported: int | None = None
        self.status = PortfolioStatus.STOPPED
        self.reason = ""
        self.combined: CombinedExit | None = None
        self.entered_ns = 0
        self.spot = 0
        self.spot_at_entry = 0
        self.underlying_token = 0
        self._by_token: dict[int, list[LegRun]] = {}
        self._orders: dict[OrderId, tuple[LegRun, LegOrder]] = {}
        self._groups: list[list[int]] = []
        self._group = 0
        self._next_leg_ns = 0
        self._outbox_exits: deque[tuple[LegRun, str, int]] = deque()
        self._outbox_entries: deque[tuple[LegRun, str, int]] = deque()
        self._sent: deque[int] = deque()
        self._due_ns = 0
        self._next_leg_check_ns = 0
        self._next_combined_check_ns = 0
        self._combined_breach_ns: int | None = None
        self._enter_asked = False
        """The trader said enter now: entered as soon as the legs' prices allow."""
        self._failure: str | None = None
        """Why entry failed, while the other legs' working entries are being pulled back."""
        self._last_mtm: int | None = None
        self._round_from = 1
        """The first leg of the current round: a combined re-execute starts a new one."""
        self._quiet: tuple[CombinedExit | None, float, float] = (None, 0, -1)
        """(combined exit, low, high): MTMs in (low, high] end nothing (``quiet_band``)."""
        self._stale_told: set[int] = set()
        self._day_ns: dict[time, int] = {}
        self._day: date | None = None
        self._awaited: list[int] | None = None
        self._awaited_since_ns = 0
        self._halted: str | None = None
        """Who halted trading ("the kill switch"), while the portfolio waits to learn what the
        halt did with its legs (``halting``): it takes no decision of its own meanwhile."""
        self._stop_reason = "stopped by the trader"

    def _settings(self, spec: PortfolioSpec) -> None:
        """Take ``spec`` as the portfolio's settings (before it starts)."""
        self.spec = spec
        self.legs = [
            LegRun(n, leg, LegState.IDLE, 1 if leg.side is Side.BUY else -1)
            for n, leg in enumerate(spec.legs, start=1)
        ]
        self._underlying_rules = spec.exit.underlying_move is not None or any(
            level is not None and level.measure is Measure.UNDERLYING
            for leg in spec.legs
            for level in (leg.stop, leg.target)
        )
        """Whether the underlying's price can end anything (its move, a leg's stop or target
        in underlying points); without such a rule its ticks need no check (every portfolio
        watches its underlying, and one index tick reaches a hundred of them)."""
        self._tag_guard = self._tags
        """The account's and tags' guard: told every new MTM (it looks only where limits are)."""
        self._extras = PortfolioConditions(self) if uses_conditions(spec) else None  # type: ignore[arg-type]
        """Its range breakout and extra conditions (``conditions``); None: it uses none."""

    # -- views ------------------------------------------------------------------------------------------

    @property
    def mtm(self) -> int:
        """Paise: the portfolio's realised and open P&L at its legs' last prices."""
        total = 0
        for leg in self.legs:  # a plain loop: this runs on every tick of a started portfolio
            total += leg.mtm
        return total

    def _round_mtm(self) -> int | None:
        """Paise: the MTM of the current round's legs, what the combined levels watch; None
        while a leg holds a position and has no price yet (resumed after a restart before its
        first tick, or its contract no longer ticks): marked at 0, a sold leg would read as its
        whole premium earned and could reach a target that was never there."""
        total = 0
        for leg in self.legs[self._round_from - 1 :]:
            if leg.position and not leg.ltp:
                return None
            total += leg.mtm
        return total

    @property
    def priced(self) -> bool:
        """Whether every leg that holds a position has a price (its MTM can be judged)."""
        return all(leg.ltp or not leg.position for leg in self.legs)

    def _combined_react(self, kind: str, why: str, now: int) -> bool:
        """Re-execute the portfolio on its combined ``kind`` hit; False to exit (``reentry``)."""
        raise NotImplementedError

    @property
    def net_premium(self) -> int:
        """Paise, in size: what the sold legs brought in less what the bought legs cost at
        entry (a credit is positive); percent targets and stops are percent of it."""
        return sum(-leg.sign * leg.entry_value for leg in self.legs)

    # -- the clock --------------------------------------------------------------------------------------

    def _at(self, moment: time | None, now: int) -> int | None:
        """Today's ``moment`` (IST) in epoch ns."""
        if moment is None:
            return None
        today = self._today()
        found = self._day_ns.get(moment)
        if found is None:
            at = datetime.combine(today, moment, tzinfo=self.ctx.now().tzinfo)
            found = self._day_ns[moment] = int(at.timestamp()) * NS
        return found

    def _today(self) -> date:
        today = self.ctx.now().date()
        if today != self._day:
            self._day, self._day_ns = today, {}
        return today

    def _square_off_due(self, now: int) -> str | None:
        """Why the portfolio squares off by the clock now (the account's time first), or None."""
        account = self._tags.account if self._tags is not None else None
        for moment, whose in (
            (None if account is None else account.square_off, "the account's square-off time"),
            (self.spec.execution.square_off, "square-off time"),
        ):
            at = self._at(moment, now)
            if at is not None and now >= at:
                assert moment is not None
                return f"{whose} {moment:%H:%M}"
        return None

    # -- the portfolio's status -------------------------------------------------------------------------

    def _step(self, event: PortfolioEvent, reason: str) -> None:
        self.status = portfolio_step(self.status, event)
        self.reason = reason
        self.ctx.save()
        log.info("portfolio %s: %s (%s)", self.spec.name, self.status.value, reason)

    def _finish(self) -> None:
        self._say(f"{self.spec.name}: {self.status.value} — {self.reason}")
        self.ctx.finish(f"{self.status.value}: {self.reason}")

    def _holds_anything(self) -> bool:
        return any(leg.position or leg.live_orders(ENTRY, EXIT, STOP) for leg in self.legs)

    def _say(self, text: str, severity: Severity = Severity.INFO) -> None:
        self.ctx.say(text, severity)

    def _combined_exit(
        self, premium: Decimal, *, peak: Decimal = Decimal(0), locked: Decimal | None = None
    ) -> CombinedExit:
        target, stop_loss = self.spec.target, self.spec.stop_loss
        return CombinedExit(
            premium,
            target=None
            if target.combined is None
            else Threshold(target.combined.value, target.combined.percent),
            stop=None
            if stop_loss.combined is None
            else Threshold(stop_loss.combined.value, stop_loss.combined.percent),
            lock_at=target.lock_at,
            lock=target.lock,
            trail_every=target.trail_every,
            trail_by=target.trail_by,
            stop_trail_every=stop_loss.trail_every,
            stop_trail_by=stop_loss.trail_by,
            locked=locked,
            peak=peak,
        )

    # -- what the rest of the portfolio decides ---------------------------------------------------

    def _top_up(self, leg: LegRun, purpose: str) -> None:
        """Queue orders for what ``leg`` still needs for ``purpose`` (``execution``)."""
        raise NotImplementedError

    def _move_broker_stop(self, leg: LegRun) -> None:
        """Move ``leg``'s stops resting at the broker to its stop now (``execution``)."""
        raise NotImplementedError

    def _leg_failed(self, leg: LegRun, why: str) -> None:
        """``leg``'s entry failed (``portfolio``)."""
        raise NotImplementedError

    def _order_dead(self, leg: LegRun, order: LegOrder, why: str) -> None:
        """``order`` ended unfilled (``portfolio``)."""
        raise NotImplementedError

    def _settle(self, now: int) -> None:
        """Legs whose exits are done are exited (``closing``)."""
        raise NotImplementedError

    def _exit_all(self, why: str, now: int) -> None:
        """Exit every leg (``closing``)."""
        raise NotImplementedError

    def _exit_leg(self, leg: LegRun, now: int) -> None:
        """Exit one leg (``closing``)."""
        raise NotImplementedError

    def _track(self, leg: LegRun) -> None:
        """Follow ``leg``'s prices (``entering``)."""
        raise NotImplementedError

    def _react(self, leg: LegRun, kind: str, why: str, now: int, closed: bool = False) -> bool:
        """Take ``leg``'s own action on its ``kind`` ("stop", "target") hit; False when it has
        none, and the portfolio's exit settings decide (``reentry``). ``closed``: the hit was
        its stop filling at the broker (the leg closes whatever the action)."""
        raise NotImplementedError

    def _resolve_leg(self, leg: LegRun, chains: dict[date, Any]) -> None:
        """Choose ``leg``'s contract now (``entering``)."""
        raise NotImplementedError

    def _future_price(self) -> Decimal | None:
        """The underlying's nearest future's price, if it has one (``entering``)."""
        raise NotImplementedError

    def _drive_exit(self, leg: LegRun, now: int) -> None:
        """Send what exiting ``leg`` needs (``closing``)."""
        raise NotImplementedError

    def _add_hedges(self, chains: dict[date, Any]) -> None:
        """Add the dynamic hedges of the sold legs just resolved (``hedging``)."""
        raise NotImplementedError

    def _lines_waiting(self) -> bool:
        """Whether an action still waits to open a leg (``lines``)."""
        raise NotImplementedError

    def _account_net(self, token: int) -> int | None:
        """The account's net units of ``token`` in this portfolio's product, whoever placed
        them; None when the desk cannot tell (``lines``)."""
        raise NotImplementedError

    def _check_lines(self, now: int) -> None:
        """Send the legs whose actions' conditions now hold (``reentry``)."""
        raise NotImplementedError
