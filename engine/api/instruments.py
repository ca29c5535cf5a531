"""The instruments the desk knows, read-only: what panels and scripts look up and search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from engine.domain.instruments import Exchange, Instrument, InstrumentType
from engine.marketdata.instrument_registry import ChainRow, InstrumentRegistry, UnknownInstrument

__all__ = ["ChainRow", "InstrumentsView", "UnknownInstrument"]


class InstrumentsView:
    """A window on the engine's instrument registry with no way to change it."""

    __slots__ = ("_registry",)

    def __init__(self, registry: InstrumentRegistry) -> None:
        self._registry = registry

    def get(self, token: int) -> Instrument:
        """The instrument of ``token``; ``UnknownInstrument`` if the desk does not list it."""
        return self._registry.get(token)

    def find(self, token: int) -> Instrument | None:
        return self._registry.find(token)

    def by_symbol(self, exchange: Exchange | str, tradingsymbol: str) -> Instrument | None:
        return self._registry.by_symbol(exchange, tradingsymbol)

    def underlyings(self) -> list[str]:
        return self._registry.underlyings()

    def expiries(self, underlying: str) -> list[date]:
        return self._registry.expiries(underlying)

    def chain(self, underlying: str, expiry: date) -> list[ChainRow]:
        return self._registry.chain(underlying, expiry)

    def search(
        self,
        text: str = "",
        *,
        underlying: str | None = None,
        expiry: date | None = None,
        strike: int | None = None,
        instrument_type: InstrumentType | None = None,
        limit: int = 50,
    ) -> list[Instrument]:
        """Instruments whose symbol or name contains ``text``, best match first (filters first;
        ``strike`` in paise, as instruments carry it)."""
        return self._registry.search(
            text,
            underlying=underlying,
            expiry=expiry,
            strike=strike,
            instrument_type=instrument_type,
            limit=limit,
        )

    def __len__(self) -> int:
        return len(self._registry)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._registry)

    def __contains__(self, token: object) -> bool:
        return token in self._registry
