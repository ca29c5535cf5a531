"""NSE freeze quantities per index underlying, and Kite's index names for them: exchange facts the
desk ships in resources/instruments (kept current from NSE circulars, kite_xts_apis.md §D.2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FreezeTable:
    """Freeze quantity (inclusive, units) per index underlying, with where the numbers came from."""

    limits: Mapping[str, int]
    effective: date | None = None
    source: str = ""

    def for_underlying(self, underlying: str) -> int | None:
        return self.limits.get(underlying)


def _resource_text(name: str) -> str:
    return resources.files("resources").joinpath("instruments", name).read_text(encoding="utf-8")


def load_freeze_table(path: str | Path | None = None) -> FreezeTable:
    """The freeze table from ``path``, or the one shipped in resources/instruments."""
    text = (
        Path(path).read_text(encoding="utf-8")
        if path is not None
        else _resource_text("freeze_quantities.json")
    )
    data = json.loads(text)
    limits = data.get("limits")
    if not isinstance(limits, dict) or not all(
        isinstance(k, str) and type(v) is int and v > 0 for k, v in limits.items()
    ):
        origin = path or "freeze_quantities.json"
        raise ValueError(f"freeze table {origin}: 'limits' must map symbols to positive integers")
    effective = date.fromisoformat(data["effective"]) if data.get("effective") else None
    return FreezeTable(limits=dict(limits), effective=effective, source=str(data.get("source", "")))


def load_index_underlyings() -> dict[str, str]:
    """Kite index names ("NIFTY 50") mapped to their derivatives' underlying ("NIFTY")."""
    data = json.loads(_resource_text("index_underlyings.json"))
    return dict(data["indices"])
