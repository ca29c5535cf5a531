"""Editors generated from a declared settings schema (a pydantic model): each field's type picks
its widget, the schema's bounds bound it and its description becomes its hint and tooltip.

- ``bool`` → check box; an enum or ``Literal`` → combo box; ``int`` → spin box; ``float`` and
  ``Decimal`` → a spin box with two decimals, three for a float (seconds, a delta), or as many
  as the presentation or a value given needs (a ``Decimal`` comes back as exact text);
  ``time`` → time edit; ``date`` → date edit; a set of an enum → one check box per member;
  an enum *or* a date (an expiry code or a date) → a combo box with a date edit beside it.
- ``X | None`` gets an on/off switch: off is None. An optional section (a nested model) is a
  group box that can be ticked off in a form; in a row its fields are built once it is ticked.
- A nested model is a group of its fields; a discriminated union (``kind``) is a combo box of
  the kinds over the chosen kind's fields (each kind's fields built once it is chosen).

Values go in and out in the schema's JSON form (``model_dump(mode="json")``), so what the editor
gives is what a file holds and what the engine's check reads. Every editor knows its field path
(``legs.0.strike.premium.upper``), the path the engine's problems name, so a problem is shown on
the widget it is about. A value of the wrong shape (an unknown key, a list for a group, a
number out of bounds) raises ``ValueError`` naming its path: it is never made into another value.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default_field
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ui.panels.schema_fields import (
    BoolEditor,
    ChoiceEditor,
    CodeOrDateEditor,
    DateEditor,
    FieldEditor,
    IntEditor,
    NumberEditor,
    OptionalEditor,
    SetEditor,
    TextEditor,
    TextListEditor,
    TimeEditor,
    choice_text,
    humanize,
)

FORM, ROW, CELLS = "form", "row", "cells"
"""How a model's fields are laid out: a labelled form (a page), one compact row (inside a table
cell), or not at all (each field's widget goes into a table cell of its own)."""


@dataclass(frozen=True)
class Presentation:
    """What a schema does not say about how its fields look, keyed ``Model.field`` (or
    ``field``; a union member's title by ``Model``)."""

    labels: Mapping[str, str] = default_field(default_factory=dict)
    """Titles where the name alone does not say it; "" leaves a field unlabelled in a row."""
    starts: Mapping[str, Any] = default_field(default_factory=dict)
    """Where a field without a default starts (JSON form) instead of its lowest value."""
    decimals: Mapping[str, int] = default_field(default_factory=dict)
    """Decimal places a number field shows (a delta: 4) where its type's default is too few."""
    shown_when: Mapping[str, tuple[str, frozenset[Any]]] = default_field(default_factory=dict)
    """A field shown only while a sibling field holds one of some values (a premium range's
    upper bound only for the rule "between"); hidden, it gives its default, as the engine
    would read it."""

    def label(self, schema: type[BaseModel], name: str) -> str:
        for key in (f"{schema.__name__}.{name}", name):
            if key in self.labels:
                return self.labels[key]
        declared = schema.model_fields.get(name)
        if declared is not None and declared.title:  # the schema's own title for the field
            return declared.title
        return humanize(name)

    def start(self, schema: type[BaseModel], name: str) -> Any:
        return self.starts.get(f"{schema.__name__}.{name}", self.starts.get(name))

    def places(self, schema: type[BaseModel], name: str) -> int | None:
        return self.decimals.get(f"{schema.__name__}.{name}", self.decimals.get(name))

    def condition(self, schema: type[BaseModel], name: str) -> tuple[str, frozenset[Any]] | None:
        return self.shown_when.get(f"{schema.__name__}.{name}")


PLAIN = Presentation()


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
        self.skip = skip
        self.fields: dict[str, FieldEditor] = {}
        self.defaults: dict[str, Any] = {}
        self.required: dict[str, Any] = {}
        """Fields without a default, and the value each starts at: what a value omitting one
        gives it (the check then says the file left it out)."""
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
                decimals=look.places(schema, name),
            )
            self.fields[name] = child
            self.defaults[name] = default_json(info)
            start = look.start(schema, name)
            if start is not None:  # where it starts, or where an optional field starts when on
                child.set_value(start)
            if info.is_required():
                self.required[name] = child.value()
            else:
                child.set_value(self.defaults[name])
            child.changed.connect(self.changed)
        self.conditions: dict[str, tuple[str, frozenset[Any]]] = {}
        """Fields shown only while a sibling holds certain values (``Presentation.shown_when``)."""
        for name in self.fields:
            rule = look.condition(schema, name)
            if rule is not None and rule[0] in self.fields:
                self.conditions[name] = rule
                self.fields[rule[0]].changed.connect(self._apply_conditions)
        self._titles: dict[str, list[QWidget]] = {}
        """Each field's title and hint, hidden with it."""
        self.box: QGroupBox | None = None
        if layout == FORM:
            self.widget = self._form(group or optional)
        elif layout == ROW:
            self.widget = self._row()
        else:
            self.widget = QWidget()  # the cells are placed one by one by the table
        self._apply_conditions()

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
        for name, child in self.fields.items():
            if isinstance(child, ModelEditor) and child.box is not None:
                grid.addWidget(child.widget, line, 0, 1, 3)
                line += 1
                continue
            title = QLabel(child.label)
            title.setToolTip(child.tip)
            grid.addWidget(title, line, 0, Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(child.widget, line, 1)
            self._titles[name] = [title]
            if child.tip:
                hint = QLabel(child.tip, objectName="fieldHint", wordWrap=True)
                grid.addWidget(hint, line, 2)
                self._titles[name].append(hint)
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
        for name, child in self.fields.items():
            if child.label:
                title = QLabel(child.label, objectName="fieldHint")
                title.setToolTip(child.tip)
                row.addWidget(title)
                self._titles[name] = [title]
            row.addWidget(child.widget)
        row.addStretch(1)
        return row_widget

    # -- values ----------------------------------------------------------------------------------------

    def shown(self, name: str) -> bool:
        """Whether field ``name`` applies (is shown) with its siblings' values now."""
        rule = self.conditions.get(name)
        return rule is None or self.fields[rule[0]].value() in rule[1]

    def _apply_conditions(self) -> None:
        for name in self.conditions:
            shown = self.shown(name)
            for widget in [self.fields[name].widget, *self._titles.get(name, [])]:
                if not shown or widget.parentWidget() is not None:  # never a window of its own
                    widget.setVisible(shown)

    def value(self) -> dict[str, Any] | None:
        if self.optional and self.box is not None and not self.box.isChecked():
            return None
        return {
            name: child.value() if self.shown(name) else self.defaults[name]
            for name, child in self.fields.items()
        }

    def set_value(self, value: Any) -> None:
        """Every field from ``value`` (a field it leaves out: its default); None is all the
        defaults (and, for an optional section, off)."""
        if value is not None and not isinstance(value, dict):
            where = self.path or self.label
            raise ValueError(f"{where}: {_kind_of(value)} is not a group of settings")
        data = value or {}
        unknown = [key for key in data if key not in self.fields and key not in self.skip]
        if unknown:
            prefix = f"{self.path}." if self.path else ""
            raise ValueError(f"{prefix}{unknown[0]}: not a setting here (a file of another kind?)")
        for name, child in self.fields.items():
            if name in data:
                child.set_value(data[name])
            else:
                child.set_value(self.required.get(name, self.defaults[name]))
        if self.optional and self.box is not None:
            self.box.setChecked(value is not None)

    def children(self) -> list[FieldEditor]:
        return list(self.fields.values())

    def problem_widgets(self) -> list[QWidget]:
        if self.box is not None:
            return [self.box]
        if self.layout_kind == ROW:  # a problem with the whole group outlines its fields
            return [w for child in self.fields.values() for w in child.problem_widgets()]
        return []  # a form says it in its problem line; table cells are the row's to mark

    def focus(self) -> None:
        first = next(iter(self.fields.values()), None)
        if first is not None:
            first.focus()


class LaterForm(FieldEditor):
    """A section's form (a ``ModelEditor`` page) built when it is first shown (``build``) or a
    field of it is needed; until then it holds the value it was given, checked as the form
    would check it (an unknown key, a value of the wrong type or out of bounds raises).

    A dialog of a dozen pages shows one at a time: building the rest as they are opened keeps
    the opening short."""

    LEFT_TO_THE_CHECK = frozenset({"value_error", "missing", "enum", "literal_error"})
    """Problems a form shows rather than refuses: a contradiction, a value left out (it
    starts where the form starts it), a choice the schema no longer lists."""

    def __init__(
        self, schema: type[BaseModel], path: str, label: str, *, look: Presentation = PLAIN
    ) -> None:
        super().__init__(path, label, "")
        self.schema = schema
        self._look = look
        self.form: ModelEditor | None = None
        self._held: dict[str, Any] = {}
        self.widget = QScrollArea()
        self.widget.setWidgetResizable(True)
        self.widget.setFrameShape(QScrollArea.Shape.NoFrame)

    def build(self) -> ModelEditor:
        """The form (built now, with the value held, if it was not yet)."""
        if self.form is None:
            form = ModelEditor(self.schema, self.path, self.label, layout=FORM, look=self._look)
            form.set_value(self._held)
            form.changed.connect(self.changed)
            self.form = form
            assert isinstance(self.widget, QScrollArea)
            self.widget.setWidget(form.widget)
        return self.form

    def value(self) -> dict[str, Any] | None:
        return dict(self._held) if self.form is None else self.form.value()

    def set_value(self, value: Any) -> None:
        if self.form is not None:
            self.form.set_value(value)
            return
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{self.path}: {_kind_of(value)} is not a group of settings")
        try:
            self.schema.model_validate(value or {})
        except ValidationError as error:
            for problem in error.errors(include_url=False):
                if problem["type"] not in self.LEFT_TO_THE_CHECK and problem["loc"]:
                    where = ".".join(str(part) for part in (self.path, *problem["loc"]))
                    raise ValueError(f"{where}: {problem['msg']}") from None
        self._held = copy.deepcopy(value or {})

    def children(self) -> list[FieldEditor]:
        return [] if self.form is None else [self.form]

    def problem_widgets(self) -> list[QWidget]:
        return [] if self.form is None else self.form.problem_widgets()

    @property
    def problem_label(self) -> QLabel | None:
        """The form's line for a problem with the whole section."""
        return None if self.form is None else self.form.problem_label

    @problem_label.setter
    def problem_label(self, _label: QLabel | None) -> None:
        pass  # the form has its own

    def show_problem(self, text: str) -> None:
        self.problem = text
        if text or self.form is not None:
            self.build().show_problem(text)

    def show_note(self, text: str) -> None:
        self.note = text
        if text or self.form is not None:
            self.build().show_note(text)


class UnionEditor(FieldEditor):
    """A discriminated union (``kind``): a combo box of the kinds over the chosen kind's fields.
    The fields' paths carry the kind, as the engine's problems do (``strike.premium.upper``).
    A kind's fields are built when it is first chosen or given a value."""

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
        self._layout = ROW if layout in (ROW, CELLS) else FORM
        self._look = look
        self.members: dict[str, type[BaseModel]] = {}
        self.kinds: dict[str, ModelEditor] = {}
        """The kinds' editors built so far (``editor_of`` builds one)."""
        choices = []
        self.stack = QStackedWidget()
        for member in members:
            kind = str(member.model_fields[discriminator].default)
            self.members[kind] = member
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

    def editor_of(self, kind: str) -> ModelEditor:
        """``kind``'s fields (built now if they were not yet)."""
        editor = self.kinds.get(kind)
        if editor is None:
            editor = ModelEditor(
                self.members[kind],
                f"{self.path}.{kind}",
                self.label,
                layout=self._layout,
                look=self._look,
                skip=frozenset({self.discriminator}),
            )
            editor.changed.connect(self.changed)
            self.kinds[kind] = editor
            self.stack.addWidget(editor.widget)
        return editor

    def _kind_changed(self) -> None:
        self._show(self.kind.value())
        self.changed.emit()

    def _show(self, kind: str) -> None:
        """Show ``kind``'s fields; the stack takes the size of those alone (not of the widest
        kind), so a table column fits what is shown."""
        current = self.editor_of(kind) if kind in self.members else None
        for name, editor in self.kinds.items():
            policy = QSizePolicy.Policy.Preferred if name == kind else QSizePolicy.Policy.Ignored
            editor.widget.setSizePolicy(policy, policy)
        if current is not None:
            self.stack.setCurrentWidget(current.widget)
        self.stack.adjustSize()

    @property
    def current(self) -> ModelEditor:
        return self.editor_of(self.kind.value())

    def value(self) -> dict[str, Any]:
        fields = self.current.value() or {}
        return {self.discriminator: self.kind.value(), **fields}

    def set_value(self, value: Any) -> None:
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{self.path}: {_kind_of(value)} is not a {self.label.lower()}")
        data = dict(value or {})
        kind = data.pop(self.discriminator, None) or next(iter(self.members))
        if kind not in self.members:
            kinds = ", ".join(self.members)
            raise ValueError(f"{self.path}: {kind!r} is not one of the kinds {kinds}")
        self.editor_of(kind).set_value(data)
        self.kind.set_value(kind)
        self._show(kind)

    def children(self) -> list[FieldEditor]:
        return [self.kind, *self.kinds.values()]

    def problem_widgets(self) -> list[QWidget]:
        return [self.kind.widget]


def _kind_of(value: Any) -> str:
    """What a JSON value is, in words (for a value of the wrong shape)."""
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{value!r}"


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
    decimals: int | None = None,
) -> FieldEditor:
    """The editor a field of this type gets (see the module's docstring); ``decimals``: the
    places a number shows, where its type's default is too few."""
    tip = (field.description or "") if field is not None else ""
    inner, optional = _split_optional(annotation)
    if _is_model(inner):
        if optional and layout == FORM:
            return ModelEditor(inner, path, label, layout=FORM, look=look, optional=True)
        if optional:  # in a row: its fields are built once it is switched on

            def build(where: str, schema: type[BaseModel] = inner) -> FieldEditor:
                return ModelEditor(schema, where, label, layout=layout, look=look)

            return OptionalEditor.later(path, label, tip, build)
        return ModelEditor(inner, path, label, layout=layout, look=look, group=layout == FORM)
    editor = _scalar_editor(inner, field, path, label, tip, layout, look, decimals)
    return OptionalEditor(editor) if optional else editor


def _scalar_editor(
    annotation: Any,
    field: FieldInfo | None,
    path: str,
    label: str,
    tip: str,
    layout: str,
    look: Presentation,
    decimals: int | None = None,
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
    item = get_args(args[0])[0] if args and get_origin(args[0]) is Annotated else None
    if origin in (list, tuple) and args and str in (args[0], item):
        return TextListEditor(path, label, tip, 400)
    if annotation is bool:
        return BoolEditor(path, label, tip)
    if _is_enum(annotation):
        return ChoiceEditor(path, label, tip, [(choice_text(m), m.value) for m in annotation])
    if annotation is int:
        return IntEditor(path, label, tip, bounds)
    if annotation in (float, Decimal):
        exact = annotation is Decimal
        places = decimals if decimals is not None else NumberEditor.DECIMALS if exact else 3
        return NumberEditor(
            path, label, tip, bounds, exact=exact, compact=layout != FORM, decimals=places
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
