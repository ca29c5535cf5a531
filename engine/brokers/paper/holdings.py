"""What the paper venue holds for the account, by instrument, product and owning strategy.

Every order names the strategy it belongs to (None: the trader's own, a script's, the venue's
intraday square-off); the venue keeps each owner's net units apart, so that what it closes by
itself at expiry (``engine.brokers.paper.settlement``) goes back to each owner in an order of
its own and closes that owner's position in the owner's own accounts. The account's net of an
instrument and product is the sum over its owners: the intraday square-off and the exchange's
settlement work on that.

At a restart the holdings come from the journal: each fill of this desk counted for its order's
strategy; what the position book holds beyond the fills (nothing, on a paper book) is the
account's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine.brokers.paper.resting import Resting
from engine.domain.events import OrderFilled
from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.orders import Product
from engine.domain.origin import StrategyId

Owner = StrategyId | None
"""Whose a holding is: a strategy, or None for orders of no strategy."""
HoldingKey = tuple[InstrumentToken, Product, Owner]
AccountKey = tuple[InstrumentToken, Product]


class Holdings:
    """Net units held per (instrument, product, owner), and the owner of each order that may
    still fill at the venue."""

    def __init__(self) -> None:
        self.nets: dict[HoldingKey, int] = {}
        self._owner_of: dict[OrderId, Owner] = {}
        """Orders the venue may still fill -> their strategy (forgotten once they end)."""

    def working(self, order_id: OrderId, owner: Owner) -> None:
        """An order the venue took (or took back at a restart): its fills are ``owner``'s."""
        self._owner_of[order_id] = owner

    def ended(self, order_id: OrderId) -> None:
        """The order can fill no more."""
        self._owner_of.pop(order_id, None)

    def filled(self, order: Resting, quantity: int) -> None:
        """``quantity`` units of ``order`` filled (its ``filled`` counts them already)."""
        key = (order.token, order.product, self._owner_of.get(order.order_id))
        self.nets[key] = self.nets.get(key, 0) + quantity * order.side.sign
        if order.remaining == 0:
            self.ended(order.order_id)

    def account(self) -> dict[AccountKey, int]:
        """The account's net units of each instrument and product (every owner's together)."""
        nets: dict[AccountKey, int] = {}
        for (token, product, _owner), net in self.nets.items():
            nets[(token, product)] = nets.get((token, product), 0) + net
        return nets

    def restore(self, nets: Mapping[HoldingKey, int]) -> None:
        self.nets.update(nets)

    def restore_account(self, nets: Mapping[AccountKey, int]) -> None:
        """Nets known only by instrument and product: held by no strategy."""
        for (token, product), net in nets.items():
            self.nets[(token, product, None)] = net


def holdings_from_journal(
    account: Mapping[AccountKey, int],
    fills: Iterable[OrderFilled],
    owners: Mapping[OrderId, StrategyId],
) -> dict[HoldingKey, int]:
    """The venue's holdings at a restart: ``fills`` (this desk's, from the journal) counted for
    their orders' strategies (``owners``; an order not there is of no strategy), and whatever of
    the ``account``'s nets (this desk's position book) the fills do not explain held by no
    strategy, so the account's nets are exactly ``account``."""
    nets: dict[HoldingKey, int] = {}
    explained: dict[AccountKey, int] = {}
    for fill in fills:
        signed = fill.quantity * fill.side.sign
        key = (fill.token, fill.product, owners.get(fill.order_id))
        nets[key] = nets.get(key, 0) + signed
        explained[(fill.token, fill.product)] = (
            explained.get((fill.token, fill.product), 0) + signed
        )
    for (token, product), net in account.items():
        rest = net - explained.pop((token, product), 0)
        if rest:
            nets[(token, product, None)] = nets.get((token, product, None), 0) + rest
    for (token, product), net in explained.items():
        # Fills of a position the book does not hold: the book is what the account holds.
        if net:
            nets[(token, product, None)] = nets.get((token, product, None), 0) - net
    return nets
