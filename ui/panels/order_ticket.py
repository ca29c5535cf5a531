"""The order ticket: buy or sell one instrument, quantity in lots, with inline validation.

Non-modal: F1/F2 open it (and, once it is open, turn it to buy or to sell), Enter submits, Esc
closes; Enter in the instrument search only picks. What the engine's gate says about an order
(a denial reason) is shown in the ticket itself, not in a pop-up. The margin line shows the risk
check's estimate at once and, with a live broker that has a margin calculator (Kite), the
broker's own figure a moment after the terms stop changing.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.api import OrderSource, OrderType, Outcome, Product, Side, Validity
from engine.domain.instruments import Instrument, InstrumentType
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext, TicketRequest
from ui.panels.algo_ticket import AlgoSection
from ui.panels.instrument_picker import InstrumentPicker
from ui.panels.ticket_advanced import AdvancedSection

log = logging.getLogger(__name__)

BROKER_MARGIN_DELAY_MS = 400
"""How long the terms must stay put before the broker's calculator is asked."""

Terms = tuple[int, Side, int, Product, OrderType, Decimal | None, Decimal | None]


class OrderTicket(QDialog):
    submitted = Signal(object)
    """the Outcome of the last submit"""

    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("orderTicket")
        self.setWindowTitle("Order ticket")
        self.setModal(False)
        self._ctx = context
        self.instrument: Instrument | None = None
        self.side = Side.BUY
        self.modify_order_id: str | None = None

        self.frame = QFrame(objectName="buyTicket")
        self.buy_button = QPushButton("BUY  F1", objectName="buyButton", checkable=True)
        self.sell_button = QPushButton("SELL  F2", objectName="sellButton", checkable=True)
        sides = QButtonGroup(self)
        for button in (self.buy_button, self.sell_button):
            sides.addButton(button)
            # Enter on a side button sends the order (keyPressEvent), as everywhere else in the
            # ticket; a dialog's buttons would otherwise take Enter as a click on themselves.
            button.setAutoDefault(False)
        self.buy_button.clicked.connect(lambda: self.set_side(Side.BUY))
        self.sell_button.clicked.connect(lambda: self.set_side(Side.SELL))

        self.picker = InstrumentPicker(context.api)
        self.picker.picked.connect(self._picked)
        self.picker.not_found.connect(
            lambda query: self._tell(f"No instrument matches “{query.strip()}”: nothing changed")
        )
        self.instrument_label = QLabel("—", objectName="ticketInstrument")
        self.quote_label = QLabel("", objectName="ticketInfo")
        self.lots = QSpinBox(minimum=1, maximum=10_000, value=1)
        self.units_label = QLabel("", objectName="ticketInfo")
        self.margin_label = QLabel("", objectName="ticketInfo", wordWrap=True)
        self._broker_timer = QTimer(self, singleShot=True, interval=BROKER_MARGIN_DELAY_MS)
        self._broker_timer.timeout.connect(self.ask_broker_margin)
        self._broker_task: asyncio.Task[None] | None = None
        self._broker_terms: Terms | None = None
        """The terms the broker's figure in ``_broker_text`` is for."""
        self._broker_text = ""
        self._denied: object = None
        """What the gate last denied (``_asked``): its denial stays said while the ticket asks
        the same (a field re-read without a change, as Enter makes a spin box do, keeps it)."""
        self.margin_label.setToolTip(
            "What this order adds to the margin your positions and open orders need (the "
            "estimate the risk check uses), against what is still free: capital plus today's "
            "P&L on paper, the broker's available margin live"
        )
        self.order_type = QComboBox()
        self.order_type.setAccessibleName("Order type")  # a combo says only its value otherwise
        self.order_type.addItems([t.value for t in OrderType])
        self.order_type.setCurrentText(OrderType.LIMIT.value)
        self.price = QDoubleSpinBox(decimals=2, maximum=10_000_000, singleStep=0.05)
        self.trigger = QDoubleSpinBox(decimals=2, maximum=10_000_000, singleStep=0.05)
        self.product = QComboBox()
        self.product.setAccessibleName("Product")
        self.validity = QComboBox()
        self.validity.setAccessibleName("Validity")
        self.validity.addItems([v.value for v in Validity])
        self.error_label = QLabel("", objectName="ticketError", wordWrap=True)
        self.advanced = AdvancedSection(context)
        """Bracket, trailing stop or GTT instead of a plain order (closed: a plain order)."""
        # Not a dialog default button: Enter reaches keyPressEvent, which ignores a held key.
        self.submit_button = QPushButton("Submit  ⏎", autoDefault=False)
        self.submit_button.clicked.connect(self.submit)

        for widget in (self.lots, self.price, self.trigger):
            widget.valueChanged.connect(self._validate)
        self.order_type.currentTextChanged.connect(self._order_type_changed)
        self.product.currentTextChanged.connect(self._validate)

        side_row = QHBoxLayout()
        side_row.addWidget(self.buy_button)
        side_row.addWidget(self.sell_button)
        form = QFormLayout()
        form.addRow("Instrument", self.picker)
        form.addRow("", self.instrument_label)
        form.addRow("", self.quote_label)
        lots_row = QHBoxLayout()
        lots_row.addWidget(self.lots)
        lots_row.addWidget(self.units_label, 1)
        self.lots_caption = QLabel("Lots")
        self.lots_caption.setBuddy(self.lots)  # what a screen reader calls the field
        form.addRow(self.lots_caption, lots_row)
        form.addRow("Margin", self.margin_label)
        form.addRow("Order type", self.order_type)
        form.addRow("Price", self.price)
        form.addRow("Trigger", self.trigger)
        form.addRow("Product", self.product)
        form.addRow("Validity", self.validity)
        inner = QVBoxLayout(self.frame)
        inner.addLayout(side_row)
        inner.addLayout(form)
        inner.addWidget(self.advanced)
        self.advanced.toggled.connect(lambda _on: self._validate())
        self.algo = AlgoSection(self.frame)  # ticked: the order goes out as an execution algo
        inner.addWidget(self.algo)
        self.algo.toggled.connect(lambda _on: self._validate())
        self.algo.changed.connect(self._validate)
        inner.addWidget(self.error_label)
        inner.addWidget(self.submit_button)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.frame)
        self.setMinimumWidth(380)
        context.bridge.quotes_changed.connect(self._on_quotes, QUEUED)
        self.set_side(Side.BUY)
        self._order_type_changed(self.order_type.currentText())

    # -- opening --------------------------------------------------------------------------------------

    def open_for(self, request: TicketRequest) -> None:
        self.modify_order_id = request.modify_order_id
        self.setWindowTitle("Modify order" if self.modify_order_id else "Order ticket")
        self.picker.setEnabled(self.modify_order_id is None)
        self.buy_button.setEnabled(self.modify_order_id is None)
        self.sell_button.setEnabled(self.modify_order_id is None)
        self.set_side(request.side)
        preferences = self._ctx.preferences().trading
        if self.modify_order_id is None:  # a new order opens with the trader's defaults
            self.lots.setValue(preferences.default_lots)
        # A modification opens with the order's own type and trigger, never what the combo was
        # left on: sent back unchanged, a stop-loss stays a stop-loss.
        self.order_type.setCurrentText(
            (request.order_type or OrderType(preferences.default_order_type)).value
        )
        if request.trigger is not None:
            self.trigger.setValue(float(request.trigger))
        instrument = request.instrument or self.instrument
        if instrument is not None:
            self.set_instrument(instrument, price=request.price)
            if self.modify_order_id is None:
                self.product.setCurrentText(
                    preferences.default_derivative_product
                    if instrument.is_derivative
                    else preferences.default_equity_product
                )
        if request.lots:
            self.lots.setValue(request.lots)
        self._denied = None
        self._tell("")
        self.show()
        self.raise_()
        self.activateWindow()
        self.lots.setFocus()
        self.lots.selectAll()

    def turn_to(self, side: Side) -> str | None:
        """F1 / F2 with the ticket open: the same order on that side, everything else as the
        trader left it. A modification cannot change side: refused, in words (returned too),
        and nothing changes."""
        if self.modify_order_id is not None:
            refusal = (
                f"This ticket modifies order {self.modify_order_id}, a "
                f"{self.side.value.lower()}: its side cannot change. For a new order, close "
                "it (Esc) first."
            )
            self._tell(refusal)
            return refusal
        self.set_side(side)
        self.raise_()
        self.activateWindow()
        return None

    def _picked(self, instrument: Instrument) -> None:
        """An instrument chosen in the search: the quantity is next."""
        self.set_instrument(instrument)
        self.lots.setFocus()
        self.lots.selectAll()

    def set_side(self, side: Side) -> None:
        self.side = side
        self.buy_button.setChecked(side is Side.BUY)
        self.sell_button.setChecked(side is Side.SELL)
        self.frame.setObjectName("buyTicket" if side is Side.BUY else "sellTicket")
        self.frame.style().unpolish(self.frame)
        self.frame.style().polish(self.frame)
        verb = "Buy" if side is Side.BUY else "Sell"
        self.submit_button.setText(f"{verb}  ⏎")
        self.submit_button.setAccessibleName(f"{verb} (Enter)")
        self._validate()

    def set_instrument(self, instrument: Instrument, price: Decimal | None = None) -> None:
        self.instrument = instrument
        self._ctx.api.watch([instrument.token])
        self.instrument_label.setText(f"{instrument.exchange}:{instrument}")  # NSE or BSE, said
        tick = Decimal(instrument.tick_size) / 100
        for box in (self.price, self.trigger):
            box.setSingleStep(float(tick))
        products = (
            [Product.NRML, Product.MIS] if instrument.is_derivative else [Product.CNC, Product.MIS]
        )
        current = self.product.currentText()
        self.product.blockSignals(True)
        self.product.clear()
        self.product.addItems([p.value for p in products])
        if current in (p.value for p in products):
            self.product.setCurrentText(current)
        self.product.blockSignals(False)
        if price is None:
            quote = self._ctx.api.quote(instrument.token)
            if quote is not None:
                touch = quote.ask if self.side is Side.BUY else quote.bid
                price = touch or quote.ltp
        if price is not None:
            self.price.setValue(float(price))
        self._show_quote()
        self._validate()

    # -- validation and submit ---------------------------------------------------------------------------

    def _order_type_changed(self, text: str) -> None:
        kind = OrderType(text)
        self.price.setEnabled(kind in (OrderType.LIMIT, OrderType.SL))
        self.trigger.setEnabled(kind in (OrderType.SL, OrderType.SL_M))
        self._validate()

    def problem(self) -> str | None:
        """What is wrong with the ticket as filled in, before it goes to the engine."""
        if self.instrument is None:
            return "choose an instrument"
        if not self.instrument.tradable:
            return f"{self.instrument.tradingsymbol} is an index and cannot be traded"
        if self.algo.active and self.advanced.active():
            return "an order goes out as an algo or as an advanced order, not both: untick one"
        if (algo := self.algo.problem()) is not None:
            return f"algo: {algo}"
        kind = OrderType(self.order_type.currentText())
        tick = self.instrument.tick_size
        for label, box, needed in (
            ("price", self.price, kind in (OrderType.LIMIT, OrderType.SL)),
            ("trigger", self.trigger, kind in (OrderType.SL, OrderType.SL_M)),
        ):
            if not needed:
                continue
            paise = _to_paise(box.value())
            if paise <= 0:
                return f"enter a {label}"
            if paise % tick:
                return f"{label} must be a multiple of the tick size {fmt.paise(tick)}"
        return None

    def _validate(self) -> None:
        instrument = self.instrument
        if instrument is not None:
            self.lots_caption.setText("Lots" if instrument.lot_size > 1 else "Shares")
            units = self.lots.value() * instrument.lot_size
            notes = []  # for shares the caption says it all
            if instrument.lot_size > 1:
                notes.append(f"= {units:,} units ({instrument.lot_size} per lot)")
            largest = instrument.max_order_quantity()
            if largest is not None and units > largest:
                if self.algo.active:  # the algo sends children at most that large
                    notes.append(f"children of at most {largest:,}")
                else:
                    notes.append(f"above the {largest:,} a single order may carry")
            self.units_label.setText(" — ".join(notes))
        self._show_margin()
        problem = self.problem()
        if problem is not None or self._asked() != self._denied:
            self._denied = None
            self._tell(problem or "")
        self.submit_button.setEnabled(problem is None)

    def _tell(self, text: str) -> None:
        """The ticket's line for what stops the order (or what the gate said of it); a screen
        reader has it as the line's text and as what the send button would do."""
        self.error_label.setText(text)
        self.error_label.setAccessibleDescription(text)
        self.submit_button.setAccessibleDescription(text)

    def _show_margin(self) -> None:
        terms = self._terms()
        estimate = None
        if terms is not None:
            token, side, quantity, product, *_ = terms
            estimate = self._ctx.api.order_margin(token, side, quantity, product)
        short = False
        if estimate is None:
            text = "—"
        elif estimate.needed <= 0:
            text = f"frees ₹{fmt.rupees(-estimate.needed)}  ·  ₹{fmt.rupees(estimate.free)} free"
        else:
            short = estimate.needed > estimate.free
            text = f"≈ ₹{fmt.rupees(estimate.needed)}  ·  ₹{fmt.rupees(estimate.free)} free"
            if short:
                text += " — not enough"
        if estimate is not None and estimate.source != "capital":
            text += f" ({estimate.source.capitalize()})"
        if self._ctx.api.has_broker_margin and terms is not None:
            if terms == self._broker_terms:
                text += f"  ·  {self._broker_text}"
            else:
                self._broker_timer.start()  # again: asked once the terms stop changing
        self.margin_label.setText(text)
        name = "ticketError" if short else "ticketInfo"
        if self.margin_label.objectName() != name:
            self.margin_label.setObjectName(name)
            self.margin_label.style().unpolish(self.margin_label)
            self.margin_label.style().polish(self.margin_label)

    def _terms(self) -> Terms | None:
        """What the ticket asks for as it is filled in; None while there is nothing to order."""
        instrument = self.instrument
        if instrument is None or not instrument.tradable or not self.product.currentText():
            return None
        kind = OrderType(self.order_type.currentText())
        price = _rupees(self.price.value()) if kind in (OrderType.LIMIT, OrderType.SL) else None
        trigger = _rupees(self.trigger.value()) if kind in (OrderType.SL, OrderType.SL_M) else None
        return (
            instrument.token,
            self.side,
            self.lots.value() * instrument.lot_size,
            Product(self.product.currentText()),
            kind,
            price,
            trigger,
        )

    def _asked(self) -> object:
        """Everything the ticket would send now, to tell a new request from the last one."""
        return (
            self._terms(),
            self.modify_order_id,
            self.validity.currentText(),
            self.algo.active,
            self.advanced.active(),
        )

    def ask_broker_margin(self) -> asyncio.Task[None] | None:
        """Ask the broker's calculator about the ticket's terms (the timer does, once they stop
        changing); the answer joins the margin line. Returns the request's task."""
        terms = self._terms()
        if terms is None or not self._ctx.api.has_broker_margin:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.debug("no event loop: the broker's margin is not asked")
            return None
        if self._broker_task is not None:
            self._broker_task.cancel()
        self._broker_task = loop.create_task(self._broker_margin(terms), name="ticket-margin")
        return self._broker_task

    async def _broker_margin(self, terms: Terms) -> None:
        name = self._ctx.api.broker_name or "Broker"
        token, side, quantity, product, kind, price, trigger = terms
        try:
            needed = await self._ctx.api.broker_order_margin(
                token, side, quantity, product, kind, price, trigger
            )
            text = f"{name} ₹{fmt.rupees(needed)}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown on the ticket; the order itself is unaffected
            log.warning("%s's margin calculator did not answer: %s", name, exc)
            text = f"{name}: no figure ({exc})"
        if terms == self._terms():
            self._broker_terms, self._broker_text = terms, text
            self._show_margin()

    def submit(self) -> Outcome | None:
        """Send the order (or the modification); with "Confirm each order" on, ask first and
        send on yes (None until then)."""
        problem = self.problem()
        terms = self._terms()
        if problem is not None or terms is None:
            self._tell(problem or "choose an instrument")
            return None
        if self._ctx.preferences().trading.confirm_orders:
            title = "Modify order" if self.modify_order_id else f"{self.side.value.title()} order"
            self._ctx.confirm(title, f"{self.summary(terms)}?", lambda: self._send(terms))
            return None
        return self._send(terms)

    def summary(self, terms: Terms) -> str:
        token, side, quantity, product, kind, price, trigger = terms
        instrument = self.instrument
        name = str(instrument) if instrument is not None else str(token)
        what = "Modify to" if self.modify_order_id else side.value.title()
        text = f"{what} {quantity:,} {name} {kind.value} {product.value}"
        if price is not None:
            text += f" at {price}"
        if trigger is not None:
            text += f", trigger {trigger}"
        return text

    def _send(self, terms: Terms) -> Outcome:
        token, side, quantity, product, kind, price, trigger = terms
        if self.algo.active and not self.modify_order_id and self.instrument is not None:
            lot = self.instrument.lot_size
            started = self._ctx.api.start_algo(
                self.algo.settings(token, side, quantity, product, kind, price, lot)
            )
            outcome = Outcome(started.ok, None, started.reason, note=started.parent_id)
        elif self.modify_order_id:
            outcome = self._ctx.api.modify(
                self.modify_order_id,
                quantity=quantity,
                price=price,
                trigger_price=trigger,
                order_type=kind,
            )
        elif self.advanced.active():
            outcome = self.advanced.send(terms)
        else:
            outcome = self._ctx.api.place_order(
                token,
                side,
                quantity,
                kind,
                product=product,
                validity=Validity(self.validity.currentText()),
                price=price,
                trigger_price=trigger,
                source=OrderSource.MANUAL,
            )
        self.submitted.emit(outcome)
        if outcome:
            self._tell("")
            self.modify_order_id = None
            self.close()
        else:
            self._denied = self._asked()
            self._tell(f"Denied: {outcome.reason}")
        return outcome

    def hideEvent(self, event: QHideEvent) -> None:
        self._broker_timer.stop()
        if self._broker_task is not None:
            self._broker_task.cancel()
        super().hideEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            # A held Enter sends (or asks) once: its repeats would answer the confirmation or
            # send the order again. Enter from the instrument search only picks.
            if not event.isAutoRepeat() and self.focusWidget() is not self.picker:
                self.submit()
            return
        super().keyPressEvent(event)  # Esc closes (QDialog's reject)

    # -- live quote -------------------------------------------------------------------------------------

    def _on_quotes(self, tokens: set[int]) -> None:
        if self.isVisible() and self.instrument is not None and self.instrument.token in tokens:
            self._show_quote()
            self._show_margin()

    def _show_quote(self) -> None:
        if self.instrument is None:
            return
        quote = self._ctx.api.quote(self.instrument.token)
        if quote is None:
            self.quote_label.setText("no quote yet")
            return
        kind = (
            ""
            if self.instrument.instrument_type is InstrumentType.EQ
            else f"lot {self.instrument.lot_size}  "
        )
        self.quote_label.setText(
            f"{kind}LTP {fmt.rupees(quote.ltp)}   bid {fmt.rupees(quote.bid)}   ask {fmt.rupees(quote.ask)}"
        )


def _to_paise(value: float) -> int:
    return int((Decimal(repr(value)) * 100).to_integral_value())


def _rupees(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"))
