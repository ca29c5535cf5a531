"""The settings schema and file: every preference declared once, checked at load, written whole,
exported and imported as YAML; and no preference read anywhere but through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.main import engine_config, parse_args
from engine.settings import (
    Settings,
    SettingsError,
    SettingsStore,
    changed_paths,
    leaf_paths,
    needs_restart,
    parse_settings,
    settings_yaml,
)
from engine.settings import store as store_module

ROOT = Path(__file__).resolve().parents[2]


def changed_settings() -> Settings:
    return Settings.model_validate(
        {
            "brokers": {"start_broker": "kite", "paper_latency_ms": 25.5, "nse_hours": True},
            "trading": {"default_order_type": "SL-M", "default_lots": 4, "confirm_orders": True},
            "risk": {"var_paths": 2000},
            "notifications": {"desktop": False},
            "display": {
                "theme": "light",
                "number_format": "international",
                "font_size": 12,
                "up_colour": "#1e88e5",
                "down_colour": "#fb8c00",
            },
        }
    )


def test_settings_yaml_when_read_back_gives_the_same_settings_with_descriptions() -> None:
    for settings in (Settings(), changed_settings()):
        text = settings_yaml(settings)
        assert parse_settings(text, "settings.yaml") == settings
    text = settings_yaml(Settings())
    assert "# Digit grouping: indian is 1,23,45,678.50" in text
    assert "(takes effect at the next start)" in text


def test_export_then_import_in_another_profile_round_trips_every_preference(tmp_path) -> None:
    mine = SettingsStore(tmp_path / "a" / "settings.yaml", changed_settings())
    assert mine.export_to(tmp_path / "exported.yaml") is None
    theirs = SettingsStore(tmp_path / "b" / "settings.yaml")
    seen: list[tuple[Settings, Settings]] = []
    theirs.subscribe(lambda old, new: seen.append((old, new)))
    changed = theirs.import_from(tmp_path / "exported.yaml")
    assert theirs.current == changed_settings()
    assert set(changed) == set(changed_paths(Settings(), changed_settings()))
    assert "display.number_format" in changed and "brokers.start_broker" in changed
    assert seen == [(Settings(), changed_settings())]
    reopened, problem = SettingsStore.open(tmp_path / "b" / "settings.yaml")
    assert problem is None and reopened.current == changed_settings()


def test_import_of_a_bad_file_changes_nothing_and_says_which_field(tmp_path) -> None:
    store = SettingsStore(tmp_path / "settings.yaml", changed_settings())
    bad = tmp_path / "bad.yaml"
    bad.write_text("trading:\n  default_lots: 0\ndisplay:\n  down_colour: red\n", "utf-8")
    with pytest.raises(SettingsError) as caught:
        store.import_from(bad)
    text = str(caught.value)
    assert "bad.yaml" in text and "trading.default_lots" in text
    assert "display.down_colour: should be a colour as #RRGGBB" in text
    assert store.current == changed_settings()
    with pytest.raises(SettingsError, match="could not be read"):
        store.import_from(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("display: [dark\n", "not readable at line 2"),
        ("- dark\n- light\n", "should hold the settings groups"),
        ("dispaly:\n  theme: dark\n", "dispaly: is not a DalalDesk setting"),
        ("risk:\n  var_paths: many\n", "risk.var_paths"),
        ("version: 99\n", "version"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_open_when_the_file_is_bad_uses_defaults_and_keeps_it_aside(tmp_path, text, words) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text, "utf-8")
    store, problem = SettingsStore.open(path)
    assert store.current == Settings()
    assert problem is not None and words in problem, problem
    kept = list(tmp_path.glob("settings.yaml.bad-*"))
    assert len(kept) == 1 and kept[0].read_text("utf-8") == text
    assert str(kept[0]) in problem
    assert not path.exists()
    assert store.update("display", theme="light") is None, "the desk saves its new file"
    assert SettingsStore.open(path)[0].current.display.theme == "light"


def test_open_when_the_file_is_huge_keeps_it_aside_unread_and_starts_on_defaults(
    tmp_path, monkeypatch
) -> None:
    path = tmp_path / "settings.yaml"
    text = "# x\n" * 300_000  # 1.2 MB of comments: valid YAML, minutes to parse at 80 MB
    path.write_text(text, "utf-8")

    def never(text: str, origin: str) -> Settings:
        raise AssertionError("a settings file over the cap is parsed")

    monkeypatch.setattr(store_module, "parse_settings", never)
    store, problem = SettingsStore.open(path)

    assert store.current == Settings()
    assert problem is not None and "over 1 MB, far larger than any settings file" in problem, (
        problem
    )
    kept = list(tmp_path.glob("settings.yaml.bad-*"))
    assert len(kept) == 1 and kept[0].read_text("utf-8") == text and str(kept[0]) in problem
    assert not path.exists()
    with pytest.raises(SettingsError, match="far larger than any settings file"):
        store.import_from(kept[0])


def test_open_when_the_file_is_bad_twice_in_a_second_keeps_both_aside(tmp_path) -> None:
    path = tmp_path / "settings.yaml"
    for text in ("display: [first\n", "display: [second\n"):
        path.write_text(text, "utf-8")
        SettingsStore.open(path)

    kept = sorted(p.read_text("utf-8") for p in tmp_path.glob("settings.yaml.bad-*"))
    assert kept == ["display: [first\n", "display: [second\n"]


def test_open_when_there_is_no_file_yet_is_the_defaults_without_a_word(tmp_path) -> None:
    store, problem = SettingsStore.open(tmp_path / "settings.yaml")
    assert problem is None and store.current == Settings()


def test_update_with_a_wrong_value_is_refused_and_changes_nothing(tmp_path) -> None:
    store = SettingsStore(tmp_path / "settings.yaml")
    seen: list[object] = []
    store.subscribe(lambda old, new: seen.append(new))
    with pytest.raises(SettingsError, match=r"display\.font_size"):
        store.update("display", font_size=99)
    with pytest.raises(SettingsError, match="not a DalalDesk setting"):
        store.update("display", colour="blue")
    assert store.current == Settings() and seen == []
    store.update("display", theme="dark")  # the same value: no change to tell anyone about
    assert seen == []


def test_replace_when_the_disk_refuses_keeps_the_settings_for_this_session(tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", "utf-8")
    store = SettingsStore(blocker / "settings.yaml")
    unsaved = store.update("display", theme="light")
    assert unsaved is not None and "settings.yaml could not be written" in unsaved
    assert store.current.display.theme == "light"


def test_restart_marks_only_what_the_desk_reads_at_start() -> None:
    assert needs_restart("brokers.start_broker") and needs_restart("risk.var_paths")
    assert not needs_restart("display.theme") and not needs_restart("trading.default_lots")


def test_engine_config_takes_what_the_command_line_leaves_unsaid_from_the_settings() -> None:
    settings = Settings.model_validate(
        {
            "brokers": {"paper_latency_ms": 40, "nse_hours": True},
            "risk": {"var_interval_seconds": 0, "var_paths": 500},
        }
    )
    config = engine_config(parse_args([]), settings)
    assert config.paper.latency_ms == 40
    assert not config.always_open, "NSE hours from the settings"
    assert (config.var_interval_seconds, config.var_paths) == (0, 500)
    told = engine_config(parse_args(["--latency-ms", "5", "--always-open"]), settings)
    assert told.paper.latency_ms == 5 and told.always_open, "the command line wins"
    kite = Settings.model_validate({"brokers": {"start_broker": "kite"}})
    assert engine_config(parse_args([]), kite).broker == "kite"
    assert engine_config(parse_args(["--broker", "paper"]), kite).broker == "paper"
    paper_on_kite = Settings.model_validate({"brokers": {"paper_feed": "kite"}})
    config = engine_config(parse_args([]), paper_on_kite)
    assert (config.broker, config.market_feed) == ("paper", "kite")
    assert config.db_url is not None and config.db_url.endswith("paper-kite.db")


def test_engine_config_without_settings_is_the_desk_as_it_always_started() -> None:
    config = engine_config(parse_args([]))
    assert (config.broker, config.market_feed, config.always_open) == ("paper", "simulated", True)
    assert config.paper.latency_ms == 0 and config.var_paths == 10_000


# -- no preference outside the schema ------------------------------------------------------------

LAYOUT_KEYS = {"CHARTS_KEY", "WATCHLISTS_KEY", "watchlists", "watchlists_unreadable"}
"""What the layout file may hold besides window geometry: the docks' contents (charts,
watchlists), which are the workspace, not preferences."""
LEGACY_KEYS = {"theme"}
"""Read once to carry an earlier version's theme into the settings (app.gui.adopt_layout_theme)."""


