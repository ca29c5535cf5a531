"""One field's editor for each kind of value a settings schema declares (``schema_form`` picks
them): text, a tick, a choice, a whole or decimal number within bounds, a time, a date, a set of
choices, a code or a date, and an optional value with an on/off switch. Values go in and out in
their JSON form; each editor knows its field path and shows a problem on its widgets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Any

from PySide6.QtCore import QDate, QObject, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTimeEdit,
    QWidget,
)

UNBOUNDED = 10**8
"""The spin boxes' limit where a schema sets none."""


def humanize(name: str) -> str:
    text = name.replace("_pct", " %").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _repolish(widget: QWidget) -> None:
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


def choice_text(value: Any) -> str:
    """How a choice reads: its value, and for a short code its name (``CW · current week``)."""
    if isinstance(value, Enum):
        text = str(value.value)
        name = value.name.lower().replace("_", " ")
        if len(text) <= 3 and name != text.lower():
            return f"{text} · {name}"
        return text.replace("_", " ")  # "re execute", not "re_execute": words, as the trader reads
    return str(value)


# -- the editors ------------------------------------------------------------------------------------


class FieldEditor(QObject):
    """One field's widget, its value in JSON form, and where its problem shows."""

    changed = Signal()

    def __init__(self, path: str, label: str, tip: str) -> None:
        super().__init__()
        self.path = path
        self.label = label
        self.tip = tip
        self.widget: QWidget = QWidget()
        self.problem_label: QLabel | None = None
        """Where a form shows this field's problem in words (a compact row uses the tooltip)."""
        self.problem = ""

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def children(self) -> list[FieldEditor]:
        return []

    def problem_widgets(self) -> list[QWidget]:
        """The widgets outlined when the field has a problem."""
        return [self.widget]

    def walk(self) -> Iterator[FieldEditor]:
        yield self
        for child in self.children():
            yield from child.walk()

    def show_problem(self, text: str) -> None:
        """Outline the field and say ``text`` beside it; "" clears it."""
        self.problem = text
        for widget in self.problem_widgets():
            widget.setProperty("problem", bool(text))
            _repolish(widget)
            tip = self.tip
            widget.setToolTip(f"{tip}\n\n⚠ {text}" if text and tip else (text or tip))
        if self.problem_label is not None:
            self.problem_label.setText(text)
            self.problem_label.setVisible(bool(text))

    def focus(self) -> None:
        widgets = self.problem_widgets()
        if widgets:
            widgets[0].setFocus(Qt.FocusReason.OtherFocusReason)

    def _tooltip(self, widget: QWidget) -> None:
        if self.tip:
            widget.setToolTip(self.tip)


class TextEditor(FieldEditor):
    def __init__(self, path: str, label: str, tip: str, max_length: int | None = None) -> None:
        super().__init__(path, label, tip)
        self.widget = edit = QLineEdit()
        if max_length:
            edit.setMaxLength(max_length)
        edit.setMinimumWidth(320 if (max_length or 0) > 100 else 140)  # a list of values: wide
        self._tooltip(edit)
        edit.textChanged.connect(lambda _text: self.changed.emit())

    def value(self) -> str:
        assert isinstance(self.widget, QLineEdit)
        return self.widget.text()

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QLineEdit)
        self.widget.setText("" if value is None else str(value))


class TextListEditor(TextEditor):
    """A list of text values (addresses, names) typed comma-separated."""

    def value(self) -> list[str]:  # type: ignore[override]
        return [part.strip() for part in super().value().split(",") if part.strip()]

    def set_value(self, value: Any) -> None:
        items = value if isinstance(value, list | tuple) else [] if value is None else [value]
        super().set_value(", ".join(str(item) for item in items))


class BoolEditor(FieldEditor):
    def __init__(self, path: str, label: str, tip: str, text: str = "") -> None:
        super().__init__(path, label, tip)
        self.widget = box = QCheckBox(text)
        self._tooltip(box)
        box.toggled.connect(lambda _on: self.changed.emit())

    def value(self) -> bool:
        assert isinstance(self.widget, QCheckBox)
        return self.widget.isChecked()

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QCheckBox)
        self.widget.setChecked(bool(value))


