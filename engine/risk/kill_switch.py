"""The kill switch, and seeing it through: HALTED, every open and queued order cancelled, every
position squared off if asked, and the trader told in words of anything it could not do.

With a live broker a cancel is done only when the broker confirms it: the report counts as
cancelled the orders that have ended, and the rest as cancels sent, not yet confirmed by the
broker (the adapter keeps a cancel it could not complete, a lost reply or a refusal for a passing
reason such as a 429, and sends it again until the broker cancels). The kill switch says it is
finished, once, as soon as the last of its orders ends, whatever ends it (a status report, a
fill, a reconciliation). At the paper venue cancels are immediate and nothing waits.
A cancel or a square-off can also fail for want of the broker (unreachable). While the kill switch's state holds (HALTED, until the trader re-arms), each time the
broker answers again (``BrokerReconciled``, after a reconciliation that read its book whole)
what is still open is cancelled again and the positions still open are squared off again, net
of the square-offs already on their way (nothing is sent twice), and the trader is told what is
still open until nothing is. Fills of orders that were in flight when the square-off was asked
for are squared off as they arrive.

Every press says so on the bus (``KillSwitchPressed``), even one on a desk already HALTED: a desk
that trades several accounts passes each press on to its other accounts
(``engine.runtime.accounts``), so pressing again halts an account re-armed since.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from engine.brokers.live import BrokerReconciled
from engine.brokers.registry import broker_spec
from engine.core.clock import Clock
from engine.domain.events import EngineMessage, OrderFilled, Severity, TradingState
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.orders import OrderRequest, OrderType, Product, Side
from engine.domain.origin import OrderSource
from engine.oms.order_manager import OrderManager, Outcome
from engine.risk.gate import InstrumentLookup, OrderGate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KillSwitchPressed:
    """The kill switch was pressed (every press, whatever the state was). Not journaled: the
    halt, the cancels and the square-off orders it caused are, each in its own row."""

    ts_ns: int
    square_off: bool
    reason: str


@dataclass(frozen=True, slots=True)
class KillSwitchReport:
    state: TradingState
    cancelled: int
    """Orders cancelled (open at the broker or queued) and ended: the broker confirmed it."""
    square_off: list[Outcome]
    """The square-off orders placed (empty unless asked)."""
    not_cancelled: tuple[str, ...] = ()
    """Orders the kill switch could not cancel, each with the reason."""
    cancel_sent: tuple[str, ...] = ()
    """Orders whose cancel is sent and not yet confirmed by the broker (a live broker answers
    later; a cancel it refuses for a passing reason is sent again until it cancels)."""
    broker: str = "the broker"
    """Who is to confirm ``cancel_sent``, as the trader knows it ("XTS")."""


class KillSwitch:
    """The kill switch's part of the risk manager (which moves the trading state)."""

    def __init__(
        self,
        *,
        clock: Clock,
        orders: OrderManager,
        gate: OrderGate,
        instruments: InstrumentLookup,
        halt: Callable[[str], None],
        publish: Callable[[object], None],
    ) -> None:
        self._clock = clock
        self._orders = orders
        self._gate = gate
        self._instruments = instruments
        self._halt = halt
        self._publish = publish
        self.flattening = False
        """A square-off is in force: fills of orders in flight when it was asked for are
        squared off as they arrive, until the trader re-arms."""
        self.unfinished = ""
        """What halted ("kill switch", "halt") while its cancels (and square-off) are followed
        up each time the broker answers again, until nothing is left open ('' then)."""
        self._last_said = ""
        self._told_unfinished = False
        """The trader was told the kill switch is not finished: it says so when it is."""
        self._broker = ""
        """The live broker's name as the trader knows it, from its reconciliations ('' at the
        paper venue, which never reconciles: its cancels are done in this process, never
        refused for a passing reason, and counted as cancelled as they are asked)."""
        exposure = gate.exposure
        if exposure is not None:
            # Every end of an open order (cancelled, rejected, filled) moves what it could add.
            exposure.listeners.append(self._order_moved)

    def press(self, *, square_off: bool, reason: str) -> KillSwitchReport:
        text = reason or "kill switch pressed"
        try:
            with self._orders.unit():
                if self._gate.state is not TradingState.HALTED or self._gate.state_reason != text:
                    self._halt(text)
                self.follow_up("kill switch")
                outcomes = self._orders.cancel_all()
                squared: list[Outcome] = []
                if square_off:
                    self.flattening = True
                    squared = self._orders.square_off_all(OrderSource.RISK)
        finally:
            # Said even when this account's part failed: the desk's other accounts halt anyway.
            self._publish(KillSwitchPressed(self._clock.time_ns(), square_off, text))
        not_cancelled = tuple(f"{o.order_id}: {o.reason}" for o in outcomes if not o)
        asked = [o.order_id for o in outcomes if o and o.order_id is not None]
        sent = tuple(o for o in asked if self._broker and self._still_open(o))
        refused = tuple(f"{o.order_id or 'square-off'}: {o.reason}" for o in squared if not o)
        if not_cancelled or refused:
            said = []
            if not_cancelled:
                said.append(f"could not cancel {'; '.join(not_cancelled)}")
            if refused:
                said.append(f"square-off not placed: {'; '.join(refused)}")
            self._say(
                Severity.ERROR,
                f"kill switch not finished: {' / '.join(said)}. Those orders and positions are "
                "still open: close them at the broker",
            )
        if sent:
            self._told_unfinished = True
            self._say(
                Severity.WARNING,
                f"kill switch not finished: cancel sent for order{'s' if len(sent) > 1 else ''} "
                f"{', '.join(sent)}, not yet "
                f"confirmed by {self._broker} (sent again until {self._broker} cancels them)",
            )
        return KillSwitchReport(
            self._gate.state,
            len(asked) - len(sent),
            squared,
            not_cancelled,
            sent,
            self._broker or "the broker",
        )

    def follow_up(self, what: str) -> None:
        """Cancel (and square off) again each time the broker answers, until nothing is open."""
        self.unfinished = what
        self._last_said = ""
        self._told_unfinished = False

    def rearm(self) -> None:
        self.flattening = False
        self.unfinished = ""
        self._told_unfinished = False

    def on_reconciled(self, event: BrokerReconciled) -> None:
        """The broker answers again: what the halt left open is cancelled again, the positions
        still open are squared off again (net of square-offs on their way), and the trader is
        told what is still open, until nothing is."""
        self._broker = _title(event.broker)
        if not self.unfinished or self._gate.state is TradingState.ACTIVE:
            return
        halted = self._gate.state is TradingState.HALTED
        with self._orders.unit():
            left = [o for o in self._orders.open_orders() if halted and not o.square_off]
            for order in left:
                self._orders.cancel(order.order_id)  # a cancel on its way is not sent twice
            if self.flattening:
                self._orders.square_off_all(OrderSource.RISK)
        positions = [p for p in self._orders.positions.open() if p.net_quantity]
        closing = [o for o in self._orders.open_orders() if o.square_off]
        what, done = self.unfinished, not left and (not self.flattening or not positions)
        if done:
            self._finished()
            return
        parts = []
        if left:
            parts.append(f"orders {', '.join(o.order_id for o in left)} (cancel on its way)")
        if self.flattening and positions:
            held = ", ".join(
                f"{self._name(p.token)} {p.product.value} {p.net_quantity:+d}" for p in positions
            )
            working = ", ".join(o.order_id for o in closing) or "none"
            parts.append(f"positions {held} (square-off orders working: {working})")
        text = f"{what} not finished: still open at the broker: {'; '.join(parts)}"
        self._told_unfinished = True
        if text != self._last_said:
            self._last_said = text
            self._say(Severity.ERROR, text)

    def _order_moved(self, _token: InstrumentToken, _product: Product) -> None:
        """An order's working quantity or a position moved (the order manager applies an
        order's end this way): once the trader was told the kill switch is not finished, it
        says it is as soon as nothing it cancelled (nor, when squaring off, any position) is
        left open. Said as the order ends, just before its own event is published."""
        if not self._told_unfinished or not self.unfinished:
            return
        if self._gate.state is TradingState.ACTIVE:
            return
        halted = self._gate.state is TradingState.HALTED
        if any(halted and not o.square_off for o in self._orders.open_orders()):
            return
        exposure = self._gate.exposure
        if self.flattening and exposure is not None and any(exposure.net.values()):
            return  # read from the exposure: the position book takes the fill just after
        self._finished()

    def _finished(self) -> None:
        what = self.unfinished
        self.unfinished = ""
        self._told_unfinished = False
        self._say(Severity.INFO, f"{what} finished: nothing is left open at the broker")

    def _still_open(self, order_id: OrderId) -> bool:
        order = self._orders.orders.get(order_id)
        return order is not None and order.is_open

    def on_fill(self, fill: OrderFilled) -> None:
        """A fill of an order that was in flight when the square-off was asked for (a cancel
        can lose the race to a fill): close what it opened, net of square-offs working."""
        if not self.flattening or self._gate.state is TradingState.ACTIVE:
            return
        exposure = self._gate.exposure
        assert exposure is not None
        key = (fill.token, fill.product)
        net = exposure.net.get(key, 0)
        working = exposure.sells.get(key, 0) if net > 0 else exposure.buys.get(key, 0)
        uncovered = abs(net) - working
        instrument = self._instruments(fill.token)
        if uncovered <= 0 or instrument is None:
            return
        side = Side.SELL if net > 0 else Side.BUY
        largest = instrument.max_order_quantity() or uncovered
        while uncovered > 0:
            quantity = min(uncovered, largest)
            uncovered -= quantity
            self._orders.submit(
                OrderRequest(
                    fill.token,
                    side,
                    quantity,
                    OrderType.MARKET,
                    fill.product,
                    source=OrderSource.RISK,
                    square_off=True,
                )
            )

    def _name(self, token: InstrumentToken) -> str:
        instrument = self._instruments(token)
        return str(token) if instrument is None else instrument.key

    def _say(self, severity: Severity, text: str) -> None:
        level = {Severity.ERROR: logging.ERROR, Severity.WARNING: logging.WARNING}
        log.log(level.get(severity, logging.INFO), "%s", text)
        self._publish(EngineMessage(self._clock.time_ns(), severity, text, "risk"))


def _title(name: str) -> str:
    """A broker's name as the trader knows it ("Symphony XTS" for "xts")."""
    try:
        return broker_spec(name).title
    except ValueError:  # not in this build's registry (a test's own broker): its own name
        return name
