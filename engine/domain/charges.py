"""What a fill costs: brokerage, taxes and fees, exact rupees (the tariff lives in ``engine.costs``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from decimal import ROUND_HALF_UP, Decimal

from engine.domain.values import ZERO, round_paisa


@dataclass(frozen=True, slots=True)
class Charges:
    """Charges of one fill (or a sum of fills), exact rupees. ``total`` is always the sum."""

    brokerage: Decimal = ZERO
    stt: Decimal = ZERO
    exchange: Decimal = ZERO
    """Exchange transaction charges, all-in (including the IPFT contribution)."""
    sebi: Decimal = ZERO
    stamp: Decimal = ZERO
    gst: Decimal = ZERO
    dp: Decimal = ZERO
    """Depository charge of a delivery sell (per scrip per day; its GST is in ``gst``)."""
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        total = (
            self.brokerage + self.stt + self.exchange + self.sebi + self.stamp + self.gst + self.dp
        )
        object.__setattr__(self, "total", total)

    def __add__(self, other: Charges) -> Charges:
        if not isinstance(other, Charges):
            return NotImplemented
        return Charges(
            brokerage=self.brokerage + other.brokerage,
            stt=self.stt + other.stt,
            exchange=self.exchange + other.exchange,
            sebi=self.sebi + other.sebi,
            stamp=self.stamp + other.stamp,
            gst=self.gst + other.gst,
            dp=self.dp + other.dp,
        )

    def __radd__(self, other: object) -> Charges:
        # Lets the built-in sum() start from its default 0.
        if other == 0:
            return self
        return NotImplemented

    def rounded(self) -> Charges:
        """Each component to the paisa, half up; ``total`` is then the sum of the rounded parts.

        That sum can differ by a paisa from ``round_paisa(self.total)``, the exact total rounded once.
        """
        return Charges(
            **{f.name: round_paisa(getattr(self, f.name)) for f in fields(self) if f.init}
        )

    def with_stt_rounded_to_rupee(self) -> Charges:
        """STT as a contract note shows it: rounded to the nearest rupee (Zerodha's practice).

        Apply it to the STT of a whole contract note, not to each fill.
        """
        return replace(self, stt=self.stt.quantize(Decimal(1), rounding=ROUND_HALF_UP))
