"""What the simulated NSE market lists: indices, their futures and option chains, a few stocks.

The static facts come from the universe file (sim_spec), expiries from the market calendar,
symbols follow Kite's formats (sim_symbols). Beside the ``Instrument``s the universe keeps one
numpy array per contract fact, so the market reprices every instrument in a few vector operations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from engine.core.clock import IST
from engine.domain.freeze import FreezeTable, load_freeze_table
from engine.domain.instruments import Exchange, Instrument, InstrumentType, Segment, make_token
from engine.domain.values import Paise
from engine.marketdata.sim_config import SimulatedMarketConfig
from engine.marketdata.sim_spec import IndexSpec, UniverseSpec
from engine.marketdata.sim_symbols import (
    equity_tick_size,
    future_symbol,
    option_symbol,
)

KIND_INDEX, KIND_STOCK, KIND_FUTURE, KIND_OPTION = range(4)


class ExpiryCalendar(Protocol):
    """The part of ``engine.calendar.MarketCalendar`` the simulated market uses."""

    def weekly_expiries(
        self, after: date, count: int, *, provisional: bool = False
    ) -> list[date]: ...

    def monthly_expiries(
        self, after: date, count: int, *, provisional: bool = False
    ) -> list[date]: ...

    def is_open(self, at: datetime, segment: str = "FO") -> bool: ...

    def expiry_close(self, day: date) -> datetime: ...


# ---------------------------------------------------------------------------------- universe


@dataclass(frozen=True, slots=True)
class Process:
    """One underlying's price process (an index or a stock)."""

    underlying: str
    start_price: float
    annual_vol: float
    market_loading: float
    atm_iv: float = math.nan
    skew: float = 0.0
    curvature: float = 0.0
    activity: float = 0.0
    option_oi_lots: int = 0
    future_oi_lots: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class SimUniverse:
    """Instruments plus their contract facts as arrays aligned with ``instruments``."""

    instruments: tuple[Instrument, ...]
    processes: tuple[Process, ...]
    process_of: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    expiry_ns: npt.NDArray[np.int64]
    """The calendar's F&O close on the expiry day, epoch nanoseconds; 0 where there is no expiry."""
    expiry_rank: npt.NDArray[np.int64]
    """0 for the underlying's nearest option expiry, 1 for the next ...; 0 for others."""
    strike: npt.NDArray[np.float64]
    """Rupees; NaN where there is no strike."""
    is_call: npt.NDArray[np.bool_]
    tick: npt.NDArray[np.int64]
    """Paise."""
    lot: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.instruments)


def build_universe(
    spec: UniverseSpec,
    config: SimulatedMarketConfig,
    calendar: ExpiryCalendar,
    now: datetime,
    freeze: FreezeTable | None = None,
) -> SimUniverse:
    """List the contracts alive at ``now``.

    Strikes centre on each index's start price, its previous close: like NSE, the listing does
    not depend on where the day opens, so every seed sees the same contracts.
    """
    freeze = freeze if freeze is not None else load_freeze_table()
    builder = _Builder(calendar.expiry_close)

    for process_no, index in enumerate(spec.indices):
        builder.processes.append(
            Process(
                underlying=index.underlying,
                start_price=index.start_price,
                annual_vol=index.annual_vol,
                market_loading=index.market_loading,
                atm_iv=index.atm_iv,
                skew=index.skew,
                curvature=index.curvature,
                activity=index.activity,
                option_oi_lots=index.option_oi_lots,
                future_oi_lots=index.future_oi_lots,
            )
        )
        builder.add(
            Instrument(
                token=make_token(index.exchange_token, Segment.INDICES),
                exchange=Exchange.NSE,
                segment=Segment.INDICES,
                tradingsymbol=index.tradingsymbol,
                name=index.name,
                instrument_type=InstrumentType.INDEX,
                underlying=index.underlying,
                tick_size=index.tick_size,
                lot_size=0,  # as in Kite's master: an index is never traded
                exchange_token=index.exchange_token,
            ),
            process_no,
            KIND_INDEX,
        )
        _add_index_derivatives(builder, index, process_no, config, calendar, now, freeze)

    for stock in spec.stocks:
        process_no = len(builder.processes)
        builder.processes.append(
            Process(stock.symbol, stock.start_price, stock.annual_vol, stock.market_loading)
        )
        builder.add(
            Instrument(
                token=make_token(stock.exchange_token, Segment.NSE),
                exchange=Exchange.NSE,
                segment=Segment.NSE,
                tradingsymbol=stock.symbol,
                name=stock.name,
                instrument_type=InstrumentType.EQ,
                underlying=stock.symbol,
                tick_size=equity_tick_size(stock.start_price),
                lot_size=1,
                exchange_token=stock.exchange_token,
            ),
            process_no,
            KIND_STOCK,
        )
    return builder.build()


