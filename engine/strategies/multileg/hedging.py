"""A running portfolio's dynamic hedges (``hedge`` has the rule): as the legs' contracts are
chosen, each sold option leg gets a bought hedge leg in the same expiry's chain. The hedges join
the first entry group (bought legs go first), so each is bought before its sold leg; a portfolio
exit sells them last (sold legs first); with ``square_off_on = leg`` a hedge is sold once its
sold leg has closed by itself (its stop, its target, an action)."""

from __future__ import annotations

from datetime import date

from engine.domain.events import Severity
from engine.domain.orders import Side
from engine.strategies.multileg import legs as leg_rules
from engine.strategies.multileg.hedge import HedgeExit, hedge_strike
from engine.strategies.multileg.legrun import ENTRY, LegRun
from engine.strategies.multileg.lines import Line, PortfolioLines
from engine.strategies.multileg.spec import FixedStrike, Instrument
from engine.strategies.multileg.status import LegEvent, LegState
from engine.strategies.multileg.strikes import NoStrike, Right


class PortfolioHedging(PortfolioLines):
    """Dynamic hedge legs (this module's docstring)."""

    def _add_hedges(self, chains: dict[date, leg_rules.Chain]) -> None:
        """A hedge for every sold option leg about to enter (once: not again on a second
        resolve). ``NoStrike`` and friends propagate: the portfolio cannot enter unhedged."""
        settings = self.spec.hedge
        if not settings.enabled or any(line.hedge_for for line in self._lines.values()):
            return
        sold = [
            leg
            for leg in list(self.legs)
            if leg.n <= len(self.spec.legs) and self._wants_hedge(leg)
        ]
        for leg in sold:
            assert leg.expiry is not None
            self._hedge_leg(leg, chains[leg.expiry])

    def _wants_hedge(self, leg: LegRun) -> bool:
        """Whether ``leg``, its contract chosen, is a sold option leg the dynamic hedge covers."""
        return (
            self.spec.hedge.enabled
            and (leg.n > len(self.spec.legs) or not leg.spec.idle)
            and not leg.spec.hedge
            and leg.spec.side is Side.SELL
            and leg.spec.instrument is not Instrument.FUT
            and leg.strike is not None
            and leg.expiry is not None
        )

    def _hedge_leg(self, leg: LegRun, chain: leg_rules.Chain) -> LegRun:
        """Add and arm the bought hedge of the sold ``leg``, its strike picked on ``chain``."""
        assert leg.strike is not None and leg.expiry is not None
        settings = self.spec.hedge
        right = Right.CALL if leg.spec.instrument is Instrument.CE else Right.PUT
        strike = hedge_strike(chain, right, leg.strike, settings)
        spec = leg.spec.model_copy(
            update={
                "side": Side.BUY,
                "idle": False,
                "expiry": leg.expiry,
                "strike": FixedStrike(strike=strike),
                "hedge": True,
                "target": None,
                "stop": None,
                "trail": None,
                "on_target": None,
                "on_stop": None,
            }
        )
        hedge = self._add_leg(
            spec, Line(leg.n, leg.n, hedge_for=leg.n), remark=f"dynamic hedge of leg {leg.n}"
        )
        if hedge is None:
            raise LookupError("no room for the dynamic hedge legs")
        contract = leg_rules.contract_of(
            self.ctx.api.instruments, self.spec.defaults.underlying, leg.expiry, right, strike
        )
        hedge.strike, hedge.expiry = strike, leg.expiry
        hedge.token, hedge.symbol = int(contract.token), contract.tradingsymbol
        hedge.lot_size, hedge.tick_size = contract.lot_size, contract.tick_size
        hedge.freeze = contract.freeze_quantity
        hedge.quantity = spec.lots * self.spec.defaults.multiplier * contract.lot_size
        self._track(hedge)
        tick = self.ctx.api.tick(hedge.token)
        if tick is not None:
            hedge.ltp, hedge.bid, hedge.ask = tick.ltp, tick.bid, tick.ask
            hedge.last_tick_ns = self.ctx.time_ns()
        hedge.step(LegEvent.ARM)
        return hedge

    def _hedge_first(self, leg: LegRun, now: int) -> bool:
        """Whether the re-entering sold ``leg`` may be sent now: its fresh hedge, picked on
        the chain as it stands, is added and bought first (saved before it is sent, so a
        restart neither buys it twice nor loses it); the leg goes once the hedge has filled.
        A hedge that cannot be picked or did not fill keeps the leg out: never unhedged."""
        if not self._wants_hedge(leg):
            return True
        hedges = self._hedges_of(leg)
        if not hedges:
            assert leg.expiry is not None
            api = self.ctx.api
            underlying = self.spec.defaults.underlying
            try:
                chain = leg_rules.chain_from(
                    api.chain_analytics(underlying, leg.expiry),
                    api.underlying_price(underlying),
                    self._future_price(),
                )
                hedge = self._hedge_leg(leg, chain)
            except (NoStrike, LookupError, ValueError) as problem:
                self._refuse_unhedged(leg, f"no hedge: {problem}")
                return False
            hedge.step(LegEvent.SEND)
            self._say(f"{self.spec.name}: hedge leg {hedge.n} {hedge.symbol} for leg {leg.n}")
            self.ctx.save()
            self._top_up(hedge, ENTRY)
            return False
        states = {hedge.state for hedge in hedges}
        if states == {LegState.ENTERED}:
            return True
        if states <= {LegState.WAITING, LegState.ENTERING, LegState.ENTERED}:
            return False
        self._refuse_unhedged(leg, "its hedge did not fill")
        return False

    def _refuse_unhedged(self, leg: LegRun, why: str) -> None:
        leg.step(LegEvent.DISARM)
        leg.remark = f"not entered: {why}"
        self._say(f"{self.spec.name}: leg {leg.n} not entered — {why}", Severity.ERROR)
        self.ctx.save()

    def _close_hedges(self, now: int) -> None:
        """Sell each hedge whose sold leg has closed (``square_off_on = leg``)."""
        if self.spec.hedge.square_off_on is not HedgeExit.LEG:
            return
        for n, line in list(self._lines.items()):
            if not line.hedge_for:
                continue
            hedge, sold = self.legs[n - 1], self.legs[line.hedge_for - 1]
            if hedge.state is LegState.ENTERED and sold.state is LegState.EXITED:
                hedge.exit_reason = f"its sold leg {sold.n} closed"
                self._say(f"{self.spec.name}: hedge leg {n} {hedge.symbol} sold after leg {sold.n}")
                self.ctx.save()
                self._exit_leg(hedge, now)

    def _hedges_of(self, leg: LegRun) -> list[LegRun]:
        return [self.legs[n - 1] for n, line in self._lines.items() if line.hedge_for == leg.n]
