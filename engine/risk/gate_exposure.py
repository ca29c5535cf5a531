"""The gate's position, underlying, margin and concentration checks: what an order would
bring the book to, with its open orders counted as filled."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument
from engine.domain.orders import OrderRequest, Product, Side
from engine.oms.gate_port import Decision
from engine.risk.gate_rules import UNLIMITED, Rules, deny, rupees

if TYPE_CHECKING:
    from engine.risk.gate import OrderGate


def exposure_refusal(
    gate: OrderGate, request: OrderRequest, instrument: Instrument, rules: Rules, quantity: int
) -> Decision | None:
    exposure = gate.exposure
    assert exposure is not None
    token = request.token
    signed = quantity if request.side is Side.BUY else -quantity
    lot = instrument.lot_size
    token_net = exposure.token_net.get(token, 0)
    long = token_net + exposure.token_buys.get(token, 0) + (signed if signed > 0 else 0)
    short = token_net - exposure.token_sells.get(token, 0) + (signed if signed < 0 else 0)
    worst = long if signed > 0 else short
    if abs(worst) > rules.max_position_lots * lot:
        return deny(
            "max_position",
            f"the position in {instrument.tradingsymbol} would reach {abs(worst) // lot} "
            f"lots with open orders; the limit is {rules.limits.max_position_lots} lots",
        )
    if rules.max_underlying_lots != UNLIMITED:
        underlying = instrument.underlying
        if exposure.has_lot_sizes:
            gross = exposure.underlying_lots.get(underlying, 0) - exposure.token_lots(token)
        else:
            gross = 0
            for other_token in exposure.tokens_of(underlying):
                other = gate._instruments(other_token) if other_token != token else None
                if other is not None:
                    gross += abs(exposure.token_worst_case(other_token)) // other.lot_size
        gross += max(abs(long), abs(short)) // lot
        if gross > rules.max_underlying_lots:
            return deny(
                "max_underlying_position",
                f"positions in {underlying} would reach {gross} lots with open "
                f"orders; the limit is {rules.max_underlying_lots} lots",
            )
    margin = gate.margin
    limits = rules.limits
    if margin is None or not (limits.check_margin or limits.max_concentration_pct):
        return None
    after = margin_quantity_after(gate, token, request.product, signed)
    available = gate.margin_budget() if limits.check_margin else math.inf
    most, most_in_underlying = margin.bound_after(instrument, request.product, after)
    if most <= available and most_in_underlying <= rules.max_concentration:
        return None  # fits even at the most this order could add: no repricing needed
    total, in_underlying = margin.requirement_after(instrument, request.product, after)
    if total <= margin.total + 1e-6:
        return None  # the order frees margin (or needs none)
    if total > available:
        needs = total - margin.total
        if gate.broker_funds is not None:
            left = available - margin.total
            return deny(
                "margin",
                f"margin: this order needs about {rupees(needs)} but the broker shows "
                f"{rupees(max(left, 0.0))} available",
            )
        return deny(
            "margin",
            f"margin: the account would need {rupees(total)} (this order "
            f"{rupees(needs)}) but has {rupees(available)}",
        )
    if in_underlying > rules.max_concentration:
        share = in_underlying * 100 / rules.capital
        return deny(
            "concentration",
            f"margin in {instrument.underlying} would be {share:.1f} % of capital; "
            f"the limit is {limits.max_concentration_pct} %",
        )
    return None


def margin_quantity_after(
    gate: OrderGate, token: InstrumentToken, product: Product, signed: int
) -> int:
    """The margin quantity of (instrument, product) once this order works: the position with
    every open order on the side that grows it filled, as the margin estimate counts it."""
    exposure = gate.exposure
    assert exposure is not None
    key = (token, product)
    net = exposure.net.get(key, 0)
    long = net + exposure.buys.get(key, 0) + (signed if signed > 0 else 0)
    short = net - exposure.sells.get(key, 0) + (signed if signed < 0 else 0)
    return long if abs(long) >= abs(short) else short


def margin_needed(gate: OrderGate, request: OrderRequest) -> float | None:
    """Rupees this order would add to the desk's margin (negative when it frees some), by
    the estimate the margin check uses; None without a margin estimate or instrument."""
    instrument = gate._instruments(request.token)
    if gate.margin is None or gate.exposure is None or instrument is None:
        return None
    signed = request.quantity if request.side is Side.BUY else -request.quantity
    after = margin_quantity_after(gate, request.token, request.product, signed)
    total, _ = gate.margin.requirement_after(instrument, request.product, after)
    return total - gate.margin.total
