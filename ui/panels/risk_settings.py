"""The risk settings page: every limit of the engine's declared schema, edited in place.

The page is generated from ``api.risk_limit_schema()``: one editor per limit (a check box, a
choice, or a text field with its unit), the limit's description as its tooltip, and an "on"
box for limits that can be switched off. What the trader types is checked as they type, by the
engine's own schema; each problem is shown under the limit it concerns and Apply stays off
until there is none. Apply replaces the limits through ``api.set_risk_limits`` (journaled).

The second tab holds overrides per underlying (order-level limits only, as the schema says);
overrides per account are kept as they are. Non-modal: it never blocks the event loop.
"""

from __future__ import annotations

import re
from dataclasses import fields as dataclass_fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.api import RiskLimitField, RiskLimits, RiskSettings, TradingState
from engine.domain.requests import InputError, settings_of
from ui import format as fmt
from ui.context import PanelContext
from ui.export import IST
from ui.number_text import GROUPED_DIGITS, comma_problem, exponent_problem

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Exchange rules",
        (
            "check_session",
            "check_price_protection",
            "futures_operating_range_pct",
            "equity_band_pct",
            "slice_above_freeze",
            "market_protection_pct",
            "allow_market_on_stock_options",
        ),
    ),
    (
        "Order size and price",
        (
            "max_order_quantity",
            "max_order_value",
            "fat_finger_pct",
            "fat_finger_floor",
            "duplicate_window_seconds",
        ),
    ),
    ("Order rate", ("max_orders_per_second", "max_orders_per_minute", "throttle_mode")),
    (
        "Exposure and margin",
        (
            "capital",
            "check_margin",
            "max_concentration_pct",
            "max_position_lots",
            "max_underlying_lots",
            "max_open_orders",
        ),
    ),
    (
        "Circuit breakers",
        (
            "daily_loss_limit",
            "daily_loss_action",
            "square_off_on_daily_loss",
            "profit_lock_at",
            "profit_lock_keep",
            "max_drawdown_from_peak",
            "breaker_action",
            "square_off_on_breaker",
            "underlying_move_pct",
            "underlying_move_minutes",
            "max_rejections",
            "rejection_window_seconds",
        ),
    ),
)
"""How the page groups the schema; a limit the schema adds later lands in "Other"."""
LEFT_GROUPS = ("Exchange rules", "Order size and price", "Order rate")

LABELS = {
    "check_session": "Market session open",
    "check_price_protection": "Exchange price protection",
    "check_margin": "Margin check",
    "slice_above_freeze": "Slice above freeze qty",
    "allow_market_on_stock_options": "MARKET on stock options",
    "fat_finger_floor": "Fat-finger floor",
    "fat_finger_pct": "Fat-finger distance",
    "duplicate_window_seconds": "Duplicate window",
    "max_concentration_pct": "Max concentration",
    "max_position_lots": "Max position per instrument",
    "max_underlying_lots": "Max position per underlying",
    "underlying_move_pct": "Underlying move",
    "underlying_move_minutes": "Underlying move window",
    "rejection_window_seconds": "Rejection window",
    "square_off_on_daily_loss": "Square off on daily loss",
    "square_off_on_breaker": "Square off on other breakers",
    "profit_lock_keep": "Profit lock keeps",
}

EDITOR_WIDTH = 130
UNIT_WIDTH = 64

_REPR_DECIMAL = re.compile(r"Decimal\('([^']*)'\)")


