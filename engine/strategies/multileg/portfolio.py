"""A multileg portfolio running on the strategy kernel: it waits for its window, resolves its
legs to contracts, enters them in the order the trader set, watches leg and combined stops and
targets on every tick (or at a minute's close, or every N seconds), and exits.

Orders
    Every order goes through the facade (so the one risk gate) as this portfolio's strategy,
    tagged with its leg (``legrun``). Entries and exits are marketable limits (LTP ± a buffer,
    rounded to the tick) re-priced up to ``chase_retries`` times, ``chase_after`` seconds apart,
    then turned into a market order, which the gate protects. Quantities above the freeze
    quantity are sliced in whole lots, at most ``slices_per_second`` a second, exits ahead of
    entries. A refused or rejected order is never sent again by itself: the leg has failed, and
    the portfolio keeps or unwinds what filled, as set.

Across a restart
    The saved state holds the portfolio's decisions (status, resolved contracts, stops); its
    orders and fills come back from the order book, which the journal restored. Sending is
    "top up to what the leg needs, counting what is already working", so an order the journal
    holds is never sent again and one it does not hold was never sent.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from engine.domain.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderStatusChanged,
    OrderSubmitted,
    Severity,
)
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.instruments import InstrumentType
from engine.domain.orders import OrderRequest, OrderStatus, OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource, StrategyId
from engine.domain.ticks import Tick
from engine.domain.values import Paise
from engine.strategies.kernel import Strategy, StrategyContext
from engine.strategies.multileg import legs as leg_rules
from engine.strategies.multileg.exits import CombinedExit, Threshold, leg_level
from engine.strategies.multileg.exits import Measure as PriceMeasure
from engine.strategies.multileg.expiries import resolve_expiry
from engine.strategies.multileg.legrun import ENTRY, EXIT, STOP, LegOrder, LegRun, read_tag
from engine.strategies.multileg.spec import (
    Check,
    Instrument,
    LegAction,
    Measure,
    Mode,
    OnLegFailure,
    PortfolioSpec,
    Sequencing,
)
from engine.strategies.multileg.status import (
    ACTIVE,
    LegEvent,
    LegState,
    PortfolioEvent,
    PortfolioStatus,
    portfolio_step,
)
from engine.strategies.multileg.strikes import NoStrike, Right, atm_strike
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


class PortfolioStrategy(Strategy):
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
        self._quiet: tuple[CombinedExit | None, float, float] = (None, 0, -1)
        """(combined exit, low, high): MTMs in (low, high] end nothing (``quiet_band``)."""
        self._stale_told: set[int] = set()
        self._day_ns: dict[time, int] = {}
        self._day: date | None = None
        self._awaited: list[int] | None = None
        self._awaited_since_ns = 0

    # -- the kernel's handlers -----------------------------------------------------------------------

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
        tags, tag = self._tags, spec.defaults.tag
        self._tag_guard = tags if tags is not None and tags.limited(tag) else None
        """The tag's guard, when the portfolio's tag has limits: told every new MTM."""

    def on_start(self, state: dict[str, Any]) -> None:
        if state.get("spec"):
            # Resume with the settings it ran with, whatever the file says now.
            self._settings(PortfolioSpec.model_validate(state["spec"]))
        self.underlying_token = self._underlying_token()
        if self.underlying_token:
            self.ctx.watch([self.underlying_token])
            tick = self.ctx.api.tick(self.underlying_token)
            self.spot = 0 if tick is None else tick.ltp
        if state.get("status"):
            self._restore(state)
        else:
            self._start_fresh()
        if self.ctx.loop_running():
            self.ctx.every(1.0, "clock")
        self._on_clock(self.ctx.time_ns())

    def on_timer(self, name: str) -> None:
        self._on_clock(self.ctx.time_ns())

    def on_tick(self, tick: Tick) -> None:
        token = tick.token
        now = self.ctx.time_ns()
        if now >= self._due_ns:
            # Before this tick's price: checks due at a minute's close see that minute's close.
            self._on_clock(now)
        legs = self._by_token.get(token)
        if legs is not None:
            for leg in legs:
                leg.ltp, leg.bid, leg.ask, leg.last_tick_ns = tick.ltp, tick.bid, tick.ask, now
        spot = token == self.underlying_token
        if spot:
            self.spot = tick.ltp
        if self.status is P.STARTED:
            monitoring = self.spec.monitoring
            if legs is not None and monitoring.leg is Check.TICK:
                self._check_legs(legs, now)
            if spot and self._underlying_rules:
                self._check_underlying(now)
            if monitoring.combined is Check.TICK and self.status is P.STARTED:
                self._check_combined(now)
        if self._tag_guard is not None and legs is not None:
            mtm = self.mtm
            if mtm != self._reported:
                self._reported = mtm
                self._tag_guard.report(self.spec.defaults.tag, self.ctx.strategy_id, mtm)

    def on_order(self, event: OrderEvent) -> None:
        if isinstance(event, OrderSubmitted):
            self._adopt(event.order_id, event.request, event.ts_ns)
            return
        known = self._orders.get(event.order_id)
        if isinstance(event, OrderDenied):
            if known is None and event.request is not None:
                known = self._adopt(event.order_id, event.request, event.ts_ns)
            if known is not None and known[1].status is not OrderStatus.DENIED:
                known[1].status = OrderStatus.DENIED
                self._order_dead(known[0], known[1], f"refused: {event.reason}")
            return
        if known is None:
            return
        leg, order = known
        if isinstance(event, OrderFilled):
            leg.fill(order, event.quantity, event.price)
            if order.filled >= order.quantity:
                order.status = OrderStatus.COMPLETE
            self._filled(leg, order)
        elif isinstance(event, OrderStatusChanged):
            order.status = event.status
            if event.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
                if order.filled < order.quantity:
                    self._order_dead(leg, order, f"{event.status.value.lower()}: {event.message}")
            elif event.status is OrderStatus.COMPLETE:
                self._settle(self.ctx.time_ns())
            elif order.exiting and order.purpose == ENTRY and order.acknowledged:
                self._withdraw(order)  # acknowledged at last: now it can be cancelled
        if self._failure is not None:
            self._decide_failure()

    def on_stop(self) -> None:
        if self.status in (P.PENDING, P.MONITORING, P.FAILED):
            self.status = portfolio_step(self.status, E.STOP)
            self.reason = "stopped by the trader"

    def stop_refusal(self) -> str | None:
        if self.status in ACTIVE:
            return (
                f"{self.spec.name} is {self.status.value}: square it off (or let it finish) "
                "before stopping it"
            )
        return None

    def keeps_running(self) -> bool:
        return self.status in ACTIVE or (self.status is P.FAILED and self._holds_anything())

    def snapshot(self) -> dict[str, Any]:
        combined = self.combined
        return {
            "spec": self.spec.model_dump(mode="json"),
            "status": self.status.value,
            "reason": self.reason,
            "entered_ns": self.entered_ns,
            "spot_at_entry": self.spot_at_entry,
            "group": self._group,
            "mtm": self.mtm,
            "premium": self.net_premium,
            "legs": [leg.snapshot() for leg in self.legs],
            "combined": None
            if combined is None
            else {
                "premium": str(combined.premium),
                "peak": str(combined.peak),
                "locked": None if combined.locked is None else str(combined.locked),
            },
        }

    # -- what the trader does ------------------------------------------------------------------------

    def square_off(self, reason: str = "squared off by the trader") -> str | None:
        """Exit every leg now; None, or why not."""
        if self.status is P.FAILED:
            self._step(E.SQUARE_OFF, reason)
            self._begin_exit(reason, self.ctx.time_ns(), already_exiting=True)
            return None
        if self.status in (P.UNDER_EXECUTION, P.STARTED):
            self._exit_all(reason, self.ctx.time_ns())
            return None
        if self.status is P.UNDER_EXIT:
            return f"{self.spec.name} is already exiting"
        return f"{self.spec.name} holds nothing to square off ({self.status.value})"

    def enter_now(self) -> str | None:
        """Enter at once, whatever the start time or entry condition; None, or why not."""
        if self.status is P.PENDING:
            self._step(E.WINDOW_OPENS, "entered by the trader")
        if self.status is not P.MONITORING:
            return f"{self.spec.name} is {self.status.value}, not waiting to enter"
        self._enter_asked = True  # kept: on a live feed the chains' prices may still be coming
        self._enter(self.ctx.time_ns())
        return None

    # -- views ---------------------------------------------------------------------------------------

    @property
    def mtm(self) -> int:
        """Paise: the portfolio's realised and open P&L at its legs' last prices."""
        return sum(leg.mtm for leg in self.legs)

    @property
    def net_premium(self) -> int:
        """Paise, in size: what the sold legs brought in less what the bought legs cost at
        entry (a credit is positive); percent targets and stops are percent of it."""
        return sum(-leg.sign * leg.entry_value for leg in self.legs)

    # -- the clock -----------------------------------------------------------------------------------

    def _on_clock(self, now: int) -> None:
        if self.status is P.PENDING:
            self._pending(now)
        if self.status is P.MONITORING:
            self._monitoring(now)
        if self.status in (P.UNDER_EXECUTION, P.STARTED, P.UNDER_EXIT, P.FAILED):
            square_off = self._at(self.spec.execution.square_off, now)
            due = square_off is not None and now >= square_off
            if due and self.status in (P.UNDER_EXECUTION, P.STARTED):
                self._exit_all(f"square-off time {self.spec.execution.square_off:%H:%M}", now)
            if self.status is P.UNDER_EXECUTION:
                self._advance_entry(now)
            if self.status is P.STARTED:
                self._timed_checks(now)
            if self.status is P.UNDER_EXIT:
                self._drive_exits(now)
            self._pump(now)
            self._chase(now)
        self._due_ns = self._next_due(now)

    def _next_due(self, now: int) -> int:
        status = self.status
        if (
            status in (P.UNDER_EXECUTION, P.UNDER_EXIT)
            or self._outbox_entries
            or self._outbox_exits
        ):
            return now + NS // 4
        if status is P.STARTED:
            due = now + NS
            monitoring = self.spec.monitoring
            if monitoring.leg is not Check.TICK:
                due = min(due, self._next_leg_check_ns)
            if monitoring.combined is not Check.TICK:
                due = min(due, self._next_combined_check_ns)
            return max(due, now + 1)
        if status in (P.PENDING, P.MONITORING, P.FAILED):
            return now + NS
        return now + 60 * NS

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

    # -- waiting to enter ----------------------------------------------------------------------------

    def _start_fresh(self) -> None:
        api = self.ctx.api
        problem = start_problem(self.spec, api.live_session_problem, api.paper_problem)
        if problem is not None:
            raise ValueError(problem)
        for leg in self.legs:
            if not leg.spec.idle:
                leg.step(LegEvent.ARM)
        self._step(E.START, "started")

    def _pending(self, now: int) -> None:
        execution = self.spec.execution
        if execution.manual_start:
            self._step(E.WINDOW_OPENS, "waiting for the trader to enter")
            return
        weekday = WEEKDAYS[self.ctx.now().weekday()]
        if weekday not in {d.value for d in self.spec.defaults.run_on}:
            if self.reason != f"not a run day ({weekday})":
                self.reason = f"not a run day ({weekday})"
                self.ctx.save()
            return
        start = self._at(execution.start, now)
        if start is None or now >= start:
            self._step(E.WINDOW_OPENS, "entry window open")

    def _monitoring(self, now: int) -> None:
        execution = self.spec.execution
        if execution.manual_start and not self._enter_asked:
            return  # the trader enters it (enter_now)
        if self._enter_asked:
            self._enter(now)
            return
        end = self._at(execution.end, now)
        if end is not None and now >= end:
            self._step(E.WINDOW_CLOSES, f"no entry before {execution.end:%H:%M}")
            self._finish()
            return
        wanted = execution.combined_premium_at_least
        if wanted is not None:
            resolved = any(leg.token for leg in self.legs if not leg.spec.idle)
            if not resolved and not self._resolve(now):
                return
            premium = self._live_premium()
            if premium is None or Decimal(premium) / 100 < wanted:
                return
        self._enter(now)

    def _live_premium(self) -> int | None:
        """Paise per unit at the legs' prices now (sold legs +, bought −), for the entry rule."""
        total = 0
        for leg in self.legs:
            if leg.spec.idle:
                continue
            if not leg.ltp:
                return None
            total -= leg.sign * leg.ltp
        return total

    # -- entering ------------------------------------------------------------------------------------

    def _enter(self, now: int) -> None:
        if self.spec.defaults.mode is Mode.LIVE:
            problem = self.ctx.api.live_session_problem()
            if problem is not None:
                self._step(E.REFUSED, f"not entered: {problem}")
                self._finish()
                return
        if not any(leg.token for leg in self.legs if not leg.spec.idle) and not self._resolve(now):
            return
        self.spot_at_entry = self.spot
        self._groups = self._entry_groups()
        self._group = 0
        self._next_leg_ns = now
        self._step(E.ENTER, "entering")
        self._advance_entry(now)

    def _resolve(self, now: int) -> bool:
        """Pick every entering leg's contract now; False if the chains' prices are still on
        their way (tried again at the next clock), or (the portfolio Rejected) if a leg has no
        contract."""
        if not self._chains_priced(now):
            return False
        chains: dict[date, leg_rules.Chain] = {}  # one solve per expiry, not per leg
        try:
            for leg in self.legs:
                if not leg.spec.idle:
                    self._resolve_leg(leg, chains)
        except (NoStrike, LookupError, ValueError) as problem:
            self._step(E.REFUSED, f"no contract for a leg: {problem}")
            self._finish()
            return False
        self.ctx.save()
        return True

    def _chains_priced(self, now: int) -> bool:
        """Whether the chains the legs choose strikes in, the underlying and its nearest future
        have prices, asking the feed to stream those that do not: a live feed streams only the
        instruments asked for, the simulated market every one. False while waiting, at most
        ``PRICES_WAIT_NS``."""
        api = self.ctx.api
        if self._awaited is None:
            underlying = self.spec.defaults.underlying
            listed = [e for u, e in api.option_chains() if u == underlying]
            expiries = []
            for leg in self.legs:
                if leg.spec.idle or leg.spec.instrument is Instrument.FUT:
                    continue
                try:
                    expiries.append(resolve_expiry(listed, leg.spec.expiry, self.ctx.now().date()))
                except NoStrike:
                    continue  # choosing its contract says so, in words
            tokens = leg_rules.chain_tokens(api.instruments, underlying, expiries)
            if self.underlying_token:
                tokens.append(self.underlying_token)
            self._awaited, self._awaited_since_ns = tokens, now
            unpriced = [token for token in tokens if api.tick(token) is None]
            if unpriced:
                api.watch(unpriced)
                log.info("portfolio %s: waiting for %d prices", self.spec.name, len(unpriced))
        if now - self._awaited_since_ns >= PRICES_WAIT_NS:
            return True
        return all(api.tick(token) is not None for token in self._awaited)

    def _resolve_leg(self, leg: LegRun, chains: dict[date, leg_rules.Chain]) -> None:
        api = self.ctx.api
        underlying = self.spec.defaults.underlying
        today = self.ctx.now().date()
        spec = leg.spec
        if spec.instrument is Instrument.FUT:
            futures = api.instruments.search(
                underlying=underlying, instrument_type=InstrumentType.FUT, limit=50
            )
            expiry = resolve_expiry([f.expiry for f in futures if f.expiry], spec.expiry, today)
            contract = next(f for f in futures if f.expiry == expiry)
        else:
            right = Right.CALL if spec.instrument is Instrument.CE else Right.PUT
            expiries = [e for u, e in api.option_chains() if u == underlying]
            expiry = resolve_expiry(expiries, spec.expiry, today)
            chain = chains.get(expiry)
            if chain is None:
                spot = api.underlying_price(underlying)
                analytics = api.chain_analytics(underlying, expiry)
                chain = chains[expiry] = leg_rules.chain_from(analytics, spot, self._future_price())
            strike = leg_rules.strike_of(self._leg_spec(leg, right), chain, self._reference())
            if self.spec.defaults.strike_step is not None and spec.strike.kind == "atm":
                atm = atm_strike(chain, self._reference())
                strike = atm + spec.strike.offset * self.spec.defaults.strike_step
            contract = leg_rules.contract_of(api.instruments, underlying, expiry, right, strike)
            leg.strike = strike
        leg.token, leg.symbol, leg.expiry = int(contract.token), contract.tradingsymbol, expiry
        leg.lot_size, leg.tick_size = contract.lot_size, contract.tick_size
        leg.freeze = contract.freeze_quantity
        leg.quantity = spec.lots * self.spec.defaults.multiplier * contract.lot_size
        self._track(leg)
        tick = api.tick(leg.token)
        if tick is not None:
            leg.ltp, leg.bid, leg.ask = tick.ltp, tick.bid, tick.ask
            leg.last_tick_ns = self.ctx.time_ns()

    def _leg_spec(self, leg: LegRun, right: Right) -> leg_rules.LegSpec:
        strike = leg.spec.strike
        rule: leg_rules.StrikeRule
        if strike.kind == "atm":
            rule = leg_rules.AtmOffset(strike.offset)
        elif strike.kind == "fixed":
            rule = leg_rules.FixedStrike(strike.strike)
        elif strike.kind == "premium":
            rule = leg_rules.ByPremium(
                strike.rule, strike.value, strike.upper, strike.side, strike.depth
            )
        elif strike.kind == "delta":
            rule = leg_rules.ByDelta(strike.delta)
        else:
            rule = leg_rules.ByStraddleWidth(strike.multiple)
        return leg_rules.LegSpec(leg.spec.side, right, strike=rule, lots=leg.spec.lots)

    def _reference(self) -> leg_rules.Reference:
        return self.spec.defaults.reference

    def _future_price(self) -> Decimal | None:
        """The nearest future's last price (the "future" ATM reference)."""
        futures = self.ctx.api.instruments.search(
            underlying=self.spec.defaults.underlying, instrument_type=InstrumentType.FUT, limit=50
        )
        if not futures:
            return None
        nearest = min(futures, key=lambda f: f.expiry or date.max)
        quote = self.ctx.api.quote(nearest.token)
        return None if quote is None else quote.ltp

    def _underlying_token(self) -> int:
        found = self.ctx.api.instruments.search(
            underlying=self.spec.defaults.underlying, instrument_type=InstrumentType.INDEX, limit=5
        ) or self.ctx.api.instruments.search(
            underlying=self.spec.defaults.underlying, instrument_type=InstrumentType.EQ, limit=5
        )
        return 0 if not found else int(found[0].token)

    def _track(self, leg: LegRun) -> None:
        listeners = self._by_token.setdefault(leg.token, [])
        if leg not in listeners:
            listeners.append(leg)
        self.ctx.watch([leg.token])

    def _entry_groups(self) -> list[list[int]]:
        """The legs to enter, in the groups they go in: the bought (hedge) legs first when set,
        then the rest; the same groups fresh and after a restart."""
        entering = [leg.n for leg in self.legs if not leg.spec.idle]
        if not self.spec.execution.hedges_first:
            return [entering]
        bought = [n for n in entering if self.legs[n - 1].spec.side is Side.BUY]
        sold = [n for n in entering if n not in bought]
        return [group for group in (bought, sold) if group]

    def _advance_entry(self, now: int) -> None:
        if self._failure is not None:
            return
        execution = self.spec.execution
        while self._group < len(self._groups):
            group = [self.legs[n - 1] for n in self._groups[self._group]]
            for leg in group:
                if leg.state is not LegState.WAITING:
                    continue
                if now < self._next_leg_ns:
                    return
                if execution.sequence is Sequencing.SEQUENTIAL and any(
                    other.state is LegState.ENTERING for other in group
                ):
                    return
                leg.step(LegEvent.SEND)
                self.ctx.save()  # the decision first: a restart tops the leg up, never doubles it
                self._top_up(leg, ENTRY)
                if self.status is not P.UNDER_EXECUTION:
                    return  # the leg failed as it was sent
                if execution.sequence is not Sequencing.PARALLEL:
                    self._next_leg_ns = now + int(execution.delay_between_legs * NS)
                    if execution.delay_between_legs:
                        return
            if any(leg.state in (LegState.WAITING, LegState.ENTERING) for leg in group):
                return  # a leg that has already exited again (its stop) does not hold it up
            self._group += 1
            self._next_leg_ns = now + int(execution.delay_between_legs * NS)
            self.ctx.save()
        self._entered(now)

    def _entered(self, now: int) -> None:
        if self.status is not P.UNDER_EXECUTION:
            return
        entering = [leg for leg in self.legs if leg.state is LegState.ENTERED]
        if not entering:
            return
        self.entered_ns = now
        premium = Decimal(self.net_premium) / 100
        self.combined = self._combined_exit(premium)
        self._step(E.ENTERED, f"entered for a net premium of ₹{premium:,.2f}")

    # -- orders --------------------------------------------------------------------------------------

    def _top_up(self, leg: LegRun, purpose: str) -> None:
        """Queue orders for what the leg still needs for ``purpose``, counting what is already
        working or queued: calling it twice sends nothing twice."""
        queued = sum(
            q
            for queue in (self._outbox_entries, self._outbox_exits)
            for (other, p, q) in queue
            if other is leg and p == purpose
        )
        if purpose == ENTRY:
            need = leg.quantity - leg.entry_qty - leg.working(ENTRY) - queued
        else:
            need = abs(leg.position) - leg.working(EXIT, STOP) - queued
        if need <= 0:
            return
        outbox = self._outbox_entries if purpose == ENTRY else self._outbox_exits
        for quantity in self._slices(leg, need):
            outbox.append((leg, purpose, quantity))
        self._pump(self.ctx.time_ns())

    def _slices(self, leg: LegRun, quantity: int) -> list[int]:
        freeze = leg.freeze
        if not self.spec.execution.slice_at_freeze or freeze is None or quantity <= freeze:
            return [quantity]
        most = max(leg.lot_size, freeze // leg.lot_size * leg.lot_size)
        whole, rest = divmod(quantity, most)
        return [most] * whole + ([rest] if rest else [])

    def _pump(self, now: int) -> None:
        rate = self.spec.execution.slices_per_second
        sent = self._sent
        while sent and now - sent[0] >= NS:
            sent.popleft()
        while (self._outbox_exits or self._outbox_entries) and len(sent) < rate:
            outbox = self._outbox_exits or self._outbox_entries
            leg, purpose, quantity = outbox.popleft()
            sent.append(now)
            self._place(leg, purpose, quantity, now)

    def _place(self, leg: LegRun, purpose: str, quantity: int, now: int) -> None:
        side = leg.entry_side if purpose == ENTRY else leg.exit_side
        price = self._marketable(leg, side)
        request = OrderRequest(
            InstrumentToken(leg.token),
            side,
            quantity,
            OrderType.LIMIT if price is not None else OrderType.MARKET,
            Product(self.spec.defaults.product),
            Validity.DAY,
            None if price is None else Paise(price),
            None,
            leg.next_tag(purpose),
            OrderSource.STRATEGY,
            self.ctx.strategy_id,
            square_off=purpose != ENTRY,
        )
        self._send(request, now)

    def _send(self, request: OrderRequest, now: int) -> None:
        """Place ``request`` and count it against its leg at once: the bus tells of the order
        only after the current event, and a second look before then must see it working."""
        outcome = self.ctx.api.place(request)
        if outcome.order_id is None:
            tagged = read_tag(request.tag)
            assert tagged is not None
            self._leg_failed(self.legs[tagged[0] - 1], f"order refused: {outcome.reason}")
            return
        known = self._adopt(outcome.order_id, request, now)
        assert known is not None
        leg, order = known
        if not outcome:
            order.status = OrderStatus.DENIED
            self._order_dead(leg, order, f"refused: {outcome.reason}")

    def _marketable(self, leg: LegRun, side: Side) -> int | None:
        """A limit that crosses the spread by the buffer, on the tick; None without a price."""
        base = (leg.ask if side is Side.BUY else leg.bid) or leg.ltp
        if base <= 0:
            return None
        buffer = self.spec.execution.limit_buffer_pct
        if side is Side.BUY:
            return _on_tick(Decimal(base) * (100 + buffer) / 100, leg.tick_size, ROUND_CEILING)
        return max(
            leg.tick_size,
            _on_tick(Decimal(base) * (100 - buffer) / 100, leg.tick_size, ROUND_FLOOR),
        )

    def _adopt(
        self, order_id: OrderId, request: OrderRequest, ts_ns: int
    ) -> tuple[LegRun, LegOrder] | None:
        known = self._orders.get(order_id)
        if known is not None:
            return known
        tagged = read_tag(request.tag)
        if tagged is None or not 1 <= tagged[0] <= len(self.legs):
            return None
        leg = self.legs[tagged[0] - 1]
        order = LegOrder(order_id, tagged[1], request.quantity, request.side, since_ns=ts_ns)
        leg.orders.append(order)
        leg.numbers = max(leg.numbers, tagged[2])
        self._orders[order_id] = (leg, order)
        return leg, order

    def _chase(self, now: int) -> None:
        execution = self.spec.execution
        after = int(execution.chase_after * NS)
        for leg, order in list(self._orders.values()):
            if not order.live or not order.acknowledged or order.at_market:
                continue
            if (order.purpose == STOP) != order.exiting:
                continue  # a stop resting at the broker, or an entry being cancelled
            if now - order.since_ns < after:
                continue
            if self._ended_in_book(order):
                continue  # filled or ended while this event was handled: its news is on its way
            side = order.side
            if order.chases < execution.chase_retries:
                price = self._marketable(leg, side)
                if price is None:
                    continue
                order.chases += 1
                order.since_ns = now
                outcome = self.ctx.api.modify(order.order_id, price=Decimal(price) / 100)
                if not outcome:
                    self._say(f"leg {leg.n}: re-pricing {order.order_id} refused: {outcome.reason}")
            elif execution.then_market:
                order.at_market = True
                order.since_ns = now
                outcome = self.ctx.api.modify(order.order_id, order_type=OrderType.MARKET)
                if not outcome:
                    order.at_market = False
                    self._say(
                        f"leg {leg.n}: market order for {order.order_id} refused: {outcome.reason}"
                    )

    def _ended_in_book(self, order: LegOrder) -> bool:
        """Whether the order book has the order ended while this portfolio has not heard so
        yet: the bus tells strategies of a fill after the tick that caused it, so a stop that
        filled on this tick still looks live here, and modifying it would be refused."""
        booked = self.ctx.api.order(order.order_id)
        return booked is not None and booked.status.is_terminal

    def _filled(self, leg: LegRun, order: LegOrder) -> None:
        now = self.ctx.time_ns()
        if order.purpose == ENTRY and leg.state is LegState.ENTERING:
            if leg.entry_qty >= leg.quantity:
                self._leg_entered(leg, now)
        elif order.purpose in (EXIT, STOP):
            if order.purpose == STOP and leg.state is LegState.ENTERED:
                leg.step(LegEvent.CLOSE)
                leg.exit_reason = leg.exit_reason or "its stop at the broker filled"
                self._say(f"leg {leg.n} {leg.symbol}: {leg.exit_reason}")
            self._settle(now)
        if self.status is P.UNDER_EXECUTION:
            self._advance_entry(now)
        elif self.status is P.UNDER_EXIT:
            self._drive_exits(now)

    def _leg_entered(self, leg: LegRun, now: int) -> None:
        leg.step(LegEvent.FILLED)
        entry = leg.average_entry
        assert entry is not None
        leg.spot_at_entry = self.spot
        leg.best = leg.entry_value // leg.entry_qty  # trailing counts from the entry
        self._set_levels(leg, entry)
        self.ctx.save()
        self._arm_broker_stop(leg)

    def _set_levels(self, leg: LegRun, entry: Decimal) -> None:
        side = leg.spec.side
        for level, stop in ((leg.spec.stop, True), (leg.spec.target, False)):
            if level is None or level.measure is Measure.UNDERLYING:
                continue
            price = leg_level(
                side, entry, level.value, PriceMeasure(level.measure.value), stop=stop
            )
            if stop:
                leg.stop = leg.base_stop = price * 100
            else:
                leg.target = price * 100

    def _order_dead(self, leg: LegRun, order: LegOrder, why: str) -> None:
        if order.purpose == STOP and not order.exiting:
            if leg.state is LegState.ENTERED:
                self._say(
                    f"leg {leg.n} {leg.symbol}: its stop at the broker was {why}; the desk "
                    "watches the stop itself",
                    Severity.WARNING,
                )
            return
        if order.purpose == ENTRY and order.exiting:
            if leg.state is LegState.ENTERING and not leg.live_orders(ENTRY):
                leg.remark = leg.remark or "entry withdrawn"
        elif order.purpose == ENTRY and leg.state is LegState.ENTERING:
            self._leg_failed(leg, f"entry order {order.order_id} {why}")
        elif order.purpose in (EXIT, STOP) and not _cancelled_by_us(order):
            leg.remark = f"exit order {order.order_id} {why}"
            self._say(
                f"{self.spec.name}: leg {leg.n}'s exit did not go through ({why}); it is not "
                "sent again by itself — square off to try again",
                Severity.ERROR,
            )
            if self.status in (P.STARTED, P.UNDER_EXIT):
                self._step(E.FAILED, f"leg {leg.n}: exit order {order.order_id} {why}")
        if leg.state is LegState.EXITING and self.status is P.UNDER_EXIT:
            self._drive_exits(self.ctx.time_ns())

    def _leg_failed(self, leg: LegRun, why: str) -> None:
        """A leg's entry failed: pull back the other legs' working entries, then (once they
        have ended) keep or unwind what filled — or, if nothing did, the portfolio is
        Rejected."""
        if leg.state is LegState.ENTERING:
            leg.step(LegEvent.FAILED)
        leg.remark = why
        self._say(f"{self.spec.name}: leg {leg.n} failed — {why}", Severity.ERROR)
        if self.status is not P.UNDER_EXECUTION:
            self.ctx.save()
            return
        if self._failure is None:
            self._failure = f"leg {leg.n}: {why}"
        self._drop_queued_entries()
        for other in self.legs:
            for order in other.live_orders(ENTRY):
                self._withdraw(order)
        self.ctx.save()
        self._decide_failure()

    def _decide_failure(self) -> None:
        why = self._failure
        if why is None or self.status is not P.UNDER_EXECUTION:
            return
        if any(leg.live_orders(ENTRY) for leg in self.legs):
            return  # pulled back, not yet ended: a late fill still counts
        self._failure = None
        for leg in self.legs:
            if leg.state is LegState.WAITING:
                leg.step(LegEvent.DISARM)
                leg.remark = "not sent: another leg failed"
        if not any(leg.entry_qty for leg in self.legs):
            self._step(E.REFUSED, why)
            self._finish()
        elif self.spec.execution.on_leg_failure is OnLegFailure.UNWIND:
            self._exit_all(f"{why}: unwinding the legs that filled", self.ctx.time_ns())
        else:
            self._step(E.FAILED, f"{why}; the filled legs are kept")

    def _withdraw(self, order: LegOrder) -> None:
        """Cancel a working order of ours; one the broker has not acknowledged yet is cancelled
        as soon as it is."""
        order.exiting = True  # its end is ours, not a failure
        if order.cancel_sent or not order.live:
            return
        if self.ctx.api.cancel(order.order_id):
            order.cancel_sent = True

    def _drop_queued_entries(self) -> None:
        self._outbox_entries.clear()

    # -- watching ------------------------------------------------------------------------------------

    def _check_legs(self, legs: list[LegRun], now: int) -> None:
        for leg in legs:
            if leg.state is not LegState.ENTERED:
                continue
            price = leg.ltp
            if leg.spec.trail is not None and leg.stop is not None:
                self._trail(leg, price)
            stop = leg.stop
            if stop is not None and (price >= stop if leg.sign < 0 else price <= stop):
                wait = self.spec.stop_loss.wait_seconds
                if wait:
                    if leg.stop_breach_ns is None:
                        leg.stop_breach_ns = now
                    if now - leg.stop_breach_ns < wait * NS:
                        continue
                self._leg_hit(
                    leg, "stop", f"stop hit at {price / 100:.2f} (stop {_rupees(stop)})", now
                )
                continue
            leg.stop_breach_ns = None
            target = leg.target
            if target is not None and (price <= target if leg.sign < 0 else price >= target):
                self._leg_hit(leg, "target", f"target reached at {price / 100:.2f}", now)

    def _trail(self, leg: LegRun, price: int) -> None:
        trail = leg.spec.trail
        assert trail is not None and leg.base_stop is not None
        better = price < leg.best if leg.sign < 0 else price > leg.best
        if not better or leg.moved_to_cost:
            return
        leg.best = price
        entry = leg.average_entry
        assert entry is not None
        moved = (entry * 100 - price) if leg.sign < 0 else (price - entry * 100)
        steps = int(moved / (trail.every * 100))
        if steps <= 0:
            return
        stop = leg.base_stop + (-steps if leg.sign < 0 else steps) * trail.by * 100
        if stop != leg.stop:
            leg.stop = stop
            self._move_broker_stop(leg)

    def _check_underlying(self, now: int) -> None:
        spot = self.spot
        if not spot or not self.spot_at_entry:
            return
        move = self.spec.exit.underlying_move
        if move is not None and abs(spot - self.spot_at_entry) >= move * 100:
            self._exit_all(f"the underlying moved {(spot - self.spot_at_entry) / 100:+.2f}", now)
            return
        for leg in self.legs:
            if leg.state is not LegState.ENTERED or not leg.spot_at_entry:
                continue
            against = _adverse(leg) * (spot - leg.spot_at_entry)
            for level, kind in ((leg.spec.stop, "stop"), (leg.spec.target, "target")):
                if level is None or level.measure is not Measure.UNDERLYING:
                    continue
                if kind == "stop" and against >= level.value * 100:
                    self._leg_hit(leg, "stop", f"underlying moved {against / 100:.2f} against", now)
                    break
                if kind == "target" and -against >= level.value * 100:
                    self._leg_hit(leg, "target", f"underlying moved {-against / 100:.2f} for", now)
                    break

    def _check_combined(self, now: int) -> None:
        combined = self.combined
        if combined is None:
            return
        mtm = 0
        for leg in self.legs:  # self.mtm, without a generator on every tick
            mtm += leg.mtm
        if self._combined_breach_ns is None:
            if mtm == self._last_mtm:
                return
            held, low, high = self._quiet
            if held is combined and low < mtm <= high:
                self._last_mtm = mtm
                return
        self._last_mtm = mtm
        hit = combined.hit(Decimal(mtm) / 100)
        if hit is None:
            self._combined_breach_ns = None
            self._quiet = (combined, *combined.quiet_band())
            return
        kind, why = hit
        wait = self.spec.stop_loss.wait_seconds
        if kind == "stop" and wait:
            if self._combined_breach_ns is None:
                self._combined_breach_ns = now
            if now - self._combined_breach_ns < wait * NS:
                return
        self._exit_all(why, now)

    def _timed_checks(self, now: int) -> None:
        """Checks not made on every tick: at each minute's close (anchored to the clock's
        minutes, so to 09:15) or every N seconds; stops that must hold for a while; staleness."""
        monitoring = self.spec.monitoring
        if monitoring.leg is not Check.TICK and now >= self._next_leg_check_ns:
            first = not self._next_leg_check_ns
            self._next_leg_check_ns = self._next_check(monitoring.leg, now)
            if not first:
                self._check_legs(self.legs, now)
        if monitoring.combined is not Check.TICK and now >= self._next_combined_check_ns:
            first = not self._next_combined_check_ns
            self._next_combined_check_ns = self._next_check(monitoring.combined, now)
            if not first and self.status is P.STARTED:
                self._check_combined(now)
        if self.spec.stop_loss.wait_seconds and self.status is P.STARTED:
            if monitoring.leg is Check.TICK:
                self._check_legs(self.legs, now)
            if monitoring.combined is Check.TICK and self.status is P.STARTED:
                self._check_combined(now)
        if self.status is P.STARTED:
            self._watch_staleness(now)

    def _next_check(self, check: Check, now: int) -> int:
        if check is Check.INTERVAL:
            return now + int(self.spec.monitoring.interval_seconds * NS)
        minute = 60 * NS
        return (now // minute + 1) * minute

    def _watch_staleness(self, now: int) -> None:
        limit = int(self.spec.monitoring.stale_after * NS)
        for leg in self.legs:
            if leg.state is not LegState.ENTERED:
                continue
            quiet = now - leg.last_tick_ns
            if quiet < limit:
                self._stale_told.discard(leg.n)
                continue
            if leg.n in self._stale_told:
                continue
            self._stale_told.add(leg.n)
            self._say(
                f"{self.spec.name}: no price for leg {leg.n} {leg.symbol} for {quiet / NS:.0f} s",
                Severity.WARNING,
            )
            if self.spec.monitoring.exit_when_stale and self.status is P.STARTED:
                self._exit_all(f"leg {leg.n} has had no price for {quiet / NS:.0f} s", now)
                return

    def _leg_hit(self, leg: LegRun, kind: str, why: str, now: int) -> None:
        action = self.spec.exit.on_leg_stop if kind == "stop" else self.spec.exit.on_leg_target
        text = f"leg {leg.n} {leg.symbol}: {why}"
        if action is LegAction.NONE:
            if leg.remark != text:
                leg.remark = text
                self._say(text)
            return
        if kind == "stop" and self.spec.stop_loss.move_to_cost:
            self._move_to_cost(leg)
        if action is LegAction.ALL:
            self._exit_all(text, now)
            return
        leg.exit_reason = why
        self._exit_leg(leg, now)
        self._say(text)
        self.ctx.save()

    def _move_to_cost(self, hit: LegRun) -> None:
        for leg in self.legs:
            if leg is hit or leg.state is not LegState.ENTERED or leg.moved_to_cost:
                continue
            entry = leg.average_entry
            assert entry is not None
            leg.stop = entry * 100
            leg.moved_to_cost = True
            leg.remark = f"stop moved to cost after leg {hit.n}'s stop"
            self._move_broker_stop(leg)

    # -- exiting -------------------------------------------------------------------------------------

    def _exit_all(self, why: str, now: int) -> None:
        if self.status not in (P.UNDER_EXECUTION, P.STARTED):
            return
        self._step(E.EXIT, why)
        self._begin_exit(why, now)

    def _begin_exit(self, why: str, now: int, *, already_exiting: bool = False) -> None:
        self._drop_queued_entries()
        for leg in self.legs:
            # An entering leg exits even when it holds nothing yet (its slices were still
            # queued here): it is then exited at once, and the portfolio can complete.
            if leg.state in (LegState.ENTERING, LegState.ENTERED) or (
                leg.state is LegState.FAILED and (leg.position or leg.live_orders(ENTRY, STOP))
            ):
                leg.exit_reason = leg.exit_reason or why
                leg.step(LegEvent.CLOSE)
            elif leg.state is LegState.WAITING:
                leg.step(LegEvent.DISARM)
                leg.remark = "not sent: the portfolio exited first"
        self.ctx.save()
        self._drive_exits(now)

    def _exit_leg(self, leg: LegRun, now: int) -> None:
        leg.step(LegEvent.CLOSE)
        self._drive_exit(leg, now)

    def _drive_exits(self, now: int) -> None:
        exiting = [leg for leg in self.legs if leg.state is LegState.EXITING]
        sells_first = self.spec.exit.sells_first
        sold_open = any(leg.sign < 0 and (leg.position or leg.working(ENTRY)) for leg in exiting)
        for leg in exiting:
            if sells_first and leg.sign > 0 and sold_open:
                continue
            self._drive_exit(leg, now)
        self._settle(now)

    def _drive_exit(self, leg: LegRun, now: int) -> None:
        for order in leg.live_orders(ENTRY):
            self._withdraw(order)
        for order in leg.live_orders(STOP):
            if not order.exiting:
                order.exiting = True
                order.since_ns = now
                if self._ended_in_book(order):
                    continue  # it filled at the broker as the price crossed: it is the exit
                price = self._marketable(leg, order.side)
                outcome = self.ctx.api.modify(
                    order.order_id,
                    order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
                    price=None if price is None else Decimal(price) / 100,
                )
                if not outcome:
                    self._withdraw(order)
        if leg.live_orders(STOP) and any(not o.exiting for o in leg.live_orders(STOP)):
            return
        self._top_up(leg, EXIT)

    def _settle(self, now: int) -> None:
        """Legs whose exits are done are exited; a portfolio with nothing left completes."""
        changed = False
        for leg in self.legs:
            if (
                leg.state is LegState.EXITING
                and not leg.position
                and not leg.live_orders(ENTRY, EXIT, STOP)
            ):
                leg.step(LegEvent.CLOSED)
                changed = True
        open_legs = [
            leg
            for leg in self.legs
            if leg.state in (LegState.ENTERING, LegState.ENTERED, LegState.EXITING)
            or (leg.state is LegState.FAILED and leg.position)
        ]
        if self.status is P.STARTED and not open_legs:
            self._step(E.EXIT, "every leg has exited")
        if self.status is P.UNDER_EXIT and not open_legs:
            self._step(E.EXITED, self.reason)
            self._finish()
            return
        if changed:
            self.ctx.save()

    def _arm_broker_stop(self, leg: LegRun) -> None:
        at_broker = self.spec.at_broker
        level: Decimal | None = None
        if at_broker.leg_stops and leg.stop is not None:
            level = leg.stop
        elif at_broker.catastrophe_pct is not None and leg.sign < 0:
            entry = leg.average_entry
            assert entry is not None
            level = entry * 100 * (100 + at_broker.catastrophe_pct) / 100
        # Only what no live stop covers: after a restart some slices' stops may rest at the
        # broker while others (queued by the throttle, never sent) were cancelled.
        uncovered = abs(leg.position) - leg.working(STOP)
        if level is None or uncovered <= 0:
            return
        side = leg.exit_side
        gap = at_broker.limit_gap_pct
        for quantity in self._slices(leg, uncovered):
            trigger, limit = _stop_limit(level, side, gap, leg.tick_size)
            request = OrderRequest(
                InstrumentToken(leg.token),
                side,
                quantity,
                OrderType.SL,
                Product(self.spec.defaults.product),
                Validity.DAY,
                Paise(limit),
                Paise(trigger),
                leg.next_tag(STOP),
                OrderSource.STRATEGY,
                self.ctx.strategy_id,
                square_off=True,
            )
            self._send(request, self.ctx.time_ns())

    def _move_broker_stop(self, leg: LegRun) -> None:
        if leg.stop is None:
            return
        for order in leg.live_orders(STOP):
            if order.exiting or self._ended_in_book(order):
                continue
            trigger, limit = _stop_limit(
                leg.stop, order.side, self.spec.at_broker.limit_gap_pct, leg.tick_size
            )
            self.ctx.api.modify(
                order.order_id,
                trigger_price=Decimal(trigger) / 100,
                price=Decimal(limit) / 100,
            )

    # -- the portfolio's status -----------------------------------------------------------------------

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

    # -- a restart -----------------------------------------------------------------------------------

    def _restore(self, state: dict[str, Any]) -> None:
        self.status = PortfolioStatus(state["status"])
        self.reason = str(state["reason"])
        self.entered_ns = int(state["entered_ns"])
        self.spot_at_entry = int(state["spot_at_entry"])
        self._group = int(state["group"])
        for leg, saved in zip(self.legs, state["legs"], strict=True):
            leg.restore(saved)
            if leg.token:
                instrument = self.ctx.api.instruments.find(leg.token)
                if instrument is not None:
                    leg.lot_size, leg.tick_size = instrument.lot_size, instrument.tick_size
                    leg.freeze = instrument.freeze_quantity
                self._track(leg)
                tick = self.ctx.api.tick(leg.token)
                if tick is not None:
                    leg.ltp, leg.bid, leg.ask = tick.ltp, tick.bid, tick.ask
                leg.last_tick_ns = self.ctx.time_ns()
        combined = state.get("combined")
        if combined is not None:
            self._entered_from(combined)
        self._groups = self._entry_groups()
        self._recover_orders()
        now = self.ctx.time_ns()
        for leg in self.legs:
            if leg.state is LegState.ENTERING and leg.entry_qty >= leg.quantity:
                self._leg_entered(leg, now)
            elif leg.state is LegState.ENTERED:
                self._arm_broker_stop(leg)  # what still rests is kept; the rest is placed
        if self.status is P.UNDER_EXECUTION:
            square_off = self._at(self.spec.execution.square_off, now)
            closing = square_off is not None and now >= square_off
            for leg in self.legs:
                if leg.state is not LegState.ENTERING:
                    continue
                if not closing:
                    self._top_up(leg, ENTRY)
                elif not leg.position and not leg.live_orders(ENTRY):
                    # Back after its square-off time: nothing more is entered (the clock
                    # squares off what the legs hold), and a leg holding nothing is done.
                    leg.step(LegEvent.CLOSE)
        if self.status is P.UNDER_EXIT:
            self._drive_exits(now)
            return
        # A leg that was exiting by itself (its target, its stop) goes on exiting: exits for
        # what its working orders no longer cover, and one that holds nothing has exited.
        for leg in self.legs:
            if leg.state is LegState.EXITING:
                self._top_up(leg, EXIT)
        self._settle(now)

    def _entered_from(self, saved: dict[str, Any]) -> None:
        self.combined = self._combined_exit(
            Decimal(saved["premium"]),
            peak=Decimal(saved["peak"]),
            locked=None if saved["locked"] is None else Decimal(saved["locked"]),
        )

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

    def _recover_orders(self) -> None:
        """This portfolio's orders and fills as the order book has them now."""
        api = self.ctx.api
        mine = [o for o in api.orders() if o.strategy == self.ctx.strategy_id]
        for snapshot in mine:
            tagged = read_tag(snapshot.tag)
            if tagged is None or not 1 <= tagged[0] <= len(self.legs):
                continue
            leg = self.legs[tagged[0] - 1]
            order = LegOrder(
                snapshot.order_id,
                tagged[1],
                snapshot.quantity,
                snapshot.side,
                status=snapshot.status,
                since_ns=self.ctx.time_ns(),
                # A stop no longer a stop order was turned into its leg's exit: chased as one.
                exiting=tagged[1] == STOP and snapshot.order_type not in _STOP_TYPES,
            )
            leg.orders.append(order)
            leg.numbers = max(leg.numbers, tagged[2])
            if not leg.token:
                leg.token = int(snapshot.instrument.token)
                leg.symbol = snapshot.instrument.tradingsymbol
                self._track(leg)
            self._orders[snapshot.order_id] = (leg, order)
        for trade in api.trades():
            known = self._orders.get(trade.order_id)
            if known is not None:
                known[0].fill(known[1], trade.quantity, int(trade.price * 100))
        for leg in self.legs:
            if leg.state is LegState.WAITING and leg.orders:
                leg.step(LegEvent.SEND)  # sent just before the stop, not yet saved as sent


_STOP_TYPES = frozenset({OrderType.SL, OrderType.SL_M})


def _on_tick(value: Decimal, tick: int, rounding: str) -> int:
    return int((value / tick).quantize(Decimal(1), rounding=rounding)) * tick


def _stop_limit(level: Decimal, side: Side, gap: Decimal, tick: int) -> tuple[int, int]:
    """(trigger, limit) paise of a stop-limit exit at ``level``, the limit ``gap`` % beyond."""
    if side is Side.BUY:
        trigger = _on_tick(level, tick, ROUND_CEILING)
        return trigger, _on_tick(Decimal(trigger) * (100 + gap) / 100, tick, ROUND_CEILING)
    trigger = max(tick, _on_tick(level, tick, ROUND_FLOOR))
    return trigger, max(tick, _on_tick(Decimal(trigger) * (100 - gap) / 100, tick, ROUND_FLOOR))


def _adverse(leg: LegRun) -> int:
    """+1 when the underlying rising hurts the leg, −1 when falling does."""
    rising_helps = leg.spec.instrument in (Instrument.CE, Instrument.FUT)
    return -leg.sign if rising_helps else leg.sign


def _cancelled_by_us(order: LegOrder) -> bool:
    return order.exiting and order.status is OrderStatus.CANCELLED


def _rupees(paise: Decimal) -> str:
    return f"{paise / 100:.2f}"