def _sources() -> list[Path]:
    return [
        path
        for folder in ("app", "ui", "engine")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def _key_name(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.JoinedStr):  # f"workspaces/{name}/{CHARTS_KEY}": a workspace's own
        parts = [v for v in node.values if isinstance(v, ast.Constant)]
        if parts and str(parts[0].value).startswith("workspaces/"):
            return "workspaces/*"
    return ast.dump(node)


def test_no_preference_is_read_outside_the_settings_schema() -> None:
    """Preferences live in ``engine.settings`` only: QSettings is the layout store's alone and
    the layout file is read for the workspace (geometry, docks, charts, watchlists), not for
    preferences; and every preference the schema declares is read somewhere."""
    qsettings: list[str] = []
    layout_reads: set[str] = set()
    for path in _sources():
        tree = ast.parse(path.read_text("utf-8"))
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "QSettings":
                qsettings.append(where)
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "value"
                and isinstance(func.value, (ast.Name, ast.Attribute))
                and "layouts" in ast.unparse(func.value)
                and node.args
            ):
                layout_reads.add(_key_name(node.args[0]))
    assert qsettings == ["ui/layout_store.py"], qsettings
    assert layout_reads, "the scan finds the layout store's reads"
    preferences = layout_reads - LAYOUT_KEYS - LEGACY_KEYS - {"workspaces/*"}
    assert not preferences, f"read from the layout file, not the settings: {preferences}"
    reads: set[tuple[str, str]] = set()
    """(what the attribute is read from, its name): ``display.theme``, ``preferences.nse_hours``."""
    for path in _sources():
        if path.parent.name == "settings":
            continue  # the schema and the store themselves
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                owner = ast.unparse(node.value).rsplit(".", 1)[-1]
                reads.add((owner, node.attr))
    unread = [
        path
        for path in leaf_paths()
        if path != "version"
        and not {(path.split(".")[0], path.split(".")[1]), ("preferences", path.split(".")[1])}
        & reads
    ]
    assert not unread, f"declared but never read: {unread}"


