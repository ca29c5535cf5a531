"""A profile's settings file: read and checked at start, written whole on each change, exported
and imported as YAML, and a change signal the window and the engine listen to.

The file is YAML a trader can edit by hand: each preference under its group, with its
description as a comment above it. A file that cannot be read, or that breaks the schema, is
never half-used: the desk starts on the defaults, says in words which lines are wrong, and keeps
the file aside (``settings.yaml.bad-<time>``) so nothing the trader wrote is lost. A file
larger than any settings file can be (``SETTINGS_FILE_CAP``) is not read at all: parsing
megabytes of YAML would hold the start for minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
import yaml
from pydantic import BaseModel, ValidationError

from engine.core.files import remove_leftovers
from engine.settings.schema import (
    GROUPS,
    SCHEMA_VERSION,
    Settings,
    changed_paths,
    needs_restart,
    problems_text,
)
from engine.store.files import write_text
from engine.store.urls import APP_NAME, check_path_name

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.yaml"
SETTINGS_FILE_CAP = 1_000_000
"""Bytes. A full settings file with every comment is a few kB; the diagnostics bundle keeps
settings files up to the same size."""

Listener = Callable[[Settings, Settings], None]
"""Told (old, new) after each change."""


class SettingsError(ValueError):
    """Settings that cannot be used, in words (the file and the field paths at fault)."""


def settings_file(profile: str) -> Path:
    """``<user config dir>/<profile>/settings.yaml``, beside the profile's window layout."""
    check_path_name("profile", profile)
    return Path(platformdirs.user_config_dir(APP_NAME)) / profile / SETTINGS_FILE


def parse_settings(text: str, origin: str, *, whole: bool = False) -> Settings:
    """Settings from YAML text; SettingsError naming ``origin`` and what is wrong. ``whole``: the
    text must hold the version and every group (an import: a file cut short is refused rather
    than its missing groups put back to their defaults)."""
    data = _settings_mapping(text, origin)
    _check_version(data, origin)
    try:
        settings = Settings.model_validate(_without_retired(data))
    except ValidationError as problem:
        raise SettingsError(f"{origin}: {problems_text(problem)}") from None
    if whole:
        _check_whole(data, origin)
    return settings


