"""Positions as the trader reads them: quantities, average, P&L and charges, rupees.

A position whose token today's listing no longer has (an expired contract after a restart, a
symbol the broker dropped) is still the trader's: it is shown by what the journal knows of it,
its token, at its last price if the desk has one and unpriced otherwise, and the trader is told
once that it is no longer listed and is left out of Greeks and margin."""

from __future__ import annotations

import logging
from collections import Counter
from decimal import Decimal

from engine.api.parts import EngineParts, Service
from engine.api.snapshots import PositionSnapshot, StrategyPnl
from engine.domain.events import EngineMessage, Severity
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, unlisted
from engine.domain.origin import attribution
from engine.domain.positions import Position, PositionBook
from engine.domain.values import to_rupees
from engine.marketdata.quotes import previous_close

log = logging.getLogger(__name__)


class PositionService(Service):
    def __init__(self, parts: EngineParts) -> None:
        super().__init__(parts)
        self._told_unlisted: set[int] = set()

    def instrument_of(self, token: InstrumentToken, *, held: bool = True) -> Instrument:
        """The listed instrument of a position (or an expired one its market still names, which
        the paper venue settles), or a stand-in (``unlisted``) for one no one can name, the
        trader told the first time one that is ``held`` is met (a position closed before its
        contract expired is only history: nothing to tell)."""
        instrument = self.instruments.find(token) or self.instruments.find_former(token)
        if instrument is not None:
            return instrument  # listed, or an expired contract its market can still name
        if held and token not in self._told_unlisted:
            self._told_unlisted.add(token)
            paper = self._parts.session_problem is None  # orders go to the paper venue
            why = (
                "it expired, or it was traded before DalalDesk named the paper market's "
                "contracts by their terms, so its earlier number is not today's"
                if paper
                else "it expired, or it is not in today's instruments"
            )
            text = (
                f"A position in instrument token {token} is in the book, but that contract is no "
                f"longer listed ({why}). It is shown by its token, at its last price if the desk "
                "has one, else unpriced; Greeks, payoff and margin leave it out, and its "
                "realised P&L is kept. " + ("" if paper else "Check it with your broker.")
            ).rstrip()
            log.warning("%s", text)
            now = self._parts.now()
            ts_ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
            self._bus.publish(EngineMessage(ts_ns, Severity.WARNING, text, "positions"))
        return unlisted(token)

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
        if tick is not None:
            day_pnl = p.day_pnl(mark, previous_close(tick, self._positions.today) or mark)
        else:
            # Unpriced: today's trades count at their own prices once they net out, as the
            # daily-loss breaker counts them (the realised P&L of earlier days is not today's).
            day_open = p.day_buy_quantity - p.day_sell_quantity
            day_pnl = to_rupees(p.day_sell_value - p.day_buy_value if day_open == 0 else 0)
        return PositionSnapshot(
            self.instrument_of(p.token, held=bool(p.net_quantity)),
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
            day_pnl,
            p.day_charges,
        )
