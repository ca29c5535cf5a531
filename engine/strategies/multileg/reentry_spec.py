"""What a leg does when its target or stop is hit (Stoxxo's "on target / on SL" actions,
``multileg_and_panels.md`` §1.2) and the portfolio's re-entry guards, as declared schemas.

Stoxxo's twenty-odd actions are collapsed to a few primitives (``Step``): close the leg, open a
new leg (same or opposite side; the strike as set, the same contract, or priced like the other
type's leg; when: at once, after the close has filled, or once the price comes back to the
original entry or moves on by some points), duplicate with overrides (lots), keep the leg
running, square off the legs linked to it, execute an idle leg, re-execute the whole portfolio,
and start or square off another portfolio. ``plan`` turns a named action into its primitives.

Each reaction counts how many times it may fire along a leg's line (the leg, and the legs it
re-opened); the portfolio may cap all of them together. Safety seconds stop a loop on a price
that swings about a stop; nothing re-enters after the entry window's end, nor after the stop was
moved to cost, unless the trader says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from engine.strategies.multileg.bounds import BoundedModel

PORTFOLIO_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9 _.-]{0,38}[A-Za-z0-9_.-])?"


class Action(StrEnum):
    RE_EXECUTE = "re_execute"
    """Close, then enter again on the same side, the strike chosen again by the leg's rule."""
    RE_EXECUTE_REVERSED = "re_execute_reversed"
    """Close, then enter the other side (BUY↔SELL)."""
    RE_ENTRY_AT_COST = "re_entry_at_cost"
    """Close; enter the same contract again once its price is back at the original entry."""
    RE_ENTRY_MOMENTUM = "re_entry_momentum"
    """Close; enter the same contract again once its price moves ``momentum`` points on from the
    exit in the trade's favour."""
    DUPLICATE = "duplicate"
    """Open a copy of the leg (with ``lots`` if set) at once: pyramiding when the leg runs on."""
    RE_EXECUTE_PORTFOLIO = "re_execute_portfolio"
    """Close every leg, then enter the portfolio's legs again."""
    EXECUTE_LEG = "execute_leg"
    """Enter idle leg ``leg``."""
    START_PORTFOLIO = "start_portfolio"
    """Start portfolio ``portfolio`` (its own start rules apply)."""
    SQUARE_OFF_PORTFOLIO = "square_off_portfolio"
    """Square off portfolio ``portfolio``."""


RE_ENTERING = frozenset(
    {
        Action.RE_EXECUTE,
        Action.RE_EXECUTE_REVERSED,
        Action.RE_ENTRY_AT_COST,
        Action.RE_ENTRY_MOMENTUM,
        Action.RE_EXECUTE_PORTFOLIO,
    }
)
"""Actions that enter the hit leg again: they close it first, so it cannot be kept running."""


class Strike(StrEnum):
    AS_SET = "as_set"
    """Chosen again by the leg's strike rule (ATM may have moved)."""
    SAME = "same"
    """The contract the leg traded."""
    OPPOSITE_LTP = "opposite_ltp"
    """The strike whose premium is nearest the other option type's leg's price now."""


