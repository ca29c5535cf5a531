"""The rates a fill is charged at: charge segments, brokerage and the dated statutory tables.

:class:`ChargeSegment` names the schedule a fill falls under; :data:`ZERODHA_BROKERAGE` and
:data:`DP_CHARGE` are the broker's brokerage and depository charge; :data:`RATE_PERIODS` are the
dated statutory and exchange rates (STT, exchange transaction charges, stamp duty, SEBI fee, GST),
each in force from its start date until the next. The arithmetic that applies them to one fill, and
the checks on its terms, are in :mod:`engine.costs`.

Sources: ``nse_market.md`` §3.1–3.2 (NSE/FA/73061 transaction charges, NSE FATAX73524 STT from
1 Apr 2026, nseindia.com stamp-duty page, Zerodha's brokerage page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from engine.domain.values import ZERO


class ChargeSegment(StrEnum):
    """The charge schedule a fill falls under (not the same thing as the exchange segment)."""

    EQ_DELIVERY = "EQ_DELIVERY"
    EQ_INTRADAY = "EQ_INTRADAY"
    FUT = "FUT"
    OPT = "OPT"


def _pct(percent: str) -> Decimal:
    return Decimal(percent) / 100


def _per_crore(rupees: int) -> Decimal:
    return Decimal(rupees) / 10_000_000


def _frozen(mapping: Mapping[ChargeSegment, Decimal]) -> Mapping[ChargeSegment, Decimal]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class OrderBrokerage:
    """Brokerage of one executed order: ``min(rate × order value, cap)``; ``rate=None`` is a flat fee.

    Brokers charge per executed order, not per fill, so partial fills share one cap.
    """

    rate: Decimal | None
    cap: Decimal

    def for_fill(self, value: Decimal, already_paid: Decimal) -> Decimal:
        """What this fill adds, given what earlier fills of the same order already paid."""
        remaining = max(self.cap - already_paid, ZERO)
        wanted = self.cap if self.rate is None else self.rate * value
        return min(wanted, remaining)


@dataclass(frozen=True, slots=True)
class RatePeriod:
    """Statutory and exchange rates in force from ``effective_from`` until the next period starts.

    Rates are fractions of the traded value (premium for options). ``transaction`` maps an exchange
    to its per-segment rates; an exchange missing from it has no known rates in this period.
    """

    effective_from: date
    stt_buy: Mapping[ChargeSegment, Decimal]
    stt_sell: Mapping[ChargeSegment, Decimal]
    stt_option_exercise: Decimal
    """On the intrinsic value of exercised (in-the-money) long options, paid by the buyer."""
    transaction: Mapping[str, Mapping[ChargeSegment, Decimal]]
    stamp_buy: Mapping[ChargeSegment, Decimal]
    sebi: Decimal
    gst: Decimal
    """On brokerage, exchange charges and the SEBI fee; never on STT or stamp duty."""


# --- Rate tables (nse_market.md §3.1, §3.2) ---

_STAMP_BUY = _frozen(
    {
        ChargeSegment.EQ_DELIVERY: _per_crore(1_500),
        ChargeSegment.EQ_INTRADAY: _per_crore(300),
        ChargeSegment.FUT: _per_crore(200),
        ChargeSegment.OPT: _per_crore(300),
    }
)
_SEBI = _per_crore(10)
_GST = _pct("18")


def _stt_sell(fut: str, opt: str) -> Mapping[ChargeSegment, Decimal]:
    return _frozen(
        {
            ChargeSegment.EQ_DELIVERY: _pct("0.1"),
            ChargeSegment.EQ_INTRADAY: _pct("0.025"),
            ChargeSegment.FUT: _pct(fut),
            ChargeSegment.OPT: _pct(opt),
        }
    )


_STT_BUY = _frozen({ChargeSegment.EQ_DELIVERY: _pct("0.1")})


def _exchange_rates(cash: Decimal, fut: Decimal, opt: Decimal) -> Mapping[ChargeSegment, Decimal]:
    return _frozen(
        {
            ChargeSegment.EQ_DELIVERY: cash,
            ChargeSegment.EQ_INTRADAY: cash,
            ChargeSegment.FUT: fut,
            ChargeSegment.OPT: opt,
        }
    )


# NSE since 1 Mar 2026: IPFT folded into one all-in charge per crore (NSE/FA/73061).
_NSE_ALL_IN = _exchange_rates(_per_crore(307), _per_crore(183), _per_crore(3_553))
# BSE from 1 Oct 2024 (flat "true-to-label" charges): A/B-group equity ₹375/cr; no charge on
# futures. For options this is the SENSEX/BANKEX rate (₹3,250/cr of premium), the BSE options
# that trade; SENSEX 50 and stock options are ₹50/cr and are not distinguished here.
_BSE_FLAT = _exchange_rates(_per_crore(375), ZERO, _per_crore(3_250))

_UP_TO_SEP_2024 = RatePeriod(
    # Finance Act 2023 set futures/options STT to 0.0125%/0.0625% from 1 Apr 2023; earlier trades
    # are refused rather than charged at the wrong rates. Exchange charges were slab-based then:
    # these are the top-slab NSE rates Zerodha published [S]. BSE's slab rates are not tabulated.
    effective_from=date(2023, 4, 1),
    stt_buy=_STT_BUY,
    stt_sell=_stt_sell(fut="0.0125", opt="0.0625"),
    stt_option_exercise=_pct("0.125"),
    transaction=MappingProxyType(
        {"NSE": _exchange_rates(_pct("0.00322"), _pct("0.00188"), _pct("0.0495"))}
    ),
    stamp_buy=_STAMP_BUY,
    sebi=_SEBI,
    gst=_GST,
)
_OCT_2024_TO_FEB_2026 = RatePeriod(
    effective_from=date(2024, 10, 1),
    stt_buy=_STT_BUY,
    stt_sell=_stt_sell(fut="0.02", opt="0.1"),
    stt_option_exercise=_pct("0.125"),
    # Transaction charge plus IPFT: 297+10, 173+10 and 3,503+50 per crore. GST is charged on the
    # IPFT part too (Zerodha's practice; Upstox differs), so the all-in sum is what matters.
    transaction=MappingProxyType(
        {
            "NSE": _exchange_rates(
                _per_crore(297 + 10), _per_crore(173 + 10), _per_crore(3_503 + 50)
            ),
            "BSE": _BSE_FLAT,
        }
    ),
    stamp_buy=_STAMP_BUY,
    sebi=_SEBI,
    gst=_GST,
)
_MAR_2026 = replace(
    _OCT_2024_TO_FEB_2026,
    effective_from=date(2026, 3, 1),
    transaction=MappingProxyType({"NSE": _NSE_ALL_IN, "BSE": _BSE_FLAT}),
)
_FROM_APR_2026 = replace(
    _MAR_2026,
    # Finance Act 2026 (NSE FATAX73524).
    effective_from=date(2026, 4, 1),
    stt_sell=_stt_sell(fut="0.05", opt="0.15"),
    stt_option_exercise=_pct("0.15"),
)

ZERODHA_BROKERAGE: Mapping[ChargeSegment, OrderBrokerage] = MappingProxyType(
    {
        ChargeSegment.EQ_DELIVERY: OrderBrokerage(rate=ZERO, cap=ZERO),
        ChargeSegment.EQ_INTRADAY: OrderBrokerage(rate=_pct("0.03"), cap=Decimal(20)),
        ChargeSegment.FUT: OrderBrokerage(rate=_pct("0.03"), cap=Decimal(20)),
        ChargeSegment.OPT: OrderBrokerage(rate=None, cap=Decimal(20)),
    }
)

RATE_PERIODS: tuple[RatePeriod, ...] = (
    _UP_TO_SEP_2024,
    _OCT_2024_TO_FEB_2026,
    _MAR_2026,
    _FROM_APR_2026,
)
"""The NSE/BSE rate periods, oldest first: trades before the first one have no known rates."""

DP_CHARGE = Decimal("13.5")
"""Zerodha's depository charge per scrip per day with a delivery sell, before 18 % GST
(nse_market.md §3.1: ₹13.5 + GST = ₹15.93; it reaches the ledger, not the contract note). §3.1 also
quotes ₹13 from Zerodha's BTST page; the charges page's ₹13.5 is used. The reference gives no DP
history, so the one rate applies to every trade date the tariff covers."""
DP_GST_RATE = Decimal("0.18")
