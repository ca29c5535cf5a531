"""How a multileg portfolio enters: it waits for its run day and start time (or the trader),
for its entry condition (the net premium), chooses each leg's contract from the chains at that
moment, and sends the legs in their groups (hedges first) and sequence (parallel, one by one,
one after another filled)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.domain.instruments import InstrumentType
from engine.domain.orders import Side
from engine.strategies.multileg import legs as leg_rules
from engine.strategies.multileg.base import (
    NS,
    PRICES_WAIT_NS,
    WEEKDAYS,
    E,
    P,
    PortfolioBase,
    log,
    start_problem,
)
from engine.strategies.multileg.expiries import resolve_expiry
from engine.strategies.multileg.legrun import ENTRY, LegRun
from engine.strategies.multileg.spec import Instrument, Mode, Sequencing
from engine.strategies.multileg.status import LegEvent, LegState
from engine.strategies.multileg.strikes import NoStrike, Right, atm_strike


class PortfolioEntry(PortfolioBase):
    """Waiting for the window and entering (this module's docstring)."""

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
        if self._extras is not None:
            why = self._extras.day_problem()
            if why is not None:
                if self.reason != why:
                    self.reason = why
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
        if self._extras is not None and not self._extras.may_enter(now):
            return  # a breakout, a wait and trade, a level, an indicator (``conditions``)
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
            self._add_hedges(chains)
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
        extras = self._extras
        while self._group < len(self._groups):
            group = [self.legs[n - 1] for n in self._groups[self._group]]
            for leg in group:
                if leg.state is not LegState.WAITING:
                    continue
                if extras is not None and extras.holds(leg, now):
                    continue  # sent when its breakout or wait comes (``conditions``)
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
            if any(
                leg.state is LegState.ENTERING
                or (
                    leg.state is LegState.WAITING and (extras is None or not extras.holds(leg, now))
                )
                for leg in group
            ):
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
