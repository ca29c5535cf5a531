"""Positions as the trader reads them: quantities, average, P&L and charges, rupees."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from engine.api.parts import Service
from engine.api.snapshots import PositionSnapshot, StrategyPnl
from engine.domain.origin import attribution
from engine.domain.positions import Position, PositionBook
from engine.domain.values import to_rupees


class PositionService(Service):
    def positions(self) -> list[PositionSnapshot]:
        return [self._position_snapshot(p) for p in self._positions.all()]

    def day_pnl(self) -> Decimal:
        """The desk's day P&L across every position, net of charges (the status bar's Day MTM)."""
        return sum((p.day_pnl - p.day_charges for p in self.positions()), Decimal(0))

    def strategy_pnl(self) -> list[StrategyPnl]:
        """P&L of each strategy (orders of no strategy: of their source, ``manual``, ``api``, ...)
        from the fills of the day the journal holds, marked at the last prices. Positions carried
        in from earlier days belong to no strategy and are not in these figures."""
        books: dict[str, PositionBook] = {}
        fills: Counter[str] = Counter()
        for fill in self._orders.fills:
            order = self._orders.orders.get(fill.order_id)
            owner = attribution(order.source, order.strategy) if order else "unknown"
            books.setdefault(owner, PositionBook(self._positions.today)).apply(fill)
            fills[owner] += 1
        rows = []
        for owner, book in sorted(books.items()):
            realised = unrealised = charges = Decimal(0)
            for position in book.all():
                tick = self._quotes.get(position.token)
                realised += position.realised
                charges += position.charges
                if position.net_quantity and tick is not None:
                    unrealised += position.pnl(tick.ltp) - position.realised
            rows.append(
                StrategyPnl(
                    owner,
                    realised,
                    unrealised,
                    charges,
                    realised + unrealised - charges,
                    len(book.open()),
                    fills[owner],
                )
            )
        return rows

    def _position_snapshot(self, p: Position) -> PositionSnapshot:
        tick = self._quotes.get(p.token)
        ltp = None if tick is None else tick.ltp
        mark = ltp if ltp is not None else 0
        pnl = p.pnl(mark) if ltp is not None or p.net_quantity == 0 else p.realised
        unrealised = pnl - p.realised
        return PositionSnapshot(
            self.instruments.get(p.token),
            p.product,
            p.net_quantity,
            p.overnight_quantity,
            p.average_price,
            None if ltp is None else to_rupees(ltp),
            p.buy_quantity,
            p.sell_quantity,
            p.realised,
            unrealised,
            pnl,
            p.charges,
            pnl - p.charges,
            p.day_pnl(mark, tick.close or mark) if tick is not None else p.realised,
            p.day_charges,
        )
