"""The facade as a strategy is given it (``ctx.api``): it reads everything the facade reads, and
acts only as the strategy and only while it runs.

An order it places is the strategy's own (source ``strategy``, its ``StrategyId``): asking for
another source (``risk``, whose orders pass a halt, or ``manual``) or another strategy's id is
refused in words, never passed on. It modifies and cancels only the strategy's own orders; once
the strategy has stopped it places and modifies nothing (a cancel of its own order is still
taken: it only takes risk off).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.domain.ids import InstrumentToken, OrderId
from engine.domain.orders import OrderRequest, OrderType, Product, Side, Validity
from engine.domain.origin import OrderSource, StrategyId, origin_label
from engine.domain.ticks import Quote, Tick
from engine.oms.outcome import Outcome
from engine.options.chain import ChainAnalytics
from engine.strategies.ports import Instruments, OrderView, StrategyApi, TradeView

if TYPE_CHECKING:
    from engine.strategies.strategy import StrategyContext

STOPPED = "strategy_stopped"
"""The check named on what a strategy asked for after it stopped."""
NOT_ITS_OWN = "strategy_origin"
"""The check named on an order refused for naming another source or strategy, or on a modify or
cancel of an order not the strategy's own."""


class OwnApi:
    """``StrategyApi`` for one running strategy (its context's ``api``)."""

    def __init__(self, ctx: StrategyContext, facade: StrategyApi) -> None:
        self._ctx = ctx
        self._facade = facade

    # -- reading: as the facade reads ---------------------------------------------------------------

    @property
    def instruments(self) -> Instruments:
        return self._facade.instruments

    def quote(self, token: InstrumentToken | int) -> Quote | None:
        return self._facade.quote(token)

    def tick(self, token: InstrumentToken | int) -> Tick | None:
        return self._facade.tick(token)

    def watch(self, tokens: Iterable[int]) -> None:
        self._facade.watch(tokens)

    def order(self, order_id: OrderId | str) -> OrderView | None:
        return self._facade.order(order_id)

    def orders(self) -> Sequence[OrderView]:
        return self._facade.orders()

    def trades(self) -> Sequence[TradeView]:
        return self._facade.trades()

    def option_chains(self) -> list[tuple[str, date]]:
        return self._facade.option_chains()

    def underlying_price(self, underlying: str) -> Decimal | None:
        return self._facade.underlying_price(underlying)

    def chain_analytics(
        self,
        underlying: str,
        expiry: date,
        *,
        now: datetime | None = None,
        rate: float | None = None,
    ) -> ChainAnalytics:
        return self._facade.chain_analytics(underlying, expiry, now=now, rate=rate)

    def live_session_problem(self) -> str | None:
        return self._facade.live_session_problem()

    def paper_problem(self) -> str | None:
        return self._facade.paper_problem()

    # -- acting: as the strategy, while it runs -----------------------------------------------------

    def place(self, request: OrderRequest) -> Outcome:
        stopped = self._ctx.refusal()
        if stopped is not None:
            return Outcome(False, None, stopped, check=STOPPED)
        other = self._other_origin(request.source, request.strategy)
        if other is not None:
            return Outcome(False, None, other, check=NOT_ITS_OWN)
        return self._facade.place(request)

    def place_order(
        self,
        token: InstrumentToken | int,
        side: Side | str,
        quantity: int,
        order_type: OrderType | str = OrderType.LIMIT,
        *,
        product: Product | str = Product.NRML,
        validity: Validity | str = Validity.DAY,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        tag: str = "",
        source: OrderSource | str = OrderSource.STRATEGY,
        strategy: StrategyId | str | None = None,
    ) -> Outcome:
        """As ``ctx.place``; ``source`` and ``strategy``, when given, must be the strategy's."""
        other = self._other_origin(source, self._ctx.strategy_id if strategy is None else strategy)
        if other is not None:
            return Outcome(False, None, other, check=NOT_ITS_OWN)
        return self._ctx.place(
            token,
            side,
            quantity,
            order_type,
            price=price,
            trigger_price=trigger_price,
            product=product,
            validity=validity,
            tag=tag,
        )

    def modify(
        self,
        order_id: OrderId | str,
        *,
        quantity: int | None = None,
        price: Decimal | int | str | None = None,
        trigger_price: Decimal | int | str | None = None,
        order_type: OrderType | str | None = None,
    ) -> Outcome:
        stopped = self._ctx.refusal()
        if stopped is not None:
            return Outcome(False, None, stopped, check=STOPPED)
        refused = self._not_its_order(order_id, "modify")
        if refused is not None:
            return refused
        return self._facade.modify(
            order_id,
            quantity=quantity,
            price=price,
            trigger_price=trigger_price,
            order_type=order_type,
        )

    def cancel(self, order_id: OrderId | str) -> Outcome:
        refused = self._not_its_order(order_id, "cancel")
        return self._facade.cancel(order_id) if refused is None else refused

    def _other_origin(self, source: OrderSource | str, strategy: str | None) -> str | None:
        mine = self._ctx.strategy_id
        if source == OrderSource.STRATEGY and strategy == mine:
            return None
        try:
            asked = origin_label(
                OrderSource(source), None if strategy is None else StrategyId(strategy)
            )
        except ValueError:
            asked = repr(source)
        return f"strategy {mine} places orders only as itself (strategy {mine}), not as {asked}"

    def _not_its_order(self, order_id: OrderId | str, what: str) -> Outcome | None:
        """A refusal for an order of someone else's (None for its own, or one the book does not
        hold: the facade says so)."""
        order = self._facade.order(order_id)
        if order is None or order.strategy == self._ctx.strategy_id:
            return None
        mine = self._ctx.strategy_id
        whose = origin_label(order.source, order.strategy)
        return Outcome(
            False,
            order.order_id,
            f"strategy {mine} may {what} only its own orders; {order.order_id} is {whose}'s",
            check=NOT_ITS_OWN,
        )
