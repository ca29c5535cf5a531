"""Strategy tags: the level between the account and its portfolios (``multileg_and_panels.md``
§1.0). Portfolios name their tag; a tag may carry a maximum loss and a maximum profit on the
summed MTM of its running portfolios. When one is reached every portfolio of the tag is squared
off, and none of them starts again that day: a guard-rail the trader set once for a whole
family of portfolios, above each portfolio's own target and stop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class TagLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_loss: Decimal | None = Field(default=None, gt=0, description="₹ of summed MTM lost.")
    max_profit: Decimal | None = Field(default=None, gt=0, description="₹ of summed MTM made.")


class TagGuard:
    """The summed MTM of each tag's portfolios, kept as each portfolio's MTM changes."""

    def __init__(self, square_off: Callable[[str, str], None], today: Callable[[], date]) -> None:
        self.limits: dict[str, TagLimits] = {}
        self._square_off = square_off
        self._today = today
        self._mtm: dict[str, dict[str, int]] = {}
        self._total: dict[str, int] = {}
        self._breached: dict[str, tuple[date, str]] = {}
        self._day: date | None = None

    def limited(self, tag: str) -> bool:
        return bool(tag) and tag in self.limits

    def total(self, tag: str) -> Decimal:
        """Rupees: the tag's summed MTM as last reported."""
        return Decimal(self._total.get(tag, 0)) / 100

    def breach(self, tag: str) -> str | None:
        """Why the tag's portfolios may not start today, or None."""
        found = self._breached.get(tag)
        if found is None or found[0] != self._today():
            return None
        return found[1]

    def report(self, tag: str, portfolio: str, mtm: int) -> None:
        """A portfolio of ``tag`` is at ``mtm`` paise now."""
        limits = self.limits.get(tag)
        if limits is None:
            return
        today = self._today()
        if today != self._day:  # a new day: the tags start from nothing
            self._day, self._mtm, self._total = today, {}, {}
        by_portfolio = self._mtm.setdefault(tag, {})
        total = self._total.get(tag, 0) + mtm - by_portfolio.get(portfolio, 0)
        by_portfolio[portfolio] = mtm
        self._total[tag] = total
        if self.breach(tag) is not None:
            return
        why = None
        if limits.max_loss is not None and total <= -limits.max_loss * 100:
            why = f"tag {tag} lost ₹{-total / 100:,.2f}, its maximum loss is ₹{limits.max_loss:,}"
        elif limits.max_profit is not None and total >= limits.max_profit * 100:
            why = (
                f"tag {tag} made ₹{total / 100:,.2f}, its maximum profit is ₹{limits.max_profit:,}"
            )
        if why is not None:
            self._breached[tag] = (self._today(), why)
            self._square_off(tag, why)
