"""The multileg portfolio editor: one page per section of the portfolio's declared settings
(``api.portfolio_sections()``), each generated from its schema (``ui.panels.schema_form``), and a
legs table (add, copy, delete, move; each leg's side, CE/PE/FUT, expiry, strike rule, lots,
hedge, idle, stop, target and trail in its row).

The trader starts from a template (``api.portfolio_templates()``) or a portfolio already saved.
Every change is checked by the engine (``api.check_portfolio``) a moment later; each problem is
listed with its field path and shown on the field it names, and the page holding it is marked.
Save checks again and saves only a portfolio without problems (``api.save_portfolio``), then
shows what was saved. Import loads a portfolio file into the editor once the engine has checked
it (a file the engine refuses is not loaded, its problems said with their fields; nothing is
saved until Save); Export writes what the editor holds to a file in the format
``api.export_portfolio`` writes. Times outside the F&O session are noted at their fields, not
refused. The pages other than the first are built when first opened.

The dialog is non-modal and never runs a nested event loop: file pickers and questions are
opened with ``open()`` and answer through signals (DESIGN.md: no ``exec()`` on the qasync loop).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.api import IST, PortfolioSpec, PortfolioTemplate
from ui.context import PanelContext
from ui.panels.multileg_conditions_look import CONDITION_LABELS, CONDITION_STARTS
from ui.panels.multileg_legs import NEW_LEG, LegsAsText, LegsEditor
from ui.panels.schema_fields import FieldEditor
from ui.panels.schema_form import (
    FORM,
    LaterForm,
    ModelEditor,
    Presentation,
    editor_for_problem,
    editors_by_path,
)

CHECK_DELAY_MS = 300
"""How long after the last change the engine checks the portfolio (typing is not interrupted)."""
FILE_FILTER = "Portfolio files (*.json)"

LABELS = {
    "Defaults.reference": "ATM from",
    "Defaults.run_on": "Run on",
    "Execution.start": "Start at",
    "Execution.end": "No entry after",
    "Execution.square_off": "Square off at",
    "Execution.combined_premium_at_least": "Enter at net premium ≥ ₹",
    "Execution.delay_between_legs": "Delay between legs (s)",
    "Execution.chase_after": "Chase after (s)",
    "Execution.on_leg_failure": "If a leg fails",
    "Target.combined": "Combined target",
    "Target.lock_at": "Lock profit at ₹",
    "Target.lock": "Keep at least ₹",
    "Target.trail_every": "Then for every ₹",
    "Target.trail_by": "Keep ₹ more",
    "StopLoss.combined": "Combined stop loss",
    "StopLoss.trail_every": "Trail the SL every ₹",
    "StopLoss.trail_by": "Tighten it by ₹",
    "StopLoss.wait_seconds": "Breach must last (s)",
    "Combined.value": "Value",
    "Combined.percent": "% of net premium",
    "Combined.re_execute": "Re-execute (times)",
    "Exit.underlying_move": "Underlying moves ± pts",
    "Monitoring.leg": "Leg SL / target",
    "Monitoring.combined": "Combined SL / target",
    "Monitoring.interval_seconds": "Interval (s)",
    "Monitoring.stale_after": "Stale after (s)",
    "AtBroker.limit_gap_pct": "SL-L gap %",
    "AtBroker.catastrophe_pct": "Catastrophe SL %",
    "Leg.instrument": "Instr.",
    "Leg.strike": "Strike rule",
    "Leg.stop": "Stop loss",
    "Leg.trail": "Trailing SL",
    "LegLevel.measure": "",
    "LegLevel.value": "",
    "AtmStrike.offset": "ATM ±",
    "FixedStrike.strike": "₹",
    "DeltaStrike.delta": "Δ",
    "StraddleWidthStrike.multiple": "× straddle",
    "PremiumStrike.rule": "",
    "PremiumStrike.value": "₹",
    "PremiumStrike.upper": "to ₹",
    "AtmStrike": "ATM ± n",
    "FixedStrike": "Fixed strike",
    "PremiumStrike": "Premium",
    "DeltaStrike": "Delta",
    "StraddleWidthStrike": "Straddle width",
    "Reaction.count": "Times",
    "Reaction.momentum": "Points",
    "Reaction.leg": "Idle leg",
    "Reaction.keep_leg_running": "Keep leg",
    "ReEntry.leg_safety_seconds": "Leg safety (s)",
    "ReEntry.portfolio_safety_seconds": "Portfolio safety (s)",
    "ReEntry.max_per_portfolio": "Most actions in all",
    "ReEntry.not_after_end": "None after the end time",
    "ReEntry.not_after_moved_to_cost": "None after SL to cost",
    "DynamicHedge.min_distance": "Nearest (strikes out)",
    "DynamicHedge.max_distance": "Farthest (strikes out)",
    "DynamicHedge.min_premium": "Premium from ₹",
    "DynamicHedge.max_premium": "Premium to ₹",
    "DynamicHedge.fixed_distance": "Distance (points)",
}
"""Titles where a field's name alone does not say it (the rest are the names, humanized)."""
STARTS = {
    "LegLevel.value": "30",
    "LegTrail.every": "10",
    "LegTrail.by": "5",
    "Combined.value": "1000",
    "PremiumStrike.value": "50",
    "PremiumStrike.upper": "80",
    "PremiumStrike.depth": 10,
    "DeltaStrike.delta": 0.3,
    "StraddleWidthStrike.multiple": "0.5",
    "FixedStrike.strike": "25000",
    "Defaults.strike_step": "50",
    "Execution.combined_premium_at_least": "100",
    "Target.lock_at": "1000",
    "Target.trail_every": "500",
    "StopLoss.trail_every": "500",
    "Exit.underlying_move": "100",
    "AtBroker.catastrophe_pct": "100",
    "Reaction.momentum": "10",
}
"""Where a field without a value starts when the trader turns it on (a 30 % stop, 0.3 delta…)."""
DECIMALS = {"DeltaStrike.delta": 4}
"""A delta is read to four places (0.255, 0.1025); other numbers show two (rupees, percent) or
three (seconds), and more when a value given has them."""
SHOWN_WHEN = {"PremiumStrike.upper": ("rule", frozenset({"between"}))}
"""A premium rule's "to ₹" closes a range: only the rule "between" reads it."""
LOOK = Presentation(
    labels={**LABELS, **CONDITION_LABELS},
    starts={**STARTS, **CONDITION_STARTS},
    decimals=DECIMALS,
    shown_when=SHOWN_WHEN,
)