class ChoiceEditor(FieldEditor):
    """A combo box of choices: (text, JSON value) pairs."""

    def __init__(self, path: str, label: str, tip: str, choices: list[tuple[str, Any]]) -> None:
        super().__init__(path, label, tip)
        self.widget = combo = QComboBox()
        for text, value in choices:
            combo.addItem(text, value)
        self._tooltip(combo)
        combo.currentIndexChanged.connect(lambda _index: self.changed.emit())

    def value(self) -> Any:
        assert isinstance(self.widget, QComboBox)
        return self.widget.currentData()

    def set_value(self, value: Any) -> None:
        combo = self.widget
        assert isinstance(combo, QComboBox)
        at = combo.findData(value)
        if at < 0:  # a value the schema does not list (an old file): kept, so the check names it
            combo.addItem(str(value), value)
            at = combo.count() - 1
        combo.setCurrentIndex(at)


class IntEditor(FieldEditor):
    def __init__(self, path: str, label: str, tip: str, bounds: dict[str, Any]) -> None:
        super().__init__(path, label, tip)
        self.widget = spin = QSpinBox()
        low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else -UNBOUNDED)
        high = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds else UNBOUNDED)
        spin.setRange(int(low), int(high))
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self._tooltip(spin)
        spin.valueChanged.connect(lambda _value: self.changed.emit())

    def value(self) -> int:
        assert isinstance(self.widget, QSpinBox)
        return self.widget.value()

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QSpinBox)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{self.path}: {value} is not a whole number")
        number = int(value or 0)
        if not self.widget.minimum() <= number <= self.widget.maximum():
            # Qt would clamp it, or overflow past a C int: the file's value is refused instead.
            raise ValueError(
                f"{self.path}: {number} is outside {self.widget.minimum()} to "
                f"{self.widget.maximum()}"
            )
        self.widget.setValue(number)


class NumberEditor(FieldEditor):
    """A float or an exact ``Decimal`` (given back as its text), two decimals, within bounds."""

    DECIMALS = 2

    def __init__(
        self,
        path: str,
        label: str,
        tip: str,
        bounds: dict[str, Any],
        *,
        exact: bool,
        compact: bool = False,
    ) -> None:
        super().__init__(path, label, tip)
        self.exact = exact
        self.widget = spin = QDoubleSpinBox()
        spin.setDecimals(self.DECIMALS)
        tick = 10**-self.DECIMALS
        low = float(bounds.get("ge", bounds["gt"] + tick if "gt" in bounds else -UNBOUNDED))
        high = float(bounds.get("le", bounds["lt"] - tick if "lt" in bounds else UNBOUNDED))
        spin.setRange(low, high)
        span = high - low
        spin.setSingleStep(0.05 if span <= 2 else 0.5 if span <= 100 else 1.0)
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        spin.setMinimumWidth(72)
        # Not as wide as the largest number it could hold; narrower still in a table's row.
        spin.setMaximumWidth(92 if compact else 120)
        self._tooltip(spin)
        spin.valueChanged.connect(lambda _value: self.changed.emit())

    def value(self) -> str | float:
        assert isinstance(self.widget, QDoubleSpinBox)
        number = self.widget.value()
        return f"{number:.{self.DECIMALS}f}" if self.exact else round(number, self.DECIMALS)

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QDoubleSpinBox)
        self.widget.setValue(float(Decimal(str(value))) if value is not None else 0.0)


class TimeEditor(FieldEditor):
    def __init__(self, path: str, label: str, tip: str) -> None:
        super().__init__(path, label, tip)
        self.widget = edit = QTimeEdit()
        edit.setDisplayFormat("HH:mm:ss")
        self._tooltip(edit)
        edit.timeChanged.connect(lambda _time: self.changed.emit())

    def value(self) -> str:
        assert isinstance(self.widget, QTimeEdit)
        return self.widget.time().toString("HH:mm:ss")

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QTimeEdit)
        moment = time.fromisoformat(str(value)) if value else time(9, 15)
        self.widget.setTime(QTime(moment.hour, moment.minute, moment.second))


