"""One field's editor for each kind of value a settings schema declares (``schema_form`` picks
them): text, a tick, a choice, a whole or decimal number within bounds, a time, a date, a set of
choices, a code or a date, and an optional value with an on/off switch. Values go in and out in
their JSON form; each editor knows its field path and shows a problem on its widgets.

``set_value`` takes a value the widget can show as it is, or raises ``ValueError`` naming the
field path: a number outside the schema's bounds, not finite or not a number, a time that is not
one, a set member the schema does not list. A Qt widget would otherwise clamp or coerce it into
another value, and the trader would save a setting nobody chose.

A number field reads what is typed by one rule, whatever the system's locale: the decimal point
is ".", a comma only groups digits (1,23,45,678 or 12,345,678, as a risk limit reads it), and no
exponent. Typing the rule does not read, or a number outside the bounds, stays shown and is
refused in words on the field (``read_typed_number``): not a keystroke dropped nor a text
reverted, which would turn 1,5 into 15 or 1e3 into 13 unsaid."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from datetime import date, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from PySide6.QtCore import QDate, QObject, Qt, QTime, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
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

from ui.number_text import GROUPED_DIGITS, comma_problem, exponent_problem, plain_digits

UNBOUNDED = 10**8
"""The whole-number spin boxes' limit where a schema sets none (a C int holds about 2·10⁹)."""
LARGEST_NUMBER = 10**10
"""The decimal spin boxes' limit where a schema sets none: the largest rupee, point or percent
a portfolio's settings take (₹1,000 crore)."""
MAX_DECIMALS = 6
"""The most decimal places a number field widens to, to show a value given with more places
than it shows by default (a value with more is rounded, and the form says so)."""


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


# -- typed numbers ---------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
REFUSED = "⚠ "
"""What a number field's value starts with while its text is refused: followed by the text as
typed, it is a value no number's schema takes, so a form's check refuses it (and nothing
typed wrong is applied) while the field says why in words."""


def read_typed_number(
    text: str, *, places: int | None, low: Decimal, high: Decimal
) -> tuple[Decimal | None, str]:
    """The number ``text`` says, or (None, what is wrong in words); ``places``: the decimal
    places a decimal field takes, None for a whole number; ``low`` to ``high``: its bounds."""
    shown = text.strip()
    whole = places is None
    what = "a whole number" if whole else "a number"
    if not shown:
        return None, f"enter {what}"
    plain = shown
    if "," in shown:
        if not GROUPED_DIGITS.fullmatch(shown):
            return None, comma_problem(shown)
        plain = shown.replace(",", "")
    exponent_said = exponent_problem(plain, shown)
    if exponent_said is not None:
        return None, exponent_said
    if not _PLAIN_NUMBER.fullmatch(plain) or (whole and "." in plain):
        return None, f"enter {what}, not {shown!r}"
    number = Decimal(plain)
    exponent = number.as_tuple().exponent
    given = -exponent if isinstance(exponent, int) else 0
    if not whole and given > (places or 0):
        return None, f"at most {places} decimal places, not {shown}"
    if number < low:
        return None, f"enter at least {plain_digits(low)}, not {shown}"
    if number > high:
        return None, f"enter at most {plain_digits(high)}, not {shown}"
    return number, ""


def _bound(limit: float) -> Decimal:
    return Decimal(repr(limit))


def _typed_reading(box: QSpinBox | QDoubleSpinBox, text: str) -> tuple[Decimal | None, str]:
    places = None if isinstance(box, QSpinBox) else box.decimals()
    low, high = _bound(box.minimum()), _bound(box.maximum())
    return read_typed_number(text, places=places, low=low, high=high)


def _state(box: QSpinBox | QDoubleSpinBox, text: str) -> QValidator.State:
    """Acceptable for a text that reads as a number within bounds; anything else is kept
    (Intermediate), to be refused in words, never a keystroke silently dropped."""
    number, _problem = _typed_reading(box, text)
    return QValidator.State.Acceptable if number is not None else QValidator.State.Intermediate


def _keeps_refused_text(box: QAbstractSpinBox, event: QKeyEvent | QFocusEvent) -> bool:
    """Whether ``event`` would commit a refused text (Qt would put the value it last read back,
    maybe the 1 of 1,5): then the text stays as typed, refused, and the event goes on (Enter
    to the dialog, whose check refuses it; a focus change to the next widget)."""
    assert isinstance(box, QSpinBox | QDoubleSpinBox)
    if _typed_reading(box, box.lineEdit().text())[0] is not None:
        return False
    if isinstance(event, QKeyEvent):
        if event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return False
        event.ignore()
    else:
        box.lineEdit().event(event)  # the text field loses its cursor, as after a commit
    return True


