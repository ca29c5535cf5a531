"""The account's net position in a contract, whoever placed it (a portfolio, the kill switch's
square-off, the trader in another window): what a portfolio's exit may close, no more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from engine.domain.instruments import Instrument
from engine.domain.orders import Product


class _Held(Protocol):
    @property
    def instrument(self) -> Instrument: ...
    @property
    def product(self) -> Product: ...
    @property
    def net_quantity(self) -> int: ...


@runtime_checkable
class _Positions(Protocol):
    """The facade's positions (the engine's ``Api``), which ``StrategyApi`` does not declare."""

    def positions(self) -> Sequence[_Held]: ...


def net_position(api: object, token: int, product: Product) -> int | None:
    """Net units of ``token`` in ``product`` the account holds (+ long, − short); None when
    ``api`` does not tell positions."""
    if not isinstance(api, _Positions):
        return None
    return sum(
        p.net_quantity
        for p in api.positions()
        if int(p.instrument.token) == token and p.product is product
    )
