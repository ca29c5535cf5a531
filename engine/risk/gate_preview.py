"""The gate's answer for an order that is not sent now but later by someone else: a GTT's order,
which the broker places itself when the trigger is crossed (kite_xts_apis.md §A.15). The checks
run as they would on that order then: the market taken to stand at the trigger (price
protection, fat finger), whatever the session is now (a GTT is often placed after the close), and
nothing is remembered (the duplicate check does not count it as sent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.domain.orders import OrderRequest
from engine.marketdata.quotes import QuoteCache
from engine.oms.gate_port import Decision

if TYPE_CHECKING:
    from engine.risk.gate import OrderGate


def decide_later(gate: OrderGate, request: OrderRequest, at_price: int | None) -> Decision:
    """``gate.decide(request)`` for an order placed later, with the market at ``at_price``
    (paise; None: as it is now)."""
    quotes, session_open = gate._quotes, gate._session_open
    if quotes is not None and at_price is not None:
        tick = quotes.get(request.token)
        if tick is not None:
            moved = QuoteCache()
            moved.update(tick._replace(ltp=at_price))
            gate._quotes = moved
    gate._session_open = None  # the broker places it in a session, whenever that is
    try:
        decision = gate.decide(request)
    finally:
        gate._quotes, gate._session_open = quotes, session_open
    if decision.allowed:
        gate.forget(request)  # not sent now: it must not make the next real order a duplicate
    return decision