def _settings_mapping(text: str, origin: str) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        reason = getattr(problem, "problem", None) or "not YAML"
        raise SettingsError(f"{origin} is not readable{where}: {reason}") from None
    except RecursionError:
        raise SettingsError(f"{origin} is not readable: it is nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SettingsError(f"{origin} should hold the settings groups, not a single value")
    return data


def _check_version(data: Mapping[str, Any], origin: str) -> None:
    """A newer desk's file is said to be one, rather than listed as a file of wrong values."""
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise SettingsError(
            f"{origin} was written by a newer DalalDesk (settings version {version}; this one "
            f"reads {SCHEMA_VERSION})"
        )


def _check_whole(data: Mapping[str, Any], origin: str) -> None:
    if not data:
        raise SettingsError(f"{origin} is empty: it holds no settings")
    if "version" not in data:
        raise SettingsError(
            f"{origin} is not a DalalDesk settings file (it has no version; an export always "
            "has one)"
        )


def missing_groups(text: str) -> list[str]:
    """The settings groups a file does not hold (an export of an older desk, or a file cut
    short): an import keeps the current ones rather than putting them back to their defaults."""
    data = yaml.safe_load(text)
    return [group for group, _ in GROUPS if not isinstance(data, Mapping) or group not in data]


RETIRED: dict[tuple[str, str], str] = {
    ("trading", "market_protection_percent"): (
        "the paper venue's market protection setting is gone: MARKET and SL-M orders are "
        "protected by the risk limits' market protection (Settings → Risk limits…)"
    ),
}
"""Preferences earlier versions wrote that the desk no longer has: dropped on reading (with a
line in the log), so an older settings file still opens rather than being set aside."""


def _without_retired(data: Mapping[str, Any]) -> Mapping[str, Any]:
    kept = dict(data)
    for (group, name), why in RETIRED.items():
        section = kept.get(group)
        if isinstance(section, Mapping) and name in section:
            kept[group] = {k: v for k, v in section.items() if k != name}
            log.info("settings: %s.%s dropped (%s)", group, name, why)
    return kept


def read_settings(path: Path) -> Settings:
    """The settings in the file at ``path`` (FileNotFoundError when there is none); SettingsError
    says why the file cannot be used, without reading more than ``SETTINGS_FILE_CAP``."""
    return parse_settings(_settings_text(path), path.name)


def _settings_text(path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(SETTINGS_FILE_CAP + 1)
    except FileNotFoundError:
        raise
    except OSError as problem:
        raise SettingsError(f"{path.name} could not be read: {problem}") from None
    if len(data) > SETTINGS_FILE_CAP:
        raise SettingsError(
            f"{path.name} is over {SETTINGS_FILE_CAP / 1e6:g} MB, far larger than any settings "
            "file (a few kB), so it was not read"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise SettingsError(f"{path.name} could not be read: {problem}") from None


def settings_yaml(settings: Settings) -> str:
    """The settings as commented YAML: each group and preference with its description."""
    lines = [
        "# DalalDesk settings. Edit in Settings (Ctrl+,) or here while the desk is closed;",
        "# a wrong value is reported at the next start and this file kept aside.",
        f"version: {settings.version}",
    ]
    for group, title in GROUPS:
        lines += ["", f"# {title}", f"{group}:"]
        lines += _section_lines(getattr(settings, group), group, "  ")
    return "\n".join(lines) + "\n"


def _section_lines(section: BaseModel, path: str, indent: str) -> list[str]:
    lines = []
    values = section.model_dump(mode="json")
    for name, info in type(section).model_fields.items():
        if info.description:
            later = needs_restart(f"{path}.{name}") if path.count(".") == 0 else False
            note = " (takes effect at the next start)" if later else ""
            lines.append(f"{indent}# {info.description}{note}")
        value = getattr(section, name)
        if isinstance(value, BaseModel):
            lines.append(f"{indent}{name}:")
            lines += _section_lines(value, f"{path}.{name}", indent + "  ")
        else:
            lines.append(f"{indent}{name}: {_scalar(values[name])}")
    return lines


class SettingsStore:
    """The current settings of one profile, the file they live in (None: memory only) and who
    wants to know when they change."""

    def __init__(self, path: Path | None = None, settings: Settings | None = None) -> None:
        self.path = path
        self._current = settings or Settings()
        self._listeners: list[Listener] = []
        self.unsaved: str | None = None
        """None, or why the file does not hold the current settings (the last write failed)."""
        self.kept: list[str] = []
        """The groups the last import's file did not hold: kept as they were."""

    @classmethod
    def open(cls, path: Path) -> tuple[SettingsStore, str | None]:
        """The store of the file at ``path``: its settings, or the defaults when there is no
        file yet, or when it is unreadable (then it is kept aside and the second value says so
        in words)."""
        remove_leftovers(path.parent, "settings")
        try:
            return cls(path, read_settings(path)), None
        except FileNotFoundError:
            return cls(path), None
        except SettingsError as problem:
            reason = str(problem)
        message, moved = _kept_aside(path, reason)
        return cls(path if moved else None), message

    @property
    def current(self) -> Settings:
        return self._current

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def replace(self, settings: Settings) -> str | None:
        """Make ``settings`` current, write the file, tell the listeners. Returns None, or why
        the file could not be written (the settings still apply until the desk closes)."""
        old, self._current = self._current, settings
        unsaved = None if self.path is None else write_text(self.path, settings_yaml(settings))
        if unsaved is not None:
            log.warning("settings not saved: %s", unsaved)
        self.unsaved = unsaved
        if old != settings:
            for listener in list(self._listeners):
                listener(old, settings)
        return unsaved

    def update(self, group: str, **changes: Any) -> str | None:
        """Change some preferences of one group (checked by the schema: SettingsError)."""
        section = getattr(self._current, group)
        assert isinstance(section, BaseModel)
        data = self._current.model_dump(mode="json")
        data[group] = {**section.model_dump(mode="json"), **changes}
        try:
            settings = Settings.model_validate(data)
        except ValidationError as problem:
            raise SettingsError(problems_text(problem)) from None
        return self.replace(settings)

    def export_to(self, path: Path) -> str | None:
        """Write the current settings to ``path`` as YAML; None, or why not in words."""
        return write_text(path, settings_yaml(self._current))

    def import_from(self, path: Path) -> list[str]:
        """Make the settings in ``path`` current, all or none (SettingsError says what is wrong
        and nothing changes); a group the file does not hold keeps its current values (listed in
        ``kept``). Returns the paths of the preferences that changed; ``unsaved`` says whether
        they reached this profile's file."""
        try:
            text = _settings_text(path)
        except FileNotFoundError as problem:
            raise SettingsError(f"{path.name} could not be read: {problem}") from None
        settings = parse_settings(text, path.name, whole=True)
        self.kept = missing_groups(text)
        settings = settings.model_copy(
            update={group: getattr(self._current, group) for group in self.kept}
        )
        changed = changed_paths(self._current, settings)
        self.replace(settings)
        return changed


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True)
    return text.removesuffix("...\n").strip()


def _kept_aside(path: Path, problem: str) -> tuple[str, bool]:
    stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.bad-{stamp}")
    number = 1
    while aside.exists():  # one kept aside this second already: keep both
        number += 1
        aside = path.with_name(f"{path.name}.bad-{stamp}-{number}")
    try:
        path.replace(aside)
    except OSError as exc:
        log.error("settings file %s could not be kept aside: %s", path, exc)
        return (
            f"Your settings could not be used ({problem}); the desk started with the default "
            f"settings and leaves {path} as it is (changes made now are not saved): fix the "
            "file or delete it."
        ), False
    log.warning("settings file kept aside as %s: %s", aside, problem)
    return (
        f"Your settings could not be used ({problem}); the desk started with the default "
        f"settings and kept your file as {aside}."
    ), True
