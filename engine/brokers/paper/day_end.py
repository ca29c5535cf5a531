"""Which orders resting at the paper venue the end of their trading day has ended: the exchange
cancels DAY orders still open when their session closes (IOC never rests; the venue takes no
AMO)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time

from engine.brokers.paper.resting import Resting
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument

DAY_END = "cancelled at the end of the trading day"


def closed_session_orders(
    resting: Mapping[int, Sequence[Resting]],
    instruments: Callable[[InstrumentToken], Instrument | None],
    session_open: Callable[[Instrument, datetime], bool],
    now: datetime,
) -> list[tuple[Resting, str]]:
    """The ``resting`` orders (by token) whose session has closed since they came, each with the
    reason it is cancelled.

    Orders rest only while their market is open, so a market closed at ``now`` has closed
    since. So has one that was closed at the start of today, for an order from an earlier
    day (no session spans midnight): that catches a desk whose clock beat missed the
    evening. A market kept open all the time (a desk run always open) never closes, and
    its orders stay."""
    today = now.date()
    midnight = datetime.combine(today, time.min, now.tzinfo)
    ended_orders = []
    for token, book in resting.items():
        instrument = instruments(InstrumentToken(token))
        if instrument is None:
            continue
        ended = tuple(book)
        if session_open(instrument, now):
            ended = tuple(r for r in ended if r.day < today)
            if not ended or session_open(instrument, midnight):
                continue
        for order in ended:
            reason = (
                f"{DAY_END}: not filled by the {instrument.exchange} close of {order.day:%d %b %Y}"
            )
            ended_orders.append((order, reason))
    return ended_orders
