"""The gate every order and every modification passes before any broker sees it.

First the order's validity (known, tradable, unexpired instrument; lot multiple; tick; product;
price and trigger that make sense), then the trading state (ACTIVE / REDUCING / HALTED), then the
risk limits of ``engine.risk.limits`` for the account and the order's underlying: session open,
freeze quantity (refuse or slice), market protection (a MARKET order goes out as a protected
LIMIT), exchange price protection, fat finger, order size and value, duplicates, open orders,
position per instrument and per underlying, margin (against the capital on paper, against the
broker's available funds live) and concentration. The order-rate throttle is
applied by the order manager when it sends (``throttle``), because it counts what reaches the
broker.

The answer is a ``Decision``: allowed (with the request to send, which may differ from the one
asked: a MARKET order becomes a LIMIT, an order above the freeze quantity becomes slices) or
refused, with the check that refused it and a reason a trader can read. Built with only an
instrument lookup and a date, the gate checks validity alone (as the engine's first tests use it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from engine.core.clock import Clock
from engine.domain.events import FundsChanged, TradingState
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderType, Product, Side
from engine.domain.origin import PRIVILEGES
from engine.domain.ticks import Tick
from engine.domain.values import Paise, rupees_text
from engine.marketdata.quotes import QuoteCache
from engine.oms.exposure import Exposure
from engine.oms.gate_port import Decision
from engine.risk.limits import RiskLimits, RiskSettings
from engine.risk.margin import MarginEstimator
from engine.risk.price_rules import (
    INDEX_UNDERLYINGS,
    Band,
    lpp_band,
    protected_price,
    range_band,
)
from engine.risk.throttle import OrderThrottle

InstrumentLookup = Callable[[InstrumentToken], Instrument | None]
SessionCheck = Callable[[Instrument, datetime], bool]
Check = Callable[[OrderRequest, Instrument], str | None]
"""An extra check: None to pass, else the reason (reported as check ``custom``)."""

_PRICED = (OrderType.LIMIT, OrderType.SL)
_NS = 1_000_000_000
_MINUTE_NS = 60 * _NS
_NO_PNL = Decimal(0)


class BrokerFunds(NamedTuple):
    """A live broker's figure of the margin still available, as the gate holds it."""

    available: float
    """Rupees new orders may still block, by the broker."""
    held: float
    """The desk's own margin estimate when the figure came, rupees."""
    ts_ns: int
    broker: str


def _deny(check: str, reason: str) -> Decision:
    return Decision(None, reason, check)


def _price_problem(label: str, value: object, instrument: Instrument) -> str | None:
    if type(value) is int and value > 0 and not value % instrument.tick_size:
        return None  # the usual case, first
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{label} must be a whole number of paise, not {value!r}"
    if value <= 0:
        return f"{label} {rupees_text(value)} must be positive"
    if value % instrument.tick_size:
        return (
            f"{label} {rupees_text(value)} is not a multiple of the tick size "
            f"{rupees_text(instrument.tick_size)} of {instrument.tradingsymbol}"
        )
    return None


def _quantity_problem(quantity: object, instrument: Instrument) -> tuple[str, str] | None:
    """(check, reason) for a quantity that is not a positive lot multiple."""
    if type(quantity) is int and quantity > 0 and not quantity % instrument.lot_size:
        return None  # the usual case, first
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        return "quantity", f"quantity must be a whole number, not {quantity!r}"
    if quantity <= 0:
        return "quantity", f"quantity {quantity} must be positive"
    if quantity % instrument.lot_size:
        return (
            "lot_size",
            f"quantity {quantity} is not a multiple of the lot size {instrument.lot_size}",
        )
    return None


def _freeze_reason(quantity: int, instrument: Instrument) -> str:
    return (
        f"quantity {quantity} is above the freeze quantity {instrument.freeze_quantity} of "
        f"{instrument.tradingsymbol}; the largest single order is "
        f"{instrument.max_order_quantity()}"
    )


