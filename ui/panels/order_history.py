"""Every event of one order, oldest first: what the trader opens to see why an order did what it did.

The dialog is non-modal and follows the order live: when the bridge reports an event of this order
it re-reads ``api.order_history``, with what the risk gate refused of the order (a modification),
which only the journal keeps; a refusal reaches the dialog as the message that tells the trader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from engine.api import (
    EngineMessage,
    OrderDenied,
    OrderFilled,
    OrderStatus,
    OrderStatusChanged,
    OrderSubmitted,
    RiskDenied,
)
from engine.domain.values import to_rupees
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import at_ist
from ui.format import quantity, rupees
from ui.models.table import Column, RowTableModel
from ui.panels.orderbook import status_colour
from ui.panels.table_kit import RowFilterProxy, make_table


@dataclass(frozen=True)
class HistoryRow:
    sequence: int
    time: datetime
    event: str
    status: OrderStatus | None
    quantity: int | None
    price: Decimal | None
    message: str


def history_rows(events: list[object]) -> list[HistoryRow]:
    """One row per order event, in the order they happened.

    Fills carry no status of their own; their row shows the status the fill left the order in
    (COMPLETE on the last one), as the order's own state table would.
    """
    rows: list[HistoryRow] = []
    status: OrderStatus | None = None
    ordered = filled = 0
    for sequence, event in enumerate(events):
        time = at_ist(int(getattr(event, "ts_ns", 0)))
        if isinstance(event, OrderSubmitted):
            r = event.request
            status, ordered = OrderStatus.PENDING_SUBMIT, r.quantity
            terms = f"{r.side} {r.order_type} {r.product} {r.validity} from {r.origin}"
            if r.trigger_price is not None:
                terms += f", trigger {rupees(to_rupees(r.trigger_price))}"
            if r.tag:
                terms += f", tag {r.tag}"
            price = None if r.price is None else to_rupees(r.price)
            rows.append(HistoryRow(sequence, time, "Submitted", status, r.quantity, price, terms))
        elif isinstance(event, OrderStatusChanged):
            status = event.status
            ordered = event.quantity if event.quantity is not None else ordered
            details = [event.message] if event.message else []
            if event.trigger_price is not None:
                details.append(f"trigger {rupees(to_rupees(event.trigger_price))}")
            if event.order_type is not None:
                details.append(f"type {event.order_type}")
            if event.broker_order_id:
                details.append(f"broker id {event.broker_order_id}")
            if event.exchange_order_id:
                details.append(f"exchange id {event.exchange_order_id}")
            price = None if event.price is None else to_rupees(event.price)
            rows.append(
                HistoryRow(
                    sequence, time, "Status", status, event.quantity, price, "; ".join(details)
                )
            )
        elif isinstance(event, OrderFilled):
            filled += event.quantity
            if ordered and filled >= ordered and (status is None or not status.is_terminal):
                status = OrderStatus.COMPLETE
            charges = "" if event.charges is None else f", charges {rupees(event.charges.total)}"
            message = f"trade {event.trade_id}, filled {quantity(filled)} of {quantity(ordered)}"
            price = to_rupees(event.price)
            rows.append(
                HistoryRow(sequence, time, "Fill", status, event.quantity, price, message + charges)
            )
        elif isinstance(event, OrderDenied):
            status = OrderStatus.DENIED
            rows.append(HistoryRow(sequence, time, "Denied", status, None, None, event.reason))
        elif isinstance(event, RiskDenied):
            # The order stays as it was: the row keeps the status it had.
            what = "not sent" if event.action == "send" else f"{event.action} refused"
            text = f"{what} ({event.check}): {event.reason}" if event.check else event.reason
            rows.append(HistoryRow(sequence, time, "Refused", status, None, None, text))
        else:
            # An event kind this dialog does not know yet: listed, never dropped.
            name = str(getattr(event, "kind", type(event).__name__)).replace("_", " ").capitalize()
            text = str(getattr(event, "reason", "") or getattr(event, "message", ""))
            rows.append(HistoryRow(sequence, time, name, None, None, None, text))
    return rows


def with_refusals(events: list[object], refusals: list[RiskDenied]) -> list[object]:
    """The order's events with the gate's refusals put in at their moments; the events keep
    their own order (a broker's timestamps need not rise)."""
    merged = list(events)
    for refusal in refusals:  # oldest first: each goes after everything up to its moment
        at = len(merged)
        while at > 0 and int(getattr(merged[at - 1], "ts_ns", 0)) > refusal.ts_ns:
            at -= 1
        merged.insert(at, refusal)
    return merged


class OrderHistoryDialog(QDialog):
    """Non-modal: show() it; it closes itself and goes away when the trader closes it."""

    def __init__(
        self,
        context: PanelContext,
        order_id: str,
        *,
        fallback: list[object] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("orderHistoryDialog")
        self.setModal(False)
        self._context = context
        self.order_id = order_id
        self._fallback = fallback or []
        """Events to show when the engine has no order (a request denied before it became one)."""
        self.setWindowTitle(f"Order history — {order_id}")
        self.resize(920, 320)

        self.summary = QLabel(self)
        self.summary.setObjectName("orderHistorySummary")
        self.model: RowTableModel[HistoryRow] = RowTableModel(
            self._columns(), key=lambda r: r.sequence
        )
        self.proxy = RowFilterProxy(self.model, self)
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("orderHistoryTable")
        self.view.setSortingEnabled(False)  # the story reads oldest first
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.summary)
        layout.addWidget(self.view)
        layout.addWidget(buttons)

        context.bridge.orders_changed.connect(self._on_orders_changed, QUEUED)
        context.bridge.messages.connect(self._on_messages, QUEUED)
        self.finished.connect(self._on_finished)
        self.refresh()

    def _columns(self) -> list[Column[HistoryRow]]:
        palette = lambda: self._context.theme.palette  # noqa: E731 - read at paint time (theme switch)

        def status_brush(row: HistoryRow) -> QColor | None:
            return None if row.status is None else status_colour(row.status, palette())

        def event_brush(row: HistoryRow) -> QColor | None:
            return palette().up if row.event == "Fill" else None

        return [
            Column("Time", lambda r: r.time, text=lambda t: t.strftime("%H:%M:%S.%f")[:-3], width=96),
            Column("Event", lambda r: r.event, foreground=event_brush, width=80),
            Column("Status", lambda r: r.status, foreground=status_brush, width=150),
            Column("Qty", lambda r: r.quantity, text=quantity, align="right", width=70),
            Column("Price", lambda r: r.price, text=rupees, align="right", width=90),
            Column("Message", lambda r: r.message, tooltip=lambda r: r.message),
        ]  # fmt: skip

    @property
    def rows(self) -> list[HistoryRow]:
        return self.model.rows

    def refresh(self) -> None:
        api = self._context.api
        events = api.order_history(self.order_id) or self._fallback
        snapshot = api.order(self.order_id)
        if snapshot is not None:
            events = with_refusals(events, api.orders_service.refusals(self.order_id))
        self.model.set_rows(history_rows(events))
        if snapshot is None:
            self.summary.setText(f"{self.order_id}: denied before it reached the broker")
            return
        terms = f"{snapshot.order_type} {snapshot.product}"
        if snapshot.price is not None:
            terms += f" @ {rupees(snapshot.price)}"
        if snapshot.trigger_price is not None:
            terms += f", trigger {rupees(snapshot.trigger_price)}"
        filled = f"{quantity(snapshot.filled_quantity)} / {quantity(snapshot.quantity)} filled"
        if snapshot.filled_quantity:
            filled += f", avg {rupees(snapshot.average_price)}"
        self.summary.setText(
            f"{snapshot.side} {snapshot.instrument.tradingsymbol} · {terms} · {filled} · "
            f"{snapshot.status}"
        )

    def _on_orders_changed(self, events: list[object]) -> None:
        if any(getattr(e, "order_id", None) == self.order_id for e in events):
            self.refresh()

    def _on_messages(self, messages: list[object]) -> None:
        # A refused modification is no order event: the message telling the trader names it.
        if any(isinstance(m, EngineMessage) and self.order_id in m.text for m in messages):
            self.refresh()

    def _on_finished(self, _result: int) -> None:
        self._context.bridge.orders_changed.disconnect(self._on_orders_changed)
        self._context.bridge.messages.disconnect(self._on_messages)
        self.deleteLater()