class Reaction(BoundedModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action = Field(description="What the hit does.")
    count: int = Field(default=1, ge=1, le=20, description="Times it may fire along the leg.")
    strike: Strike = Field(default=Strike.AS_SET, description="Re-execute: the new leg's strike.")
    momentum: Decimal | None = Field(
        default=None, gt=0, description="Momentum re-entry: points on from the exit."
    )
    lots: int | None = Field(default=None, ge=1, le=500, description="The new leg's lots.")
    leg: int | None = Field(default=None, ge=1, le=10, description="Execute leg: its number.")
    portfolio: str = Field(default="", max_length=40, description="The other portfolio's name.")
    keep_leg_running: bool = Field(default=False, description="Act without closing the leg.")
    after_fill: bool = Field(
        default=False, description="Re-execute: the new leg first, the old closed once it fills."
    )
    square_off_linked: bool = Field(
        default=False, description="Also close the legs this leg's earlier actions opened."
    )

    @model_validator(mode="after")
    def _coherent(self) -> Reaction:
        action = self.action
        if self.keep_leg_running and action in RE_ENTERING:
            raise ValueError(
                f"keep leg running cannot go with {action.value.replace('_', ' ')}: that action "
                "closes the leg to enter it again"
            )
        if self.after_fill and action not in (Action.RE_EXECUTE, Action.RE_EXECUTE_REVERSED):
            raise ValueError("after fill (new leg first) is for re-execute and its reverse only")
        if self.after_fill and self.keep_leg_running:
            raise ValueError("after fill closes the leg once the new one fills: not kept running")
        if (action is Action.RE_ENTRY_MOMENTUM) != (self.momentum is not None):
            raise ValueError(
                "a momentum re-entry needs its points, and only a momentum re-entry has them"
            )
        if (action is Action.EXECUTE_LEG) != (self.leg is not None):
            raise ValueError("execute leg needs the idle leg's number, and only it takes one")
        if self.portfolio and not re.fullmatch(PORTFOLIO_NAME, self.portfolio):
            raise ValueError(
                "the other portfolio's name is letters, digits, spaces or '_.-', starting and "
                "ending with a letter, a digit or '_.-'"
            )
        other = action in (Action.START_PORTFOLIO, Action.SQUARE_OFF_PORTFOLIO)
        if other != bool(self.portfolio):
            raise ValueError(
                "starting or squaring off another portfolio needs its name, and only those do"
            )
        if self.strike is not Strike.AS_SET and action not in (
            Action.RE_EXECUTE,
            Action.RE_EXECUTE_REVERSED,
        ):
            raise ValueError("a strike choice is for re-execute and its reverse only")
        return self


class ReEntry(BoundedModel):
    """The portfolio's guards on every leg's actions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    leg_safety_seconds: float = Field(
        default=3,
        ge=0,
        le=600,
        description="A leg line acts again only this long after it last did.",
    )
    portfolio_safety_seconds: float = Field(
        default=5, ge=0, le=600, description="Whole-portfolio re-execute: this long apart."
    )
    max_per_portfolio: int = Field(
        default=0, ge=0, le=100, description="Actions of all legs together; 0 is no cap."
    )
    not_after_end: bool = Field(
        default=True, description="No re-entry after the entry window's end time."
    )
    not_after_moved_to_cost: bool = Field(
        default=True, description="No re-entry for a leg whose stop was moved to cost."
    )


# -- the primitives -------------------------------------------------------------------------------


class When(StrEnum):
    NOW = "now"
    """At once (before the hit leg's close, when it waits for this fill)."""
    AFTER_CLOSE = "after_close"
    """Once the hit leg has closed."""
    AT_COST = "at_cost"
    """Once closed and the price is back at the line's original entry."""
    MOMENTUM = "momentum"
    """Once closed and the price has moved on from the exit in the trade's favour."""
    ALL_CLOSED = "all_closed"
    """Once every leg of the portfolio has closed."""


@dataclass(frozen=True, slots=True)
class Close:
    after_new_fill: bool = False
    """Only once the new leg has filled (margin-safe re-execute)."""


@dataclass(frozen=True, slots=True)
class Open:
    reverse: bool
    strike: Strike
    when: When
    lots: int | None = None


@dataclass(frozen=True, slots=True)
class CloseAll:
    pass


@dataclass(frozen=True, slots=True)
class OpenAll:
    """The portfolio's legs entered again, once all have closed."""


@dataclass(frozen=True, slots=True)
class CloseLinked:
    pass


@dataclass(frozen=True, slots=True)
class ExecuteIdle:
    leg: int


@dataclass(frozen=True, slots=True)
class OtherPortfolio:
    name: str
    start: bool


Step = Close | Open | CloseAll | OpenAll | CloseLinked | ExecuteIdle | OtherPortfolio


def plan(reaction: Reaction) -> list[Step]:
    """The primitives ``reaction`` is made of, in the order they are taken."""
    action = reaction.action
    steps: list[Step] = [CloseLinked()] if reaction.square_off_linked else []
    if action in (Action.RE_EXECUTE, Action.RE_EXECUTE_REVERSED):
        reverse = action is Action.RE_EXECUTE_REVERSED
        when = When.NOW if reaction.after_fill else When.AFTER_CLOSE
        opening = Open(reverse, reaction.strike, when, reaction.lots)
        closing = Close(after_new_fill=reaction.after_fill)
        return [*steps, opening, closing] if reaction.after_fill else [*steps, closing, opening]
    if action is Action.RE_ENTRY_AT_COST:
        return [*steps, Close(), Open(False, Strike.SAME, When.AT_COST, reaction.lots)]
    if action is Action.RE_ENTRY_MOMENTUM:
        return [*steps, Close(), Open(False, Strike.SAME, When.MOMENTUM, reaction.lots)]
    if action is Action.RE_EXECUTE_PORTFOLIO:
        return [*steps, CloseAll(), OpenAll()]
    if action is Action.DUPLICATE:
        steps.append(Open(False, Strike.SAME, When.NOW, reaction.lots))
    elif action is Action.EXECUTE_LEG:
        assert reaction.leg is not None
        steps.append(ExecuteIdle(reaction.leg))
    else:
        steps.append(OtherPortfolio(reaction.portfolio, action is Action.START_PORTFOLIO))
    return steps if reaction.keep_leg_running else [*steps, Close()]


def reaction_problems(legs: list[tuple[bool, bool, bool, object, object]]) -> str | None:
    """Whole-portfolio checks of the legs' reactions; each leg as (idle, has a target, has a
    stop, on target, on stop). None, or the first problem in words."""
    for n, (_idle, has_target, has_stop, on_target, on_stop) in enumerate(legs, start=1):
        if isinstance(on_stop, Reaction) and not has_stop:
            return f"leg {n} has an action on its stop but no stop"
        if isinstance(on_target, Reaction) and not has_target:
            return f"leg {n} has an action on its target but no target"
        for reaction in (on_target, on_stop):
            if not isinstance(reaction, Reaction) or reaction.leg is None:
                continue
            if reaction.leg == n:
                return f"leg {n} cannot execute itself"
            if reaction.leg > len(legs) or not legs[reaction.leg - 1][0]:
                return f"leg {n} executes leg {reaction.leg}, which is not an idle leg here"
    return None