def _rupees(amount: float | Decimal) -> str:
    return f"₹{Decimal(amount).quantize(Decimal(1)):,}"


_BANDED = (InstrumentType.FUT, InstrumentType.EQ)
_UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True)
class _Rules:
    """One underlying's limits as the plain numbers the order path compares against, converted
    from their Decimal rupees once (Decimal arithmetic costs microseconds on the order path).
    A limit that is off becomes a bound no order reaches."""

    limits: RiskLimits
    capital: float
    """The account's capital, rupees."""
    fat_finger_share: float
    """Fraction of the last price a limit price may stray (0: the check is off)."""
    fat_finger_floor: float
    """Paise."""
    max_order_quantity: int
    max_order_value: int
    """Paise."""
    duplicate_window_ns: int
    """0: the check is off."""
    max_open_orders: int
    max_position_lots: int
    max_underlying_lots: int
    max_concentration: float
    """Rupees of margin one underlying may take."""

    @classmethod
    def of(cls, limits: RiskLimits, account: RiskLimits) -> _Rules:
        def bound(value: int | None) -> int:
            return _UNLIMITED if value is None else value

        capital = float(account.capital)
        concentration = limits.max_concentration_pct
        return cls(
            limits,
            capital,
            0.0 if limits.fat_finger_pct is None else float(limits.fat_finger_pct) / 100,
            float(limits.fat_finger_floor) * 100,
            bound(limits.max_order_quantity),
            bound(None if limits.max_order_value is None else int(limits.max_order_value * 100)),
            0
            if limits.duplicate_window_seconds is None
            else int(limits.duplicate_window_seconds * _NS),
            bound(limits.max_open_orders),
            bound(limits.max_position_lots),
            bound(limits.max_underlying_lots),
            math.inf if concentration is None else capital * float(concentration) / 100,
        )


