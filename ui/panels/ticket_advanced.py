"""The order ticket's "Advanced" section: send the ticket's order as a bracket (its stop-loss and
target one-cancelling-the-other, optionally trailing), protect the position held with a trailing
stop-loss, or leave it as a GTT (a single trigger, or the stop and target as a two-leg OCO GTT).

The ticket stays the same: its side, quantity, order type, price and product are the order's;
this section adds only the levels. Closed (unchecked) it changes nothing."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from engine.api import OrderType, Outcome, Product, Side
from ui.context import PanelContext

log = logging.getLogger(__name__)

BRACKET = "Bracket (target + SL, OCO)"
TRAILING = "Trailing SL on the position"
GTT_SINGLE = "GTT (single trigger)"
GTT_OCO = "GTT OCO (SL and target)"
KINDS = (BRACKET, TRAILING, GTT_SINGLE, GTT_OCO)

Terms = tuple[int, Side, int, Product, OrderType, Decimal | None, Decimal | None]


def _box(step: float = 0.05) -> QDoubleSpinBox:
    return QDoubleSpinBox(decimals=2, maximum=10_000_000, singleStep=step)


def _rupees(box: QDoubleSpinBox) -> Decimal | None:
    value = Decimal(repr(box.value())).quantize(Decimal("0.01"))
    return value if value > 0 else None


def _fit_height(window: QWidget) -> None:
    """The window as tall as its contents ask now (after a section opened or closed)."""
    # The hidden fields' layout requests first, so every size hint is of the new contents.
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    layout = window.layout()
    if layout is not None:
        layout.invalidate()
        layout.activate()
    window.resize(window.width(), window.sizeHint().height())


class AdvancedSection(QGroupBox):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__("Advanced", parent, objectName="ticketAdvanced")
        self.setCheckable(True)
        self.setChecked(False)
        self._ctx = context
        self.kind = QComboBox(objectName="advancedKind")
        self.kind.addItems(KINDS)
        self.stop = _box()
        self.target = _box()
        self.trail = _box()
        self.trail.setToolTip("Points behind the best price (0: no trail)")
        self.trigger = _box()
        self.note = QLabel("", objectName="ticketInfo", wordWrap=True)
        self.body = QWidget(self)
        form = QFormLayout(self.body)
        form.setContentsMargins(0, 0, 0, 0)
        outer = QVBoxLayout(self)
        outer.addWidget(self.body)
        form.addRow("Kind", self.kind)
        form.addRow("Stop-loss", self.stop)
        form.addRow("Target", self.target)
        form.addRow("Trail (points)", self.trail)
        form.addRow("GTT trigger", self.trigger)
        form.addRow("", self.note)
        self.kind.currentTextChanged.connect(self._kind_changed)
        self.toggled.connect(self._show_fields)
        self._kind_changed(self.kind.currentText())
        self._show_fields(False)
        self._tasks: set[asyncio.Task[None]] = set()

    def active(self) -> bool:
        return self.isChecked()

    def _show_fields(self, on: bool) -> None:
        """Closed, the section is its title alone and the ticket shrinks back around it."""
        self.body.setVisible(on)
        self.setFlat(not on)  # unticked: just its title, no empty frame (the theme's :flat)
        margin = 9 if on else 0
        self.layout().setContentsMargins(margin, margin, margin, margin)
        window = self.window()
        if window is not self:
            QTimer.singleShot(0, lambda: _fit_height(window))

    def _kind_changed(self, kind: str) -> None:
        self.stop.setEnabled(kind != GTT_SINGLE)
        self.target.setEnabled(kind in (BRACKET, GTT_OCO))
        self.trail.setEnabled(kind in (BRACKET, TRAILING))
        self.trigger.setEnabled(kind == GTT_SINGLE)
        self.note.setText(
            {
                BRACKET: "Enters with the ticket's order; the stop-loss and the target protect "
                "what fills, one cancelling the other",
                TRAILING: "A stop-loss on the quantity held that follows the market by the trail",
                GTT_SINGLE: "The ticket's order, placed when the price crosses the trigger",
                GTT_OCO: "Exit orders at the stop-loss and the target, whichever is crossed first",
            }[kind]
        )

    def send(self, terms: Terms) -> Outcome:
        """Send the ticket's terms as the chosen advanced order; the answer as an ``Outcome``."""
        token, side, quantity, product, order_type, price, _trigger = terms
        api = self._ctx.api
        kind = self.kind.currentText()
        stop, target, trail = _rupees(self.stop), _rupees(self.target), _rupees(self.trail)
        if kind == BRACKET:
            if stop is None or target is None:
                return Outcome(False, None, "a bracket needs a stop-loss and a target")
            entry = price if order_type is OrderType.LIMIT else None
            if order_type not in (OrderType.LIMIT, OrderType.MARKET):
                return Outcome(False, None, "a bracket enters with a LIMIT or MARKET order")
            done = api.place_bracket(
                token, side.value, quantity, stop=stop, target=target, entry_price=entry,
                product=product.value, trail_points=trail,
            )  # fmt: skip
        elif kind == TRAILING:
            if stop is None or trail is None:
                return Outcome(False, None, "a trailing stop needs a stop-loss and a trail")
            done = api.place_trailing_stop(
                token, quantity, stop=stop, trail_points=trail, product=product.value
            )
        else:
            if kind == GTT_SINGLE:
                triggers, prices = [_rupees(self.trigger)], [price]
            else:
                triggers, prices = [stop, target], [stop, target]
            if None in triggers or None in prices:
                return Outcome(False, None, "a GTT needs its trigger(s) and the ticket's price")
            legs = [
                {"side": side.value, "quantity": quantity, "price": p, "product": product.value}
                for p in prices
            ]
            self._spawn(api.place_gtt(token, triggers, legs))
            return Outcome(True, None, note="GTT sent")
        return Outcome(done.ok, None, done.reason, note=done.parent_id)

    def _spawn(self, coro: object) -> None:
        async def run() -> None:
            outcome = await coro  # type: ignore[misc]
            text = f"GTT {outcome.parent_id} placed" if outcome.ok else outcome.reason
            log.info("%s", text)
            self.note.setText(text)

        try:
            task = asyncio.get_running_loop().create_task(run(), name="ticket-gtt")
        except RuntimeError:
            coro.close()  # type: ignore[attr-defined]
            log.warning("no event loop: the GTT was not sent")
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
