"""Execution quality of the advanced orders where it means something: a bracket's entry (the
order that takes the position) against the mid when the bracket started and the market's VWAP
while the entry worked, in the same figures as an algo parent's. Exits (target, stop, trail)
are decided by price levels, not by execution, and are left out; OCO, trailing and conditional
orders and GTTs have no arrival of their own (they act on a trigger) and are not measured."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.core.clock import ist_date_of
from engine.domain.orders import Side
from engine.strategies.algos.quality import ExecutionQuality, measure
from engine.strategies.orders.entry_tape import EntryTape
from engine.strategies.ports import StrategyApi

OWNER = "advanced orders"


def bracket_quality(
    api: StrategyApi,
    parent_id: str,
    spec: dict[str, Any],
    state: dict[str, Any],
    status: str,
) -> ExecutionQuality | None:
    """The entry's figures of bracket ``parent_id`` from its saved ``state`` (the tape and the
    entry's id) and the book's fills; None before the bracket started."""
    tape = EntryTape.from_dict(state.get("tape"))
    if not tape.started_ns:
        return None
    entry_id = state.get("entry_id")
    fills = [
        (t.ts_ns, t.quantity, int(t.price * 100))
        for t in api.trades()
        if entry_id is not None and str(t.order_id) == str(entry_id)
    ]
    token = int(spec["token"])
    instrument = api.instruments.find(token)
    return measure(
        parent_id=parent_id,
        kind="bracket",
        owner=OWNER,
        symbol=instrument.tradingsymbol if instrument else str(token),
        side=Side(spec["side"]),
        day=ist_date_of(tape.started_ns).date(),
        status=status,
        target=int(spec["quantity"]),
        started_ns=tape.started_ns,
        arrival_paise=None if tape.arrival is None else Decimal(tape.arrival),
        fills=fills,
        vwap_value_paise=tape.vwap_value,
        vwap_volume=tape.vwap_volume,
        children=0 if entry_id is None else 1,
        ticks_from_ns=tape.ticks_from_ns,
        ticks_to_ns=tape.ticks_to_ns,
    )
