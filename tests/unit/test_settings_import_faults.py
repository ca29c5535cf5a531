"""Importing a settings file: an empty or unversioned file, a newer desk's file and values of
the wrong type are refused in words with nothing changed; groups a file lacks keep their values; an import the disk refuses still says what
changed; a save killed mid-write leaves no temporary behind once the store opens again."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.settings import Settings, SettingsError, SettingsStore, parse_settings, settings_yaml


def exported(tmp_path: Path, settings: Settings, name: str = "exported.yaml") -> Path:
    path = tmp_path / name
    path.write_text(settings_yaml(settings), "utf-8")
    return path


def lighter() -> Settings:
    return Settings.model_validate({"display": {"theme": "light"}, "trading": {"default_lots": 7}})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty.yaml is empty: it holds no settings"),
        ("# DalalDesk settings\n", "empty.yaml is empty: it holds no settings"),
        ("trading:\n  default_lots: 7\n", "empty.yaml is not a DalalDesk settings file"),
    ],
)
def test_import_of_an_empty_or_unversioned_file_is_refused_in_words_and_changes_nothing(
    tmp_path: Path, text: str, words: str
) -> None:
    target = tmp_path / "settings.yaml"
    store = SettingsStore(target, lighter())
    seen: list[object] = []
    store.subscribe(lambda old, new: seen.append(new))
    path = tmp_path / "empty.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(SettingsError) as caught:
        store.import_from(path)
    assert words in str(caught.value), caught.value
    assert store.current == lighter() and seen == []
    assert not target.exists(), "nothing written"


def test_import_of_a_file_without_some_groups_keeps_those_groups_as_they_are(
    tmp_path: Path,
) -> None:
    """An older desk's export, or a file cut short after a group: what it holds is imported, and
    the groups it lacks keep the trader's values instead of going back to their defaults."""
    current = Settings.model_validate(
        {"display": {"theme": "light"}, "trading": {"default_lots": 7}}
    )
    store = SettingsStore(tmp_path / "settings.yaml", current)
    path = tmp_path / "older.yaml"
    path.write_text("version: 1\ntrading:\n  default_lots: 3\n", "utf-8")
    changed = store.import_from(path)
    assert changed == ["trading.default_lots"]
    assert store.current.trading.default_lots == 3
    assert store.current.display.theme == "light"  # not in the file: kept, not reset
    assert store.kept == ["brokers", "risk", "notifications", "signals", "display"]


def test_import_of_a_whole_file_without_a_version_line_is_refused(tmp_path: Path) -> None:
    text = settings_yaml(lighter()).replace("version: 1\n", "")
    path = tmp_path / "noversion.yaml"
    path.write_text(text, "utf-8")
    store = SettingsStore(tmp_path / "settings.yaml")
    with pytest.raises(SettingsError, match=r"it has no version"):
        store.import_from(path)
    assert store.current == Settings()