def _add_index_derivatives(
    builder: _Builder,
    index: IndexSpec,
    process_no: int,
    config: SimulatedMarketConfig,
    calendar: ExpiryCalendar,
    now: datetime,
    freeze: FreezeTable,
) -> None:
    today = now.astimezone(IST).date()
    freeze_quantity = freeze.for_underlying(index.underlying)

    for expiry in _alive(
        calendar.monthly_expiries, calendar.expiry_close, today, now, config.futures_months
    ):
        builder.add_derivative(
            index,
            process_no,
            KIND_FUTURE,
            future_symbol(index.underlying, expiry),
            Segment.NFO_FUT,
            InstrumentType.FUT,
            index.future_tick_size,
            expiry,
            None,
            freeze_quantity,
        )

    monthly = _alive(
        calendar.monthly_expiries,
        calendar.expiry_close,
        today,
        now,
        config.monthly_expiries + config.extra_expiries,
    )
    weekly = (
        _alive(calendar.weekly_expiries, calendar.expiry_close, today, now, config.weekly_expiries)
        if index.weekly_options
        else []
    )
    step = config.strike_steps.get(index.underlying, index.strike_step)
    atm = round(index.start_price / step) * step
    strikes = [
        Paise((atm + offset * step) * 100)
        for offset in range(-config.strikes_each_side, config.strikes_each_side + 1)
        if atm + offset * step > 0
    ]
    for rank, expiry in enumerate(sorted(set(monthly) | set(weekly))):
        # A weekly expiry that is also the month's last is listed in the monthly format.
        is_monthly = expiry in monthly or _month_last(calendar, expiry)
        for strike in strikes:
            for kind in (InstrumentType.CE, InstrumentType.PE):
                builder.add_derivative(
                    index,
                    process_no,
                    KIND_OPTION,
                    option_symbol(index.underlying, expiry, strike, kind, monthly=is_monthly),
                    Segment.NFO_OPT,
                    kind,
                    index.option_tick_size,
                    expiry,
                    strike,
                    freeze_quantity,
                    rank,
                )


def _alive(
    listing: Callable[..., list[date]],
    expiry_close: Callable[[date], datetime],
    today: date,
    now: datetime,
    count: int,
) -> list[date]:
    """The next ``count`` expiries still trading at ``now`` (today's until the F&O close).

    Far expiries may fall in a year whose holidays are not published yet: the simulated market
    lists them provisionally (weekdays less the fixed national holidays) rather than refusing to
    start. Real brokers' instrument masters carry the exchange's own dates.
    """
    if count == 0:
        return []
    listed = listing(today, count, provisional=True)
    if listed and expiry_close(listed[0]) <= now:
        # Today's expiry has closed: one more keeps ``count`` alive.
        listed = listing(today, count + 1, provisional=True)
    return [d for d in listed if expiry_close(d) > now][:count]


