"""Which instruments make up each option chain, so a tick burst can be turned into snapshots.

The layout is worked out once from the instrument master (per session, or when it reloads);
on each coalesced tick burst the UI asks every layout for a :class:`ChainSnapshot` from the
quote cache and hands them all to :func:`engine.options.analyse_chains`::

    layouts = chain_layouts(registry.instruments())
    snapshots = [
        layout.snapshot(quotes.get, years=years_to_expiry(now, layout.expiry), rate=rate)
        for layout in layouts
    ]
    analytics = analyse_chains(snapshots)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.ticks import Tick
from engine.options.chain import ChainSnapshot

__all__ = ["ChainLayout", "chain_layouts"]

QuoteLookup = Callable[[InstrumentToken], Tick | None]
"""The latest tick of an instrument, or None (``QuoteCache.get``)."""


@dataclass(frozen=True, slots=True)
class ChainLayout:
    """One underlying's options of one expiry, by strike, and the future expiring with them."""

    underlying: str
    expiry: date
    exchange: str
    strikes: tuple[int, ...]
    """Paise, ascending."""
    calls: tuple[InstrumentToken | None, ...]
    """The call of each strike; None where only the put is listed."""
    puts: tuple[InstrumentToken | None, ...]
    future: InstrumentToken | None
    """The future of the same underlying and expiry, if one is listed (monthlies)."""

    def snapshot(self, quote: QuoteLookup, *, years: float, rate: float) -> ChainSnapshot:
        """The chain as the quote cache has it now."""
        return ChainSnapshot.from_ticks(
            self.strikes,
            [None if token is None else quote(token) for token in self.calls],
            [None if token is None else quote(token) for token in self.puts],
            years=years,
            rate=rate,
            future=None if self.future is None else quote(self.future),
        )


def chain_layouts(instruments: Iterable[Instrument]) -> list[ChainLayout]:
    """Every (exchange, underlying, expiry) option chain in ``instruments``, sorted that way."""
    options: dict[tuple[str, str, date], dict[int, dict[InstrumentType, InstrumentToken]]]
    options = defaultdict(lambda: defaultdict(dict))
    futures: dict[tuple[str, str, date], InstrumentToken] = {}
    for instr in instruments:
        if instr.expiry is None:
            continue
        key = (str(instr.exchange), instr.underlying, instr.expiry)
        if instr.instrument_type in (InstrumentType.CE, InstrumentType.PE):
            if instr.strike is None:
                raise ValueError(f"option {instr.tradingsymbol} has no strike")
            options[key][int(instr.strike)][instr.instrument_type] = instr.token
        elif instr.instrument_type is InstrumentType.FUT:
            futures[key] = instr.token
    layouts = []
    for key in sorted(options):
        by_strike = options[key]
        strikes = tuple(sorted(by_strike))
        exchange, underlying, expiry = key
        layouts.append(
            ChainLayout(
                underlying=underlying,
                expiry=expiry,
                exchange=exchange,
                strikes=strikes,
                calls=tuple(by_strike[k].get(InstrumentType.CE) for k in strikes),
                puts=tuple(by_strike[k].get(InstrumentType.PE) for k in strikes),
                future=futures.get(key),
            )
        )
    return layouts
