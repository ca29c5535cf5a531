"""What the order manager needs from the pre-trade gate: the OMS declares it, the risk layer
implements it (``engine.risk.gate.OrderGate``), so the OMS never imports the risk layer."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from engine.domain.order import Order
from engine.domain.orders import Modification, OrderRequest
from engine.oms.exposure import Exposure


class Decision(NamedTuple):
    """The gate's answer. ``reason`` empty means allowed."""

    request: OrderRequest | None
    """What to send (possibly converted); None when refused."""
    reason: str = ""
    check: str = ""
    slices: tuple[int, ...] = ()
    """Child quantities when the order is to be sliced at the freeze quantity."""
    note: str = ""
    """What the gate changed, for the trader (market protection, slicing)."""
    change: Modification | None = None
    """For a modification: what to send (a MARKET change becomes a protected LIMIT)."""

    @property
    def allowed(self) -> bool:
        return not self.reason


class Throttle(Protocol):
    """The order-rate limit the OMS queues behind."""

    def capacity(self, now_ns: int) -> int: ...

    def try_acquire(self, now_ns: int) -> bool: ...

    def next_window_ns(self, now_ns: int) -> int: ...

    def describe(self) -> str: ...


class Gate(Protocol):
    """Every order and modification passes here before it reaches a broker."""

    @property
    def exposure(self) -> Exposure | None: ...

    @property
    def throttle(self) -> Throttle | None: ...

    @property
    def throttle_queues(self) -> bool: ...

    def decide(self, request: OrderRequest) -> Decision: ...

    def decide_modify(self, order: Order, change: Modification) -> Decision: ...

    def forget(self, request: OrderRequest) -> None:
        """A decided order was not sent after all (queued past its chance, or failed)."""
        ...
