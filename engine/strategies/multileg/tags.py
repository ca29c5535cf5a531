"""The guard-rails above a portfolio (``multileg_and_panels.md`` §1.0, ``User → Strategy Tag →
Portfolio → Leg``): the account's and each strategy tag's.

Portfolios name their tag; a tag may carry a maximum loss, a maximum profit and a trailing
floor on the summed MTM of its running portfolios; the account (this desk's broker account) the
same on the summed MTM of all of them, a square-off time and a quantity multiplier. When a limit
is reached every portfolio it covers is squared off, and none of them starts again that day.

Precedence is account → tag → portfolio → leg: a portfolio reports its MTM here before it looks
at its own combined and leg levels, and the account is looked at before the tag, so when one
price crosses limits at several levels, the highest level's says why everything closed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field, ValidationError, model_validator

from engine.strategies.multileg.bounds import BoundedModel

if TYPE_CHECKING:
    from engine.strategies.multileg.spec import PortfolioSpec

ACCOUNT = "account"
"""The key the account's breach is kept under (tags are never named so: they have no spaces,
and this word is refused as a tag)."""


class TagLimits(BoundedModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_loss: Decimal | None = Field(default=None, gt=0, description="₹ of summed MTM lost.")
    max_profit: Decimal | None = Field(default=None, gt=0, description="₹ of summed MTM made.")
    trail_from: Decimal | None = Field(
        default=None, gt=0, description="Once the summed MTM has made ₹ …"
    )
    trail_gap: Decimal | None = Field(
        default=None, gt=0, description="… square off when it gives back ₹ from its best."
    )

    @model_validator(mode="after")
    def _trail(self) -> TagLimits:
        if (self.trail_from is None) != (self.trail_gap is None):
            raise ValueError("a trailing floor needs both the profit it starts at and its gap")
        if (
            self.trail_from is not None
            and self.max_profit is not None
            and self.trail_from >= self.max_profit
        ):
            raise ValueError(
                "the trailing floor starts at or above the maximum profit: it would never trail"
            )
        return self


class AccountLimits(TagLimits):
    square_off: time | None = Field(
        default=None, description="Square off every portfolio at this time (IST)."
    )
    multiplier: int = Field(
        default=1, ge=1, le=50, description="Every portfolio's lots × this on this account."
    )


class TagGuard:
    """The summed MTM of the account's and each tag's portfolios, kept as each portfolio's MTM
    changes; squares off what a reached limit covers (``square_off(tag, why)``, the tag
    ``ACCOUNT`` for all)."""

    def __init__(self, square_off: Callable[[str, str], None], today: Callable[[], date]) -> None:
        self.limits: dict[str, TagLimits] = {}
        self.account: AccountLimits | None = None
        self._square_off = square_off
        self._today = today
        self._mtm: dict[str, dict[str, int]] = {}
        self._total: dict[str, int] = {}
        self._peak: dict[str, int] = {}
        self._breached: dict[str, tuple[date, str]] = {}
        self._day: date | None = None

    def limited(self, tag: str) -> bool:
        return self.account is not None or (bool(tag) and tag in self.limits)

    def total(self, tag: str) -> Decimal:
        """Rupees: the tag's (or with ``ACCOUNT``, every portfolio's) summed MTM."""
        return Decimal(self._total.get(tag, 0)) / 100

    def breach(self, tag: str) -> str | None:
        """Why the tag's portfolios (``ACCOUNT``: any portfolio) may not start today, or None."""
        for key in (ACCOUNT, tag):
            found = self._breached.get(key)
            if key and found is not None and found[0] == self._today():
                return found[1]
        return None

    def report(self, tag: str, portfolio: str, mtm: int) -> None:
        """A portfolio of ``tag`` is at ``mtm`` paise now."""
        today = self._today()
        if today != self._day:  # a new day: the tags start from nothing
            self._day, self._mtm, self._total, self._peak = today, {}, {}, {}
        levels: list[tuple[str, TagLimits, str]] = []
        if self.account is not None:
            levels.append((ACCOUNT, self.account, "the account"))
        limits = self.limits.get(tag) if tag else None
        if limits is not None:
            levels.append((tag, limits, f"tag {tag}"))
        for key, _limits, _name in levels:
            by_portfolio = self._mtm.setdefault(key, {})
            self._total[key] = self._total.get(key, 0) + mtm - by_portfolio.get(portfolio, 0)
            by_portfolio[portfolio] = mtm
            self._peak[key] = max(self._peak.get(key, 0), self._total[key])
        for key, level, name in levels:  # the account first: it takes precedence
            if self.breach(key) is not None and key == ACCOUNT:
                return
            found = self._breached.get(key)
            if found is not None and found[0] == today:
                continue
            why = _why(name, level, self._total[key], self._peak[key])
            if why is not None:
                self._breached[key] = (today, why)
                self._square_off(key, why)
                return


def on_account(spec: PortfolioSpec, guard: TagGuard) -> PortfolioSpec:
    """``spec`` as this account trades it: its lots × the account's multiplier."""
    account = guard.account
    if account is None or account.multiplier == 1:
        return spec
    defaults = spec.defaults.model_copy(
        update={"multiplier": spec.defaults.multiplier * account.multiplier}
    )
    return spec.model_copy(update={"defaults": defaults})


def limit_problems(error: ValidationError) -> str:
    """A limits form's problems in words: ``field: what``, or just what for the whole form."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        what = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {what}" if where else what)
    return "; ".join(lines)


def _why(name: str, limits: TagLimits, total: int, peak: int) -> str | None:
    if limits.max_loss is not None and total <= -limits.max_loss * 100:
        return f"{name} lost ₹{-total / 100:,.2f}, its maximum loss is ₹{limits.max_loss:,}"
    if limits.max_profit is not None and total >= limits.max_profit * 100:
        return f"{name} made ₹{total / 100:,.2f}, its maximum profit is ₹{limits.max_profit:,}"
    if (
        limits.trail_from is not None
        and limits.trail_gap is not None
        and peak >= limits.trail_from * 100
        and total <= peak - limits.trail_gap * 100
    ):
        return (
            f"{name} gave back ₹{(peak - total) / 100:,.2f} from its best of ₹{peak / 100:,.2f}, "
            f"its trailing gap is ₹{limits.trail_gap:,}"
        )
    return None
