"""Options analytics through the facade: chains, IV and Greeks, positions' Greeks, strategies
and payoffs, as of the quotes they are solved from."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from engine.api.parts import EngineParts, Service
from engine.api.positions import PositionService
from engine.api.snapshots import ContractGreeks, StrategyLeg
from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import (
    Product,
    Side,
)
from engine.domain.origin import attribution
from engine.domain.ticks import Tick
from engine.domain.values import to_rupees
from engine.options import (
    ChainAnalytics,
    ChainLayout,
    analyse_chains,
    chain_layouts,
    expiry_moment,
    years_to_expiry,
)
from engine.options.portfolio import (
    Holding,
    IvSource,
    PortfolioGreeks,
    holdings_greeks,
    option_greeks,
    option_payoff_leg,
)
from engine.options.strategy import LegKind, OptionStrategy, PayoffLeg, PayoffProfile

DEFAULT_OPTION_RATE = 0.065
"""Continuous risk-free rate for option discounting (about the 91-day T-bill); the forward
(future or put-call parity) carries the rest."""
STALE_SPOT_SECONDS = 60.0
"""How far an underlying's own quote may lag the newest quote of its futures and options before
a future or forward stands in for it as the spot. NSE sends index values every second and
liquid shares tick many times a second, so a minute of silence while the derivatives still
quote means the stream is broken or not subscribed, and NIFTY moves 0.1-0.3 % in a typical
minute, enough to misstate a ₹-delta. Measured against the derivatives' own quotes, not the
clock: after the close both stop together and nothing is called stale."""


class OptionsService(Service):
    def __init__(self, parts: EngineParts, positions: PositionService) -> None:
        super().__init__(parts)
        self._positions_service = positions
        self.option_rate = DEFAULT_OPTION_RATE
        """The rate options analytics discount at (configurable)."""
        self._chain_layouts: dict[tuple[str, date], ChainLayout] = {}
        self._spot_tokens: dict[str, InstrumentToken] = {}
        self._layouts_built_for = -1

    # -- options analytics -------------------------------------------------------------------------
    #
    # Analytics are as of the quotes they are solved from: ``now`` defaults to the newest quote
    # among the instruments involved (the feed's clock, live or in a replay). Whether a chain has
    # expired is judged by the later of that and the desk's clock (a replay's clock in a
    # backtest): an expired chain stops quoting, so its own quotes would hold it a moment short
    # of its expiry for ever, where Black-76 blows up. Past its expiry moment a chain is settled:
    # its forward is the underlying's last price (what its options settle on; its own forward
    # when the underlying has no quote), each option its intrinsic value with delta 0 or ±1 and
    # the other Greeks 0, and its IVs NaN. A ``now`` given is the moment for both.

    def option_chains(self) -> list[tuple[str, date]]:
        """(underlying, expiry) of every option chain listed, sorted."""
        return sorted(self._layouts())

    def live_expiries(self, underlying: str) -> list[date]:
        """Expiries of the underlying's option chains still trading, nearest first: those whose
        expiry moment (the F&O close that day) is ahead of the desk's clock. A listing keeps an
        expired chain until it is renewed; a trader picking an expiry wants a live one."""
        now = self._parts.now()
        return [
            e for u, e in self.option_chains() if u == underlying and self.expiry_moment(e) > now
        ]

    def chain_layout(self, underlying: str, expiry: date) -> ChainLayout:
        """Which instruments make up one chain, by strike (for reading a few of its quotes
        without solving it). Raises LookupError for a chain that is not listed."""
        return self._layout(underlying, expiry)

    def expiry_moment(self, expiry: date) -> datetime:
        """When options expiring on ``expiry`` stop trading: the F&O close that day, aware."""
        return expiry_moment(expiry, self._parts.calendar)

    def underlying_price(self, underlying: str) -> Decimal | None:
        """The last price of the underlying itself (its index or shares), rupees."""
        tick = self._spot_tick(underlying)
        return None if tick is None else to_rupees(tick.ltp)

    def chain_analytics(
        self,
        underlying: str,
        expiry: date,
        *,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> ChainAnalytics:
        """Forward, IVs, smile, Greeks, ATM IV, PCR and max pain of one chain: one batched solve.

        Raises LookupError for an unknown chain or one without any quote yet.
        """
        return self.chains_analytics([(underlying, expiry)], now=now, rate=rate)[0]

    def chains_analytics(
        self,
        chains: Sequence[tuple[str, date]],
        *,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> list[ChainAnalytics]:
        """Analytics of several chains from one IV solve and one Greeks pass over all of them;
        a chain past its expiry moment is settled (see above)."""
        layouts = [self._layout(underlying, expiry) for underlying, expiry in chains]
        if not layouts:
            return []
        now, expired_by = self._as_of(
            now,
            (token for layout in layouts for token in _layout_tokens(layout)),
            f"{layouts[0].underlying} {layouts[0].expiry:%d %b %Y}",
        )
        return self._analyse(layouts, now, expired_by, rate)

    def position_greeks(
        self,
        *,
        by_strategy: bool = False,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> PortfolioGreeks:
        """IV and Greeks of every open position and their totals per underlying.

        A position's Greeks are the per-unit Greeks of its chain (at the strike's smile IV, else
        the option's own, else the ATM IV: ``PositionGreeks.iv_source``) × its signed quantity.
        The spot is the underlying's own quote while it keeps up with its derivatives (see
        ``STALE_SPOT_SECONDS``), else a future's own price or the option's chain forward.
        ``by_strategy`` splits each position by the order source that built it (from the fills),
        so strategies net against each other only in the totals.
        """
        holdings = self._holdings(by_strategy)
        chains = sorted({h.chain for h in holdings if h.chain is not None})
        layouts = [self._layout(*chain) for chain in chains]
        analytics: dict[tuple[str, date], ChainAnalytics] = {}
        if holdings:
            now, expired_by = self._as_of(
                now,
                [h.token for h in holdings]
                + [t for layout in layouts for t in _layout_tokens(layout)],
                "the open positions",
            )
            analytics = dict(
                zip(chains, self._analyse(layouts, now, expired_by, rate), strict=True)
            )
        related: dict[str, list[int | None]] = defaultdict(list)
        for h in holdings:
            related[h.underlying].append(h.token)
        for layout in layouts:
            related[layout.underlying].extend(_layout_tokens(layout))
        spots = {name: self._fresh_spot(name, tokens) for name, tokens in related.items()}
        own = {h.token: self._quotes.get(InstrumentToken(h.token)) for h in holdings if not h.chain}
        return holdings_greeks(
            holdings,
            analytics,
            spots={name: spot for name, (spot, _) in spots.items()},
            own_prices={
                t: _mid_else_ltp(q) if q and q.ltp > 0 else math.nan for t, q in own.items()
            },
            stale_spots=[(name, lag) for name, (_, lag) in sorted(spots.items()) if lag],
        )

    def contract_greeks(
        self,
        tokens: Iterable[int],
        *,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> dict[int, ContractGreeks]:
        """Per-unit IV and Greeks of each option and future among ``tokens`` (a multileg
        portfolio's legs), from one batched solve of their chains; a future is Δ 1. The Greeks
        are at the IV ``position_greeks`` uses (the strike's smile IV, else the option's own,
        else the ATM IV); ``iv`` is the smile IV only, NaN when a stand-in priced the Greeks (an
        IV chart must not plot a stand-in as the strike's). Unknown tokens, other instruments and
        chains without any quote yet are left out."""
        wanted = {int(t): i for t in tokens if (i := self.instruments.find(int(t))) is not None}
        chains = sorted({key for i in wanted.values() if (key := _chain_key(i)) is not None})
        analytics: dict[tuple[str, date], ChainAnalytics] = {}
        if chains:
            try:
                solved = self.chains_analytics(chains, now=now, rate=rate)
            except LookupError:  # no quote yet in any of the chains
                solved = []
            analytics = dict(zip(chains, solved, strict=False))
        out: dict[int, ContractGreeks] = {}
        for token, instrument in wanted.items():
            if instrument.instrument_type is InstrumentType.FUT:
                out[token] = ContractGreeks(math.nan, 1.0, 0.0, 0.0, 0.0)
                continue
            key = _chain_key(instrument)
            chain = None if key is None else analytics.get(key)
            if chain is None or instrument.strike is None:
                continue
            is_call = instrument.instrument_type is InstrumentType.CE
            try:
                held = option_greeks(chain, instrument.strike / 100, is_call)
            except LookupError:  # a strike the chain's layout does not list
                continue
            iv = held.iv if held.source is IvSource.SMILE else math.nan
            out[token] = ContractGreeks(iv, held.delta, held.gamma, held.theta, held.vega)
        return out

    def strategy_leg(
        self,
        token: InstrumentToken | int,
        side: Side | str,
        lots: int = 1,
        *,
        price: Decimal | int | str | None = None,
    ) -> StrategyLeg:
        """A hypothetical leg: ``lots`` of the instrument bought or sold at ``price`` (rupees),
        by default where it would fill now (the ask to buy, the bid to sell, else the LTP)."""
        instrument = self.instruments.get(int(token))
        side = Side(side)
        if isinstance(lots, bool) or not isinstance(lots, int) or lots <= 0:
            raise ValueError(f"lots must be a positive int, got {lots!r}")
        if price is None:
            tick = self._quotes.get(instrument.token)
            touch = 0 if tick is None else (tick.ask if side is Side.BUY else tick.bid)
            paise = touch or (0 if tick is None else tick.ltp)
            if not paise:
                raise ValueError(f"{instrument.tradingsymbol} has no price yet; give one")
            entry = to_rupees(paise)
        else:
            entry = Decimal(str(price))
            if not entry.is_finite() or entry < 0:
                raise ValueError(f"price must be a non-negative amount, got {price!r}")
        sign = 1 if side is Side.BUY else -1
        return StrategyLeg(instrument, sign * lots * instrument.lot_size, entry)

    def position_legs(self, underlying: str | None = None) -> list[StrategyLeg]:
        """Open positions (of one underlying, or all) as strategy legs at their average price."""
        return [
            StrategyLeg(p.instrument, p.net_quantity, p.average_price, p.product)
            for p in self._positions_service.positions()
            if p.net_quantity
            and p.instrument.tradable
            and (underlying is None or p.instrument.underlying == underlying)
        ]

    def option_strategy(
        self,
        legs: Sequence[StrategyLeg] | None = None,
        *,
        underlying: str | None = None,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> OptionStrategy:
        """Legs on one underlying priced against the market now (forwards, IVs, time), ready for
        payoffs and scenarios; ``legs`` None means the open positions of ``underlying``."""
        if legs is None:
            legs = self.position_legs(underlying)
            if not legs:
                raise ValueError(f"no open positions{f' in {underlying}' if underlying else ''}")
        names = sorted({leg.instrument.underlying for leg in legs})
        if len(names) != 1:
            raise ValueError(f"a strategy is on one underlying; these legs span {', '.join(names)}")
        name = names[0]
        chains = sorted({key for leg in legs if (key := _chain_key(leg.instrument)) is not None})
        layouts = [self._layout(*chain) for chain in chains]
        tokens: list[InstrumentToken | None] = [leg.instrument.token for leg in legs]
        tokens += [t for layout in layouts for t in _layout_tokens(layout)]
        now, expired_by = self._as_of(now, tokens, f"the {name} legs")
        rate = self.option_rate if rate is None else rate
        analytics = dict(zip(chains, self._analyse(layouts, now, expired_by, rate), strict=True))
        payoff_legs = [self._payoff_leg(leg, analytics, now) for leg in legs]
        spot, _ = self._fresh_spot(name, tokens)
        if math.isnan(spot):  # no fresh quote of the underlying: the nearest forward stands in
            forwards = [leg.forward for leg in sorted(payoff_legs, key=lambda x: x.years)]
            spot = next((f for f in forwards if math.isfinite(f)), math.nan)
        return OptionStrategy(name, spot, rate, tuple(payoff_legs))

    def payoff(
        self,
        legs: Sequence[StrategyLeg] | None = None,
        *,
        underlying: str | None = None,
        days_forward: float = 0.0,
        spot_shift: float = 0.0,
        iv_shift: float = 0.0,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> PayoffProfile:
        """P&L at expiry and ``days_forward`` days ahead (IVs + ``iv_shift`` points) against the
        underlying's price, breakevens, max profit and loss; ``legs`` None: the open positions."""
        strategy = self.option_strategy(legs, underlying=underlying, now=now, rate=rate)
        return strategy.payoff(days_forward=days_forward, spot_shift=spot_shift, iv_shift=iv_shift)

    def _layouts(self) -> dict[tuple[str, date], ChainLayout]:
        """Option chains by (underlying, expiry), worked out again when the registry grows."""
        if self._layouts_built_for != len(self.instruments):
            self._chain_layouts = {
                (layout.underlying, layout.expiry): layout
                for layout in chain_layouts(self.instruments)
            }
            self._spot_tokens = self.instruments.spot_tokens()
            self._layouts_built_for = len(self.instruments)
        return self._chain_layouts

    def _layout(self, underlying: str, expiry: date) -> ChainLayout:
        layout = self._layouts().get((underlying, expiry))
        if layout is None:
            raise LookupError(f"no {underlying} option chain expires on {expiry}")
        return layout

    def _spot_tokens_by_underlying(self) -> dict[str, InstrumentToken]:
        self._layouts()
        return self._spot_tokens

    def _spot_tick(self, underlying: str) -> Tick | None:
        token = self._spot_tokens_by_underlying().get(underlying)
        tick = None if token is None else self._quotes.get(token)
        return tick if tick is not None and tick.ltp > 0 else None

    def _spot_or_nan(self, underlying: str) -> float:
        tick = self._spot_tick(underlying)
        return math.nan if tick is None else tick.ltp / 100

    def spot_lag(self, underlying: str, tokens: Iterable[int | None]) -> float:
        """Seconds the underlying's own quote lags the newest quote among ``tokens`` when that is
        more than ``STALE_SPOT_SECONDS`` (analytics then take a forward for its price); else 0."""
        return self._fresh_spot(underlying, tokens)[1]

    def _fresh_spot(self, underlying: str, tokens: Iterable[int | None]) -> tuple[float, float]:
        """The underlying's own last price, and 0; or NaN when it has none, and NaN and how many
        seconds it lags the newest quote among ``tokens`` (its derivatives) when that is more
        than ``STALE_SPOT_SECONDS``."""
        tick = self._spot_tick(underlying)
        if tick is None:
            return math.nan, 0.0
        quoted = (self._quotes.get(InstrumentToken(t)) for t in tokens if t is not None)
        newest = max(
            (q.ts_ns for q in quoted if q is not None and q.token != tick.token), default=0
        )
        lag = (newest - tick.ts_ns) / 1e9
        return (math.nan, lag) if lag > STALE_SPOT_SECONDS else (tick.ltp / 100, 0.0)

    def _as_of(
        self, now: datetime | None, tokens: Iterable[int | None], what: str
    ) -> tuple[datetime, datetime]:
        """The moment analytics are as of, and the moment expiries are judged by: ``now``
        for both when given, else the newest quote's time among ``tokens`` and the later of
        that and the desk's clock."""
        if now is not None:
            return now, now
        quoted = self._quote_time(tokens, what)
        return quoted, max(quoted, self._parts.now())

    def _analyse(
        self,
        layouts: Sequence[ChainLayout],
        now: datetime,
        expired_by: datetime,
        rate: float | None,
    ) -> list[ChainAnalytics]:
        """One batched solve of ``layouts`` as of ``now``; those whose expiry moment is not
        after ``expired_by`` are settled on the underlying's last price."""
        rate = self.option_rate if rate is None else rate
        calendar = self._parts.calendar
        snapshots = []
        for layout in layouts:
            left = years_to_expiry(expired_by, layout.expiry, calendar=calendar)  # ≤ 0: expired
            if left > 0:
                years = years_to_expiry(now, layout.expiry, calendar=calendar)
                snapshots.append(layout.snapshot(self._quotes.get, years=years, rate=rate))
                continue
            snapshot = layout.snapshot(self._quotes.get, years=left, rate=rate)
            spot = self._spot_or_nan(layout.underlying)
            # An expired future settles on the underlying: standing in for it, the spot is the
            # forward the options settle against.
            snapshots.append(snapshot if math.isnan(spot) else replace(snapshot, future=spot))
        return analyse_chains(snapshots)

    def _quote_time(self, tokens: Iterable[int | None], what: str) -> datetime:
        """The newest quote's exchange time among ``tokens``."""
        newest = 0
        for token in tokens:
            tick = None if token is None else self._quotes.get(InstrumentToken(token))
            if tick is not None and tick.ts_ns > newest:
                newest = tick.ts_ns
        if not newest:
            raise LookupError(f"no quotes yet for {what}")
        return datetime.fromtimestamp(newest / 1e9, tz=UTC).astimezone(IST)

    def _holdings(self, by_strategy: bool) -> list[Holding]:
        """Open positions (split by the order source that built them when ``by_strategy``)."""
        shares: dict[tuple[int, Product], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        if by_strategy:
            for fill in self._orders.fills:
                order = self._orders.orders.get(fill.order_id)
                signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
                owner = attribution(order.source, order.strategy) if order else "unknown"
                shares[(fill.token, fill.product)][owner] += signed
        holdings = []
        for position in self._positions.all():
            instrument = self._positions_service.instrument_of(position.token)
            if not instrument.listed:
                continue  # nothing to price it by: the trader is told so (``instrument_of``)
            if by_strategy:
                split = dict(shares.get((position.token, position.product), {}))
                carried = position.net_quantity - sum(split.values())
                if carried:  # overnight, or from fills before this session's journal
                    split["carried forward"] = carried
            else:
                split = {"": position.net_quantity}
            for strategy, quantity in sorted(split.items()):
                if quantity:
                    holdings.append(
                        Holding(
                            token=instrument.token,
                            tradingsymbol=instrument.tradingsymbol,
                            underlying=instrument.underlying,
                            expiry=instrument.expiry,
                            product=position.product.value,
                            strategy=strategy,
                            quantity=quantity,
                            lot_size=instrument.lot_size,
                            strike=instrument.strike or 0,
                            kind=instrument.instrument_type.value,
                        )
                    )
        holdings.sort(key=Holding.order)
        return holdings

    def _payoff_leg(
        self,
        leg: StrategyLeg,
        analytics: Mapping[tuple[str, date], ChainAnalytics],
        now: datetime,
    ) -> PayoffLeg:
        instrument = leg.instrument
        entry = float(leg.price)
        label = instrument.tradingsymbol
        key = _chain_key(instrument)
        if key is not None and instrument.strike is not None:
            is_call = instrument.instrument_type is InstrumentType.CE
            return option_payoff_leg(
                analytics[key], instrument.strike / 100, is_call, leg.quantity, entry, label
            )
        if instrument.instrument_type is InstrumentType.FUT and instrument.expiry is not None:
            tick = self._quotes.get(instrument.token)
            if tick is None:
                raise ValueError(f"{label}: no quote yet")
            return PayoffLeg(
                LegKind.FUTURE,
                leg.quantity,
                entry,
                years=years_to_expiry(now, instrument.expiry, calendar=self._parts.calendar),
                forward=_mid_else_ltp(tick),
                label=label,
            )
        if instrument.instrument_type is InstrumentType.EQ:
            return PayoffLeg(LegKind.CASH, leg.quantity, entry, label=label)
        raise ValueError(f"{label} cannot be a strategy leg (an index is not traded)")


def _chain_key(instrument: Instrument) -> tuple[str, date] | None:
    """(underlying, expiry) of an option's chain; None for anything else."""
    if instrument.is_option and instrument.expiry is not None:
        return instrument.underlying, instrument.expiry
    return None


def _layout_tokens(layout: ChainLayout) -> list[InstrumentToken | None]:
    return [*layout.calls, *layout.puts, layout.future]


def _mid_else_ltp(tick: Tick) -> float:
    """Rupees: the bid/ask midpoint, else the last price."""
    return (tick.bid + tick.ask) / 200 if tick.bid and tick.ask else tick.ltp / 100
