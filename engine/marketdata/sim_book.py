"""Order books and trades of the simulated market, turned into ``Tick``s in bulk.

Given unrounded theoretical prices, quotes are put on the contract's tick grid: the best bid at
or below the theoretical price, the best ask above it, the spread wider for far-from-the-money
and cheap contracts, at least one tick on each side (an option's bid is never below 0.05), five
levels a side with quantities in whole lots. All arithmetic is numpy over the rows being quoted;
what is left to Python is assembling the ``Tick`` tuples, which is what a feed costs anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from engine.domain.ticks import Tick
from engine.marketdata.sim_universe import (
    KIND_FUTURE,
    KIND_INDEX,
    KIND_OPTION,
    KIND_STOCK,
    SimUniverse,
)

DEPTH_LEVELS = 5
_MAX_ORDERS_PER_LEVEL = 25

# Spread, in ticks, is 1 + relative_spread x price-in-ticks (+ one tick per standard deviation an
# option's strike is away from the forward, + sometimes one tick of noise).
_RELATIVE_SPREAD = {KIND_STOCK: 8e-5, KIND_FUTURE: 1e-5, KIND_OPTION: 5e-4}
# Mean lots per depth level and per trade; options scale between (far wing, at the money).
_DEPTH_LOTS = {KIND_STOCK: (120.0, 120.0), KIND_FUTURE: (12.0, 12.0), KIND_OPTION: (3.0, 45.0)}
_TRADE_LOTS = {KIND_STOCK: (40.0, 40.0), KIND_FUTURE: (3.0, 3.0), KIND_OPTION: (1.0, 12.0)}


@dataclass(slots=True)
class BookState:
    """What persists between ticks, per instrument (aligned with the universe)."""

    ltp: npt.NDArray[np.int64]
    """Last traded price, paise (an index's last value)."""
    close: npt.NDArray[np.int64]
    volume: npt.NDArray[np.int64]
    oi: npt.NDArray[np.int64]
    last_qty: npt.NDArray[np.int64]


class TickFactory:
    def __init__(self, universe: SimUniverse) -> None:
        self._tokens = np.array([i.token for i in universe.instruments], dtype=np.int64)
        self._kind = universe.kind
        self._tick = universe.tick
        # Lots of an index are 0 (never traded); count depth and trades for them in units of 1.
        self._lot = np.maximum(universe.lot, 1)
        kinds = universe.kind
        self._relative_spread = np.zeros(len(kinds))
        self._depth_lots = np.ones((len(kinds), 2))
        self._trade_lots = np.ones((len(kinds), 2))
        for kind, value in _RELATIVE_SPREAD.items():
            self._relative_spread[kinds == kind] = value
        for kind, (wing, atm) in _DEPTH_LOTS.items():
            self._depth_lots[kinds == kind] = (wing, atm)
        for kind, (wing, atm) in _TRADE_LOTS.items():
            self._trade_lots[kinds == kind] = (wing, atm)
        self._is_derivative = (kinds == KIND_FUTURE) | (kinds == KIND_OPTION)

    def ticks(
        self,
        rows: npt.NDArray[np.int64],
        theo: npt.NDArray[np.float64],
        liquidity: npt.NDArray[np.float64],
        wing: npt.NDArray[np.float64],
        state: BookState,
        rng: np.random.Generator,
        ts_ns: int,
        *,
        trade: bool,
    ) -> list[Tick]:
        """Ticks for ``rows`` (universe indices) priced at ``theo`` rupees.

        ``liquidity`` in [0, 1] scales depth and trade sizes; ``wing`` is how many standard
        deviations the strike is from the forward (0 for non-options). With ``trade`` each row
        trades once: last price, volume and open interest in ``state`` move. Without it the rows
        are quoted as they stand (a snapshot). ``rng`` is drawn from in a fixed order.
        """
        is_index = self._kind[rows] == KIND_INDEX
        index_rows = rows[is_index]
        book_rows = rows[~is_index]
        index_theo = theo[is_index]
        out: list[Tick] = []
        if len(index_rows):
            out.extend(self._index_ticks(index_rows, index_theo, state, ts_ns))
        if len(book_rows):
            keep = ~is_index
            out.extend(
                self._book_ticks(
                    book_rows, theo[keep], liquidity[keep], wing[keep], state, rng, ts_ns, trade
                )
            )
        return out

    def _index_ticks(
        self,
        rows: npt.NDArray[np.int64],
        theo: npt.NDArray[np.float64],
        state: BookState,
        ts_ns: int,
    ) -> list[Tick]:
        tick = self._tick[rows]
        value = np.rint(theo * 100.0 / tick).astype(np.int64) * tick
        state.ltp[rows] = value
        empty: tuple[tuple[int, int, int], ...] = ()
        return [
            Tick._make((token, ltp, 0, 0, 0, 0, 0, 0, ts_ns, 0, empty, empty, close))
            for token, ltp, close in zip(
                self._tokens[rows].tolist(), value.tolist(), state.close[rows].tolist(), strict=True
            )
        ]

    def _book_ticks(
        self,
        rows: npt.NDArray[np.int64],
        theo: npt.NDArray[np.float64],
        liquidity: npt.NDArray[np.float64],
        wing: npt.NDArray[np.float64],
        state: BookState,
        rng: np.random.Generator,
        ts_ns: int,
        trade: bool,
    ) -> list[Tick]:
        n = len(rows)
        tick = self._tick[rows]
        lot = self._lot[rows]
        in_ticks = np.maximum(theo, 0.0) * 100.0 / tick

        noise = rng.random(n) < 0.2
        spread = (
            1
            + np.floor(self._relative_spread[rows] * in_ticks).astype(np.int64)
            + np.floor(np.minimum(wing, 8.0)).astype(np.int64)
            + noise
        )
        # bid <= theoretical < ask on the grid, never below one tick, never crossed.
        bid = np.maximum(np.floor(in_ticks).astype(np.int64) - (spread - 1) // 2, 1)
        ask = bid + spread

        depth_mean = _between(self._depth_lots[rows], liquidity)
        level_lots = rng.geometric(1.0 / depth_mean[:, None], size=(n, 2 * DEPTH_LEVELS))
        level_orders = 1 + np.floor(
            rng.random((n, 2 * DEPTH_LEVELS)) * np.minimum(level_lots, _MAX_ORDERS_PER_LEVEL)
        ).astype(np.int64)
        gaps = 1 + (rng.random((n, DEPTH_LEVELS)) < 0.25)
        gaps[:, 0] = 0
        offsets = np.cumsum(gaps, axis=1)
        level_qty = level_lots * lot[:, None]
        bid_prices = (bid[:, None] - offsets) * tick[:, None]
        ask_prices = (ask[:, None] + offsets) * tick[:, None]

        if trade:
            ltp = np.clip(np.rint(in_ticks).astype(np.int64), bid, ask) * tick
            trade_lots = rng.geometric(1.0 / _between(self._trade_lots[rows], liquidity))
            last_qty = trade_lots * lot
            oi_change = rng.integers(-trade_lots, trade_lots + 1) * lot
            state.ltp[rows] = ltp
            state.last_qty[rows] = last_qty
            state.volume[rows] += last_qty
            derivative = self._is_derivative[rows]
            state.oi[rows[derivative]] = np.maximum(
                state.oi[rows[derivative]] + oi_change[derivative], 0
            )

        bids = list(
            map(
                tuple,
                map(
                    zip,
                    bid_prices.tolist(),
                    level_qty[:, :DEPTH_LEVELS].tolist(),
                    level_orders[:, :DEPTH_LEVELS].tolist(),
                ),
            )
        )
        asks = list(
            map(
                tuple,
                map(
                    zip,
                    ask_prices.tolist(),
                    level_qty[:, DEPTH_LEVELS:].tolist(),
                    level_orders[:, DEPTH_LEVELS:].tolist(),
                ),
            )
        )
        # A one-tick bid has no room below it: drop the levels that would be at or under zero.
        for i in np.flatnonzero(bid_prices[:, -1] <= 0).tolist():
            bids[i] = tuple(level for level in bids[i] if level[0] > 0)

        return list(
            map(
                Tick._make,
                zip(
                    self._tokens[rows].tolist(),
                    state.ltp[rows].tolist(),
                    (bid * tick).tolist(),
                    (ask * tick).tolist(),
                    level_qty[:, 0].tolist(),
                    level_qty[:, DEPTH_LEVELS].tolist(),
                    state.volume[rows].tolist(),
                    state.oi[rows].tolist(),
                    repeat(ts_ns, n),
                    state.last_qty[rows].tolist(),
                    bids,
                    asks,
                    state.close[rows].tolist(),
                    strict=True,
                ),
            )
        )


def _between(
    wing_and_atm: npt.NDArray[np.float64], liquidity: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return wing_and_atm[:, 0] + (wing_and_atm[:, 1] - wing_and_atm[:, 0]) * liquidity
