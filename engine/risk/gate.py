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

A contract is expired from its expiry day's F&O close by the market calendar, not from midnight
(``gate_rules.ExpiryCloses``); a gate without a clock knows only the date, and refuses from the
day after.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from engine.core.clock import Clock
from engine.domain.events import FundsChanged, TradingState
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest, OrderType, Side
from engine.domain.origin import PRIVILEGES
from engine.domain.ticks import Tick
from engine.domain.values import Paise, rupees_text
from engine.marketdata.quotes import QuoteCache
from engine.oms.exposure import Exposure
from engine.oms.gate_port import Decision
from engine.options.expiry_time import SessionCalendar
from engine.risk.gate_exposure import exposure_refusal, margin_needed
from engine.risk.gate_modify import decide_modify
from engine.risk.gate_preview import decide_later
from engine.risk.gate_rules import (
    BANDED,
    MINUTE_NS,
    NO_PNL,
    NS,
    BrokerFunds,
    ExpiryCloses,
    Rules,
    band_refusal,
    deny,
    duplicate_key,
    freeze_reason,
    replace_terms,
    rupees,
    validity_problem,
)
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
        calendar: SessionCalendar | None = None,
    ) -> None:
        self._instruments = instruments
        self._today = today
        # Expiry moments by the desk's calendar, else the packaged NSE calendar.
        self._expiries = ExpiryCloses(calendar)
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
        self._rules: dict[str, Rules] = {}
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
        minute = now_ns // MINUTE_NS
        cached = self._sessions.get(instrument.segment)
        if cached is not None and cached[0] == minute:
            return cached[1]
        is_open = self._session_open(instrument, self._clock.now())
        self._sessions[instrument.segment] = (minute, is_open)
        return is_open

    def expired_at(self, instrument: Instrument) -> datetime | None:
        """When the contract expired, if it has by the clock (without one: by the date)."""
        if instrument.expiry is None:
            return None
        clock = self._clock
        return self._expiries.expired_at(
            instrument.expiry, self._today(), None if clock is None else clock.time_ns()
        )

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
        pnl = self.day_pnl() if self.day_pnl is not None else NO_PNL
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

    def _rules_for(self, underlying: str) -> Rules:
        rules = self._rules.get(underlying)
        if rules is None:
            assert self.settings is not None and self.account_limits is not None
            limits = self.settings.limits_for(self.account, underlying)
            rules = self._rules[underlying] = Rules.of(limits, self.account_limits)
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
            return deny("instrument", f"unknown instrument {request.token}")
        problem = validity_problem(request, instrument, self.expired_at(instrument))
        if problem is not None:
            return deny(*problem)
        for extra in self.checks:
            reason = extra(request, instrument)
            if reason:
                return deny("custom", reason)
        exposure = self.exposure
        if exposure is None:
            return self._freeze_only(request, instrument)
        reduces = (request.token, request.product) in exposure.net and exposure.reduces(
            request.token,
            request.product,
            request.side,
            request.quantity,
            # The desk's square-off of a position (no strategy's exit) is judged on the position:
            # it cancels the plain exits working on it first (``OrderManager.square_off``).
            count_working=not (
                (request.square_off and request.strategy is None)
                or PRIVILEGES[request.source].reduce_on_position_alone
            ),
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
            return deny("freeze_quantity", freeze_reason(request.quantity, instrument))
        return Decision(request)

    def _state_refusal(
        self, request: OrderRequest, instrument: Instrument, reduces: bool
    ) -> Decision | None:
        why = f" ({self.state_reason})" if self.state_reason else ""
        if self.state is TradingState.HALTED:
            if reduces and (request.square_off or PRIVILEGES[request.source].reduce_when_halted):
                return None
            return deny(
                "trading_state",
                f"trading is HALTED{why}: only square-off orders are accepted until you re-arm",
            )
        if not reduces:
            return deny(
                "trading_state",
                f"trading is REDUCING{why}: only orders that reduce a position are accepted; "
                f"this {request.side.value} of {request.quantity} {instrument.tradingsymbol} "
                f"does not",
            )
        return None

    def _risk(
        self, request: OrderRequest, instrument: Instrument, rules: Rules, reduces: bool
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
            return deny(
                "session",
                f"market is closed for {instrument.exchange} at {self._clock.now():%H:%M:%S} IST",
            )
        quantity = request.quantity
        slices: tuple[int, ...] = ()
        freeze = instrument.freeze_quantity
        if freeze is not None and quantity > freeze:
            if not limits.slice_above_freeze:
                return deny("freeze_quantity", freeze_reason(quantity, instrument))
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
                and not (request.square_off and reduces)  # it goes as a protected LIMIT
            ):
                return deny(
                    "market_protection",
                    f"MARKET orders are not accepted on stock options "
                    f"({instrument.tradingsymbol}); use a LIMIT order",
                )
            if order_type is OrderType.MARKET:
                if ltp <= 0:
                    return deny(
                        "market_protection",
                        f"no last traded price for {instrument.tradingsymbol}: a MARKET order "
                        f"cannot be protected; use a LIMIT order",
                    )
                price = protected_price(
                    instrument, request.side, ltp, limits.market_protection_pct, lpp
                )
                request = replace_terms(request, OrderType.LIMIT, Paise(price))
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
                request = replace_terms(request, OrderType.SL, Paise(price))
                note = f"market protection: sent as SL with limit {rupees_text(price)}"
        elif order_type is OrderType.SL and request.price is not None and tick is not None:
            band = self._range(instrument, tick.close, limits)
            if (
                limits.check_price_protection
                and band is not None
                and band.refuses(request.side, request.price)
            ):
                return band_refusal(request.side, request.price, band)
        price_for_value = request.price if request.price is not None else ltp
        # A square-off's size is the position's, not a typed one: no fat finger to catch.
        closing = reduces and (
            request.square_off or PRIVILEGES[request.source].skip_duplicate_check
        )
        if quantity > rules.max_order_quantity and not closing:
            return deny(
                "max_order_quantity",
                f"quantity {quantity} is above the limit of {limits.max_order_quantity} per order",
            )
        if price_for_value * quantity > rules.max_order_value and not closing:
            value = Decimal(price_for_value * quantity) / 100
            return deny(
                "max_order_value",
                f"order value {rupees(value)} is above the limit of "
                f"{rupees(limits.max_order_value or 0)} per order",
            )
        square_off = PRIVILEGES[request.source].skip_duplicate_check
        window = rules.duplicate_window_ns
        key: tuple[object, ...] | None = None
        if window and not square_off:
            key = duplicate_key(asked)
            recent = self._recent
            last = recent.get(key)
            if last is not None and now_ns - last < window:
                return deny(
                    "duplicate",
                    f"duplicate: the same order for {instrument.tradingsymbol} was sent "
                    f"{(now_ns - last) / NS:.1f} s ago (window "
                    f"{limits.duplicate_window_seconds:g} s)",
                )
        exposure = self.exposure
        if not closing and exposure.open_orders + (len(slices) or 1) > rules.max_open_orders:
            return deny(
                "max_open_orders",
                f"{exposure.open_orders} orders are open; the limit is {limits.max_open_orders}",
            )
        if not reduces:
            refusal = exposure_refusal(self, request, instrument, rules, quantity)
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

    def decide_later(self, request: OrderRequest, at_price: int | None = None) -> Decision:
        """The answer for an order someone else sends later (a broker's GTT order on its
        trigger), the market taken at ``at_price``; nothing is remembered."""
        return decide_later(self, request, at_price)

    def forget(self, request: OrderRequest) -> None:
        """The order the gate allowed was not sent after all (the order-rate throttle refused
        it): it no longer counts as sent for the duplicate check."""
        self._recent.pop(duplicate_key(request), None)

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
        rules: Rules,
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
                return band_refusal(side, price, band)
            if instrument.instrument_type in BANDED:
                band = self._range(instrument, tick.close, limits)
                if band is not None and band.refuses(side, price):
                    return band_refusal(side, price, band)
        if rules.fat_finger_share and ltp > 0:
            distance = price - ltp if price > ltp else ltp - price
            if distance > ltp * rules.fat_finger_share and distance > rules.fat_finger_floor:
                return deny(
                    "fat_finger",
                    f"price {rupees_text(price)} is {distance * 100 / ltp:.0f} % away from the "
                    f"last price {rupees_text(ltp)}; the fat-finger limit is "
                    f"{limits.fat_finger_pct} %",
                )
        return None

    # -- modifications ---------------------------------------------------------------------------

    def margin_needed(self, request: OrderRequest) -> float | None:
        """Rupees this order would add to the desk's margin (negative when it frees some), by
        the estimate the margin check uses; None without a margin estimate or instrument."""
        return margin_needed(self, request)

    # -- modifications ---------------------------------------------------------------------------

    def decide_modify(self, order: Order, change: Modification) -> Decision:
        instrument = self._instruments(order.token)
        expired = None if instrument is None else self.expired_at(instrument)
        if instrument is not None and expired is not None and order.is_open:
            # The venue matches a modified order against the last quote: an expired contract's
            # resting order must not trade by being modified.
            return deny("instrument", instrument.expired_text(expired))
        return decide_modify(self, order, change)
