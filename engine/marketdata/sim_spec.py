"""The simulated market's universe file: static contract facts, checked when read.

resources/instruments/simulated_market.json holds symbols, tokens, lots, ticks, start levels and
vols. Unknown or missing keys are errors, never defaults: a typo in a tuning file should not
quietly fall back to something else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from engine.domain.values import Paise, to_paise


@dataclass(frozen=True, slots=True)
class IndexSpec:
    underlying: str
    tradingsymbol: str
    name: str
    exchange_token: int
    tick_size: Paise
    start_price: float
    annual_vol: float
    market_loading: float
    """Weight on the common market factor; sets the correlation between underlyings."""
    activity: float
    """Share of option trading relative to the other indices."""
    future_tick_size: Paise
    option_tick_size: Paise
    lot_size: int
    strike_step: int
    """Rupees between listed strikes."""
    weekly_options: bool
    atm_iv: float
    skew: float
    curvature: float
    future_oi_lots: int
    option_oi_lots: int


@dataclass(frozen=True, slots=True)
class StockSpec:
    symbol: str
    name: str
    exchange_token: int
    start_price: float
    annual_vol: float
    market_loading: float


@dataclass(frozen=True, slots=True)
class UniverseSpec:
    indices: tuple[IndexSpec, ...]
    stocks: tuple[StockSpec, ...]


def load_universe_spec(path: Path | None = None) -> UniverseSpec:
    """Read and check a universe file; unknown or missing keys are errors, not defaults."""
    if path is None:
        origin = "simulated_market.json"
        text = resources.files("resources").joinpath("instruments", origin).read_text("utf-8")
    else:
        origin, text = str(path), Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    _check_keys(data, {"description", "indices", "stocks"}, origin)
    price_fields = {"tick_size", "future_tick_size", "option_tick_size"}
    indices = []
    for n, raw in enumerate(data["indices"]):
        values = _spec_fields(raw, IndexSpec, f"{origin}: indices[{n}]")
        for key in price_fields:
            values[key] = to_paise(str(values[key]))
        indices.append(IndexSpec(**values))
    stocks = tuple(
        StockSpec(**_spec_fields(raw, StockSpec, f"{origin}: stocks[{n}]"))
        for n, raw in enumerate(data["stocks"])
    )
    return UniverseSpec(tuple(indices), stocks)


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(unknown)}")


def _spec_fields(raw: Mapping[str, Any], cls: type, where: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    _check_keys(raw, names, where)
    missing = sorted(names - set(raw))
    if missing:
        raise ValueError(f"{where}: missing keys {', '.join(missing)}")
    return dict(raw)
