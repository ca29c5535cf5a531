"""The risk manager: the trading state, the kill switch, the breakers' actions, limits and usage.

It owns nothing the gate decides with; it moves the gate's state and journals every move through
the order manager's units of work (journal first, then publish), so a state change, the cancels
and the square-off orders it causes are one durable record.

- ``kill_switch``: HALTED, every open and queued order cancelled, every position squared off if
  asked; it stays HALTED until ``rearm``. What a live broker could not be reached for is done
  again when it answers (``engine.risk.kill_switch``).
- A breaker trip: the ``BreakerTripped`` event, the state it asks for (never looser than the
  current one), then cancels (all open orders when HALTED, the exposure-increasing ones when
  REDUCING) and the square-off when the limits say so.
- ``rearm``: back to ACTIVE, only on the trader's explicit word; the breakers' latches reset.
- After a restart the last journaled state comes back: a halt survives a crash.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from engine.brokers.live import BrokerReconciled
from engine.core.bus import EventBus
from engine.core.clock import IST, Clock
from engine.domain.events import (
    BreakerTripped,
    EngineMessage,
    FundsChanged,
    OrderFilled,
    OrderStatusChanged,
    RiskLimitsChanged,
    RiskStateChanged,
    Severity,
    TradingState,
    VarReport,
)
from engine.domain.ids import OrderId
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import Side
from engine.domain.origin import OrderSource
from engine.domain.ticks import Tick
from engine.marketdata.quotes import QuoteCache
from engine.oms.order_manager import OrderManager
from engine.options import implied_vol
from engine.risk.breakers import CircuitBreakers
from engine.risk.gate import InstrumentLookup, OrderGate
from engine.risk.kill_switch import KillSwitch, KillSwitchReport
from engine.risk.limits import RiskLimits, RiskSettings
from engine.risk.margin import MarginEstimator, years_left
from engine.risk.var import KIND_LINEAR, KIND_OPTION, VarPortfolio, VarResult

log = logging.getLogger(__name__)

_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(frozen=True, slots=True)
class LimitUsage:
    """One limit and how much of it is used, for the risk panel's bars."""

    name: str
    description: str
    used: Decimal
    limit: Decimal | None
    unit: str

    @property
    def fraction(self) -> float | None:
        if self.limit is None or self.limit <= 0:
            return None
        return float(self.used / self.limit)


@dataclass(frozen=True, slots=True)
class TradingStatus:
    state: TradingState
    reason: str
    since_ns: int
    source: str