class DateEditor(FieldEditor):
    def __init__(self, path: str, label: str, tip: str) -> None:
        super().__init__(path, label, tip)
        self.widget = edit = QDateEdit()
        edit.setDisplayFormat("dd MMM yyyy")
        edit.setCalendarPopup(True)
        self._tooltip(edit)
        edit.dateChanged.connect(lambda _date: self.changed.emit())

    def value(self) -> str:
        assert isinstance(self.widget, QDateEdit)
        return self.widget.date().toString(Qt.DateFormat.ISODate)

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QDateEdit)
        if not value:
            return  # no date: the widget keeps the one it shows
        day = date.fromisoformat(str(value))
        self.widget.setDate(QDate(day.year, day.month, day.day))


class SetEditor(FieldEditor):
    """A set of an enum's members: one check box each."""

    def __init__(self, path: str, label: str, tip: str, members: list[Enum]) -> None:
        super().__init__(path, label, tip)
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        self.boxes: dict[Any, QCheckBox] = {}
        for member in members:
            box = QCheckBox(choice_text(member))
            self._tooltip(box)
            box.toggled.connect(lambda _on: self.changed.emit())
            row.addWidget(box)
            self.boxes[member.value] = box
        row.addStretch(1)

    def value(self) -> list[Any]:
        return [value for value, box in self.boxes.items() if box.isChecked()]

    def set_value(self, value: Any) -> None:
        chosen = set(value or ())
        for member, box in self.boxes.items():
            box.setChecked(member in chosen)

    def problem_widgets(self) -> list[QWidget]:
        return list(self.boxes.values())


class CodeOrDateEditor(FieldEditor):
    """An enum's codes or a date (an expiry: CW, W1, … or a day): a combo box of the codes and
    "date", with a date edit shown for "date"."""

    DATE = "date"

    def __init__(self, path: str, label: str, tip: str, members: list[Enum]) -> None:
        super().__init__(path, label, tip)
        choices = [(choice_text(m), m.value) for m in members] + [("date…", self.DATE)]
        self.codes = ChoiceEditor(path, label, tip, choices)
        self.day = DateEditor(path, label, tip)
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(3)
        row.addWidget(self.codes.widget)
        row.addWidget(self.day.widget)
        self.day.widget.setVisible(False)
        self.codes.changed.connect(self._kind_changed)
        self.day.changed.connect(self.changed)

    def _kind_changed(self) -> None:
        self.day.widget.setVisible(self.codes.value() == self.DATE)
        self.changed.emit()

    def value(self) -> Any:
        code = self.codes.value()
        return self.day.value() if code == self.DATE else code

    def set_value(self, value: Any) -> None:
        text = str(value)
        if len(text) == 10 and text[4] == "-":  # an ISO date
            self.day.set_value(text)
            self.codes.set_value(self.DATE)
        else:
            self.codes.set_value(value)

    def problem_widgets(self) -> list[QWidget]:
        return [self.codes.widget, self.day.widget]


class OptionalEditor(FieldEditor):
    """``X | None``: an on/off switch beside X's editor; off is None."""

    def __init__(self, inner: FieldEditor, switch_text: str = "") -> None:
        super().__init__(inner.path, inner.label, inner.tip)
        self.inner = inner
        self.switch = QCheckBox(switch_text)
        self.switch.setToolTip(
            f"{inner.tip}\n(unticked: not used)" if inner.tip else "unticked: not used"
        )
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(3)
        row.addWidget(self.switch)
        row.addWidget(inner.widget, 1)
        inner.widget.setEnabled(False)
        self.switch.toggled.connect(self._toggled)
        inner.changed.connect(self.changed)

    def _toggled(self, on: bool) -> None:
        self.inner.widget.setEnabled(on)
        self.changed.emit()

    @property
    def on(self) -> bool:
        return self.switch.isChecked()

    def set_on(self, on: bool) -> None:
        self.switch.setChecked(on)

    def value(self) -> Any:
        return self.inner.value() if self.on else None

    def set_value(self, value: Any) -> None:
        if value is not None:
            self.inner.set_value(value)
        self.set_on(value is not None)

    def children(self) -> list[FieldEditor]:
        return self.inner.children()

    def problem_widgets(self) -> list[QWidget]:
        return [self.switch, *self.inner.problem_widgets()]