class OrderGate:
    def __init__(
        self,
        instruments: InstrumentLookup,
        today: Callable[[], date],
        *,
        settings: RiskSettings | None = None,
        account: str = "paper",
        clock: Clock | None = None,
        quotes: QuoteCache | None = None,
        exposure: Exposure | None = None,
        session_open: SessionCheck | None = None,
        margin: MarginEstimator | None = None,
        day_pnl: Callable[[], Decimal] | None = None,
        index_underlyings: frozenset[str] = INDEX_UNDERLYINGS,
    ) -> None:
        self._instruments = instruments
        self._today = today
        self.checks: list[Check] = []
        self.account = account
        self._clock = clock
        self._quotes = quotes
        self.exposure = exposure
        self._session_open = session_open
        self.margin = margin
        self.day_pnl = day_pnl
        self._pnl_seen: Decimal | None = None
        self._pnl_rupees = 0.0
        """``day_pnl()`` in float rupees, converted when it changes (it moves on ticks, while
        converting it on every order was a tenth of the gate's time)."""
        self._capital_rupees = 0.0
        self.broker_funds: BrokerFunds | None = None
        """None on paper, where capital and the day's P&L are the budget."""
        self._index = index_underlyings
        self.state = TradingState.ACTIVE
        self.state_reason = ""
        self._recent: dict[tuple[object, ...], int] = {}
        """Orders seen within the duplicate window, by their terms: time seen (ns)."""
        self._recent_expiry: deque[tuple[int, tuple[object, ...], int]] = deque()
        """(expires ns, terms, time seen) in the order seen: forgotten one at a time as they
        expire, so the order path never sweeps the whole window at once."""
        self._rules: dict[str, _Rules] = {}
        self._sessions: dict[str, tuple[int, bool]] = {}
        self._bands: dict[int, tuple[int, Band | None]] = {}
        self._ranges: dict[int, tuple[int, Band | None]] = {}
        self.settings: RiskSettings | None = None
        self.account_limits: RiskLimits | None = None
        self.throttle: OrderThrottle | None = None
        self.enabled = True
        """False bypasses every risk check but validity (benchmarks measure the gate this way)."""
        if settings is not None:
            if clock is None or quotes is None or exposure is None:
                raise ValueError("a gate with risk limits needs a clock, quotes and exposure")
            self.configure(settings)

    # -- configuration -------------------------------------------------------------------------------

    def configure(self, settings: RiskSettings) -> None:
        """Apply new limits (validated when ``settings`` was built) to every later order."""
        self.settings = settings
        self.account_limits = limits = settings.for_account(self.account)
        self._capital_rupees = float(limits.capital)
        self._rules = {}
        self._ranges = {}
        if self.throttle is None:
            self.throttle = OrderThrottle(
                limits.max_orders_per_second, limits.max_orders_per_minute
            )
        else:
            self.throttle.per_second = limits.max_orders_per_second
            self.throttle.per_minute = limits.max_orders_per_minute

    def _open(self, instrument: Instrument, now_ns: int) -> bool:
        """Whether the instrument's session is open now; sessions start and end on whole
        minutes, so the calendar is asked once a minute per segment."""
        assert self._clock is not None and self._session_open is not None
        minute = now_ns // _MINUTE_NS
        cached = self._sessions.get(instrument.segment)
        if cached is not None and cached[0] == minute:
            return cached[1]
        is_open = self._session_open(instrument, self._clock.now())
        self._sessions[instrument.segment] = (minute, is_open)
        return is_open

    def _lpp(self, instrument: Instrument, ltp: int) -> Band | None:
        cached = self._bands.get(instrument.token)
        if cached is not None and cached[0] == ltp:
            return cached[1]
        band = lpp_band(instrument, ltp, self._index)
        self._bands[instrument.token] = (ltp, band)
        return band

    def set_broker_funds(self, funds: FundsChanged) -> None:
        """The live broker's available margin from now on (it already counts what positions and
        open orders hold; the desk's estimate then tracks what is placed until the next figure)."""
        held = self.margin.total if self.margin is not None else 0.0
        self.broker_funds = BrokerFunds(float(funds.available), held, funds.ts_ns, funds.broker)

    def margin_budget(self) -> float:
        """The most margin the desk's positions and open orders may need, rupees: the broker's
        available margin plus what the desk holds (live), else capital plus the day's P&L."""
        funds = self.broker_funds
        if funds is not None:
            return funds.available + funds.held
        pnl = self.day_pnl() if self.day_pnl is not None else _NO_PNL
        if pnl is not self._pnl_seen:
            self._pnl_seen, self._pnl_rupees = pnl, float(pnl)
        return self._capital_rupees + self._pnl_rupees

    def _range(self, instrument: Instrument, close: int, limits: RiskLimits) -> Band | None:
        """The futures operating range or cash circuit band, recomputed when the close moves."""
        cached = self._ranges.get(instrument.token)
        if cached is not None and cached[0] == close:
            return cached[1]
        band = range_band(
            instrument, close, limits.futures_operating_range_pct, limits.equity_band_pct
        )
        self._ranges[instrument.token] = (close, band)
        return band

    @property
    def throttle_queues(self) -> bool:
        return self.account_limits is None or self.account_limits.throttle_mode == "queue"

    def limits_for(self, underlying: str) -> RiskLimits:
        return self._rules_for(underlying).limits

    def _rules_for(self, underlying: str) -> _Rules:
        rules = self._rules.get(underlying)
        if rules is None:
            assert self.settings is not None and self.account_limits is not None
            limits = self.settings.limits_for(self.account, underlying)
            rules = self._rules[underlying] = _Rules.of(limits, self.account_limits)
        return rules

    # -- the old string interface ----------------------------------------------------------------

    def check(self, request: OrderRequest) -> str | None:
        """None if the request may go to the broker, else why not."""
        return self.decide(request).reason or None

    def check_modify(self, order: Order, change: Modification) -> str | None:
        return self.decide_modify(order, change).reason or None

    # -- new orders ------------------------------------------------------------------------------

    def decide(self, request: OrderRequest) -> Decision:
        instrument = self._instruments(request.token)
        if instrument is None:
            return _deny("instrument", f"unknown instrument {request.token}")
        problem = self._validity(request, instrument)
        if problem is not None:
            return _deny(*problem)
        for extra in self.checks:
            reason = extra(request, instrument)
            if reason:
                return _deny("custom", reason)
        exposure = self.exposure
        if exposure is None:
            return self._freeze_only(request, instrument)
        reduces = (request.token, request.product) in exposure.net and exposure.reduces(
            request.token,
            request.product,
            request.side,
            request.quantity,
            count_working=not PRIVILEGES[request.source].reduce_on_position_alone,
        )
        if self.state is not TradingState.ACTIVE:
            refusal = self._state_refusal(request, instrument, reduces)
            if refusal is not None:
                return refusal
        if self.settings is None or not self.enabled:
            return self._freeze_only(request, instrument)
        return self._risk(request, instrument, self._rules_for(instrument.underlying), reduces)

    def _freeze_only(self, request: OrderRequest, instrument: Instrument) -> Decision:
        freeze = instrument.freeze_quantity
        if freeze is not None and request.quantity > freeze:
            return _deny("freeze_quantity", _freeze_reason(request.quantity, instrument))
        return Decision(request)

    def _validity(self, request: OrderRequest, instrument: Instrument) -> tuple[str, str] | None:
        kind = instrument.instrument_type
        if kind is InstrumentType.INDEX:
            return "instrument", f"{instrument.tradingsymbol} is an index and cannot be traded"
        if instrument.expiry is not None and self._today() > instrument.expiry:
            return "instrument", f"{instrument.tradingsymbol} expired on {instrument.expiry}"
        problem = _quantity_problem(request.quantity, instrument)
        if problem:
            return problem
        product = request.product
        if product is Product.CNC and kind is not InstrumentType.EQ:
            return (
                "product",
                f"CNC is for equity delivery; use NRML or MIS for {instrument.tradingsymbol}",
            )
        if product is Product.NRML and kind is InstrumentType.EQ:
            return "product", f"NRML is for F&O; use CNC or MIS for {instrument.tradingsymbol}"
        order_type, price, trigger = request.order_type, request.price, request.trigger_price
        if order_type is OrderType.LIMIT or order_type is OrderType.SL:
            if price is None:
                return "price", f"a {order_type} order needs a price"
            reason = _price_problem("price", price, instrument)
            if reason:
                return "tick_size", reason
        elif price is not None and order_type is OrderType.MARKET:
            return "price", "a MARKET order takes no price; use LIMIT to set one"
        if order_type is OrderType.SL or order_type is OrderType.SL_M:
            if trigger is None:
                return "trigger", f"a {order_type} order needs a trigger price"
            reason = _price_problem("trigger price", trigger, instrument)
            if reason:
                return "tick_size", reason
            if order_type is OrderType.SL and price is not None:
                buy = request.side is Side.BUY
                if price < trigger if buy else price > trigger:
                    return (
                        "trigger",
                        f"limit price {rupees_text(price)} is {'below' if buy else 'above'} the "
                        f"trigger {rupees_text(trigger)}: the order could never fill",
                    )
        elif trigger is not None:
            return "trigger", f"a {order_type} order takes no trigger price"
        return None

    def _state_refusal(
        self, request: OrderRequest, instrument: Instrument, reduces: bool
    ) -> Decision | None:
        why = f" ({self.state_reason})" if self.state_reason else ""
        if self.state is TradingState.HALTED:
            if reduces and (request.square_off or PRIVILEGES[request.source].reduce_when_halted):
                return None
            return _deny(
                "trading_state",
                f"trading is HALTED{why}: only square-off orders are accepted until you re-arm",
            )
        if not reduces:
            return _deny(
                "trading_state",
                f"trading is REDUCING{why}: only orders that reduce a position are accepted; "
                f"this {request.side.value} of {request.quantity} {instrument.tradingsymbol} "
                f"does not",
            )
        return None

    def _risk(
        self, request: OrderRequest, instrument: Instrument, rules: _Rules, reduces: bool
    ) -> Decision:
        assert self._clock is not None and self._quotes is not None and self.exposure is not None
        asked = request  # as the trader asked: what duplicates are told apart by
        limits = rules.limits
        now_ns = self._clock.time_ns()
        if (
            limits.check_session
            and self._session_open is not None
            and not self._open(instrument, now_ns)
        ):
            return _deny(
                "session",
                f"market is closed for {instrument.exchange} at {self._clock.now():%H:%M:%S} IST",
            )
        quantity = request.quantity
        slices: tuple[int, ...] = ()
        freeze = instrument.freeze_quantity
        if freeze is not None and quantity > freeze:
            if not limits.slice_above_freeze:
                return _deny("freeze_quantity", _freeze_reason(quantity, instrument))
            largest = instrument.max_order_quantity() or quantity
            whole, rest = divmod(quantity, largest)
            slices = (largest,) * whole + ((rest,) if rest else ())
        tick = self._quotes.get(request.token)
        ltp = tick.ltp if tick is not None else 0
        order_type = request.order_type
        lpp = None
        if ltp > 0 and (limits.check_price_protection or order_type is OrderType.MARKET):
            lpp = self._lpp(instrument, ltp)
        note = ""
        if order_type is OrderType.LIMIT:
            if tick is not None and request.price is not None:
                refusal = self._price_refusal(
                    request.side, request.price, instrument, rules, tick, lpp
                )
                if refusal is not None:
                    return refusal
        elif order_type is OrderType.MARKET or order_type is OrderType.SL_M:
            if (
                order_type is OrderType.MARKET
                and instrument.is_option
                and instrument.underlying not in self._index
                and not limits.allow_market_on_stock_options
            ):
                return _deny(
                    "market_protection",
                    f"MARKET orders are not accepted on stock options "
                    f"({instrument.tradingsymbol}); use a LIMIT order",
                )
            if order_type is OrderType.MARKET:
                if ltp <= 0:
                    return _deny(
                        "market_protection",
                        f"no last traded price for {instrument.tradingsymbol}: a MARKET order "
                        f"cannot be protected; use a LIMIT order",
                    )
                price = protected_price(
                    instrument, request.side, ltp, limits.market_protection_pct, lpp
                )
                request = _replace_terms(request, OrderType.LIMIT, Paise(price))
                note = f"market protection: sent as LIMIT {rupees_text(price)}"
            else:
                assert request.trigger_price is not None
                price = protected_price(
                    instrument,
                    request.side,
                    request.trigger_price,
                    limits.market_protection_pct,
                    None,
                )
                request = _replace_terms(request, OrderType.SL, Paise(price))
                note = f"market protection: sent as SL with limit {rupees_text(price)}"
        elif order_type is OrderType.SL and request.price is not None and tick is not None:
            band = self._range(instrument, tick.close, limits)
            if (
                limits.check_price_protection
                and band is not None
                and band.refuses(request.side, request.price)
            ):
                return _band_refusal(request.side, request.price, band)
        price_for_value = request.price if request.price is not None else ltp
        if quantity > rules.max_order_quantity:
            return _deny(
                "max_order_quantity",
                f"quantity {quantity} is above the limit of {limits.max_order_quantity} per order",
            )
        if price_for_value * quantity > rules.max_order_value:
            value = Decimal(price_for_value * quantity) / 100
            return _deny(
                "max_order_value",
                f"order value {_rupees(value)} is above the limit of "
                f"{_rupees(limits.max_order_value or 0)} per order",
            )
        square_off = PRIVILEGES[request.source].skip_duplicate_check
        window = rules.duplicate_window_ns
        key: tuple[object, ...] | None = None
        if window and not square_off:
            key = _duplicate_key(asked)
            recent = self._recent
            last = recent.get(key)
            if last is not None and now_ns - last < window:
                return _deny(
                    "duplicate",
                    f"duplicate: the same order for {instrument.tradingsymbol} was sent "
                    f"{(now_ns - last) / _NS:.1f} s ago (window "
                    f"{limits.duplicate_window_seconds:g} s)",
                )
        exposure = self.exposure
        if not square_off and exposure.open_orders + (len(slices) or 1) > rules.max_open_orders:
            return _deny(
                "max_open_orders",
                f"{exposure.open_orders} orders are open; the limit is {limits.max_open_orders}",
            )
        if not reduces:
            refusal = self._exposure_refusal(request, instrument, rules, quantity)
            if refusal is not None:
                return refusal
        if slices:
            note = (f"{note}; " if note else "") + (
                f"sliced into {len(slices)} orders of at most {slices[0]} (freeze "
                f"{instrument.freeze_quantity})"
            )
        if key is not None:  # remembered only once allowed: a refused order was never sent
            self._remember(key, now_ns, window)
        return Decision(request, "", "", slices, note)

    def forget(self, request: OrderRequest) -> None:
        """The order the gate allowed was not sent after all (the order-rate throttle refused
        it): it no longer counts as sent for the duplicate check."""
        self._recent.pop(_duplicate_key(request), None)

    def _remember(self, key: tuple[object, ...], now_ns: int, window: int) -> None:
        recent, expiry = self._recent, self._recent_expiry
        while expiry and expiry[0][0] <= now_ns:
            _, old_key, seen_ns = expiry.popleft()
            if recent.get(old_key) == seen_ns:
                del recent[old_key]
        recent[key] = now_ns
        expiry.append((now_ns + window, key, now_ns))

    def _price_refusal(
        self,
        side: Side,
        price: int,
        instrument: Instrument,
        rules: _Rules,
        tick: Tick,
        lpp: Band | None = None,
    ) -> Decision | None:
        ltp = tick.ltp
        limits = rules.limits
        if limits.check_price_protection:
            band = lpp
            if band is None and ltp > 0:
                band = self._lpp(instrument, ltp)
            if band is not None and band.refuses(side, price):
                return _band_refusal(side, price, band)
            if instrument.instrument_type in _BANDED:
                band = self._range(instrument, tick.close, limits)
                if band is not None and band.refuses(side, price):
                    return _band_refusal(side, price, band)
        if rules.fat_finger_share and ltp > 0:
            distance = price - ltp if price > ltp else ltp - price
            if distance > ltp * rules.fat_finger_share and distance > rules.fat_finger_floor:
                return _deny(
                    "fat_finger",
                    f"price {rupees_text(price)} is {distance * 100 / ltp:.0f} % away from the "
                    f"last price {rupees_text(ltp)}; the fat-finger limit is "
                    f"{limits.fat_finger_pct} %",
                )
        return None

    def _exposure_refusal(
        self, request: OrderRequest, instrument: Instrument, rules: _Rules, quantity: int
    ) -> Decision | None:
        exposure = self.exposure
        assert exposure is not None
        token = request.token
        signed = quantity if request.side is Side.BUY else -quantity
        lot = instrument.lot_size
        token_net = exposure.token_net.get(token, 0)
        long = token_net + exposure.token_buys.get(token, 0) + (signed if signed > 0 else 0)
        short = token_net - exposure.token_sells.get(token, 0) + (signed if signed < 0 else 0)
        worst = long if signed > 0 else short
        if abs(worst) > rules.max_position_lots * lot:
            return _deny(
                "max_position",
                f"the position in {instrument.tradingsymbol} would reach {abs(worst) // lot} "
                f"lots with open orders; the limit is {rules.limits.max_position_lots} lots",
            )
        if rules.max_underlying_lots != _UNLIMITED:
            underlying = instrument.underlying
            if exposure.has_lot_sizes:
                gross = exposure.underlying_lots.get(underlying, 0) - exposure.token_lots(token)
            else:
                gross = 0
                for other_token in exposure.tokens_of(underlying):
                    other = self._instruments(other_token) if other_token != token else None
                    if other is not None:
                        gross += abs(exposure.token_worst_case(other_token)) // other.lot_size
            gross += max(abs(long), abs(short)) // lot
            if gross > rules.max_underlying_lots:
                return _deny(
                    "max_underlying_position",
                    f"positions in {underlying} would reach {gross} lots with open "
                    f"orders; the limit is {rules.max_underlying_lots} lots",
                )
        margin = self.margin
        limits = rules.limits
        if margin is None or not (limits.check_margin or limits.max_concentration_pct):
            return None
        after = self._margin_quantity_after(token, request.product, signed)
        available = self.margin_budget() if limits.check_margin else math.inf
        most, most_in_underlying = margin.bound_after(instrument, request.product, after)
        if most <= available and most_in_underlying <= rules.max_concentration:
            return None  # fits even at the most this order could add: no repricing needed
        total, in_underlying = margin.requirement_after(instrument, request.product, after)
        if total <= margin.total + 1e-6:
            return None  # the order frees margin (or needs none)
        if total > available:
            needs = total - margin.total
            if self.broker_funds is not None:
                left = available - margin.total
                return _deny(
                    "margin",
                    f"margin: this order needs about {_rupees(needs)} but the broker shows "
                    f"{_rupees(max(left, 0.0))} available",
                )
            return _deny(
                "margin",
                f"margin: the account would need {_rupees(total)} (this order "
                f"{_rupees(needs)}) but has {_rupees(available)}",
            )
        if in_underlying > rules.max_concentration:
            share = in_underlying * 100 / rules.capital
            return _deny(
                "concentration",
                f"margin in {instrument.underlying} would be {share:.1f} % of capital; "
                f"the limit is {limits.max_concentration_pct} %",
            )
        return None

    def _margin_quantity_after(self, token: InstrumentToken, product: Product, signed: int) -> int:
        """The margin quantity of (instrument, product) once this order works: the position with
        every open order on the side that grows it filled, as the margin estimate counts it."""
        exposure = self.exposure
        assert exposure is not None
        key = (token, product)
        net = exposure.net.get(key, 0)
        long = net + exposure.buys.get(key, 0) + (signed if signed > 0 else 0)
        short = net - exposure.sells.get(key, 0) + (signed if signed < 0 else 0)
        return long if abs(long) >= abs(short) else short

    def margin_needed(self, request: OrderRequest) -> float | None:
        """Rupees this order would add to the desk's margin (negative when it frees some), by
        the estimate the margin check uses; None without a margin estimate or instrument."""
        instrument = self._instruments(request.token)
        if self.margin is None or self.exposure is None or instrument is None:
            return None
        signed = request.quantity if request.side is Side.BUY else -request.quantity
        after = self._margin_quantity_after(request.token, request.product, signed)
        total, _ = self.margin.requirement_after(instrument, request.product, after)
        return total - self.margin.total

    # -- modifications ---------------------------------------------------------------------------

    def decide_modify(self, order: Order, change: Modification) -> Decision:
        if not order.is_open:
            return _deny(
                "order", f"order {order.order_id} is {order.status} and cannot be modified"
            )
        instrument = self._instruments(order.token)
        if instrument is None:
            return _deny("instrument", f"unknown instrument {order.token}")
        if change.quantity is not None:
            problem = _quantity_problem(change.quantity, instrument)
            if problem:
                return _deny(*problem)
            if change.quantity <= order.filled_quantity:
                return _deny(
                    "quantity",
                    f"quantity {change.quantity} must be above the {order.filled_quantity} "
                    f"already filled",
                )
            freeze = instrument.freeze_quantity
            if freeze is not None and change.quantity > freeze:
                return _deny("freeze_quantity", _freeze_reason(change.quantity, instrument))
        for label, value in (("price", change.price), ("trigger price", change.trigger_price)):
            if value is not None:
                reason = _price_problem(label, value, instrument)
                if reason:
                    return _deny("tick_size", reason)
        order_type = change.order_type or order.order_type
        if order_type in _PRICED and change.price is None and order.price is None:
            return _deny("price", f"a {order_type} order needs a price")
        added = max((change.quantity or order.quantity) - order.quantity, 0)
        if self.state is TradingState.HALTED:
            why = f" ({self.state_reason})" if self.state_reason else ""
            return _deny("trading_state", f"trading is HALTED{why}: orders cannot be modified")
        if self.state is TradingState.REDUCING and self.exposure is not None:
            net = self.exposure.net.get((order.token, order.product), 0)
            reducing = net != 0 and (net > 0) != (order.side is Side.BUY)
            if added or not reducing:
                return _deny(
                    "trading_state",
                    f"trading is REDUCING ({self.state_reason}): only orders that reduce a "
                    f"position may be modified, and not upwards",
                )
        if self.settings is None or not self.enabled or self.exposure is None:
            return Decision(None, change=change)
        assert self._quotes is not None
        rules = self._rules_for(instrument.underlying)
        limits = rules.limits
        tick = self._quotes.get(order.token)
        new_quantity = change.quantity or order.quantity
        if order_type is OrderType.MARKET:
            ltp = tick.ltp if tick is not None else 0
            if ltp <= 0:
                return _deny(
                    "market_protection",
                    f"no last traded price for {instrument.tradingsymbol}: cannot protect a "
                    f"MARKET modification",
                )
            lpp = lpp_band(instrument, ltp, self._index)
            price = protected_price(instrument, order.side, ltp, limits.market_protection_pct, lpp)
            change = Modification(change.quantity, Paise(price), None, OrderType.LIMIT)
        elif order_type is OrderType.LIMIT and change.price is not None and tick is not None:
            refusal = self._price_refusal(order.side, change.price, instrument, rules, tick)
            if refusal is not None:
                return refusal
        if limits.max_order_quantity is not None and new_quantity > limits.max_order_quantity:
            return _deny(
                "max_order_quantity",
                f"quantity {new_quantity} is above the limit of {limits.max_order_quantity} "
                f"per order",
            )
        price_now = change.price or order.price or (tick.ltp if tick is not None else 0)
        new_value = Decimal(price_now * new_quantity) / 100
        if limits.max_order_value is not None and new_value > limits.max_order_value:
            return _deny(
                "max_order_value",
                f"order value {_rupees(new_value)} is above the limit of "
                f"{_rupees(limits.max_order_value)} per order",
            )
        if added:
            request = OrderRequest(
                order.token, order.side, added, OrderType.LIMIT, order.product, price=order.price
            )
            refusal = self._exposure_refusal(request, instrument, rules, added)
            if refusal is not None:
                return refusal
        return Decision(None, change=change)


def _duplicate_key(request: OrderRequest) -> tuple[object, ...]:
    return (
        request.token,
        request.side,
        request.quantity,
        request.order_type,
        request.price,
        request.trigger_price,
        request.product,
    )


def _replace_terms(request: OrderRequest, order_type: OrderType, price: Paise) -> OrderRequest:
    return OrderRequest(
        request.token,
        request.side,
        request.quantity,
        order_type,
        request.product,
        request.validity,
        price,
        request.trigger_price,
        request.tag,
        request.source,
        request.strategy,
        request.square_off,
    )


def _band_refusal(side: Side, price: int, band: Band) -> Decision:
    low, high, name = band.low, band.high, band.name
    edge = f"above {rupees_text(high)}" if price > high else f"below {rupees_text(low)}"
    return _deny(
        "price_protection",
        f"{side.value} price {rupees_text(price)} is {edge}, outside the exchange's {name} "
        f"{rupees_text(low)}–{rupees_text(high)}",
    )