class _TypedText:
    """What both number boxes do with typing: judge it by ``read_typed_number``, keep it as typed
    (Qt's fixup would drop the locale's group separator, 1,5 to 15), and keep a refused text in
    the box rather than let Qt put the last value back (placed before the Qt box in the bases)."""

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        return _state(self, text), text, pos  # type: ignore[arg-type]

    def fixup(self, input: str) -> str:
        return input

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not _keeps_refused_text(self, event):  # type: ignore[arg-type]
            super().keyPressEvent(event)  # type: ignore[misc]

    def focusOutEvent(self, event: QFocusEvent) -> None:
        if not _keeps_refused_text(self, event):  # type: ignore[arg-type]
            super().focusOutEvent(event)  # type: ignore[misc]


class WholeNumberBox(_TypedText, QSpinBox):
    """A spin box that reads typing by ``read_typed_number`` and shows digits ungrouped."""

    def valueFromText(self, text: str) -> int:
        number, _problem = _typed_reading(self, text)
        return self.value() if number is None else int(number)

    def textFromValue(self, val: int) -> str:
        return str(val)


class DecimalNumberBox(_TypedText, QDoubleSpinBox):
    """A decimal spin box that reads typing by ``read_typed_number`` and shows "." as the
    decimal point, whatever the locale."""

    def valueFromText(self, text: str) -> float:
        number, _problem = _typed_reading(self, text)
        return self.value() if number is None else float(number)

    def textFromValue(self, val: float) -> str:
        return f"{val:.{self.decimals()}f}"


# -- the editors ------------------------------------------------------------------------------------


class FieldEditor(QObject):
    """One field's widget, its value in JSON form, and where its problem shows."""

    changed = Signal()

    def __init__(self, path: str, label: str, tip: str) -> None:
        super().__init__()
        self.path = path
        self.label = label
        self.tip = tip
        self.widget: QWidget
        """Set by each kind of editor (none is made here: a form builds hundreds of editors)."""
        self.problem_label: QLabel | None = None
        """Where a form shows this field's problem in words (a compact row uses the tooltip)."""
        self.problem = ""
        self.note = ""
        """What is said beside the field without refusing it (``show_note``)."""

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

    def parts(self) -> list[FieldEditor]:
        """Every editor this one is made of (``children`` and those standing behind it)."""
        return self.children()

    def repath(self, old: str, new: str) -> None:
        """This editor and its parts now sit at ``new`` instead of ``old`` (a leg moved)."""
        if self.path == old or self.path.startswith(f"{old}."):
            self.path = new + self.path[len(old) :]
        for part in self.parts():
            part.repath(old, new)

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

    def show_note(self, text: str) -> None:
        """Say ``text`` beside the field as a note: not outlined, nothing refused; "" clears it."""
        self.note = text
        said = f"Note: {text}" if text else ""
        for widget in self.problem_widgets():
            tip = self.tip
            widget.setToolTip(f"{tip}\n\n{said}" if said and tip else (said or tip))
        if self.problem_label is not None:
            self.problem_label.setText(said)
            self.problem_label.setVisible(bool(said))

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
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{self.path}: {value!r} is not text")
        self.widget.setText(value or "")


class TextListEditor(TextEditor):
    """A list of text values (addresses, names) typed comma-separated."""

    def value(self) -> list[str]:  # type: ignore[override]
        return [part.strip() for part in super().value().split(",") if part.strip()]

    def set_value(self, value: Any) -> None:
        items = value if isinstance(value, list | tuple) else [] if value is None else [value]
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"{self.path}: {value!r} is not a list of text")
        super().set_value(", ".join(items))


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
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{self.path}: {value!r} is not true or false")
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


class TypedNumberEditor(FieldEditor):
    """A number field's editor: its text reads as a number (``read_typed_number``) or is
    refused in words on the field; while it is, ``value`` is ``REFUSED`` and the text."""

    def _watch_typing(self, box: QSpinBox | QDoubleSpinBox) -> None:
        self._refusal = ""
        box.lineEdit().textChanged.connect(self._typed)

    def refusal(self) -> str:
        """What is wrong with the text typed, in words; "" when it reads as a number."""
        box = self.widget
        assert isinstance(box, QSpinBox | QDoubleSpinBox)
        return _typed_reading(box, box.lineEdit().text())[1]

    def _typed(self, _text: str) -> None:
        refusal = self.refusal()
        if refusal or self._refusal:
            self._refusal = refusal
            self.show_problem("")
            self.changed.emit()  # a form checks again: a refused text is not a value to apply

    def _refused_text(self) -> str:
        box = self.widget
        assert isinstance(box, QSpinBox | QDoubleSpinBox)
        return REFUSED + box.lineEdit().text().strip() if self.refusal() else ""

    def show_problem(self, text: str) -> None:
        """``text``, or while the text typed is refused, why (the form's check then finds a
        value that is no number, which says less)."""
        super().show_problem(self.refusal() or text)