DERIVATIVE_MARK = 1 << 38
"""Set in every simulated derivative's exchange token: above every index's and stock's (NSE's
fit in 24 bits). The whole token stays below 2**53, exact in a chart page's numbers too."""
_EPOCH = date(2000, 1, 1)
_KIND_BITS = {InstrumentType.FUT: 0, InstrumentType.CE: 1, InstrumentType.PE: 2}
_STRIKE_BITS, _INDEX_BITS, _DAY_BITS = 17, 3, 16  # with the type's 2: 38 bits below the mark


def derivative_exchange_token(
    index_no: int, expiry: date, instrument_type: InstrumentType, strike: Paise | None
) -> int:
    """A simulated future's or option's exchange token, made from the contract itself: its
    index (its place in the universe file), expiry, type and strike.

    A journal holds positions by token, and the market's listing is made again at every start:
    a token numbered in listing order moved to another contract once an expiry dropped out of
    the listing. Made from the contract, a token names the same contract on every day it is
    listed, and no other contract ever. Raises ``ValueError`` for a contract the token cannot
    hold (a strike in part rupees or above 1,31,071, a ninth index, an expiry before 2000).
    """
    rupees, part = divmod(int(strike or 0), 100)
    day = (expiry - _EPOCH).days
    if part or not 0 <= rupees < 1 << _STRIKE_BITS:
        raise ValueError(f"a simulated strike must be whole rupees below 131072, got {strike}")
    if not 0 <= index_no < 1 << _INDEX_BITS or not 0 <= day < 1 << _DAY_BITS:
        raise ValueError(f"no simulated token for index {index_no} expiring {expiry}")
    kind = _KIND_BITS[instrument_type]
    return (
        DERIVATIVE_MARK
        | day << (_INDEX_BITS + 2 + _STRIKE_BITS)
        | index_no << (2 + _STRIKE_BITS)
        | kind << _STRIKE_BITS
        | rupees
    )


_KIND_OF_BITS = {bits: kind for kind, bits in _KIND_BITS.items()}
_SEGMENT_OF_KIND = {
    InstrumentType.FUT: Segment.NFO_FUT,
    InstrumentType.CE: Segment.NFO_OPT,
    InstrumentType.PE: Segment.NFO_OPT,
}


def former_contract(
    spec: UniverseSpec, calendar: ExpiryCalendar, token: int, now: datetime
) -> Instrument | None:
    """The simulated future or option ``token`` names, read from the token itself, if its
    expiry close has passed by ``now``; None for any other token (a listed one, a live
    broker's, one that names no contract of the universe, or one not yet expired).

    A book keeps trading an expired contract's token in its orders and fills long after the
    listing drops it: this names it as its listing did, so history reads "NIFTY26N2425950CE",
    not a bare number. It is not listed (``listed`` False): never tradable."""
    exchange_token = token >> 8
    if not exchange_token & DERIVATIVE_MARK:
        return None
    rest = exchange_token & (DERIVATIVE_MARK - 1)
    rupees = rest & ((1 << _STRIKE_BITS) - 1)
    kind = _KIND_OF_BITS.get((rest >> _STRIKE_BITS) & 0b11)
    index_no = (rest >> (_STRIKE_BITS + 2)) & ((1 << _INDEX_BITS) - 1)
    day = rest >> (_STRIKE_BITS + 2 + _INDEX_BITS)
    if kind is None or index_no >= len(spec.indices) or day >= 1 << _DAY_BITS:
        return None
    index, expiry = spec.indices[index_no], date.fromordinal(_EPOCH.toordinal() + day)
    segment = _SEGMENT_OF_KIND[kind]
    if make_token(exchange_token, segment) != token or calendar.expiry_close(expiry) > now:
        return None
    if kind is InstrumentType.FUT:
        if rupees:
            return None
        strike, symbol, tick = None, future_symbol(index.underlying, expiry), index.future_tick_size
    else:
        strike = Paise(rupees * 100)
        monthly = _month_last(calendar, expiry)
        symbol = option_symbol(index.underlying, expiry, strike, kind, monthly=monthly)
        tick = index.option_tick_size
    return _derivative(
        index, exchange_token, segment, kind, symbol, tick, expiry, strike, None, listed=False
    )


