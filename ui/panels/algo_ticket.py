"""The order ticket's Algo section: a collapsible group that, when ticked, sends the ticket's order
as an execution algo (TWAP, VWAP, POV, iceberg, or the freeze-quantity slicer) instead of one
order. Only the settings of the chosen kind are shown; the ticket's LIMIT price becomes the
algo's price cap (the children never pay more, or sell for less). What the engine would refuse
in the section's settings (a chase longer than the duration) is said under them as the trader
types, in the engine's own words with each setting named by its label: the rule is the engine's
``AlgoSpec.problems``, not a copy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QWidget,
)

from engine.api import OrderType, Product, Side
from engine.api.algos import AlgoKind, AlgoSpec

KINDS = (
    ("TWAP", "twap", "Even slices over the duration"),
    ("VWAP", "vwap", "Slices weighted by the session's volume profile"),
    ("POV", "pov", "A share of the volume trading on the feed"),
    ("Iceberg", "iceberg", "One visible child at a time"),
    ("Slicer", "slicer", "All now, cut at the freeze quantity, 10 orders a second at most"),
)
FIELDS = {
    "twap": ("duration", "slices", "randomise", "buffer", "chase"),
    "vwap": ("duration", "slices", "buffer", "chase"),
    "pov": ("duration", "participation", "buffer", "chase"),
    "iceberg": ("duration", "visible", "buffer", "chase"),
    "slicer": ("buffer",),
}


class AlgoSection(QGroupBox):
    changed = Signal()
    """A setting changed (the ticket checks itself again)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Algo", parent)
        self.setObjectName("ticketAlgo")
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip("Send this order as an execution algo (its children pass the risk gate)")
        self.kind = QComboBox(objectName="algoKind")
        for title, key, tip in KINDS:
            self.kind.addItem(title, key)
            self.kind.setItemData(self.kind.count() - 1, tip, 3)  # tooltip role
        self.duration = QDoubleSpinBox(
            decimals=1, minimum=0.5, maximum=375, value=10, suffix=" min"
        )
        self.slices = QSpinBox(minimum=1, maximum=1000, value=10)
        self.randomise = QSpinBox(minimum=0, maximum=50, value=10, suffix=" %")
        self.randomise.setToolTip("Each slice's size and time move up to this share at random")
        self.participation = QDoubleSpinBox(
            decimals=1, minimum=0.5, maximum=50, value=10, suffix=" %"
        )
        self.visible = QSpinBox(minimum=1, maximum=10_000, value=1, suffix=" lots")
        self.buffer = QSpinBox(minimum=-100, maximum=100, value=1, suffix=" ticks")
        self.buffer.setToolTip(
            "A child's limit is this many ticks beyond the touch (negative: it rests inside)"
        )
        self.chase = QDoubleSpinBox(decimals=1, minimum=0, maximum=600, value=5, suffix=" s")
        self.chase.setToolTip("An unfilled child is moved to the touch again after this long")
        self.on_restart = QComboBox(objectName="algoOnRestart")
        self.on_restart.addItem("Resume", "resume")
        self.on_restart.addItem("Stop", "stop")
        self.on_restart.setToolTip("After a crash or restart of the desk: go on, or stop")
        self.note = QLabel("", objectName="ticketInfo", wordWrap=True)
        self.problem_label = QLabel("", objectName="ticketError", wordWrap=True)
        self._rows = {
            "duration": ("Duration", self.duration),
            "slices": ("Slices", self.slices),
            "randomise": ("Randomise", self.randomise),
            "participation": ("Participation", self.participation),
            "visible": ("Visible", self.visible),
            "buffer": ("Limit buffer", self.buffer),
            "chase": ("Chase after", self.chase),
        }
        self.form = QFormLayout(self)
        self.form.addRow("Kind", self.kind)
        for label, widget in self._rows.values():
            self.form.addRow(label, widget)
        self.form.addRow("On restart", self.on_restart)
        self.form.addRow("", self.note)
        self.form.addRow("", self.problem_label)
        self.kind.currentIndexChanged.connect(lambda _i: self._show_fields())
        self.toggled.connect(lambda _on: self._show_fields())
        for _label, box in self._rows.values():  # told as typed, as the ticket tells its own
            box.valueChanged.connect(lambda _v: self._show_problem())
        self._show_fields()

    @property
    def active(self) -> bool:
        return self.isChecked()

    def _show_fields(self) -> None:
        wanted = FIELDS[self.kind.currentData()]
        on = self.isChecked()
        self.setFlat(not on)  # unticked: just its title, no empty frame (the theme's :flat)
        margin = 9 if on else 0
        self.form.setContentsMargins(margin, margin if on else 0, margin, margin)
        self.kind.setVisible(on)
        self.form.setRowVisible(0, on)
        for n, key in enumerate(self._rows, start=1):
            self.form.setRowVisible(n, on and key in wanted)
        self.form.setRowVisible(len(self._rows) + 1, on)
        self.form.setRowVisible(len(self._rows) + 2, on)
        self.note.setText(
            self.kind.currentData() and dict((k, t) for _n, k, t in KINDS)[self.kind.currentData()]
        )
        self._show_problem()

    def problem(self) -> str | None:
        """What the engine would refuse in this section's settings, in its words; None when
        nothing (or when the section is off: the order goes out plain)."""
        if not self.isChecked():
            return None
        # The order's own terms are the ticket's to check; stand-ins that pass keep the engine's
        # answer to what this section sets.
        spec = AlgoSpec(
            kind=AlgoKind(self.kind.currentData()),
            token=0,
            side=Side.BUY,
            quantity=1,
            **self._kind_settings(lot=1),
        )
        problems = [_in_labels(problem) for problem in spec.problems()]
        return "; ".join(problems) if problems else None

    def _show_problem(self) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.form.setRowVisible(len(self._rows) + 3, problem is not None)
        self.changed.emit()

    def settings(
        self,
        token: int,
        side: Side,
        quantity: int,
        product: Product,
        order_type: OrderType,
        price: Decimal | None,
        lot: int,
    ) -> dict[str, Any]:
        """The facade's ``start_algo`` settings for the ticket's order."""
        kind = self.kind.currentData()
        out: dict[str, Any] = {
            "kind": kind,
            "token": token,
            "side": side.value,
            "quantity": quantity,
            "product": product.value,
            "order_type": "MARKET" if order_type is OrderType.MARKET else "LIMIT",
            "limit_price": str(price) if order_type is OrderType.LIMIT and price else None,
            "on_restart": self.on_restart.currentData(),
            "owner": "ticket",
            **self._kind_settings(lot),
        }
        return out

    def _kind_settings(self, lot: int) -> dict[str, Any]:
        """The settings this section shows for the chosen kind, as ``AlgoSpec`` fields."""
        kind = self.kind.currentData()
        out: dict[str, Any] = {"limit_buffer_ticks": self.buffer.value()}
        if kind != "slicer":
            out["duration_seconds"] = self.duration.value() * 60
            out["chase_seconds"] = self.chase.value()
        if kind in ("twap", "vwap"):
            out["slices"] = self.slices.value()
        if kind == "twap":
            out["randomise_size_pct"] = out["randomise_time_pct"] = float(self.randomise.value())
        if kind == "pov":
            out["participation_pct"] = self.participation.value()
        if kind == "iceberg":
            out["visible_quantity"] = self.visible.value() * lot
        return out


LABELS = {
    "duration_seconds": "Duration",
    "chase_seconds": "Chase after",
    "slices": "Slices",
    "randomise_size_pct": "Randomise",
    "randomise_time_pct": "Randomise",
    "participation_pct": "Participation",
    "visible_quantity": "Visible",
    "limit_buffer_ticks": "Limit buffer",
}
"""The engine's names of the settings this section shows, and the labels the trader sees."""


def _in_labels(problem: str) -> str:
    """The engine's words for a setting's problem, naming the setting by the label shown here."""
    name, _, rest = problem.partition(" ")
    return f"{LABELS[name]} {rest}" if name in LABELS else problem
