"""The trader's preferences: one declared schema (``schema``) and the profile's file (``store``)."""

from engine.settings.schema import (
    GROUPS,
    BrokerPreferences,
    DisplayPreferences,
    NotificationPreferences,
    RiskPreferences,
    Settings,
    SignalPreferences,
    TradingPreferences,
    changed_paths,
    leaf_paths,
    needs_restart,
    problems_of,
)
from engine.settings.store import (
    SettingsError,
    SettingsStore,
    parse_settings,
    settings_file,
    settings_yaml,
)

__all__ = [
    "GROUPS",
    "BrokerPreferences",
    "DisplayPreferences",
    "NotificationPreferences",
    "RiskPreferences",
    "Settings",
    "SettingsError",
    "SettingsStore",
    "SignalPreferences",
    "TradingPreferences",
    "changed_paths",
    "leaf_paths",
    "needs_restart",
    "parse_settings",
    "problems_of",
    "settings_file",
    "settings_yaml",
]