def _month_last(calendar: ExpiryCalendar, expiry: date) -> bool:
    """Whether ``expiry`` is its month's last: its contracts take the monthly symbol format."""
    first = date(expiry.year, expiry.month, 1)
    return calendar.monthly_expiries(first, 1, provisional=True) == [expiry]


def _derivative(
    index: IndexSpec,
    exchange_token: int,
    segment: Segment,
    instrument_type: InstrumentType,
    tradingsymbol: str,
    tick_size: Paise,
    expiry: date,
    strike: Paise | None,
    freeze_quantity: int | None,
    *,
    listed: bool = True,
) -> Instrument:
    """An index's future or option as the simulated market lists it."""
    return Instrument(
        token=make_token(exchange_token, segment),
        exchange=Exchange.NFO,
        segment=segment,
        tradingsymbol=tradingsymbol,
        name=index.underlying,
        instrument_type=instrument_type,
        underlying=index.underlying,
        tick_size=tick_size,
        lot_size=index.lot_size,
        expiry=expiry,
        strike=strike,
        freeze_quantity=freeze_quantity,
        exchange_token=exchange_token,
        listed=listed,
    )


class _Builder:
    def __init__(self, expiry_close: Callable[[date], datetime]) -> None:
        self._expiry_close = expiry_close
        self.processes: list[Process] = []
        self._instruments: list[Instrument] = []
        self._rows: list[tuple[int, int, int, int, float, bool]] = []
        self._close_ns: dict[date, int] = {}

    def _expiry_ns(self, expiry: date) -> int:
        # Thousands of contracts share a handful of expiries: ask the calendar once for each.
        close_ns = self._close_ns.get(expiry)
        if close_ns is None:
            close_ns = int(self._expiry_close(expiry).timestamp()) * 1_000_000_000
            self._close_ns[expiry] = close_ns
        return close_ns

    def add(
        self,
        instr: Instrument,
        process_no: int,
        kind: int,
        expiry_rank: int = 0,
    ) -> None:
        expiry_ns = self._expiry_ns(instr.expiry) if instr.expiry is not None else 0
        strike = float(instr.strike) / 100 if instr.strike is not None else math.nan
        self._instruments.append(instr)
        self._rows.append(
            (
                process_no,
                kind,
                expiry_ns,
                expiry_rank,
                strike,
                instr.instrument_type is InstrumentType.CE,
            )
        )

    def add_derivative(
        self,
        index: IndexSpec,
        process_no: int,
        kind: int,
        tradingsymbol: str,
        segment: Segment,
        instrument_type: InstrumentType,
        tick_size: Paise,
        expiry: date,
        strike: Paise | None,
        freeze_quantity: int | None,
        expiry_rank: int = 0,
    ) -> None:
        # An index's derivatives share its process, numbered by the index's place in the file.
        exchange_token = derivative_exchange_token(process_no, expiry, instrument_type, strike)
        instr = _derivative(
            index,
            exchange_token,
            segment,
            instrument_type,
            tradingsymbol,
            tick_size,
            expiry,
            strike,
            freeze_quantity,
        )
        self.add(instr, process_no, kind, expiry_rank)

    def build(self) -> SimUniverse:
        process_of, kind, expiry_ns, expiry_rank, strike, is_call = zip(*self._rows, strict=True)
        return SimUniverse(
            instruments=tuple(self._instruments),
            processes=tuple(self.processes),
            process_of=np.array(process_of, dtype=np.int64),
            kind=np.array(kind, dtype=np.int8),
            expiry_ns=np.array(expiry_ns, dtype=np.int64),
            expiry_rank=np.array(expiry_rank, dtype=np.int64),
            strike=np.array(strike, dtype=np.float64),
            is_call=np.array(is_call, dtype=np.bool_),
            tick=np.array([i.tick_size for i in self._instruments], dtype=np.int64),
            lot=np.array([i.lot_size for i in self._instruments], dtype=np.int64),
        )