def label_of(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    words = [w for w in name.split("_") if w != "pct"]
    return " ".join(words).capitalize()


def value_text(field: RiskLimitField, value: Any) -> str:
    """A limit's value as the editor shows it (rupees with Indian grouping)."""
    if value is None:
        return ""
    if isinstance(value, TradingState):
        return value.value
    if field.kind == "amount" and field.unit == "₹":
        text = fmt.rupees(Decimal(value))
        return text[:-3] if text.endswith(".00") else text
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def problem_text(problem: str, names: list[str]) -> str:
    """The schema's words made readable: limit names as their labels, no Decimal reprs."""
    text = _REPR_DECIMAL.sub(r"\1", problem)
    for name in names:
        text = text.replace(name, label_of(name))
    return text[:1].upper() + text[1:]


LARGEST = {"amount": "10^18", "number": "10^18", "integer": "2^63"}
"""The bound the journal holds a limit to (``settings_of``), in words, by the limit's kind."""


def limit_value(field: RiskLimitField, typed: str) -> tuple[Any, str]:
    """A number limit's value from its text: (value, "") or (None, what is wrong in words).

    Commas are taken only as digit grouping, Indian or international; any other comma, and an
    exponent, is a mistake said as one (1,5 is not read as 15, nor 1e3 as 1000:
    ``ui.number_text``)."""
    shown = typed.strip()
    if field.kind not in LARGEST:
        return shown, ""
    text = shown.replace("₹", "").replace("_", "").strip()
    if "," in text:
        if not GROUPED_DIGITS.fullmatch(text):
            return None, comma_problem(shown)
        text = text.replace(",", "")
    exponent_said = exponent_problem(text, shown)
    if exponent_said is not None:
        return None, exponent_said
    try:
        exact = Decimal(text)
        value: Any = exact
        if field.kind == "integer":
            value = int(text)
        elif field.kind == "number":
            value = float(exact)
    except (InvalidOperation, ValueError):
        what = {
            "amount": "an amount" if field.unit == "₹" else "a number",
            "integer": "a whole number",
            "number": "a number",
        }[field.kind]
        return None, f"enter {what}, not {shown!r}"
    if exact.is_finite() and not _journal_holds(value):
        return None, f"too large: a limit must be less than {LARGEST[field.kind]}"
    return value, ""


def _journal_holds(value: Any) -> bool:
    """Whether ``api.set_risk_limits`` takes ``value`` as a limit: its own check."""
    try:
        settings_of({"defaults": {"limit": value}})
    except InputError:
        return False
    return True


class Inherit:
    """Marker: an underlying's limit that follows the account's."""


INHERIT = Inherit()


class LimitEditor(QWidget):
    """One limit: its input (with "on" box when it can be switched off, "override" box on the
    underlying tab), its unit, and the line under it where its problem shows."""

    changed = Signal()

    def __init__(
        self,
        field: RiskLimitField,
        parent: QWidget | None = None,
        *,
        overridable: bool = False,
    ) -> None:
        super().__init__(parent)
        self.field = field
        self.setObjectName(f"limit_{field.name}")
        self.overridable = overridable
        self._inherited: Any = field.default
        tip = self._tooltip()
        self.setToolTip(tip)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.override: QCheckBox | None = None
        if overridable:
            self.override = QCheckBox("override", self)
            self.override.setToolTip("Override the account's value for this underlying")
            self.override.toggled.connect(self._sync_enabled)
            self.override.toggled.connect(self.changed)
            row.addWidget(self.override)
        self.enabled_box: QCheckBox | None = None
        self.check: QCheckBox | None = None
        self.choice: QComboBox | None = None
        self.line: QLineEdit | None = None
        if field.kind == "bool":
            self.check = QCheckBox("", self)
            self.check.setToolTip(tip)
            self.check.toggled.connect(self.changed)
            row.addWidget(self.check)
        elif field.kind == "choice":
            self.choice = QComboBox(self)
            self.choice.addItems(list(field.choices))
            self.choice.setToolTip(tip)
            self.choice.setFixedWidth(EDITOR_WIDTH)
            self.choice.currentTextChanged.connect(self.changed)
            row.addWidget(self.choice)
        else:
            self.line = QLineEdit(self)
            self.line.setToolTip(tip)
            self.line.setAlignment(Qt.AlignmentFlag.AlignRight)
            self.line.setFixedWidth(EDITOR_WIDTH)
            self.line.textChanged.connect(self.changed)
            row.addWidget(self.line)
            unit = QLabel(field.unit, self, objectName="limitUnit")
            unit.setToolTip(tip)
            unit.setMinimumWidth(UNIT_WIDTH)
            row.addWidget(unit)
            if field.optional:
                self.enabled_box = QCheckBox("on", self)
                self.enabled_box.setToolTip("Untick to switch this limit off")
                self.enabled_box.toggled.connect(self._sync_enabled)
                self.enabled_box.toggled.connect(self.changed)
                row.addWidget(self.enabled_box)
        row.addStretch(1)
        self.error = QLabel("", self, objectName="limitError", wordWrap=True)
        self.error.setVisible(False)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        column.addLayout(row)
        column.addWidget(self.error)
        self.set_value(INHERIT if overridable else field.default)

    def _tooltip(self) -> str:
        field = self.field
        tip = f"<b>{label_of(field.name)}</b><br>{field.description}"
        default = "off" if field.default is None else value_text(field, field.default)
        if field.kind == "bool":
            default = "yes" if field.default else "no"
        tip += f"<br><i>Default: {default}{' ' + field.unit if field.unit else ''}</i>"
        if not field.per_underlying:
            tip += "<br><i>Applies to the whole account.</i>"
        return tip

    # -- values ---------------------------------------------------------------------------------

    def set_value(self, value: Any) -> None:
        """Show ``value`` (``INHERIT`` on the underlying tab: follow the account)."""
        inherit = isinstance(value, Inherit)
        shown = self._inherited if inherit else value
        if self.override is not None:
            self.override.setChecked(not inherit)
        if self.check is not None:
            self.check.setChecked(bool(shown))
        elif self.choice is not None:
            text = shown.value if isinstance(shown, TradingState) else str(shown)
            self.choice.setCurrentText(text)
        elif self.line is not None:
            if self.enabled_box is not None:
                self.enabled_box.setChecked(shown is not None)
            if shown is not None:
                self.line.setText(value_text(self.field, shown))
            elif not self.line.text() and self.field.default is not None:
                # Off: keep a sensible number in the greyed field for when it is ticked on.
                self.line.setText(value_text(self.field, self.field.default))
        self._sync_enabled()

    def set_inherited(self, value: Any) -> None:
        """The account's value, shown greyed while this underlying does not override it."""
        self._inherited = value
        if self.override is not None and not self.override.isChecked():
            self.set_value(INHERIT)

    def read(self) -> tuple[Any, str]:
        """(value, "") or (None, what is wrong with the text)."""
        if self.override is not None and not self.override.isChecked():
            return INHERIT, ""
        field = self.field
        if self.check is not None:
            return self.check.isChecked(), ""
        if self.choice is not None:
            text = self.choice.currentText()
            return (TradingState(text) if isinstance(field.default, TradingState) else text), ""
        assert self.line is not None
        if self.enabled_box is not None and not self.enabled_box.isChecked():
            return None, ""
        if not self.line.text().strip():
            return None, "enter a value" + (" or untick 'on'" if field.optional else "")
        return limit_value(field, self.line.text())

    def show_problem(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _sync_enabled(self) -> None:
        overriding = self.override is None or self.override.isChecked()
        for widget in (self.check, self.choice, self.enabled_box):
            if widget is not None:
                widget.setEnabled(overriding)
        if self.line is not None:
            on = self.enabled_box is None or self.enabled_box.isChecked()
            self.line.setEnabled(overriding and on)
        if self.override is not None and not overriding:
            self.show_problem("")


class LimitsForm(QWidget):
    """Editors for a set of limits, grouped; ``overridable`` for an underlying's overrides."""

    changed = Signal()

    def __init__(
        self,
        schema: list[RiskLimitField],
        parent: QWidget | None = None,
        *,
        overridable: bool = False,
        two_columns: bool = True,
    ) -> None:
        super().__init__(parent)
        self.editors: dict[str, LimitEditor] = {}
        by_name = {f.name: f for f in schema}
        grouped = [(title, [n for n in names if n in by_name]) for title, names in GROUPS]
        listed = {n for _, names in grouped for n in names}
        other = [f.name for f in schema if f.name not in listed]
        if other:
            grouped.append(("Other", other))
        columns = QHBoxLayout(self)
        columns.setContentsMargins(0, 0, 0, 0)
        columns.setSpacing(12)
        sides = [QVBoxLayout(), QVBoxLayout()]
        for side in sides:
            side.setSpacing(8)
            columns.addLayout(side, 1)
        labels: list[list[QLabel]] = [[], []]

        def side_of(title: str) -> int:
            return 0 if (title in LEFT_GROUPS or not two_columns) else 1

        for title, names in grouped:
            if not names:
                continue
            box = QGroupBox(title, self)
            form = QFormLayout(box)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            form.setVerticalSpacing(5)
            for name in names:
                editor = LimitEditor(by_name[name], box, overridable=overridable)
                editor.changed.connect(self.changed)
                label = QLabel(label_of(name), box)
                label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                labels[side_of(title)].append(label)
                label.setToolTip(editor.toolTip())
                label.setBuddy(editor.line or editor.check or editor.choice)
                form.addRow(label, editor)
                self.editors[name] = editor
            sides[side_of(title)].addWidget(box)
        for side in sides:
            side.addStretch(1)
        self._label_columns = labels
        if not two_columns:
            columns.removeItem(sides[1])

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # One label width per column, measured once styled: editors line up across groups.
        for column in self._label_columns:
            widest = max((label.sizeHint().width() for label in column), default=0)
            for label in column:
                label.setMinimumWidth(widest)

    def set_values(self, values: dict[str, Any]) -> None:
        for name, editor in self.editors.items():
            editor.set_value(values.get(name, INHERIT))

    def read(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(values by name, parse problems by name); inherited limits are left out."""
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name, editor in self.editors.items():
            value, problem = editor.read()
            if problem:
                problems[name] = problem
            elif not isinstance(value, Inherit):
                values[name] = value
        return values, problems


class RiskSettingsPage(QDialog):
    """Non-modal: ``open_page()`` shows it with the engine's current limits."""

    applied = Signal(object)
    """the RiskSettings just applied"""

    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("riskSettingsPage")
        self.setWindowTitle("Risk limits")
        self.setModal(False)
        self._context = context
        self.schema = context.api.risk_limit_schema()
        self._names = sorted((f.name for f in self.schema), key=len, reverse=True)
        self._candidate: RiskSettings | None = None
        self._loading = False

        # Account tab.
        self.account_form = LimitsForm(self.schema, self)
        self.account_form.changed.connect(self.validate)
        account_scroll = QScrollArea(self)
        account_scroll.setWidgetResizable(True)
        account_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        account_scroll.setWidget(self.account_form)
        self.accounts_note = QLabel("", self, objectName="accountsNote", wordWrap=True)
        account_tab = QWidget(self)
        account_layout = QVBoxLayout(account_tab)
        account_layout.setContentsMargins(6, 6, 6, 6)
        account_layout.addWidget(account_scroll, 1)
        account_layout.addWidget(self.accounts_note)

        # Per-underlying tab.
        self.underlying_schema = [f for f in self.schema if f.per_underlying]
        self.underlying_list = QListWidget(self)
        self.underlying_list.setObjectName("underlyingList")
        self.underlying_list.setMaximumWidth(200)
        self.underlying_picker = QComboBox(self)
        self.underlying_picker.setObjectName("underlyingPicker")
        self.underlying_picker.setEditable(True)
        self.underlying_picker.addItems(context.api.instruments.underlyings())
        self.underlying_picker.setCurrentText("")
        self.underlying_picker.lineEdit().setPlaceholderText("Underlying")
        self.add_underlying_button = QPushButton("Add", self)
        self.add_underlying_button.clicked.connect(
            lambda: self.add_underlying(self.underlying_picker.currentText())
        )
        self.remove_underlying_button = QPushButton("Remove", self)
        self.remove_underlying_button.clicked.connect(self.remove_selected_underlying)
        self.underlying_forms: dict[str, LimitsForm] = {}
        self.underlying_stack = QStackedWidget(self)
        self.underlying_empty = QLabel(
            "No overrides. Add an underlying to give it its own order-level limits "
            "(size, price checks, position) over the account's.",
            self,
            wordWrap=True,
        )
        self.underlying_empty.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.underlying_stack.addWidget(self.underlying_empty)
        self.underlying_list.currentTextChanged.connect(self._show_underlying)
        picker_row = QHBoxLayout()
        picker_row.addWidget(self.underlying_picker, 1)
        picker_row.addWidget(self.add_underlying_button)
        left = QVBoxLayout()
        left.addLayout(picker_row)
        left.addWidget(self.underlying_list, 1)
        left.addWidget(self.remove_underlying_button)
        underlying_scroll = QScrollArea(self)
        underlying_scroll.setWidgetResizable(True)
        underlying_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        underlying_scroll.setWidget(self.underlying_stack)
        underlying_tab = QWidget(self)
        underlying_layout = QHBoxLayout(underlying_tab)
        underlying_layout.setContentsMargins(6, 6, 6, 6)
        underlying_layout.addLayout(left)
        underlying_layout.addWidget(underlying_scroll, 1)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(account_tab, "Account")
        self.tabs.addTab(underlying_tab, "Per underlying")

        # Footer.
        self.message = QLabel("", self, objectName="riskSettingsMessage", wordWrap=True)
        self.defaults_button = QPushButton("Restore defaults", self)
        self.defaults_button.setToolTip("Put every account limit back to its default (not applied)")
        self.defaults_button.clicked.connect(self.restore_defaults)
        self.revert_button = QPushButton("Revert", self)
        self.revert_button.setToolTip("Forget the edits: show the limits in force")
        self.revert_button.clicked.connect(self.load)
        self.apply_button = QPushButton("Apply", self, objectName="riskSettingsApply")
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.apply)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.close)
        footer = QHBoxLayout()
        footer.addWidget(self.defaults_button)
        footer.addWidget(self.revert_button)
        footer.addStretch(1)
        footer.addWidget(self.apply_button)
        footer.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.message)
        layout.addLayout(footer)
        self.resize(1000, 740)
        self._style()
        self.load()

    def _style(self) -> None:
        palette = self._context.theme.palette
        faint = palette.muted.darker(170).name()
        self.setStyleSheet(
            f"QLabel#limitError {{ color: {palette.down.name()}; }}"
            f"QLabel#limitUnit, QLabel#accountsNote {{ color: {palette.muted.name()}; }}"
            f"QLineEdit:disabled, QComboBox:disabled {{ color: {palette.muted.name()}; }}"
            "QGroupBox { font-weight: 600; margin-top: 10px; padding-top: 6px; }"
            "QGroupBox::title { subcontrol-origin: margin; left: 6px; padding: 0 3px; }"
            "QGroupBox QLabel, QGroupBox QCheckBox { font-weight: normal; }"
            # The theme draws no box round an unticked check box: draw one, filled when ticked.
            "QCheckBox::indicator { width: 12px; height: 12px; border-radius: 2px;"
            f" border: 1px solid {palette.muted.name()}; background: transparent; }}"
            f"QCheckBox::indicator:checked {{ background: {palette.buy.name()};"
            f" border-color: {palette.buy.name()}; }}"
            f"QCheckBox::indicator:disabled {{ border-color: {faint}; }}"
            f"QCheckBox::indicator:checked:disabled {{ background: {faint}; }}"
        )

    # -- loading ------------------------------------------------------------------------------------

    def open_page(self) -> None:
        if not self.is_dirty():
            self.load()
        self.show()
        self.raise_()
        self.activateWindow()

    def showEvent(self, event: QShowEvent) -> None:
        self._style()
        super().showEvent(event)

    def load(self) -> None:
        """Show the limits in force (forgetting any edits)."""
        settings = self._context.api.risk_limits()
        self._loading = True
        try:
            self.account_form.set_values(_limit_values(settings.defaults))
            for name in list(self.underlying_forms):
                self._drop_underlying(name)
            for underlying, changes in settings.underlyings.items():
                form = self._add_form(underlying)
                form.set_values(dict(changes))
            self._refresh_inherited(settings.defaults)
            if settings.accounts:
                listed = "; ".join(
                    f"{account}: " + ", ".join(f"{label_of(k)} {v}" for k, v in changes.items())
                    for account, changes in settings.accounts.items()
                )
                self.accounts_note.setText(f"Overrides per account, kept as they are: {listed}")
            self.accounts_note.setVisible(bool(settings.accounts))
        finally:
            self._loading = False
        if self.underlying_list.count():
            self.underlying_list.setCurrentRow(0)
        self.validate()
        self.message.setText("")

    def restore_defaults(self) -> None:
        self.account_form.set_values({f.name: f.default for f in self.schema})
        self.validate()

    # -- underlyings --------------------------------------------------------------------------------

    def add_underlying(self, name: str) -> LimitsForm | None:
        name = name.strip().upper()
        if not name:
            return None
        form = self.underlying_forms.get(name) or self._add_form(name)
        self.underlying_list.setCurrentRow(list(self.underlying_forms).index(name))
        self.underlying_picker.setCurrentText("")
        self.validate()
        return form

    def remove_selected_underlying(self) -> None:
        item = self.underlying_list.currentItem()
        if item is not None:
            self._drop_underlying(item.data(Qt.ItemDataRole.UserRole))
            self.validate()

    def _add_form(self, name: str) -> LimitsForm:
        form = LimitsForm(self.underlying_schema, self, overridable=True, two_columns=False)
        form.setObjectName(f"underlying_{name}")
        form.changed.connect(self.validate)
        for editor in form.editors.values():
            editor.set_inherited(self._account_value(editor.field.name))
        self.underlying_forms[name] = form
        self.underlying_stack.addWidget(form)
        item = QListWidgetItem(name, self.underlying_list)
        item.setData(Qt.ItemDataRole.UserRole, name)
        return form

    def _drop_underlying(self, name: str) -> None:
        form = self.underlying_forms.pop(name)
        self.underlying_stack.removeWidget(form)
        form.deleteLater()
        for row in range(self.underlying_list.count()):
            if self.underlying_list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.underlying_list.takeItem(row)
                break

    def _show_underlying(self, _text: str) -> None:
        item = self.underlying_list.currentItem()
        name = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        form = self.underlying_forms.get(name) if name else None
        self.underlying_stack.setCurrentWidget(form or self.underlying_empty)

    def _account_value(self, name: str) -> Any:
        value, problem = self.account_form.editors[name].read()
        return getattr(self._context.api.risk_limits().defaults, name) if problem else value

    def _refresh_inherited(self, defaults: RiskLimits | None = None) -> None:
        for form in self.underlying_forms.values():
            for name, editor in form.editors.items():
                editor.set_inherited(
                    getattr(defaults, name) if defaults is not None else self._account_value(name)
                )

    # -- validation and apply -------------------------------------------------------------------

    def validate(self) -> bool:
        """Check what is typed against the schema; show each problem under its limit."""
        if self._loading:
            return False
        self._candidate = None
        general: list[str] = []
        self._loading = True  # showing the account's values on the underlying tab edits nothing
        try:
            self._refresh_inherited()
        finally:
            self._loading = False
        values, problems = self.account_form.read()
        underlying_values: dict[str, dict[str, Any]] = {}
        underlying_problems: dict[str, dict[str, str]] = {}
        for name, form in self.underlying_forms.items():
            underlying_values[name], underlying_problems[name] = form.read()
        defaults: RiskLimits | None = None
        in_force = self._context.api.risk_limits().defaults
        # Text that does not parse is checked as the value in force, so the schema's other
        # problems show at the same time.
        checkable = {**values, **{n: getattr(in_force, n) for n in problems}}
        try:
            checked = RiskLimits(**checkable)
        except ValueError as exc:
            self._attribute(str(exc), problems, general)
        else:
            defaults = None if problems else checked
        if defaults is not None and not any(underlying_problems.values()):
            current = self._context.api.risk_limits()
            for name, changes in underlying_values.items():
                try:
                    RiskSettings(defaults, underlyings={name: changes})
                except ValueError as exc:
                    self._attribute(str(exc), underlying_problems[name], general)
            if not any(underlying_problems.values()) and not general:
                try:
                    self._candidate = RiskSettings(
                        defaults,
                        dict(current.accounts),
                        {k: v for k, v in underlying_values.items() if v},
                    )
                except ValueError as exc:
                    general.append(problem_text(str(exc), self._names))
        self._show_problems(self.account_form, problems)
        for name, form in self.underlying_forms.items():
            self._show_problems(form, underlying_problems.get(name, {}))
            self._label_underlying(name, underlying_values.get(name, {}), underlying_problems)
        count = len(problems) + sum(len(p) for p in underlying_problems.values()) + len(general)
        self.tabs.setTabText(0, "Account  ⚠" if problems else "Account")
        self.tabs.setTabText(
            1, "Per underlying  ⚠" if any(underlying_problems.values()) else "Per underlying"
        )
        if general:
            self.message.setText("\n".join(general))
        elif count:
            self.message.setText(
                f"{count} limit{'s need' if count != 1 else ' needs'} attention before Apply."
            )
        else:
            self.message.setText("Changes not applied yet." if self.is_dirty() else "")
        self._colour_message(error=bool(count))
        self.apply_button.setEnabled(self._candidate is not None and self.is_dirty())
        return self._candidate is not None

    def _attribute(self, message: str, problems: dict[str, str], general: list[str]) -> None:
        """Split the schema's error into its problems and put each under the limit it names."""
        body = message.split("risk limits: ", 1)[-1]
        for problem in body.split("; "):
            named = [n for n in self._names if problem.startswith(n)] or [
                n for n in self._names if n in problem
            ]
            if named:
                problems.setdefault(named[0], problem_text(problem, self._names))
            else:
                general.append(problem_text(problem, self._names))

    def _show_problems(self, form: LimitsForm, problems: dict[str, str]) -> None:
        for name, editor in form.editors.items():
            editor.show_problem(problems.get(name, ""))

    def _label_underlying(
        self, name: str, values: dict[str, Any], problems: dict[str, dict[str, str]]
    ) -> None:
        for row in range(self.underlying_list.count()):
            item = self.underlying_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) != name:
                continue
            count = len(values)
            text = f"{name}  ({count} override{'s' if count != 1 else ''})"
            if problems.get(name):
                text += "  ⚠"
            item.setText(text)

    def _colour_message(self, *, error: bool) -> None:
        palette = self._context.theme.palette
        colour = palette.down if error else palette.muted
        self.message.setStyleSheet(f"color: {colour.name()};")

    def is_dirty(self) -> bool:
        candidate = self._candidate
        if candidate is None:
            return True
        return candidate.to_mapping() != self._context.api.risk_limits().to_mapping()

    def candidate(self) -> RiskSettings | None:
        """The settings as edited, when they are valid."""
        return self._candidate

    def apply(self) -> bool:
        if not self.validate() or self._candidate is None:
            return False
        settings = self._candidate
        try:
            self._context.api.set_risk_limits(settings, "changed in the risk settings page")
        except ValueError as exc:
            self.message.setText(f"Not applied: {problem_text(str(exc), self._names)}")
            self._colour_message(error=True)
            return False
        self.applied.emit(settings)
        self.validate()
        self.message.setText(f"Applied at {datetime.now(IST):%H:%M:%S}.")
        self._colour_message(error=False)
        return True


def _limit_values(limits: RiskLimits) -> dict[str, Any]:
    return {f.name: getattr(limits, f.name) for f in dataclass_fields(limits)}