_PROBLEM_SPLIT = re.compile(r"; (?=[\w.]+: )")


def portfolio_file_dialog(
    parent: QWidget, title: str, save: bool, on_path: Callable[[str], object], default: str = ""
) -> QFileDialog:
    """A non-modal dialog for a portfolio file to read or (``save``) write; ``on_path`` gets the
    chosen file. Opened with ``open()``: the engine keeps running while the trader picks."""
    dialog = QFileDialog(parent, title)
    dialog.setNameFilter(FILE_FILTER)
    if save:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("json")
        dialog.selectFile(default)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.fileSelected.connect(on_path)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def parse_problems(text: str) -> list[tuple[str, str]]:
    """The engine's ``field.path: problem; …`` text as (path, problem) pairs."""
    pairs = []
    for part in _PROBLEM_SPLIT.split(text.strip()):
        path, found, what = part.partition(": ")
        pairs.append((path, what) if found and " " not in path else ("portfolio", part))
    return pairs


def problem_text(path: str, what: str) -> str:
    """A problem as the list shows it; a leg's path also says the leg's number as traders count
    (the engine counts from 0: ``legs.1`` is leg 2)."""
    leg = re.match(r"legs\.(\d+)", path)
    where = f"{path} (leg {int(leg[1]) + 1})" if leg else path
    return f"{where}: {what}"