class IntEditor(TypedNumberEditor):
    def __init__(self, path: str, label: str, tip: str, bounds: dict[str, Any]) -> None:
        super().__init__(path, label, tip)
        self.widget = spin = WholeNumberBox()
        low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else -UNBOUNDED)
        high = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds else UNBOUNDED)
        spin.setRange(int(low), int(high))
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self._tooltip(spin)
        spin.valueChanged.connect(lambda _value: self.changed.emit())
        self._watch_typing(spin)

    def value(self) -> int | str:
        assert isinstance(self.widget, QSpinBox)
        return self._refused_text() or self.widget.value()

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QSpinBox)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{self.path}: {value!r} is not a whole number")
        if not math.isfinite(value) or not float(value).is_integer():
            raise ValueError(f"{self.path}: {value} is not a whole number")
        number = int(value)
        if not self.widget.minimum() <= number <= self.widget.maximum():
            # Qt would clamp it, or overflow past a C int: the file's value is refused instead.
            raise ValueError(
                f"{self.path}: {number} is outside {self.widget.minimum()} to "
                f"{self.widget.maximum()}"
            )
        self.widget.setValue(number)


class NumberEditor(TypedNumberEditor):
    """A float or an exact ``Decimal`` (given back as its text) within bounds, shown with
    ``decimals`` places, or with as many more as a value given needs (up to ``MAX_DECIMALS``):
    a value is never rounded to fit the box unsaid."""

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
        decimals: int | None = None,
    ) -> None:
        super().__init__(path, label, tip)
        self.exact = exact
        self.bounds = {k: Decimal(str(bounds[k])) for k in ("ge", "gt", "le", "lt") if k in bounds}
        self.decimals = self.DECIMALS if decimals is None else decimals
        """The places shown unless a value needs more."""
        self.widget = spin = DecimalNumberBox()
        self._show_places(self.decimals)
        low, high = spin.minimum(), spin.maximum()
        span = high - low
        spin.setSingleStep(0.05 if span <= 2 else 0.5 if span <= 100 else 1.0)
        spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        spin.setMinimumWidth(72)
        # Not as wide as the largest number it could hold; narrower still in a table's row.
        spin.setMaximumWidth(92 if compact else 120)
        self._tooltip(spin)
        spin.valueChanged.connect(lambda _value: self.changed.emit())
        self._watch_typing(spin)

    def _show_places(self, places: int) -> None:
        """Show ``places`` decimals; the range is the schema's, to the nearest such step."""
        spin = self.widget
        assert isinstance(spin, QDoubleSpinBox)
        tick = Decimal(1).scaleb(-places)
        bounds = self.bounds
        low = bounds.get("ge", bounds["gt"] + tick if "gt" in bounds else -LARGEST_NUMBER)
        high = bounds.get("le", bounds["lt"] - tick if "lt" in bounds else LARGEST_NUMBER)
        spin.setDecimals(places)
        spin.setRange(float(low), float(high))

    def value(self) -> str | float:
        assert isinstance(self.widget, QDoubleSpinBox)
        refused = self._refused_text()
        if refused:
            return refused
        number = self.widget.value()
        places = self.widget.decimals()
        return f"{number:.{places}f}" if self.exact else round(number, places)

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QDoubleSpinBox)
        number = self.checked(value)
        exponent = number.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        shown = min(max(self.decimals, places), MAX_DECIMALS)
        if shown != self.widget.decimals():
            self._show_places(shown)
        self.widget.setValue(float(number))

    def checked(self, value: Any) -> Decimal:
        """``value`` as a number within the schema's bounds, or ``ValueError`` saying why not."""
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError(f"{self.path}: {value!r} is not a number")
        try:
            number = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise ValueError(f"{self.path}: {value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{self.path}: {value} is not a finite number")
        bounds = self.bounds
        limits = (
            ("gt", lambda x, b: x > b, "above"),
            ("ge", lambda x, b: x >= b, "at least"),
            ("lt", lambda x, b: x < b, "below"),
            ("le", lambda x, b: x <= b, "at most"),
        )
        for key, holds, words in limits:
            if key in bounds and not holds(number, bounds[key]):
                raise ValueError(f"{self.path}: {value} is not {words} {bounds[key]}")
        if abs(number) > LARGEST_NUMBER:
            raise ValueError(f"{self.path}: {value} is beyond ±{LARGEST_NUMBER:,}")
        return number


