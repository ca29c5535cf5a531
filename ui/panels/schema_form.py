"""Editors generated from a declared settings schema (a pydantic model): each field's type picks
its widget, the schema's bounds bound it and its description becomes its hint and tooltip.

- ``bool`` → check box; an enum or ``Literal`` → combo box; ``int`` → spin box; ``float`` and
  ``Decimal`` → a spin box with two decimals (a ``Decimal`` comes back as exact text);
  ``time`` → time edit; ``date`` → date edit; a set of an enum → one check box per member;
  an enum *or* a date (an expiry code or a date) → a combo box with a date edit beside it.
- ``X | None`` gets an on/off switch: off is None. An optional section (a nested model) is a
  group box that can be ticked off.
- A nested model is a group of its fields; a discriminated union (``kind``) is a combo box of
  the kinds over the chosen kind's fields.

Values go in and out in the schema's JSON form (``model_dump(mode="json")``), so what the editor
gives is what a file holds and what the engine's check reads. Every editor knows its field path
(``legs.0.strike.premium.upper``), the path the engine's problems name, so a problem is shown on
the widget it is about.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as default_field
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python
from PySide6.QtCore import QDate, QObject, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

FORM, ROW, CELLS = "form", "row", "cells"
"""How a model's fields are laid out: a labelled form (a page), one compact row (inside a table
cell), or not at all (each field's widget goes into a table cell of its own)."""

UNBOUNDED = 10**8
"""The spin boxes' limit where a schema sets none."""


@dataclass(frozen=True)
class Presentation:
    """What a schema does not say about how its fields look, keyed ``Model.field`` (or
    ``field``; a union member's title by ``Model``)."""

    labels: Mapping[str, str] = default_field(default_factory=dict)
    """Titles where the name alone does not say it; "" leaves a field unlabelled in a row."""
    starts: Mapping[str, Any] = default_field(default_factory=dict)
    """Where a field without a default starts (JSON form) instead of its lowest value."""

    def label(self, schema: type[BaseModel], name: str) -> str:
        for key in (f"{schema.__name__}.{name}", name):
            if key in self.labels:
                return self.labels[key]
        return humanize(name)

    def start(self, schema: type[BaseModel], name: str) -> Any:
        return self.starts.get(f"{schema.__name__}.{name}", self.starts.get(name))


PLAIN = Presentation()


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
        return text
    return str(value)


def _split_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)):
            inner = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007 - built at run time
            return inner, True
    return annotation, False