def test_static_ips_are_checked_as_addresses_and_reach_the_engine() -> None:
    with pytest.raises(SettingsError, match="is not an IP address"):
        parse_settings("brokers:\n  static_ip: 203.0.113\n", "settings.yaml")
    with pytest.raises(SettingsError, match="is not a web address"):
        parse_settings("brokers:\n  address_check_url: ipify\n", "settings.yaml")
    settings = parse_settings(
        "brokers:\n  static_ip: ' 203.0.113.7 '\n  backup_static_ip: ''\n", "settings.yaml"
    )
    assert (settings.brokers.static_ip, settings.brokers.backup_static_ip) == ("203.0.113.7", None)
    config = engine_config(parse_args([]), settings)
    assert config.static_ips == ("203.0.113.7",)
    assert config.address_check_url == "https://api.ipify.org"


def test_signal_settings_reach_the_engine_and_the_command_line_wins(tmp_path) -> None:
    from app.gui import follow_signal_settings
    from engine.runtime import Engine

    settings = parse_settings(
        "signals:\n  api_port: 8787\n  mode: auto\n  lots_multiplier: 2\n"
        "  allowed_addresses: 52.89.214.238,  34.212.75.30\n",
        "settings.yaml",
    )
    config = engine_config(parse_args([]), settings)
    assert (config.api_port, config.api_host) == (8787, "127.0.0.1")
    assert config.api_allowlist == ("52.89.214.238", "34.212.75.30")
    assert config.signal_rules.default_mode.value == "auto"
    assert config.signal_rules.lots_multiplier == 2
    told = engine_config(parse_args(["--api-port", "9000", "--signal-mode", "off"]), settings)
    assert (told.api_port, told.signal_rules.default_mode.value) == (9000, "off")
    ruled = parse_settings(
        "signals:\n  strategy_modes: ' ema-9-21 = auto,rsi=off '\n", "settings.yaml"
    )
    assert ruled.signals.strategy_modes == "ema-9-21=auto, rsi=off"
    rules = engine_config(parse_args([]), ruled).signal_rules
    assert (rules.mode_for("ema-9-21").value, rules.mode_for("rsi").value) == ("auto", "off")
    assert rules.mode_for("other").value == "approve"
    with pytest.raises(SettingsError, match="is not strategy=mode"):
        parse_settings("signals:\n  strategy_modes: ema=sometimes\n", "settings.yaml")
    with pytest.raises(SettingsError, match=r"'52\.89' is not an IP address"):
        parse_settings("signals:\n  allowed_addresses: 52.89\n", "settings.yaml")

    engine = Engine.build(
        engine_config(parse_args(["--db", f"sqlite:///{tmp_path / 'book.db'}"]), settings)
    )
    try:
        approve = settings.model_copy(
            update={"signals": settings.signals.model_copy(update={"mode": "approve"})}
        )
        follow_signal_settings(engine, settings, approve)
        assert engine.signals.rules.default_mode.value == "approve", "applies at once"
        pinned = Engine.build(
            engine_config(
                parse_args(["--db", f"sqlite:///{tmp_path / 'b.db'}", "--signal-mode", "off"]),
                settings,
            )
        )
        try:
            follow_signal_settings(pinned, settings, approve)
            assert pinned.signals.rules.default_mode.value == "off", "--signal-mode stays"
        finally:
            pinned.close()
    finally:
        engine.close()


def test_settings_when_a_file_holds_a_retired_preference_open_without_it() -> None:
    text = "version: 1\ntrading:\n  market_protection_percent: 3.5\n  default_lots: 2\n"

    settings = parse_settings(text, "settings.yaml")

    assert settings.trading.default_lots == 2
    assert "market_protection_percent" not in settings_yaml(settings)
