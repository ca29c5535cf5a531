"""What one chart dock shows, as the workspace keeps it: the series, timeframe, style, indicators."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.api import CHART_INDICATORS, TIMEFRAMES

STYLES = {"candles": "Candles", "line": "Line", "heikin": "Heikin-Ashi"}
DEFAULT_TIMEFRAME = "5m"


@dataclass
class ChartSettings:
    key: int | str
    """An instrument's token, or a derived series' name ("straddle:NIFTY:2026-12-10")."""
    title: str
    timeframe: str = DEFAULT_TIMEFRAME
    style: str = "candles"
    indicators: list[str] = field(default_factory=list)
    volume: bool = True

    def saved(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, data: object) -> ChartSettings:
        """Settings from a saved workspace; raises ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a chart's settings must be an object")
        key = data.get("key")
        if not (isinstance(key, int | str) and not isinstance(key, bool)) or key in ("", 0):
            raise ValueError(f"a chart needs the series it shows (key {key!r})")
        title = data.get("title")
        if not isinstance(title, str) or not title:
            raise ValueError("a chart needs a title")
        # Each value's type is checked before it is looked up: a list or an object where a name
        # belongs (a hand-edited or damaged workspace) is refused in words, not a TypeError.
        timeframe = data.get("timeframe", DEFAULT_TIMEFRAME)
        if not isinstance(timeframe, str) or timeframe not in TIMEFRAMES:
            raise ValueError(f"timeframe {timeframe!r} is not one of {', '.join(TIMEFRAMES)}")
        style = data.get("style", "candles")
        if not isinstance(style, str) or style not in STYLES:
            raise ValueError(f"chart style {style!r} is not one of {', '.join(STYLES)}")
        indicators = data.get("indicators", [])
        if not isinstance(indicators, list) or not all(
            isinstance(i, str) and i in CHART_INDICATORS for i in indicators
        ):
            raise ValueError(f"unknown indicators in {indicators!r}")
        volume = data.get("volume", True)
        if not isinstance(volume, bool):
            raise ValueError("volume must be true or false")
        # In the menu's order, each once (as the chart itself keeps them).
        chosen = [name for name in CHART_INDICATORS if name in indicators]
        return cls(key, title, timeframe, style, chosen, volume)
