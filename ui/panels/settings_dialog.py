"""Settings (Ctrl+,): the trader's preferences in five groups, generated from the declared schema.

Each group is a page of editors built from its model (``ui.panels.schema_form``): the field's
type picks the widget, its bounds bound it, its description is the hint beside it. What is typed
is checked by the same schema as it is typed; a problem is shown under the field it is about and
Apply stays off until there is none. Apply makes the settings current for the whole desk at once
(the store's change signal) and says which of the changes wait for the next start.

Keys and passwords are not here: the Brokers page opens the broker keys window (OS keyring), and
the Risk page opens the book's risk limits. Import and Export read and write the YAML file.
Non-modal: it never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.api import (
    SETTINGS_GROUPS,
    Settings,
    SettingsError,
    SettingsStore,
    changed_paths,
    needs_restart,
    problems_of,
)
from ui.panels.schema_form import ModelEditor, editor_for_problem, editors_by_path

Extra = tuple[str, Callable[[], object]]
"""A button on a group's page: its text and what it opens."""


class SettingsDialog(QDialog):
    def __init__(
        self,
        store: SettingsStore,
        *,
        extras: Mapping[str, Sequence[Extra]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setWindowFlag(Qt.WindowType.Window)
        self.store = store
        self.groups = QListWidget(objectName="settingsGroups")
        self.groups.setFixedWidth(160)
        self.groups.setStyleSheet("QListWidget#settingsGroups::item { padding: 7px 10px; }")
        self.pages = QStackedWidget()
        self.sections: dict[str, ModelEditor] = {}
        self.extra_buttons: dict[str, QPushButton] = {}
        for group, title in SETTINGS_GROUPS:
            self.groups.addItem(title)
            self.pages.addWidget(self._page(group, title, (extras or {}).get(group, ())))
        self.editors = editors_by_path(list(self.sections.values()))
        self.groups.currentRowChanged.connect(self.pages.setCurrentIndex)

        self.status = QLabel("", objectName="settingsStatus", wordWrap=True)
        self.import_button = QPushButton("Import…")
        self.export_button = QPushButton("Export…")
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("Put this page's preferences back to their defaults")
        self.apply_button = QPushButton("Apply")
        self.ok_button = QPushButton("OK", default=True)
        self.close_button = QPushButton("Close")
        self.import_button.clicked.connect(self.ask_import)
        self.export_button.clicked.connect(self.ask_export)
        self.defaults_button.clicked.connect(self.defaults_for_page)
        self.apply_button.clicked.connect(self.apply)
        self.ok_button.clicked.connect(self._ok)
        self.close_button.clicked.connect(self.close)

        body = QHBoxLayout()
        body.addWidget(self.groups)
        body.addWidget(self.pages, 1)
        buttons = QHBoxLayout()
        for button in (self.import_button, self.export_button, self.defaults_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.apply_button, self.ok_button, self.close_button):
            buttons.addWidget(button)
        outer = QVBoxLayout(self)
        outer.addLayout(body, 1)
        outer.addWidget(self.status)
        outer.addLayout(buttons)
        self.resize(900, 560)

        for section in self.sections.values():
            section.changed.connect(self.check)
        self._unsubscribe = store.subscribe(lambda _old, _new: self.load())
        self.destroyed.connect(lambda _object=None: self._unsubscribe())
        self.load()
        self.groups.setCurrentRow(0)

    def _page(self, group: str, title: str, extras: Sequence[Extra]) -> QWidget:
        model = Settings.model_fields[group].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        section = ModelEditor(model, group, title)
        self.sections[group] = section
        page = QWidget(objectName=f"settingsPage-{group}")
        column = QVBoxLayout(page)
        heading = QLabel(f"<b>{title}</b>")
        column.addWidget(heading)
        if model.__doc__:
            note = QLabel(" ".join(model.__doc__.split()), objectName="fieldHint", wordWrap=True)
            column.addWidget(note)
        column.addWidget(section.widget)
        if extras:
            row = QHBoxLayout()
            for text, action in extras:
                button = QPushButton(text)
                button.clicked.connect(lambda _checked=False, a=action: a())
                self.extra_buttons[text] = button
                row.addWidget(button)
            row.addStretch(1)
            column.addLayout(row)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(page)
        return scroll

    # -- values ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Show the store's current settings (after Apply, an import, or a change elsewhere)."""
        data = self.store.current.model_dump(mode="json")
        for group, section in self.sections.items():
            section.blockSignals(True)
            section.set_value(data[group])
            section.blockSignals(False)
        self.check()

    def typed(self) -> dict[str, Any]:
        return {
            "version": self.store.current.version,
            **{group: section.value() for group, section in self.sections.items()},
        }

    def check(self) -> Settings | None:
        """The settings as typed, or None; each problem shown on its field, Apply on only for
        good settings that differ from the current ones."""
        for editor in self.editors.values():
            editor.show_problem("")
        try:
            settings = Settings.model_validate(self.typed())
        except ValidationError as error:
            problems = problems_of(error)
            for path, message in problems:
                editor = editor_for_problem(self.editors, path)
                if editor is not None:
                    editor.show_problem(message)
            self.apply_button.setEnabled(False)
            self.status.setText(f"{len(problems)} to correct before Apply.")
            return None
        self.apply_button.setEnabled(settings != self.store.current)
        if self.status.text().endswith("before Apply."):
            self.status.setText("")
        return settings

    def apply(self) -> bool:
        settings = self.check()
        if settings is None:
            return False
        changed = changed_paths(self.store.current, settings)
        unsaved = self.store.replace(settings)
        later = [self._title(path) for path in changed if needs_restart(path)]
        text = "Applied." if changed else "Nothing changed."
        if later:
            text += f" At the next start: {', '.join(later)}."
        if unsaved is not None:
            text += f" Not saved to disk: {unsaved}; they apply until the desk closes."
        self.status.setText(text)
        return True

    def reject(self) -> None:
        """Close, Escape and the window's close button: what was not applied is discarded, so
        the dialog opens again on the settings in force (and a later OK applies only what is
        typed then)."""
        self.load()
        self.status.setText("")
        super().reject()

    def _ok(self) -> None:
        if self.check() is None:
            return
        if self.apply():
            self.close()

    def defaults_for_page(self) -> None:
        group = SETTINGS_GROUPS[self.pages.currentIndex()][0]
        self.sections[group].set_value(Settings().model_dump(mode="json")[group])
        self.check()

    def _title(self, path: str) -> str:
        editor = self.editors.get(path)
        return editor.label if editor is not None else path

    # -- import and export -----------------------------------------------------------------------

    def ask_import(self) -> QFileDialog:
        dialog = self._file_dialog("Import settings", QFileDialog.AcceptMode.AcceptOpen)
        dialog.fileSelected.connect(lambda name: self.import_file(Path(name)))
        dialog.open()
        return dialog

    def ask_export(self) -> QFileDialog:
        dialog = self._file_dialog("Export settings", QFileDialog.AcceptMode.AcceptSave)
        dialog.selectFile(str(Path.home() / "dalaldesk-settings.yaml"))
        dialog.fileSelected.connect(lambda name: self.export_file(Path(name)))
        dialog.open()
        return dialog

    def _file_dialog(self, title: str, mode: QFileDialog.AcceptMode) -> QFileDialog:
        dialog = QFileDialog(self, title)
        dialog.setAcceptMode(mode)
        dialog.setNameFilter("Settings (*.yaml *.yml)")
        dialog.setDefaultSuffix("yaml")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        return dialog

    def import_file(self, path: Path) -> bool:
        try:
            changed = self.store.import_from(path)
        except SettingsError as problem:
            self.status.setText(f"Not imported, nothing changed: {problem}")
            return False
        later = [self._title(p) for p in changed if needs_restart(p)]
        text = f"Imported {path.name}: {len(changed)} changed."
        if later:
            text += f" At the next start: {', '.join(later)}."
        if self.store.kept:
            text += f" Not in the file, so kept as they were: {', '.join(self.store.kept)}."
        if self.store.unsaved is not None:
            text += f" Not saved to disk: {self.store.unsaved}; they apply until the desk closes."
        self.status.setText(text)
        return True

    def export_file(self, path: Path) -> bool:
        unwritten = self.store.export_to(path)
        self.status.setText(unwritten or f"Exported to {path}.")
        return unwritten is None

    def show_group(self, group: str) -> None:
        names = [name for name, _title in SETTINGS_GROUPS]
        self.groups.setCurrentRow(names.index(group))