class TimeEditor(FieldEditor):
    """A time of day to the second, or to the millisecond when the value given has them."""

    SECONDS, MILLISECONDS = "HH:mm:ss", "HH:mm:ss.zzz"

    def __init__(self, path: str, label: str, tip: str) -> None:
        super().__init__(path, label, tip)
        self.widget = edit = QTimeEdit()
        edit.setDisplayFormat(self.SECONDS)
        self._tooltip(edit)
        edit.timeChanged.connect(lambda _time: self.changed.emit())

    def value(self) -> str:
        assert isinstance(self.widget, QTimeEdit)
        return self.widget.time().toString(self.widget.displayFormat())

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QTimeEdit)
        if value is None:
            moment = time(9, 15)
        elif isinstance(value, time):
            moment = value
        elif isinstance(value, str):
            try:
                moment = time.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{self.path}: {value!r} is not a time of day") from None
        else:
            raise ValueError(f"{self.path}: {value!r} is not a time of day")
        if moment.tzinfo is not None:
            raise ValueError(f"{self.path}: {value} is a time in IST, without a zone")
        # A QTime holds milliseconds: finer parts are rounded away (the form says so).
        millis = round(moment.microsecond / 1000)
        self.widget.setDisplayFormat(self.MILLISECONDS if millis else self.SECONDS)
        self.widget.setTime(QTime(moment.hour, moment.minute, moment.second, min(millis, 999)))


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
        if value is not None and not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"{self.path}: {value!r} is not a list of {self.label.lower()}")
        chosen = set(value or ())
        unknown = chosen - set(self.boxes)
        if unknown:
            listed = ", ".join(sorted(repr(item) for item in unknown))
            choices = ", ".join(str(member) for member in self.boxes)
            raise ValueError(f"{self.path}: {listed} is not one of {choices}")
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

    def parts(self) -> list[FieldEditor]:
        return [self.codes, self.day]


class OptionalEditor(FieldEditor):
    """``X | None``: an on/off switch beside X's editor; off is None.

    ``OptionalEditor.later`` builds X's editor only once it is switched on or given a value: a
    legs table holds several optional groups a row (stop, target, trail, two reactions) that
    most legs leave off."""

    def __init__(
        self,
        inner: FieldEditor | Callable[[str], FieldEditor],
        switch_text: str = "",
        *,
        path: str = "",
        label: str = "",
        tip: str = "",
    ) -> None:
        if isinstance(inner, FieldEditor):
            path, label, tip = inner.path, inner.label, inner.tip
        super().__init__(path, label, tip)
        self.switch = QCheckBox(switch_text)
        self.switch.setToolTip(f"{tip}\n(unticked: not used)" if tip else "unticked: not used")
        self.widget = QWidget()
        self._row = QHBoxLayout(self.widget)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(3)
        self._row.addWidget(self.switch)
        self.switch.toggled.connect(self._toggled)
        self._inner: FieldEditor | None = None
        self._build: Callable[[str], FieldEditor] | None = None
        if isinstance(inner, FieldEditor):
            self._adopt(inner)
        else:
            self._build = inner

    @classmethod
    def later(
        cls, path: str, label: str, tip: str, build: Callable[[str], FieldEditor]
    ) -> OptionalEditor:
        """An optional field whose editor ``build(path)`` makes when it is first needed."""
        return cls(build, path=path, label=label, tip=tip)

    def _adopt(self, inner: FieldEditor) -> None:
        self._inner = inner
        self._row.addWidget(inner.widget, 1)
        inner.widget.setEnabled(self.switch.isChecked())
        inner.changed.connect(self.changed)

    @property
    def built(self) -> bool:
        """Whether X's editor exists yet."""
        return self._inner is not None

    @property
    def inner(self) -> FieldEditor:
        """X's editor (built now if it was left for later)."""
        if self._inner is None:
            assert self._build is not None
            self._adopt(self._build(self.path))
        assert self._inner is not None
        return self._inner

    def _toggled(self, on: bool) -> None:
        if on or self._inner is not None:
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
        return [] if self._inner is None else self._inner.children()

    def parts(self) -> list[FieldEditor]:
        return [] if self._inner is None else [self._inner]

    def problem_widgets(self) -> list[QWidget]:
        inner = [] if self._inner is None else self._inner.problem_widgets()
        return [self.switch, *inner]
