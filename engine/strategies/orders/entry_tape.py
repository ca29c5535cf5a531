"""What a bracket's entry saw of the market, for its execution quality: the mid when the bracket
started (the arrival price) and the market's VWAP (Σ traded quantity × last price from the feed's
cumulative volume) while the entry worked. Saved with the bracket's state, so a restart keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.domain.ticks import Tick
from engine.strategies.algos.quality import mid_of


@dataclass(slots=True)
class EntryTape:
    started_ns: int = 0
    arrival: Decimal | None = None
    """The mid at the start, paise."""
    vwap_value: int = 0
    vwap_volume: int = 0
    last_volume: int = -1
    ticks_from_ns: int = 0
    ticks_to_ns: int = 0

    def start(self, now_ns: int, tick: Tick | None) -> None:
        if not self.started_ns:
            self.started_ns = now_ns
        if self.arrival is None and tick is not None and tick.ltp > 0:
            self.arrival = mid_of(tick)
        if tick is not None and self.last_volume < 0:
            self.last_volume = tick.volume

    def on_tick(self, tick: Tick) -> None:
        """A tick while the entry works: what traded since the last one joins the VWAP."""
        if self.arrival is None and tick.ltp > 0:
            self.arrival = mid_of(tick)
        volume, last = tick.volume, self.last_volume
        if volume > last >= 0:
            traded = volume - last
            self.vwap_value += traded * tick.ltp
            self.vwap_volume += traded
            if not self.ticks_from_ns:
                self.ticks_from_ns = tick.ts_ns
            self.ticks_to_ns = tick.ts_ns
        if volume >= 0:
            self.last_volume = volume

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_ns": self.started_ns,
            "arrival": None if self.arrival is None else str(self.arrival),
            "vwap_value": self.vwap_value,
            "vwap_volume": self.vwap_volume,
            "last_volume": self.last_volume,
            "ticks_from_ns": self.ticks_from_ns,
            "ticks_to_ns": self.ticks_to_ns,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EntryTape:
        if not data:
            return cls()
        arrival = data.get("arrival")
        return cls(
            int(data.get("started_ns", 0)),
            None if arrival is None else Decimal(str(arrival)),
            int(data.get("vwap_value", 0)),
            int(data.get("vwap_volume", 0)),
            int(data.get("last_volume", -1)),
            int(data.get("ticks_from_ns", 0)),
            int(data.get("ticks_to_ns", 0)),
        )