class RiskManager:
    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        orders: OrderManager,
        gate: OrderGate,
        quotes: QuoteCache,
        instruments: InstrumentLookup,
        all_instruments: Iterable[Instrument],
        margin: MarginEstimator | None = None,
        spot: Any = None,
    ) -> None:
        if gate.settings is None or gate.exposure is None:
            raise ValueError("the risk manager needs a gate built with risk settings")
        self._bus = bus
        self._clock = clock
        self._orders = orders
        self.gate = gate
        self._quotes = quotes
        self._instruments = instruments
        self.margin = margin
        self._spot = spot
        self.since_ns = clock.time_ns()
        self.source = "start"
        self.history: list[BreakerTripped] = []
        self.last_var: VarReport | None = None
        self._kill = KillSwitch(
            clock=clock,
            orders=orders,
            gate=gate,
            instruments=instruments,
            halt=lambda reason: self._move(TradingState.HALTED, reason, "kill-switch"),
            publish=bus.publish,
        )
        self.breakers = CircuitBreakers(
            limits=self._account_limits,
            positions=orders.positions,
            quotes=quotes,
            clock=clock,
            exposure=gate.exposure,
            instruments=all_instruments,
            trip=self.trip,
        )
        gate.day_pnl = self._last_mtm
        bus.subscribe(Tick, self.breakers.on_tick, tokens=self.breakers.ticked)
        bus.subscribe(OrderFilled, self.breakers.on_fill)
        bus.subscribe(OrderFilled, self._kill.on_fill)
        bus.subscribe(BrokerReconciled, self._kill.on_reconciled)
        bus.subscribe(OrderStatusChanged, self.breakers.on_status)
        bus.subscribe(FundsChanged, gate.set_broker_funds)
        if margin is not None:
            gate.exposure.listeners.append(self._exposure_moved)

    def _last_mtm(self) -> Decimal:
        """The day's MTM as of the last tick or fill of a held instrument (kept by the
        breakers), so the order path never re-marks the book."""
        return self.breakers.mtm

    # -- state -----------------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        return self.gate.state

    def status(self) -> TradingStatus:
        return TradingStatus(self.gate.state, self.gate.state_reason, self.since_ns, self.source)

    def set_state(self, state: TradingState, reason: str, source: str = "trader") -> bool:
        """Move to a stricter state (or the same); loosening is ``rearm``'s alone."""
        if _STRICTNESS[state] < _STRICTNESS[self.gate.state]:
            return False
        if state is self.gate.state and reason == self.gate.state_reason:
            return False
        self._move(state, reason, source)
        if state is TradingState.HALTED:
            self._kill.follow_up("the halt")
            self._orders.cancel_all()
        elif state is TradingState.REDUCING:
            self._cancel_increasing()
        return True

    def rearm(self, reason: str = "re-armed by the trader") -> bool:
        """Back to ACTIVE: only ever on the trader's explicit word."""
        if self.gate.state is TradingState.ACTIVE:
            return False
        self.breakers.rearm()
        self._kill.rearm()
        self._move(TradingState.ACTIVE, reason, "rearm")
        return True

    def kill_switch(self, *, square_off: bool = False, reason: str = "") -> KillSwitchReport:
        """HALTED, every open and queued order cancelled, every position squared off if asked
        (``engine.risk.kill_switch``: followed up while the broker cannot be reached)."""
        return self._kill.press(square_off=square_off, reason=reason)

    def trip(
        self,
        breaker: str,
        reason: str,
        action: TradingState,
        square_off: bool,
        value: Decimal | None = None,
    ) -> None:
        event = BreakerTripped(self._clock.time_ns(), breaker, reason, action, square_off, value)
        self.history.append(event)
        log.warning("breaker %s tripped: %s", breaker, reason)
        with self._orders.unit():
            self._orders.record(
                event, EngineMessage(event.ts_ns, Severity.ERROR, f"breaker: {reason}", "risk")
            )
            self.set_state(action, reason, f"breaker:{breaker}")
            if square_off:
                self._kill.flattening = True
                self._kill.follow_up(f"the square-off of breaker {breaker}")
                self._orders.square_off_all(OrderSource.RISK)

    def _move(self, state: TradingState, reason: str, source: str) -> None:
        previous = self.gate.state
        event = RiskStateChanged(self._clock.time_ns(), state, previous, reason, source)
        self.gate.state = state
        self.gate.state_reason = "" if state is TradingState.ACTIVE else reason
        self.since_ns = event.ts_ns
        self.source = source
        severity = Severity.INFO if state is TradingState.ACTIVE else Severity.ERROR
        self._orders.record(
            event,
            EngineMessage(event.ts_ns, severity, f"trading {state.value}: {reason}", "risk"),
        )

    def _cancel_increasing(self) -> None:
        exposure = self.gate.exposure
        assert exposure is not None
        for order in self._orders.open_orders():
            net = exposure.net.get((order.token, order.product), 0)
            if net == 0 or (net > 0) == (order.side is Side.BUY):
                self._orders.cancel(order.order_id)

    # -- restart -----------------------------------------------------------------------------------

    def restore(self, entries: Iterable[tuple[str, str | None, int, dict[str, Any]]]) -> None:
        """Bring back the limits the trader last set, the last trading state and the breach
        history from the journal; start the breakers' day."""
        last: RiskStateChanged | None = None
        saved: tuple[int, dict[str, Any]] | None = None
        for kind, _order_id, ts_ns, payload in entries:
            if kind == RiskStateChanged.kind:
                last = RiskStateChanged.from_payload(ts_ns, payload)
            elif kind == BreakerTripped.kind:
                self.history.append(BreakerTripped.from_payload(ts_ns, payload))
            elif kind == RiskLimitsChanged.kind:
                saved = ts_ns, payload
        if saved is not None:
            self._restore_limits(*saved)
        if last is not None and last.state is not TradingState.ACTIVE:
            self.gate.state = last.state
            self.gate.state_reason = last.reason
            self.since_ns = last.ts_ns
            self.source = last.source
            self._bus.publish(
                EngineMessage(
                    self._clock.time_ns(),
                    Severity.ERROR,
                    f"trading is still {last.state.value} after the restart: {last.reason}; "
                    f"re-arm to trade",
                    "risk",
                )
            )
        self.breakers.start(self._orders.fills)

    # -- limits ------------------------------------------------------------------------------------

    @property
    def settings(self) -> RiskSettings:
        assert self.gate.settings is not None
        return self.gate.settings

    def _restore_limits(self, ts_ns: int, payload: dict[str, Any]) -> None:
        """Apply the limits last saved in the journal: a limit the trader set survives a
        restart. Saved limits this version cannot read are reported and the defaults kept."""
        when = f"{datetime.fromtimestamp(ts_ns / 1e9, IST):%d %b %Y %H:%M}"
        try:
            settings = RiskSettings.from_mapping(payload.get("settings", {}))
        except (TypeError, ValueError, AttributeError) as exc:
            log.warning("risk limits saved %s not restored: %s", when, exc)
            self._bus.publish(
                EngineMessage(
                    self._clock.time_ns(),
                    Severity.ERROR,
                    f"the risk limits saved {when} could not be restored ({exc}); the default "
                    f"limits apply: review them with Limits… in the Risk panel",
                    "risk",
                )
            )
            return
        self.gate.configure(settings)
        self._bus.publish(
            EngineMessage(
                self._clock.time_ns(), Severity.INFO, f"risk limits as saved {when}", "risk"
            )
        )

    def configure(self, settings: RiskSettings, reason: str = "") -> None:
        """Replace the limits (journaled) for every later order and every order still queued."""
        event = RiskLimitsChanged(self._clock.time_ns(), settings.to_mapping(), reason)
        self.gate.configure(settings)
        with self._orders.unit():
            self._orders.record(
                event, EngineMessage(event.ts_ns, Severity.INFO, "risk limits changed", "risk")
            )
            self._orders.recheck_queued()

    def _account_limits(self) -> RiskLimits:
        limits = self.gate.account_limits
        assert limits is not None
        return limits

    def usage(self) -> list[LimitUsage]:
        limits = self._account_limits()
        exposure = self.gate.exposure
        assert exposure is not None
        rows: list[LimitUsage] = []
        described = {name: (text, unit) for name, text, unit, _ in RiskLimits.describe()}

        def row(name: str, used: Decimal | int | float, limit: Decimal | int | None) -> None:
            text, unit = described[name]
            rows.append(
                LimitUsage(
                    name,
                    text,
                    Decimal(str(used)).quantize(Decimal("0.01")),
                    None if limit is None else Decimal(limit).quantize(Decimal("0.01")),
                    unit,
                )
            )

        mtm = self.breakers.day_mtm()
        row("daily_loss_limit", max(-mtm, Decimal(0)), limits.daily_loss_limit)
        if limits.max_drawdown_from_peak is not None:
            row("max_drawdown_from_peak", self.breakers.peak - mtm, limits.max_drawdown_from_peak)
        if self.margin is not None:
            row("capital", self.margin.total, Decimal(repr(self.gate.margin_budget())))
            by_underlying = self.margin.by_underlying()
            top = max(by_underlying.values(), default=0.0)
            row(
                "max_concentration_pct",
                top * 100 / float(limits.capital),
                limits.max_concentration_pct,
            )
        row("max_open_orders", exposure.open_orders, limits.max_open_orders)
        lots = [
            abs(exposure.token_worst_case(t)) // i.lot_size
            for t in list(exposure.token_net)
            if (i := self._instruments(t)) is not None
        ]
        row("max_position_lots", max(lots, default=0), limits.max_position_lots)
        throttle = self.gate.throttle
        if throttle is not None and limits.max_orders_per_second is not None:
            used = limits.max_orders_per_second - throttle.capacity(self._clock.time_ns())
            row("max_orders_per_second", max(used, 0), limits.max_orders_per_second)
        return rows

    # -- margin and VaR ----------------------------------------------------------------------------

    def _exposure_moved(self, token: Any, product: Any) -> None:
        margin = self.margin
        exposure = self.gate.exposure
        if margin is None or exposure is None:
            return
        instrument = self._instruments(token)
        if instrument is None or not instrument.tradable:
            return
        margin.update(instrument, product, exposure.worst_case(token, product))

    def var_portfolio(
        self, returns: dict[str, np.ndarray], rate: float = 0.065
    ) -> VarPortfolio | None:
        """The open positions as arrays for ``compute_var``; None when flat or no history."""
        rows: list[tuple[int, int, float, float, float, float, float, bool]] = []
        underlyings: list[str] = []
        spots: list[float] = []
        now = self._clock.now()
        for position in self._orders.positions.open():
            instrument = self._instruments(position.token)
            ltp = self._quotes.ltp(position.token)
            if instrument is None or not ltp or instrument.underlying not in returns:
                continue
            if instrument.underlying not in underlyings:
                spot = self._spot(instrument.underlying) if self._spot else None
                underlyings.append(instrument.underlying)
                spots.append((spot or ltp) / 100)
            u = underlyings.index(instrument.underlying)
            price = ltp / 100
            if instrument.is_option:
                years = years_left(instrument.expiry, now)
                strike = (instrument.strike or 0) / 100
                forward = spots[u] * math.exp(rate * years)
                vol = float(
                    implied_vol(
                        price,
                        forward,
                        strike,
                        years,
                        rate,
                        instrument.instrument_type is InstrumentType.CE,
                    )
                )
                rows.append(
                    (
                        u,
                        KIND_OPTION,
                        float(position.net_quantity),
                        price,
                        strike,
                        years,
                        vol if math.isfinite(vol) else 0.2,
                        instrument.instrument_type is InstrumentType.CE,
                    )
                )
            else:
                rows.append(
                    (u, KIND_LINEAR, float(position.net_quantity), price, 0.0, 0.0, 0.0, False)
                )
        if not rows:
            return None
        columns = list(zip(*rows, strict=True))
        days = min(len(returns[u]) for u in underlyings)
        return VarPortfolio(
            tuple(underlyings),
            np.array(spots),
            np.column_stack(
                [np.asarray(returns[u][-days:], dtype=np.float64) for u in underlyings]
            ),
            np.array(columns[0], dtype=np.int64),
            np.array(columns[1], dtype=np.int8),
            np.array(columns[2], dtype=np.float64),
            np.array(columns[3], dtype=np.float64),
            np.array(columns[4], dtype=np.float64),
            np.array(columns[5], dtype=np.float64),
            np.array(columns[6], dtype=np.float64),
            np.array(columns[7], dtype=bool),
            rate,
        )

    def publish_var(self, result: VarResult | None, positions: int, note: str = "") -> VarReport:
        def money(value: float | None) -> Decimal | None:
            if value is None or not math.isfinite(value):
                return None
            return Decimal(repr(value)).quantize(Decimal("0.01"))

        h = result.historical if result else {}
        m = result.monte_carlo if result else {}
        report = VarReport(
            self._clock.time_ns(),
            positions,
            money(h[0.95][0]) if 0.95 in h else None,
            money(h[0.99][0]) if 0.99 in h else None,
            money(h[0.95][1]) if 0.95 in h else None,
            money(h[0.99][1]) if 0.99 in h else None,
            money(m[0.95][0]) if 0.95 in m else None,
            money(m[0.99][0]) if 0.99 in m else None,
            money(m[0.95][1]) if 0.95 in m else None,
            money(m[0.99][1]) if 0.99 in m else None,
            money(result.mc_standard_error_99) if result else None,
            result.scenarios if result else 0,
            result.paths if result else 0,
            result.seconds if result else 0.0,
            note,
        )
        self.last_var = report
        self._bus.publish(report)
        return report

    def open_order_ids(self) -> list[OrderId]:
        return [o.order_id for o in self._orders.open_orders()]