def _bounds(field: FieldInfo | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in () if field is None else field.metadata:
        for key in ("ge", "gt", "le", "lt", "max_length"):
            value = getattr(item, key, None)
            if value is not None:
                found[key] = value
    return found


def default_json(field: FieldInfo) -> Any:
    """A field's default in JSON form; None when it has none (a required field)."""
    if field.default is not PydanticUndefined:
        return to_jsonable_python(field.default)
    if field.default_factory is not None:
        return to_jsonable_python(field.default_factory())  # type: ignore[call-arg]
    return None


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
        edit.setMinimumWidth(140)
        self._tooltip(edit)
        edit.textChanged.connect(lambda _text: self.changed.emit())

    def value(self) -> str:
        assert isinstance(self.widget, QLineEdit)
        return self.widget.text()

    def set_value(self, value: Any) -> None:
        assert isinstance(self.widget, QLineEdit)
        self.widget.setText("" if value is None else str(value))


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
        self.widget.setValue(int(value or 0))


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


class ModelEditor(FieldEditor):
    """A nested model: its fields' editors, laid out as a form, a row or table cells.

    ``optional`` (a ``Model | None`` field): in a form, a group box ticked on or off; else a
    model is always there."""

    def __init__(
        self,
        schema: type[BaseModel],
        path: str,
        label: str,
        *,
        layout: str = FORM,
        look: Presentation = PLAIN,
        optional: bool = False,
        skip: frozenset[str] = frozenset(),
        group: bool = False,
    ) -> None:
        super().__init__(path, label, "")
        self.schema = schema
        self.layout_kind = layout
        self.optional = optional
        self.fields: dict[str, FieldEditor] = {}
        self.defaults: dict[str, Any] = {}
        self.required: set[str] = set()
        """Fields without a default: left as their widget starts when a value omits them."""
        for name, info in schema.model_fields.items():
            if name in skip:
                continue
            child_path = f"{path}.{name}" if path else name
            child = build_editor(
                info.annotation,
                info,
                child_path,
                look.label(schema, name),
                layout=ROW if layout in (ROW, CELLS) else FORM,
                look=look,
            )
            self.fields[name] = child
            self.defaults[name] = default_json(info)
            start = look.start(schema, name)
            if start is not None:  # where it starts, or where an optional field starts when on
                child.set_value(start)
            if info.is_required():
                self.required.add(name)
            else:
                child.set_value(self.defaults[name])
            child.changed.connect(self.changed)
        self.box: QGroupBox | None = None
        if layout == FORM:
            self.widget = self._form(group or optional)
        elif layout == ROW:
            self.widget = self._row()
        else:
            self.widget = QWidget()  # the cells are placed one by one by the table

    # -- layouts ---------------------------------------------------------------------------------------

    def _form(self, group: bool) -> QWidget:
        outer: QWidget
        if group:
            outer = self.box = QGroupBox(self.label)
            if self.optional:
                self.box.setCheckable(True)
                self.box.setChecked(False)
                self.box.toggled.connect(lambda _on: self.changed.emit())
        else:
            outer = QWidget()
        grid = QGridLayout(outer)
        margin = 8 if group else 0
        grid.setContentsMargins(margin, margin, margin, margin)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        self.problem_label = QLabel(objectName="fieldProblem", wordWrap=True)
        self.problem_label.setVisible(False)
        grid.addWidget(self.problem_label, 0, 0, 1, 3)
        line = 1
        for child in self.fields.values():
            if isinstance(child, ModelEditor) and child.box is not None:
                grid.addWidget(child.widget, line, 0, 1, 3)
                line += 1
                continue
            title = QLabel(child.label)
            title.setToolTip(child.tip)
            grid.addWidget(title, line, 0, Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(child.widget, line, 1)
            if child.tip:
                hint = QLabel(child.tip, objectName="fieldHint", wordWrap=True)
                grid.addWidget(hint, line, 2)
            problem = QLabel(objectName="fieldProblem", wordWrap=True)
            problem.setVisible(False)
            child.problem_label = problem
            grid.addWidget(problem, line + 1, 1, 1, 2)
            line += 2
        grid.setColumnStretch(2, 1)
        grid.setRowStretch(line, 1)
        return outer

    def _row(self) -> QWidget:
        row_widget = QWidget()
        row = QHBoxLayout(row_widget)
        row.setContentsMargins(2, 0, 2, 0)
        row.setSpacing(4)
        for child in self.fields.values():
            if child.label:
                title = QLabel(child.label, objectName="fieldHint")
                title.setToolTip(child.tip)
                row.addWidget(title)
            row.addWidget(child.widget)
        row.addStretch(1)
        return row_widget

    # -- values ----------------------------------------------------------------------------------------

    def value(self) -> dict[str, Any] | None:
        if self.optional and self.box is not None and not self.box.isChecked():
            return None
        return {name: child.value() for name, child in self.fields.items()}

    def set_value(self, value: Any) -> None:
        data = value if isinstance(value, dict) else {}
        for name, child in self.fields.items():
            if name in data:
                child.set_value(data[name])
            elif name not in self.required:
                child.set_value(self.defaults[name])
        if self.optional and self.box is not None:
            self.box.setChecked(value is not None)

    def children(self) -> list[FieldEditor]:
        return list(self.fields.values())

    def problem_widgets(self) -> list[QWidget]:
        return [self.box] if self.box is not None else []

    def focus(self) -> None:
        first = next(iter(self.fields.values()), None)
        if first is not None:
            first.focus()


class UnionEditor(FieldEditor):
    """A discriminated union (``kind``): a combo box of the kinds over the chosen kind's fields.
    The fields' paths carry the kind, as the engine's problems do (``strike.premium.upper``)."""

    def __init__(
        self,
        members: list[type[BaseModel]],
        discriminator: str,
        path: str,
        label: str,
        tip: str,
        *,
        layout: str,
        look: Presentation,
    ) -> None:
        super().__init__(path, label, tip)
        self.discriminator = discriminator
        self.kinds: dict[str, ModelEditor] = {}
        choices = []
        self.stack = QStackedWidget()
        for member in members:
            kind = str(member.model_fields[discriminator].default)
            editor = ModelEditor(
                member,
                f"{path}.{kind}",
                label,
                layout=ROW if layout in (ROW, CELLS) else FORM,
                look=look,
                skip=frozenset({discriminator}),
            )
            editor.changed.connect(self.changed)
            self.kinds[kind] = editor
            self.stack.addWidget(editor.widget)
            choices.append((look.labels.get(member.__name__, humanize(kind)), kind))
        self.kind = ChoiceEditor(path, label, tip, choices)
        self.kind.changed.connect(self._kind_changed)
        self.widget = QWidget()
        box = QHBoxLayout(self.widget) if layout != FORM else QVBoxLayout(self.widget)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(4)
        box.addWidget(self.kind.widget)
        box.addWidget(self.stack, 1)
        self._show(self.kind.value())

    def _kind_changed(self) -> None:
        self._show(self.kind.value())
        self.changed.emit()

    def _show(self, kind: str) -> None:
        """Show ``kind``'s fields; the stack takes the size of those alone (not of the widest
        kind), so a table column fits what is shown."""
        for name, editor in self.kinds.items():
            policy = QSizePolicy.Policy.Preferred if name == kind else QSizePolicy.Policy.Ignored
            editor.widget.setSizePolicy(policy, policy)
        current = self.kinds.get(kind)
        if current is not None:
            self.stack.setCurrentWidget(current.widget)
        self.stack.adjustSize()

    @property
    def current(self) -> ModelEditor:
        return self.kinds[self.kind.value()]

    def value(self) -> dict[str, Any]:
        fields = self.current.value() or {}
        return {self.discriminator: self.kind.value(), **fields}

    def set_value(self, value: Any) -> None:
        data = dict(value) if isinstance(value, dict) else {}
        kind = data.pop(self.discriminator, None) or next(iter(self.kinds))
        self.kind.set_value(kind)
        if kind in self.kinds:
            self.kinds[kind].set_value(data)
        self._show(kind)

    def children(self) -> list[FieldEditor]:
        return [self.kind, *self.kinds.values()]

    def problem_widgets(self) -> list[QWidget]:
        return [self.kind.widget]


# -- choosing the editor ---------------------------------------------------------------------------


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def build_editor(
    annotation: Any,
    field: FieldInfo | None,
    path: str,
    label: str,
    *,
    layout: str = FORM,
    look: Presentation = PLAIN,
) -> FieldEditor:
    """The editor a field of this type gets (see the module's docstring)."""
    tip = (field.description or "") if field is not None else ""
    inner, optional = _split_optional(annotation)
    if _is_model(inner):
        if optional and layout == FORM:
            return ModelEditor(inner, path, label, layout=FORM, look=look, optional=True)
        editor: FieldEditor = ModelEditor(
            inner, path, label, layout=layout, look=look, group=layout == FORM
        )
        return OptionalEditor(editor) if optional else editor
    editor = _scalar_editor(inner, field, path, label, tip, layout, look)
    return OptionalEditor(editor) if optional else editor


def _scalar_editor(
    annotation: Any,
    field: FieldInfo | None,
    path: str,
    label: str,
    tip: str,
    layout: str,
    look: Presentation,
) -> FieldEditor:
    bounds = _bounds(field)
    origin = get_origin(annotation)
    args = get_args(annotation)
    discriminator = None if field is None else field.discriminator
    if origin in (Union, types.UnionType):
        if isinstance(discriminator, str) and all(_is_model(a) for a in args):
            return UnionEditor(
                list(args), discriminator, path, label, tip, layout=layout, look=look
            )
        enums = [a for a in args if _is_enum(a)]
        if len(args) == 2 and len(enums) == 1 and date in args:
            return CodeOrDateEditor(path, label, tip, list(enums[0]))
        raise TypeError(f"{path}: no editor for the union {annotation}")
    if origin is Literal:
        return ChoiceEditor(path, label, tip, [(str(a), a) for a in args])
    if origin in (frozenset, set, list) and args and _is_enum(args[0]):
        return SetEditor(path, label, tip, list(args[0]))
    if annotation is bool:
        return BoolEditor(path, label, tip)
    if _is_enum(annotation):
        return ChoiceEditor(path, label, tip, [(choice_text(m), m.value) for m in annotation])
    if annotation is int:
        return IntEditor(path, label, tip, bounds)
    if annotation in (float, Decimal):
        return NumberEditor(
            path, label, tip, bounds, exact=annotation is Decimal, compact=layout != FORM
        )
    if annotation is time:
        return TimeEditor(path, label, tip)
    if annotation is date:
        return DateEditor(path, label, tip)
    if annotation is str:
        return TextEditor(path, label, tip, bounds.get("max_length"))
    raise TypeError(f"{path}: no editor for {annotation}")


def editors_by_path(roots: list[FieldEditor]) -> dict[str, FieldEditor]:
    """Every editor under ``roots`` by its field path (the first one for a path wins)."""
    found: dict[str, FieldEditor] = {}
    for root in roots:
        for editor in root.walk():
            found.setdefault(editor.path, editor)
    return found


def editor_for_problem(editors: Mapping[str, FieldEditor], path: str) -> FieldEditor | None:
    """The editor a problem's path is about: the longest path that has one."""
    parts = path.split(".")
    while parts:
        found = editors.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None
