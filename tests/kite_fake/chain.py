"""An index and one weekly option chain on it, listed by the fake Kite as Kite lists them.

Rows of Kite's instruments master (kite_xts_apis.md §A.13): the index as ``EQ`` in segment
``INDICES`` (NIFTY 50 is token 256265, exchange token 1001), each option with ``name`` set to its
underlying, ``instrument_token = exchange_token << 8 | segment code`` (NFO 2, indices 9, §B.5) and
the tradingsymbol in Kite's formats (weekly ``NIFTY26D0824000CE``, the month's last expiry
``NIFTY26DEC24000CE``). The fake serves these rows after the official mock master, its OMS trades
them, and its ticker streams their prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tests.kite_fake.oms import FakeInstrument

NFO_SEGMENT = 2
INDICES_SEGMENT = 9
_WEEKLY_MONTHS = "123456789OND"


@dataclass(frozen=True)
class MasterRow:
    """One row of Kite's instruments master CSV, in its column order."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: Decimal
    expiry: date | None
    strike: Decimal
    tick_size: Decimal
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str

    def csv_line(self) -> str:
        return ",".join(
            (
                str(self.instrument_token),
                str(self.exchange_token),
                self.tradingsymbol,
                self.name,
                str(float(self.last_price)),
                "" if self.expiry is None else self.expiry.isoformat(),
                f"{self.strike:.1f}",
                str(self.tick_size),
                str(self.lot_size),
                self.instrument_type,
                self.segment,
                self.exchange,
            )
        )

    def traded(self, freeze_quantity: int | None = None) -> FakeInstrument:
        """The row as the fake OMS trades it."""
        return FakeInstrument(
            instrument_token=self.instrument_token,
            exchange=self.exchange,
            tradingsymbol=self.tradingsymbol,
            tick_size=self.tick_size,
            lot_size=max(1, self.lot_size),
            last_price=self.last_price,
            freeze_quantity=freeze_quantity,
        )


@dataclass(frozen=True)
class OptionChain:
    index: MasterRow
    expiry: date
    options: tuple[MasterRow, ...]

    @property
    def rows(self) -> tuple[MasterRow, ...]:
        return (self.index, *self.options)

    def token(self, strike: Decimal, right: str) -> int:
        for row in self.options:
            if row.strike == strike and row.instrument_type == right:
                return row.instrument_token
        raise KeyError(f"{self.index.name} {strike} {right} is not listed")

    @property
    def strikes(self) -> list[Decimal]:
        return sorted({row.strike for row in self.options})


def next_weekly_expiry(today: date, weekday: int = 1, at_least_days: int = 3) -> date:
    """The first ``weekday`` (NIFTY's weekly expiry is a Tuesday) at least ``at_least_days``
    ahead, so the chain has time value whatever day the tests run."""
    day = today + timedelta(days=at_least_days)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def option_symbol(underlying: str, expiry: date, strike: Decimal, right: str) -> str:
    """Kite's NFO option symbol: monthly for the month's last weekly expiry, else weekly."""
    if (expiry + timedelta(days=7)).month != expiry.month:
        when = f"{expiry:%y}{expiry.strftime('%b').upper()}"
    else:
        when = f"{expiry:%y}{_WEEKLY_MONTHS[expiry.month - 1]}{expiry:%d}"
    return f"{underlying}{when}{strike.normalize():f}{right}"


def nifty_chain(
    expiry: date,
    *,
    spot: Decimal,
    step: Decimal = Decimal(50),
    strikes_each_side: int = 8,
    lot_size: int = 75,
    first_exchange_token: int = 40_001,
) -> OptionChain:
    """NIFTY 50 and one expiry of NIFTY options around ``spot`` (a multiple of ``step``)."""
    index = MasterRow(
        instrument_token=(1001 << 8) | INDICES_SEGMENT,
        exchange_token=1001,
        tradingsymbol="NIFTY 50",
        name="NIFTY 50",
        last_price=Decimal(0),
        expiry=None,
        strike=Decimal(0),
        tick_size=Decimal(0),
        lot_size=0,
        instrument_type="EQ",
        segment="INDICES",
        exchange="NSE",
    )
    options = []
    exchange_token = first_exchange_token
    for n in range(-strikes_each_side, strikes_each_side + 1):
        strike = spot + n * step
        for right in ("CE", "PE"):
            options.append(
                MasterRow(
                    instrument_token=(exchange_token << 8) | NFO_SEGMENT,
                    exchange_token=exchange_token,
                    tradingsymbol=option_symbol("NIFTY", expiry, strike, right),
                    name="NIFTY",
                    last_price=Decimal(0),
                    expiry=expiry,
                    strike=strike,
                    tick_size=Decimal("0.05"),
                    lot_size=lot_size,
                    instrument_type=right,
                    segment="NFO-OPT",
                    exchange="NFO",
                )
            )
            exchange_token += 1
    return OptionChain(index, expiry, tuple(options))
