"""The risk layer through the facade: trading state, kill switch, limits, margin and VaR."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.api.parts import Service
from engine.api.snapshots import MarginSnapshot, OrderMargin, RiskLimitField
from engine.core.clock import IST
from engine.domain.events import (
    BreakerTripped,
    TradingState,
    VarReport,
)
from engine.domain.ids import InstrumentToken
from engine.domain.orders import (
    OrderRequest,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.domain.requests import (
    InputError,
    enum_of,
    note_of,
    quantity_of,
    request_from_rupees,
    settings_of,
    token_of,
)
from engine.risk.limits import ORDER_SCOPE, THROTTLE_MODES, RiskLimits, RiskSettings
from engine.risk.manager import KillSwitchReport, LimitUsage, RiskManager, TradingStatus


class RiskService(Service):
    # -- risk --------------------------------------------------------------------------------------

    def kill_switch(self, *, square_off: bool = False, reason: str = "") -> KillSwitchReport:
        """HALT trading, cancel every open and queued order, and square off every position if
        ``square_off`` is True; trading stays halted until ``rearm``. Never refused: a reason
        that is not text is journaled as its quotation."""
        return self._risk_layer().kill_switch(square_off=square_off is True, reason=note_of(reason))

    def rearm(self, reason: str = "re-armed by the trader") -> bool:
        """Back to ACTIVE after a kill switch or a breaker; False if already active."""
        return self._risk_layer().rearm(note_of(reason) or "re-armed by the trader")

    def set_trading_state(self, state: TradingState | str, reason: str) -> bool:
        """Tighten the trading state (REDUCING or HALTED); loosening is ``rearm``'s alone. A
        state that is not one raises ``ValueError`` with the reason, changing nothing."""
        checked = enum_of(TradingState, state, "trading state")
        return self._risk_layer().set_state(checked, note_of(reason), "trader")

    def trading_state(self) -> TradingStatus:
        return self._risk_layer().status()

    def risk_limits(self) -> RiskSettings:
        return self._risk_layer().settings

    def risk_limit_fields(self) -> list[tuple[str, str, str, Any]]:
        """(name, description, unit, default) of every limit, for a settings page."""
        return RiskLimits.describe()

    def risk_limit_schema(self) -> list[RiskLimitField]:
        """Every limit with its type, whether it can be switched off, its choices and whether an
        underlying may override it: what a settings page is generated from."""
        return _risk_limit_schema()

    def set_risk_limits(self, settings: RiskSettings | Mapping[str, Any], reason: str = "") -> None:
        """Replace the risk limits (a ``RiskSettings`` or its mapping form, validated: a bad key
        or value raises ValueError with the reason and changes nothing)."""
        if not isinstance(settings, RiskSettings):
            settings = RiskSettings.from_mapping(settings_of(settings))
        settings_of(settings.to_mapping())  # what the journal is given: values it holds
        self._risk_layer().configure(settings, note_of(reason))

    def risk_usage(self) -> list[LimitUsage]:
        return self._risk_layer().usage()

    def breaker_history(self) -> list[BreakerTripped]:
        return list(self._risk_layer().history)

    def var(self) -> VarReport | None:
        """The last VaR report (recomputed periodically off the event loop)."""
        return self._risk_layer().last_var

    def margin(self) -> MarginSnapshot:
        risk = self._risk_layer()
        estimator = risk.margin
        cents = Decimal("0.01")
        funds = risk.gate.broker_funds
        available = Decimal(repr(risk.gate.margin_budget())).quantize(cents)
        source = "capital" if funds is None else funds.broker
        as_of = None if funds is None else datetime.fromtimestamp(funds.ts_ns / 1e9, IST)
        if estimator is None:
            return MarginSnapshot(Decimal(0), available, {}, source, as_of)
        return MarginSnapshot(
            Decimal(repr(estimator.total)).quantize(cents),
            available,
            {u: Decimal(repr(v)).quantize(cents) for u, v in estimator.by_underlying().items()},
            source,
            as_of,
        )

    def order_margin(
        self,
        token: InstrumentToken,
        side: Side | str,
        quantity: int,
        product: Product | str = Product.NRML,
    ) -> OrderMargin | None:
        """What an order would need and what is free, before it is placed (None when there is
        no estimate: unknown instrument, no price yet, no risk layer)."""
        if self._risk is None:
            return None
        try:
            request = OrderRequest(
                token_of(token),
                enum_of(Side, side, "side"),
                quantity_of(quantity),
                OrderType.MARKET,
                enum_of(Product, product, "product"),
            )
        except InputError:
            return None
        gate = self._risk.gate
        needed = gate.margin_needed(request)
        if needed is None or not math.isfinite(needed):
            return None
        held = self._risk.margin.total if self._risk.margin is not None else 0.0
        cents = Decimal("0.01")
        funds = gate.broker_funds
        return OrderMargin(
            Decimal(repr(needed)).quantize(cents),
            Decimal(repr(gate.margin_budget() - held)).quantize(cents),
            "capital" if funds is None else funds.broker,
        )

    def _risk_layer(self) -> RiskManager:
        if self._risk is None:
            raise RuntimeError("this engine was built without the risk layer")
        return self._risk

    # -- the live broker's margin calculator -------------------------------------------------------

    async def broker_order_margin(
        self,
        token: InstrumentToken,
        side: Side | str,
        quantity: int,
        product: Product | str,
        order_type: OrderType | str = OrderType.LIMIT,
        price: Decimal | str | None = None,
        trigger_price: Decimal | str | None = None,
    ) -> Decimal:
        """What the broker's own calculator says an order needs, counting the positions held
        (a round trip to the broker: for a ticket, never on the order path). Raises LookupError
        without a broker calculator, the broker's error when it cannot answer."""
        calculator = self._parts.broker_margin
        if calculator is None:
            raise LookupError("this broker has no margin calculator")
        request = request_from_rupees(  # InputError (a ValueError) names a bad field
            token,
            side,
            quantity,
            order_type,
            product=product,
            validity=Validity.DAY,
            price=price,
            trigger_price=trigger_price,
            tag="",
            source="api",
        )
        return await calculator(request)


def _risk_limit_schema() -> list[RiskLimitField]:
    types = {f.name: str(f.type) for f in fields(RiskLimits)}  # strings: future annotations
    schema = []
    for name, description, unit, default in RiskLimits.describe():
        annotation = types[name]
        choices: tuple[str, ...] = ()
        if annotation == "bool":
            kind = "bool"
        elif "Decimal" in annotation:
            kind = "amount"
        elif annotation.startswith("int"):
            kind = "integer"
        elif annotation.startswith("float"):
            kind = "number"
        elif annotation == "TradingState":
            kind, choices = "choice", (TradingState.REDUCING.value, TradingState.HALTED.value)
        elif name == "throttle_mode":
            kind, choices = "choice", THROTTLE_MODES
        else:
            kind = "text"
        schema.append(
            RiskLimitField(
                name,
                description,
                unit,
                default,
                kind,
                "None" in annotation,
                choices,
                name in ORDER_SCOPE,
            )
        )
    return schema