def _differences(one: Any, other: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Where two portfolios (as the engine reads them) differ in value: (path, one, other)."""
    if isinstance(one, dict) and isinstance(other, dict):
        found = []
        for key in one.keys() | other.keys():
            where = f"{path}.{key}" if path else str(key)
            found += _differences(one.get(key), other.get(key), where)
        return sorted(found, key=lambda change: change[0])
    if isinstance(one, list) and isinstance(other, list) and len(one) == len(other):
        pairs = enumerate(zip(one, other, strict=True))
        return [d for n, (a, b) in pairs for d in _differences(a, b, f"{path}.{n}")]
    return [] if one == other else [(path, one, other)]


# -- the dialog -----------------------------------------------------------------------------------------


class PortfolioEditor(QDialog):
    """Edit one portfolio (``original``: its saved name, None for a new one)."""

    saved = Signal(str)
    """The name of the portfolio just saved."""

    def __init__(
        self,
        context: PanelContext,
        original: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("portfolioEditor")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._ctx = context
        self.original = original
        self.dirty = False
        self._loading = False
        self._discard = False
        self.problems: list[tuple[str, str]] = []
        self._checked: PortfolioSpec | None = None
        """What the engine read of the form at the last check (None: it refused it)."""
        self.notes: list[tuple[str, str]] = []
        """What the engine notes but does not refuse (a time outside the session): shown at
        the field and listed; Save goes ahead."""
        self.file_dialog: QFileDialog | None = None
        self._question: QMessageBox | None = None
        palette = context.theme.palette

        # -- template bar ---------------------------------------------------------------------------
        self.templates: list[PortfolioTemplate] = context.api.portfolio_templates()
        self.template_combo = QComboBox(objectName="templateCombo")
        for template in self.templates:
            title = f"{template.title} (mine)" if template.own else template.title
            self.template_combo.addItem(title, template.key)
            self.template_combo.setItemData(
                self.template_combo.count() - 1,
                template.description,
                Qt.ItemDataRole.ToolTipRole,
            )
        self.template_combo.setMinimumWidth(200)
        self.template_combo.setPlaceholderText("Choose a template…")
        self.template_combo.setCurrentIndex(-1)
        self.template_button = QPushButton("New from template", objectName="templateLoad")
        self.template_button.setToolTip("Replace what the editor holds with the chosen template")
        self.template_button.clicked.connect(self.load_chosen_template)
        self.import_button = QPushButton("Import…", objectName="editorImport")
        self.import_button.setToolTip("Load a portfolio file into the editor (Save adds it)")
        self.import_button.clicked.connect(self.ask_import)
        self.export_button = QPushButton("Export…", objectName="editorExport")
        self.export_button.setToolTip("Write what the editor holds to a portfolio file")
        self.export_button.clicked.connect(self.ask_export)
        self.state = QLabel(objectName="ticketInfo")
        top = QHBoxLayout()
        top.addWidget(QLabel("Template"))
        top.addWidget(self.template_combo)
        top.addWidget(self.template_button)
        top.addSpacing(16)
        top.addWidget(self.state, 1)
        top.addWidget(self.import_button)
        top.addWidget(self.export_button)

        # -- pages ----------------------------------------------------------------------------------
        self.pages = QListWidget(objectName="editorPages")
        self.pages.setFixedWidth(150)
        self.stack = QStackedWidget()
        self.sections: dict[str, FieldEditor] = {}
        self.titles: dict[str, str] = {}
        for field, title, schema in context.api.portfolio_sections():
            editor: FieldEditor
            if field == "legs":
                editor = LegsEditor(
                    schema, title, palette.down, LOOK, LegsAsText.through(context.api)
                )
                page = editor.widget
            elif not self.sections:  # the page the editor opens on
                editor = ModelEditor(schema, field, title, layout=FORM, look=LOOK)
                page = QScrollArea()
                page.setWidgetResizable(True)
                page.setFrameShape(QScrollArea.Shape.NoFrame)
                page.setWidget(editor.widget)
            else:  # built when first opened: building every page held the loop too long
                editor = LaterForm(schema, field, title, look=LOOK)
                page = editor.widget
            holder = QWidget()
            column = QVBoxLayout(holder)
            column.setContentsMargins(10, 6, 10, 6)
            heading = QLabel(f"<b>{title}</b>")
            column.addWidget(heading)
            column.addWidget(page, 1)
            self.sections[field] = editor
            self.titles[field] = title
            self.stack.addWidget(holder)
            self.pages.addItem(QListWidgetItem(title))
            editor.changed.connect(self._changed)
        self.pages.currentRowChanged.connect(self._show_page)
        self.pages.setCurrentRow(0)
        body = QHBoxLayout()
        body.addWidget(self.pages)
        body.addWidget(self.stack, 1)
        body_widget = QWidget()
        body_widget.setLayout(body)

        # -- problems and buttons -------------------------------------------------------------------
        self.problem_list = QListWidget(objectName="editorProblems")
        self.problem_list.setVisible(False)
        self.problem_list.itemActivated.connect(self._go_to_problem)
        self.problem_list.itemClicked.connect(self._go_to_problem)
        self.general_problem = QLabel(objectName="fieldProblem", wordWrap=True)
        self.general_problem.setVisible(False)
        self.feedback = QLabel(objectName="editorFeedback", wordWrap=True)
        self.check_button = QPushButton("Check", objectName="editorCheck")
        self.save_button = QPushButton("Save", objectName="editorSave")
        self.save_button.setDefault(True)
        self.close_button = QPushButton("Close", objectName="editorClose")
        self.check_button.clicked.connect(self.check)
        self.save_button.clicked.connect(self.save)
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.feedback, 1)
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(body_widget, 1)
        layout.addWidget(self.general_problem)
        layout.addWidget(self.problem_list)
        layout.addLayout(buttons)

        self._timer = QTimer(self, objectName="multileg-editor-check")
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check)

        spec = None if original is None else context.api.portfolio(original)
        if spec is not None:
            try:
                changed = self.load(spec.model_dump(mode="json"))
            except ValueError as unfit:  # saved by the engine, yet a field cannot show it
                self.load({"defaults": {"name": ""}, "legs": [dict(NEW_LEG)]})
                self.original = None
                changed = ""
                self.feedback.setText(f"{original} cannot be shown in the editor: {unfit}")
            if changed:
                self.feedback.setText(f"Opened with {changed}: Save keeps them so.")
        else:
            self.load({"defaults": {"name": ""}, "legs": [dict(NEW_LEG)]})
        self.dirty = False
        self.resize(1560, 720)  # the legs table's row is wide: every leg setting in it
        self._title()

    def _show_page(self, row: int) -> None:
        if 0 <= row < len(self.titles):
            self._build(list(self.titles)[row])
        self.stack.setCurrentIndex(row)

    def _build(self, section: str) -> None:
        """A page built when first needed (shown, or a field of it asked for)."""
        editor = self.sections.get(section)
        if isinstance(editor, LaterForm):
            editor.build()

    # -- loading ---------------------------------------------------------------------------------------

    def load(self, data: dict[str, Any]) -> str:
        """Fill every page from a portfolio in its JSON form (sections left out: defaults);
        ``ValueError`` for a value of the wrong shape (an unknown key, a number out of bounds).
        Returns what the editor could not hold as given (a value rounded to the places a
        field holds), in words, or ""."""
        unknown = [key for key in data if key not in self.sections]
        if unknown:
            raise ValueError(f"{unknown[0]}: not a section of a portfolio")
        self._loading = True
        try:
            for field, editor in self.sections.items():
                editor.set_value(data.get(field))
        finally:
            self._loading = False
        self.check()
        return self._changed_on_load(data, self._checked)

    def _changed_on_load(self, data: dict[str, Any], held: PortfolioSpec | None) -> str:
        """What the form holds that differs in value from ``data`` (both as the engine reads
        them), in words; "" when nothing does, or when either is not a valid portfolio (the
        problems say that)."""
        api = self._ctx.api
        if held is None:
            return ""
        try:
            wanted = api.check_portfolio(data).model_dump()
        except ValueError:
            return ""
        changes = [f"{path} {a} → {b}" for path, a, b in _differences(wanted, held.model_dump())]
        if not changes:
            return ""
        more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
        return f"values rounded to the places the editor holds ({'; '.join(changes[:3])}{more})"

    def template(self, key: str) -> PortfolioTemplate | None:
        return next((t for t in self.templates if t.key == key), None)

    def load_template(self, key: str) -> None:
        template = self.template(key)
        if template is None:
            return
        self.load(template.spec.model_dump(mode="json"))
        self.template_combo.setCurrentIndex(max(0, self.template_combo.findData(key)))
        self.dirty = True
        self._title()
        self.feedback.setText(f"{template.title}: {template.description} Name it and Save.")

    def load_chosen_template(self) -> None:
        key = self.template_combo.currentData()
        if isinstance(key, str):
            self.load_template(key)

    # -- values and checks ---------------------------------------------------------------------------------

    def value(self) -> dict[str, Any]:
        return {field: editor.value() for field, editor in self.sections.items()}

    def editor(self, path: str) -> FieldEditor | None:
        """The editor of a field path (``execution.start``, ``legs.0.lots``)."""
        self._build(path.split(".", 1)[0])
        return editors_by_path(list(self.sections.values())).get(path)

    def _changed(self) -> None:
        if self._loading:
            return
        self.dirty = True
        self._title()
        self._timer.start()

    def check(self) -> PortfolioSpec | None:
        """Ask the engine; show every problem; the checked portfolio, or None."""
        self._timer.stop()
        api = self._ctx.api
        data = self.value()
        spec: PortfolioSpec | None = None
        problems: list[tuple[str, str]] = []
        try:
            spec = api.check_portfolio(data)
        except ValueError as error:
            problems = parse_problems(str(error))
        self._checked = spec
        legs = self.sections.get("legs")
        if isinstance(legs, LegsEditor):
            problems.extend(legs.problems())
        taken = spec is not None and spec.name != self.original
        if taken and spec is not None and api.portfolio(spec.name) is not None:
            problems.append(
                (
                    "defaults.name",
                    f"a portfolio named {spec.name!r} exists already: name this one "
                    "differently, or edit that one",
                )
            )
        self.notes = [] if spec is None else spec.session_notes(api.orders_service.trading_day())
        self.show_problems(problems)
        return None if problems else spec

    def show_problems(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        for path, _what in [*problems, *self.notes]:  # each said at its field: build its page
            self._build(path.split(".", 1)[0])
        editors = editors_by_path(list(self.sections.values()))
        for editor in editors.values():
            if editor.problem:
                editor.show_problem("")
            if editor.note:
                editor.show_note("")
        said: dict[str, list[str]] = {}
        general: list[str] = []
        for path, what in problems:
            editor = editor_for_problem(editors, path)
            if editor is None:
                general.append(problem_text(path, what))
                continue
            said.setdefault(editor.path, []).append(
                what if editor.path == path else f"{path}: {what}"
            )
        for path, lines in said.items():
            editors[path].show_problem("\n".join(lines))
        noted: dict[str, list[str]] = {}
        for path, what in self.notes:
            editor = editor_for_problem(editors, path)
            if editor is not None and not editor.problem:
                noted.setdefault(editor.path, []).append(what)
        for path, lines in noted.items():
            editors[path].show_note("\n".join(lines))
        self.general_problem.setText("\n".join(general))
        self.general_problem.setVisible(bool(general))
        self.problem_list.clear()
        palette = self._ctx.theme.palette
        listed = [(path, problem_text(path, what), palette.down) for path, what in problems]
        listed += [(p, f"note: {problem_text(p, w)}", palette.warning) for p, w in self.notes]
        for path, text, colour in listed:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setForeground(colour)
            self.problem_list.addItem(item)
        self.problem_list.setVisible(bool(listed))
        if listed:  # up to five rows in view (the list scrolls for more), never squeezed
            row = max(self.problem_list.sizeHintForRow(0), self.fontMetrics().height() + 4)
            frame = 2 * self.problem_list.frameWidth()
            self.problem_list.setFixedHeight(row * min(len(listed), 5) + frame + 2)
        counts: dict[str, int] = {}
        for path, _what in problems:
            section = path.split(".", 1)[0]
            counts[section] = counts.get(section, 0) + 1
        for row, (field, title) in enumerate(self.titles.items()):
            item = self.pages.item(row)
            count = counts.get(field, 0)
            item.setText(f"{title}  ⚠ {count}" if count else title)
            colour = self._ctx.theme.palette.down if count else None
            item.setData(Qt.ItemDataRole.ForegroundRole, colour)
        self.check_button.setText(f"Check ({len(problems)})" if problems else "Check")

    def _go_to_problem(self, item: QListWidgetItem) -> None:
        path = str(item.data(Qt.ItemDataRole.UserRole))
        section = path.split(".", 1)[0]
        if section in self.titles:
            self.pages.setCurrentRow(list(self.titles).index(section))
        editor = editor_for_problem(editors_by_path(list(self.sections.values())), path)
        if editor is not None:
            editor.focus()

    # -- saving ---------------------------------------------------------------------------------------------

    def save(self) -> bool:
        """Check, then save a portfolio without problems; True if saved."""
        spec = self.check()
        if spec is None:
            count = len(self.problems)
            self.feedback.setText(
                f"Not saved: {count} problem{'s' if count != 1 else ''} to fix (listed below)."
            )
            return False
        api = self._ctx.api
        problem = api.save_portfolio(spec)
        if problem is not None:
            self.feedback.setText(f"Not saved: {problem}")
            return False
        renamed = self.original is not None and self.original != spec.name
        note = f"; {self.original!r} is kept as it was" if renamed else ""
        running = any(v.name == spec.name and v.running for v in api.portfolios())
        if running:
            note += "; it runs on with the settings it started with until started again"
        self.original = spec.name
        # The form shows what was saved (a value the engine reads otherwise shows as it reads it).
        saved = api.portfolio(spec.name) or spec
        self.load(saved.model_dump(mode="json"))
        self.dirty = False
        self._title()
        if self.notes:
            count = len(self.notes)
            note += f"; {count} note{'s' if count != 1 else ''} on its times (listed below)"
        self.feedback.setText(f"Saved {spec.name} at {datetime.now(IST):%H:%M:%S}{note}.")
        self.saved.emit(spec.name)
        return True

    def described(self) -> str:
        """The portfolio as a question about it names it: its saved name, else the name typed."""
        if self.original:
            return self.original
        defaults = self.value().get("defaults")
        typed = str(defaults.get("name") or "").strip() if isinstance(defaults, dict) else ""
        return f"the new portfolio {typed}" if typed else "a new portfolio"

    def _title(self) -> None:
        name = self.original or "New portfolio"
        self.setWindowTitle(f"Multileg portfolio — {name}{' *' if self.dirty else ''}")
        view = next((v for v in self._ctx.api.portfolios() if v.name == self.original), None)
        if view is None:
            state = "A new portfolio: nothing is saved until Save."
        elif view.running:
            state = (
                f"Editing <b>{view.name}</b>, {view.status.value}: it runs with the settings it "
                "started with; saved changes apply when it is next started."
            )
        else:
            state = f"Editing <b>{view.name}</b> ({view.status.value})."
        self.state.setText(state + (" <i>Unsaved changes.</i>" if self.dirty else ""))

    # -- files ----------------------------------------------------------------------------------------------

    def _file_dialog(
        self, title: str, save: bool, on_path: Callable[[str], object], default: str = ""
    ) -> QFileDialog:
        self.file_dialog = portfolio_file_dialog(self, title, save, on_path, default)
        return self.file_dialog

    def ask_import(self) -> QFileDialog:
        return self._file_dialog("Import a portfolio", False, self.import_file)

    def import_file(self, path: str) -> bool:
        """Load a portfolio file (an export, or a template file) into the editor. The engine
        checks it first, as the panel's Import does: a file it refuses is not loaded (the form
        stays as it was) and its problems are said, each with its field."""
        name = Path(path).name
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8-sig"))  # a BOM is no problem
        except RecursionError:
            self.feedback.setText(f"{name} cannot be read: nested too deeply")
            return False
        except (OSError, UnicodeDecodeError, ValueError) as problem:
            self.feedback.setText(f"{name} cannot be read: {problem}")
            return False
        body = data.get("portfolio", data) if isinstance(data, dict) else None
        if not isinstance(body, dict):
            self.feedback.setText(f"{name} holds no portfolio")
            return False
        try:
            checked = self._ctx.api.check_portfolio(body)
        except ValueError as refused:
            said = "; ".join(problem_text(p, w) for p, w in parse_problems(str(refused)))
            self.feedback.setText(f"{name} cannot be opened here: {said}")
            return False
        before = self.value()
        try:
            changed = self.load(checked.model_dump(mode="json"))
        except (ValueError, TypeError, KeyError, ArithmeticError) as unfit:
            # The engine takes it but the form cannot show it: it stays as it was.
            self.load(before)
            self.feedback.setText(f"{name} cannot be opened here: {unfit}")
            return False
        self.dirty = True
        self._title()
        rounded = f" ({changed})" if changed else ""
        self.feedback.setText(f"Loaded {name}{rounded}: check it, then Save to add it.")
        return True

    def ask_export(self) -> QFileDialog | None:
        spec = self.check()
        if spec is None:
            self.feedback.setText("Not exported: fix the problems listed below first.")
            return None
        default = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', spec.name)}.json"
        return self._file_dialog("Export the portfolio", True, self.export_file, default)

    def export_file(self, path: str) -> bool:
        spec = self.check()
        if spec is None:
            self.feedback.setText("Not exported: fix the problems listed below first.")
            return False
        target = Path(path)
        temporary = target.with_name(target.name + ".part")
        try:
            text = json.dumps({"portfolio": spec.model_dump(mode="json")}, indent=2)
            temporary.write_text(text + "\n", encoding="utf-8")
            os.replace(temporary, target)
        except OSError as problem:
            temporary.unlink(missing_ok=True)
            self.feedback.setText(f"Not exported: {problem.strerror or problem}")
            return False
        self.feedback.setText(f"Exported to {target}")
        return True

    # -- closing --------------------------------------------------------------------------------------------

    def reject(self) -> None:
        """Close (Esc, the Close button, the title bar): unsaved changes are asked about first."""
        if self.dirty and not self._discard:
            box = QMessageBox(
                QMessageBox.Icon.Question,
                "Unsaved changes",
                f"Discard the changes to {self.original or 'this new portfolio'}?",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                self,
            )
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.finished.connect(self._answered)
            self._question = box
            box.open()  # never exec(): a nested loop would stall the engine's tasks
            return
        super().reject()

    def discard_and_close(self) -> None:
        """Close without asking: the trader has already chosen to drop the changes (closing
        the desk)."""
        self._discard = True
        self.reject()

    def _answered(self, result: int) -> None:
        self._question = None
        if result == QMessageBox.StandardButton.Discard:
            self._discard = True
            self.reject()