def test_start_up_still_reads_a_file_holding_only_some_groups(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("display:\n  theme: light\n", "utf-8")
    store, problem = SettingsStore.open(path)
    assert problem is None and store.current.display.theme == "light"


def test_a_newer_desks_file_is_said_to_be_one(tmp_path: Path) -> None:
    text = settings_yaml(Settings()).replace("version: 1", "version: 2")
    with pytest.raises(SettingsError) as caught:
        parse_settings(text, "newer.yaml")
    assert str(caught.value) == (
        "newer.yaml was written by a newer DalalDesk (settings version 2; this one reads 1)"
    )
    newer = tmp_path / "newer.yaml"
    newer.write_text(text, "utf-8")
    store = SettingsStore(tmp_path / "settings.yaml")
    with pytest.raises(SettingsError, match="written by a newer DalalDesk"):
        store.import_from(newer)
    assert store.current == Settings()


@pytest.mark.parametrize(
    ("group", "line", "words"),
    [
        ("trading", "default_lots: true", "trading.default_lots: Input should be a valid integer"),
        ("trading", "confirm_orders: 'yes'", "trading.confirm_orders: Input should be a valid"),
        ("risk", "var_paths: 2000.0", "risk.var_paths: Input should be a valid integer"),
        ("brokers", "paper_latency_ms: '5'", "brokers.paper_latency_ms: Input should be a valid"),
        ("display", "font_size: 12.0", "display.font_size: Input should be a valid integer"),
    ],
)
def test_import_of_a_value_of_the_wrong_type_is_refused_not_converted(
    tmp_path: Path, group: str, line: str, words: str
) -> None:
    name = line.split(":")[0]
    text = settings_yaml(Settings())
    lines = text.splitlines()
    start = lines.index(f"{group}:")
    at = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(f"{name}:"))
    lines[at] = f"  {line}"
    path = tmp_path / "typed.yaml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    store = SettingsStore(tmp_path / "settings.yaml")
    with pytest.raises(SettingsError) as caught:
        store.import_from(path)
    assert words in str(caught.value), caught.value
    assert store.current == Settings()


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "    enabled: false\n    # The chat",
            "    enabled: 'yes'\n    # The chat",
            "telegram.enabled",
        ),
        (
            "    port: 587",
            "    port: '587'",
            "notifications.email.port: Input should be a valid integer",
        ),
        (
            "    security: starttls",
            "    security: 1",
            "notifications.email.security: Input should be",
        ),
        (
            "    events: [alerts, rejections, stop_loss, risk]\n  email",
            "    events: [alerts, risks]\n  email",
            "'risks' is not an event: the events are alerts, rejections, stop_loss, risk",
        ),
    ],
)
def test_import_of_a_mail_or_telegram_value_of_the_wrong_type_is_refused_not_converted(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    text = settings_yaml(Settings())
    assert text.count(old) == 1
    path = tmp_path / "typed.yaml"
    path.write_text(text.replace(old, new), "utf-8")
    store = SettingsStore(tmp_path / "settings.yaml")
    with pytest.raises(SettingsError) as caught:
        store.import_from(path)
    assert words in str(caught.value), caught.value
    assert store.current == Settings()


def test_the_file_the_desk_writes_reads_back_strictly_with_every_type(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "brokers": {"paper_latency_ms": 25, "nse_hours": True, "static_ip": "203.0.113.7"},
            "trading": {"default_lots": 4, "confirm_orders": True},
            "risk": {"var_interval_seconds": 0, "var_paths": 2000},
            "signals": {"api_port": 8080, "allowed_addresses": "52.89.214.238"},
            "display": {"font_size": 12, "up_colour": "#1e88e5"},
            "notifications": {
                "telegram": {"enabled": True, "chat_id": "-100123456789", "events": ["risk"]},
                "email": {"security": "ssl", "port": 465, "recipients": ["desk@example.com"]},
            },
        }
    )
    assert settings.brokers.paper_latency_ms == 25.0, "a whole number fills a decimal one"
    store = SettingsStore(tmp_path / "settings.yaml")
    assert store.replace(settings) is None
    reopened, problem = SettingsStore.open(tmp_path / "settings.yaml")
    assert problem is None and reopened.current == settings
    other = SettingsStore(tmp_path / "other.yaml")
    assert other.import_from(tmp_path / "settings.yaml")
    assert other.current == settings


def test_import_when_the_settings_file_cannot_be_written_applies_and_says_it_is_not_saved(
    tmp_path: Path,
) -> None:
    target = tmp_path / "settings.yaml"
    target.mkdir()  # a folder where the file should be: no write can replace it
    store = SettingsStore(target)
    changed = store.import_from(exported(tmp_path, lighter()))
    assert set(changed) == {"display.theme", "trading.default_lots"}
    assert store.current == lighter()
    assert store.unsaved is not None and "settings.yaml could not be written" in store.unsaved
    target.rmdir()
    assert store.update("display", theme="dark") is None
    assert store.unsaved is None, "saved again once the disk takes it"


def test_open_removes_a_killed_saves_old_temporaries_and_leaves_a_young_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(settings_yaml(lighter()), "utf-8")
    old = tmp_path / ".dalaldesk-0c2b20ab.part"
    young = tmp_path / ".dalaldesk-131e5c31.part"
    mine = tmp_path / "notes.part"
    for leftover in (old, young, mine):
        leftover.write_text("version: 1\ntrad", "utf-8")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(mine, (an_hour_ago, an_hour_ago))

    store, problem = SettingsStore.open(path)

    assert problem is None and store.current == lighter()
    assert not old.exists(), "a killed save's temporary is removed"
    assert young.exists(), "a write under way may be another desk's"
    assert mine.exists(), "a file of the trader's is never touched"
