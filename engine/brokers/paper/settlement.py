"""Expiry settlement at the paper venue: a future or an index option still held when its expiry
day's F&O close has passed is closed by the venue at its final settlement price, as the clearing
corporation settles it (nse_market.md §3.1, options_math.md "Contract facts").

- Index futures and options are cash-settled at the underlying index's closing price on the
  expiry day: a future at that price, an option at its intrinsic value, max(S - K, 0) for a call
  and max(K - S, 0) for a put, exact to the paisa (0: it expired out of the money). NSE takes the
  index's VWAP of the last half hour; the venue takes the index's last price at its first clock
  beat at or after the close (the simulated index ticks up to its close).
- A desk that was not running at the close settles at its next start: at the previous close of
  the index's first quote of a later day (or, later the same day, at the index's last price),
  and the order says which price it took. With no price of the index the position is left open
  and the trader told once; every beat tries again.
- The venue sends its own closing order (source BROKER, a square-off) for each owner of the
  holding, a strategy or none (``engine.brokers.paper.holdings``), carrying that owner's
  strategy id, so the strategy hears it and its P&L closes in its own accounts; each is filled
  at once at the settlement price, marked ``OrderFilled.settles``.
- The exchange settles the account's net, not each owner's: the charge model charges the
  settled units only the exercise STT of an in-the-money long option
  (``engine.oms.charging.settlement_charges``), and the units by which owners on the other side
  of the account's net offset each other are filled apart, charged nothing. The account pays
  what one order of its net would pay (to the rupee, unless several owners share the settled
  units: each one's STT is then rounded on its own fill).
  Orders still resting on an expired contract are cancelled, in words.
- Never twice: the fills are journaled like every fill and leave every owner's net flat; at a
  restart the venue's holdings come from the journal.

Only the paper venue settles here. A live broker settles on its side and reports the result
(its positions reconcile the book). Stock futures and options settle by delivery of shares,
which the paper venue does not do: it has no index price for them and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from engine.brokers.paper.holdings import HoldingKey, Owner
from engine.brokers.paper.resting import packaged_expiry_close
from engine.core.clock import Clock, ist_date_of
from engine.domain.charges import Charges
from engine.domain.events import EngineMessage, Severity
from engine.domain.ids import InstrumentToken
from engine.domain.instruments import Instrument, InstrumentType
from engine.domain.orders import OrderRequest, OrderType, Product, Side
from engine.domain.origin import OrderSource
from engine.domain.ticks import Tick
from engine.domain.values import Paise

IndexQuote = Callable[[str], Tick | None]
"""An underlying's name -> the last quote of its index (None: no quote, or not an index)."""

SETTLEMENT_TAG = "expiry settlement"
"""The tag of the venue's settlement orders (within Kite's 20 characters)."""

_AT_THE_CLOSE = timedelta(minutes=1)
"""An index quote this soon after the expiry close is its close (the beat comes each second)."""
_NOT_YET = object()


@dataclass(frozen=True, slots=True)
class Settlement:
    """One owner's holding of a contract to settle now: the venue's closing order (in the
    owner's name), filled at ``price``."""

    request: OrderRequest
    price: Paise
    words: str
    """What the order's status says: the index's price taken and the contract's value."""
    netted: int = 0
    """Units of the order that offset other owners' opposite holdings in the account: filled
    apart from the settled rest, charged nothing (the exchange settles only the account's net)."""

    @property
    def fills(self) -> list[tuple[int, Charges | None]]:
        """The order's fills as (quantity, charges): the units the exchange settles, priced by
        the order manager's charge model (None), then the netted units, charged nothing."""
        settled = self.request.quantity - self.netted
        return [(q, c) for q, c in ((settled, None), (self.netted, Charges())) if q > 0]


@dataclass(frozen=True, slots=True)
class _IndexPrice:
    paise: int
    words: str


class ExpirySettler:
    """Finds what the paper venue settles and cancels at expiry; the venue sends the events."""

    def __init__(
        self,
        instruments: Callable[[InstrumentToken], Instrument | None],
        index_quote: IndexQuote | None,
        clock: Clock,
        *,
        publish: Callable[[object], None] | None = None,
        expiry_close: Callable[[date], datetime] | None = None,
    ) -> None:
        self._instruments = instruments
        self._index_quote = index_quote
        self._clock = clock
        self._publish = publish
        self.expiry_close = expiry_close or packaged_expiry_close
        """An expiry day's F&O close by the desk's calendar (else the packaged one)."""
        self._close_of: dict[int, datetime | None] = {}
        """Each token's expiry close (None: it never expires), asked of the calendar once."""
        self._told: set[tuple[int, Product]] = set()

    def expired_orders(self, tokens: Iterable[int], now: datetime) -> list[tuple[int, str]]:
        """The tokens among ``tokens`` (those with resting orders) whose contract has expired
        by ``now``, each with the reason its orders are cancelled."""
        ended = []
        for token in tokens:
            expired = self._expired(InstrumentToken(token), now)
            if expired is not None:
                instrument, close = expired
                ended.append((token, f"cancelled at expiry: {instrument.expired_text(close)}"))
        return ended

    def due(self, holdings: Mapping[HoldingKey, int], now: datetime) -> list[Settlement]:
        """The settlements of the venue's ``holdings`` (by token, product and owner) whose
        contract has expired by ``now`` and whose index's settlement price is known: one per
        owner holding something."""
        held: dict[tuple[InstrumentToken, Product], list[tuple[Owner, int]]] = {}
        for (token, product, owner), net in holdings.items():
            if net != 0:
                held.setdefault((token, product), []).append((owner, net))
        settlements = []
        for (token, product), owners in held.items():
            if (expired := self._expired(token, now)) is None:
                continue
            instrument, close = expired
            index = self._index_price(instrument, close)
            if index is None:
                self._tell_no_price(instrument, product, close)
                continue
            value = settlement_value(instrument, index.paise)
            words = f"settled at expiry: {index.words}; {_value_words(instrument, value)}"
            for owner, net, netted in netted_shares(owners):
                request = OrderRequest(
                    token=token,
                    side=Side.SELL if net > 0 else Side.BUY,
                    quantity=abs(net),
                    order_type=OrderType.LIMIT,
                    product=product,
                    price=value,
                    tag=SETTLEMENT_TAG,
                    source=OrderSource.BROKER,
                    strategy=owner,
                    square_off=True,
                )
                said = words + (_netted_words(netted, abs(net)) if netted else "")
                settlements.append(Settlement(request, value, said, netted))
        return settlements

    def _expired(self, token: InstrumentToken, now: datetime) -> tuple[Instrument, datetime] | None:
        close = self._close_of.get(token, _NOT_YET)
        if close is _NOT_YET:
            instrument = self._instruments(token)
            if instrument is None:
                return None  # not known (yet): asked again at the next beat
            close = None if instrument.expiry is None else self.expiry_close(instrument.expiry)
            self._close_of[token] = close
        if not isinstance(close, datetime) or now < close:
            return None
        instrument = self._instruments(token)
        return None if instrument is None else (instrument, close)

    def _index_price(self, instrument: Instrument, close: datetime) -> _IndexPrice | None:
        """The index's price the contract settles at, with words saying which price it is."""
        name = instrument.underlying
        tick = None if self._index_quote is None else self._index_quote(name)
        if tick is None or tick.ltp <= 0:
            return None
        quoted = ist_date_of(tick.ts_ns)
        expiry_day = close.date()
        if quoted.date() < expiry_day:
            return None  # the index has not been quoted since before the expiry day
        if quoted.date() == expiry_day:
            if quoted <= close + _AT_THE_CLOSE:
                return _IndexPrice(tick.ltp, f"{name} closed at {money(tick.ltp)}")
            return _IndexPrice(
                tick.ltp,
                f"{name} at {money(tick.ltp)}, its last price at {quoted:%H:%M} (the desk was "
                f"not running at the {close:%H:%M} close)",
            )
        if tick.close <= 0:
            return None
        return _IndexPrice(
            tick.close,
            f"{name}'s previous close {money(tick.close)}, as quoted on {_day(quoted)} (the "
            f"desk was not running at the {close:%H:%M} close on {_day(close)})",
        )

    def _tell_no_price(self, instrument: Instrument, product: Product, close: datetime) -> None:
        if self._publish is None or (instrument.token, product) in self._told:
            return
        self._told.add((instrument.token, product))
        text = (
            f"{instrument.expired_text(close)}, but the paper venue has no price of the "
            f"{instrument.underlying} index to settle it at (a stock's futures and options "
            "settle by delivery, which the paper venue does not do): the position stays open "
            "at its last quote and settles once the venue has a price of the index"
        )
        self._publish(EngineMessage(self._clock.time_ns(), Severity.WARNING, text, "paper"))


def settlement_value(instrument: Instrument, index: int) -> Paise:
    """A contract's final settlement price, paise, at the index price ``index``: a future at the
    index, an option at its intrinsic value (0 out of the money)."""
    strike = instrument.strike or 0
    if instrument.instrument_type is InstrumentType.CE:
        return Paise(max(index - strike, 0))
    if instrument.instrument_type is InstrumentType.PE:
        return Paise(max(strike - index, 0))
    return Paise(index)


def netted_shares(owners: Iterable[tuple[Owner, int]]) -> list[tuple[Owner, int, int]]:
    """Each owner's net holding of one contract with the units of it that offset other owners'
    opposite holdings (owner, net, netted), the account's own (None) first, then by strategy.

    The exchange settles the account's net: owners on its side share it, the largest holdings
    first (so the fewest fills carry the charge); the rest of their units, and every unit of
    the owners on the other side, offset each other."""
    owners = list(owners)
    account = sum(net for _owner, net in owners)
    side = 1 if account > 0 else -1
    left = abs(account)
    netted: dict[Owner, int] = {}
    for owner, net in sorted(owners, key=lambda held: (-held[1] * side, held[0] or "")):
        settled = min(left, abs(net)) if account and net * side > 0 else 0
        left -= settled
        netted[owner] = abs(net) - settled
    return [
        (owner, net, netted[owner])
        for owner, net in sorted(owners, key=lambda held: (held[0] is not None, held[0] or ""))
    ]


def money(paise: int) -> str:
    """Rupees for the trader: ₹25,942.85."""
    return f"₹{Decimal(paise) / 100:,.2f}"


def _value_words(instrument: Instrument, value: int) -> str:
    if not instrument.is_option:
        return "the future settles at the index"
    strike = instrument.strike or 0
    name = (
        f"{strike // 100 if strike % 100 == 0 else money(strike)[1:]} {instrument.instrument_type}"
    )
    if value == 0:
        return f"{name} expired worthless (intrinsic {money(0)})"
    return f"{name} intrinsic {money(value)}"


def _netted_words(netted: int, quantity: int) -> str:
    return (
        f"; {netted} of its {quantity} units offset the account's opposite holding of the "
        "contract: the exchange does not settle them, nothing is charged on them"
    )


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"
