"""A multileg portfolio as the trader sets it: the editor's sections as declared schemas
(pydantic), each field with its type, default, range and description, so the editor, the file
format and the validation say the same thing (``multileg_and_panels.md`` §1.1–1.3, §1.7–1.11).

``PortfolioSpec.model_validate(data)`` turns a file or the editor's values into a checked spec,
or raises ``pydantic.ValidationError`` naming the field path of every problem
(``legs.1.lots: ...`` — legs counted from 0 in paths, so that is the second leg);
``spec_problems`` gives those as lines for the trader.
Money is ``Decimal`` (rupees); times are IST wall-clock times.
"""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.calendar import CalendarSegment, packaged_calendar
from engine.domain.orders import Side
from engine.strategies.multileg.bounds import BoundedModel
from engine.strategies.multileg.conditions_spec import (
    ExtraConditions,
    RangeBreakout,
    conditions_problems,
)
from engine.strategies.multileg.expiries import ExpiryCode
from engine.strategies.multileg.hedge import DynamicHedge, hedge_problem
from engine.strategies.multileg.reentry_spec import Reaction, ReEntry, reaction_problems
from engine.strategies.multileg.strikes import Moneyness, PremiumRule, Reference

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$"


class Section(BoundedModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Instrument(StrEnum):
    CE = "CE"
    PE = "PE"
    FUT = "FUT"


class Weekday(StrEnum):
    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"


class Mode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


# -- 1. default portfolio settings ---------------------------------------------------------------


class Defaults(Section):
    name: str = Field(description="Unique name of the portfolio.")
    underlying: str = Field(
        default="NIFTY", min_length=1, max_length=20, description="Index or stock."
    )
    reference: Reference = Field(
        default=Reference.SPOT, description="What ATM is measured from: spot, future, synthetic."
    )
    product: Literal["MIS", "NRML"] = Field(default="MIS", description="Intraday or carry.")
    multiplier: int = Field(default=1, ge=1, le=100, description="Every leg's lots × this.")
    strike_step: Decimal | None = Field(
        default=None, gt=0, description="Strikes apart for ATM±n; empty uses the listed strikes."
    )
    run_on: frozenset[Weekday] = Field(
        default=frozenset(Weekday), description="Weekdays on which the portfolio enters."
    )
    mode: Mode = Field(default=Mode.PAPER, description="Paper on the paper venue, or live.")
    enabled: bool = Field(default=True, description="A disabled portfolio cannot be started.")
    auto_start: bool = Field(
        default=False,
        description="Started by the desk's daily schedule at 09:10 on each trading day.",
    )
    tag: str = Field(default="", description="Strategy tag it belongs to.")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(
                "a name is 1 to 40 letters, digits, spaces or '_.-', starting with a letter or "
                "a digit"
            )
        return name

    @field_validator("run_on")
    @classmethod
    def _a_run_day(cls, days: frozenset[Weekday]) -> frozenset[Weekday]:
        if not days:
            raise ValueError("choose at least one weekday to run on: with none it never enters")
        return days

    @field_validator("tag")
    @classmethod
    def _tag(cls, tag: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{0,20}", tag):
            raise ValueError("a tag is up to 20 letters, digits or '_.-'")
        return tag


# -- 2. legs ------------------------------------------------------------------------------------


class AtmStrike(Section):
    kind: Literal["atm"] = "atm"
    offset: int = Field(default=0, ge=-40, le=40, description="Strikes above (+) or below ATM.")


class FixedStrike(Section):
    kind: Literal["fixed"] = "fixed"
    strike: Decimal = Field(gt=0, description="The strike in rupees.")


class PremiumStrike(Section):
    kind: Literal["premium"] = "premium"
    rule: PremiumRule = PremiumRule.NEAREST
    value: Decimal = Field(gt=0, description="Premium in rupees (the lower bound of a range).")
    upper: Decimal | None = Field(default=None, gt=0, description="Upper bound of a range.")
    side: Moneyness = Moneyness.BOTH
    depth: int | None = Field(default=None, ge=1, le=100, description="Strikes scanned per side.")

    @model_validator(mode="before")
    @classmethod
    def _upper_only_closes_a_range(cls, data: object) -> object:
        # The editor keeps the "to ₹" field whatever the rule, so a saved file may carry an upper
        # bound on a rule that never reads it. Dropping it (not refusing it: that would set saved
        # portfolios aside) keeps one meaning per spec, so the leg text can write every spec.
        if (
            isinstance(data, dict)
            and data.get("upper") is not None
            and str(data.get("rule", PremiumRule.NEAREST)) != PremiumRule.BETWEEN
        ):
            return {**data, "upper": None}
        return data

    @model_validator(mode="after")
    def _range(self) -> PremiumStrike:
        if self.rule is PremiumRule.BETWEEN and (self.upper is None or self.upper < self.value):
            raise ValueError("a premium range needs an upper bound at or above its lower bound")
        return self


class DeltaStrike(Section):
    kind: Literal["delta"] = "delta"
    delta: float = Field(gt=0, lt=1, description="Size of the delta (0.3 finds a −0.3 put).")


class StraddleWidthStrike(Section):
    kind: Literal["straddle_width"] = "straddle_width"
    multiple: Decimal = Field(ge=-5, le=5, description="ATM ± k × the ATM straddle's premium.")


StrikeChoice = Annotated[
    AtmStrike | FixedStrike | PremiumStrike | DeltaStrike | StraddleWidthStrike,
    Field(discriminator="kind"),
]


class Measure(StrEnum):
    POINTS = "points"
    PERCENT = "percent"
    PREMIUM = "premium"
    """An absolute premium."""
    UNDERLYING = "underlying"
    """Points the underlying moves against (stop) or for (target) the leg."""


class LegLevel(Section):
    measure: Measure = Measure.PERCENT
    value: Decimal = Field(gt=0)


class LegTrail(Section):
    every: Decimal = Field(gt=0, description="For every X points the leg moves in favour …")
    by: Decimal = Field(gt=0, description="… move its stop Y points.")


class Leg(Section):
    side: Side
    instrument: Instrument = Instrument.CE
    expiry: ExpiryCode | date = ExpiryCode.CURRENT_WEEK
    strike: StrikeChoice = Field(default_factory=AtmStrike)
    lots: int = Field(default=1, ge=1, le=500)
    hedge: bool = Field(default=False, description="Bought first, exited last.")
    idle: bool = Field(default=False, description="Not entered with the portfolio.")
    target: LegLevel | None = None
    stop: LegLevel | None = None
    trail: LegTrail | None = None
    on_target: Reaction | None = Field(default=None, description="What its target hit does.")
    on_stop: Reaction | None = Field(default=None, description="What its stop hit does.")

    @model_validator(mode="after")
    def _coherent(self) -> Leg:
        if self.instrument is Instrument.FUT and not isinstance(self.strike, AtmStrike):
            raise ValueError("a futures leg has no strike to choose")
        if self.trail is not None and self.stop is None:
            raise ValueError("a trailing stop needs a stop to trail")
        if self.hedge and self.side is not Side.BUY:
            raise ValueError("a hedge leg is bought")
        return self


# -- 3. execution -------------------------------------------------------------------------------


class Sequencing(StrEnum):
    PARALLEL = "parallel"
    """Every leg of a group sent at once."""
    ONE_BY_ONE = "one_by_one"
    """Sent one after another, ``delay_between_legs`` apart, not waiting for fills."""
    SEQUENTIAL = "sequential"
    """The next leg only once the previous one is filled."""


class OnLegFailure(StrEnum):
    KEEP = "keep"
    """Keep the legs already filled; the portfolio is Failed and the trader decides."""
    UNWIND = "unwind"
    """Close the legs already filled."""


class Execution(Section):
    start: time | None = Field(default=time(9, 20), description="Entry window opens (IST).")
    end: time | None = Field(default=time(15, 0), description="No entry after this time.")
    square_off: time | None = Field(default=time(15, 15), description="Exit everything at.")
    manual_start: bool = Field(
        default=False,
        description="Enter only when the trader says (Enter now): no start time, window or run day.",
    )
    combined_premium_at_least: Decimal | None = Field(
        default=None, gt=0, description="Enter once the net premium (₹ per unit) reaches this."
    )
    sequence: Sequencing = Sequencing.PARALLEL
    hedges_first: bool = Field(default=True, description="Buy the hedge legs before the rest.")
    delay_between_legs: float = Field(default=0, ge=0, le=60, description="Seconds.")
    limit_buffer_pct: Decimal = Field(
        default=Decimal(1), ge=0, le=20, description="Limit price this far beyond LTP."
    )
    chase_after: float = Field(
        default=2, gt=0, le=120, description="Seconds before an unfilled order is re-priced."
    )
    chase_retries: int = Field(default=3, ge=0, le=20, description="Re-pricings before market.")
    then_market: bool = Field(
        default=True, description="After the retries, a market order (with protection)."
    )
    slice_at_freeze: bool = Field(default=True, description="Split above the freeze quantity.")
    slices_per_second: int = Field(default=10, ge=1, le=10, description="SEBI: at most 10/s.")
    on_leg_failure: OnLegFailure = OnLegFailure.UNWIND

    @model_validator(mode="after")
    def _times(self) -> Execution:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("the entry window ends before it starts")
        if self.square_off and self.start and self.square_off <= self.start:
            raise ValueError("the square-off time is before the start time")
        return self


# -- 4. target; 5. stop loss ---------------------------------------------------------------------


class Combined(Section):
    value: Decimal = Field(gt=0)
    percent: bool = Field(default=False, description="Percent of the net premium, not rupees.")
    re_execute: int = Field(
        default=0,
        ge=0,
        le=20,
        description="Times a hit squares the portfolio off and enters it again; each new round's "
        "MTM counts from its own entry (the portfolio's safety seconds and end time apply).",
    )


class Target(Section):
    combined: Combined | None = None
    lock_at: Decimal | None = Field(default=None, gt=0, description="Once MTM reaches ₹ …")
    lock: Decimal = Field(default=Decimal(0), ge=0, description="… keep at least ₹ …")
    trail_every: Decimal | None = Field(default=None, gt=0, description="… and for every ₹ …")
    trail_by: Decimal = Field(default=Decimal(0), ge=0, description="… more, keep ₹ more.")

    @model_validator(mode="after")
    def _lock(self) -> Target:
        if self.lock_at is not None and self.lock > self.lock_at:
            raise ValueError("the profit kept cannot exceed the profit that locks it")
        return self


class StopLoss(Section):
    combined: Combined | None = None
    trail_every: Decimal | None = Field(
        default=None, gt=0, description="For every ₹ of profit, tighten the combined SL …"
    )
    trail_by: Decimal = Field(default=Decimal(0), ge=0, description="… by ₹.")
    move_to_cost: bool = Field(
        default=False, description="After a leg's SL, move the other legs' SL to their entry."
    )
    wait_seconds: float = Field(
        default=0, ge=0, le=300, description="A breach must last this long to exit."
    )


# -- 6. exit; 7. monitoring; 8. at broker -------------------------------------------------------


class LegAction(StrEnum):
    LEG = "leg"
    """Square off the leg."""
    ALL = "all"
    """Square off the portfolio."""
    NONE = "none"
    """Note it and keep the leg."""


class Exit(Section):
    on_leg_target: LegAction = LegAction.LEG
    on_leg_stop: LegAction = LegAction.LEG
    underlying_move: Decimal | None = Field(
        default=None, gt=0, description="Square off all when the underlying moves ± points."
    )
    sells_first: bool = Field(default=True, description="Exit sold legs before hedges.")


class Check(StrEnum):
    TICK = "tick"
    MINUTE_CLOSE = "minute_close"
    INTERVAL = "interval"


class Monitoring(Section):
    leg: Check = Check.TICK
    combined: Check = Check.TICK
    interval_seconds: float = Field(default=5, gt=0, le=3600)
    stale_after: float = Field(
        default=30, gt=0, le=3600, description="Warn when a leg has no tick for this many seconds."
    )
    exit_when_stale: bool = False


class AtBroker(Section):
    leg_stops: bool = Field(
        default=False, description="Each leg's SL rests at the broker as an SL-L order."
    )
    limit_gap_pct: Decimal = Field(default=Decimal(5), gt=0, le=40, description="SL-L gap.")
    catastrophe_pct: Decimal | None = Field(
        default=None, gt=0, le=1000, description="A wide SL-L per sold leg, % above entry."
    )


class PortfolioSpec(Section):
    defaults: Defaults
    legs: list[Leg] = Field(min_length=1, max_length=10)
    execution: Execution = Field(default_factory=Execution)
    target: Target = Field(default_factory=Target)
    stop_loss: StopLoss = Field(default_factory=StopLoss)
    exit: Exit = Field(default_factory=Exit)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    at_broker: AtBroker = Field(default_factory=AtBroker)
    range_breakout: RangeBreakout = Field(default_factory=RangeBreakout)
    conditions: ExtraConditions = Field(default_factory=ExtraConditions)
    reentry: ReEntry = Field(default_factory=ReEntry)
    hedge: DynamicHedge = Field(default_factory=DynamicHedge)

    @property
    def name(self) -> str:
        return self.defaults.name

    def session_notes(self, day: date) -> list[tuple[str, str]]:
        """Times outside NSE's regular F&O session on ``day``, as (field path, words): from the
        packaged calendar's timetable (this check has no desk calendar, nor its special
        sessions). Notes, not problems: a start before the open waits for the market."""
        calendar = packaged_calendar()
        opens = calendar.data.regular[CalendarSegment.FO].open
        closes = calendar.expiry_close(day).time()
        hours = (
            f"NSE's F&O market is open {opens:%H:%M}–{closes:%H:%M} on {day:%d %b %Y} "
            "by the packaged calendar"
        )
        execution, notes = self.execution, []
        for field in () if execution.manual_start else ("start", "end"):
            at = getattr(execution, field)
            if at is not None and not opens <= at < closes:
                notes.append((f"execution.{field}", f"{at:%H:%M:%S} is outside it: {hours}"))
        off = execution.square_off
        if off is not None and not opens < off < closes:
            said = f"an exit at {off:%H:%M:%S} cannot trade: {hours}"
            notes.append(("execution.square_off", said))
        return notes

    @model_validator(mode="after")
    def _whole(self) -> PortfolioSpec:
        if all(leg.idle for leg in self.legs):
            raise ValueError("at least one leg must enter with the portfolio (not idle)")
        if self.at_broker.leg_stops and any(
            leg.stop is not None and leg.stop.measure is Measure.UNDERLYING for leg in self.legs
        ):
            raise ValueError("a stop on the underlying cannot rest at the broker")
        problem = conditions_problems(self)
        if problem is not None:
            raise ValueError(problem)
        problem = reaction_problems(
            [
                (leg.idle, leg.target is not None, leg.stop is not None, leg.on_target, leg.on_stop)
                for leg in self.legs
            ]
        )
        if problem is not None:
            raise ValueError(problem)
        problem = hedge_problem(self.hedge, self.execution.hedges_first, self.exit.sells_first)
        if problem is not None:
            raise ValueError(problem)
        cap = self.reentry.max_per_portfolio
        for level, section in (("target", self.target), ("stop", self.stop_loss)):
            combined = section.combined
            if cap and combined is not None and combined.re_execute > cap:
                raise ValueError(
                    f"the combined {level} re-executes up to {combined.re_execute} times but the "
                    f"portfolio's action cap is {cap}: lower one or raise the cap"
                )
        return self


SECTIONS = (
    ("defaults", "Portfolio", Defaults),
    ("legs", "Legs", Leg),
    ("execution", "Execution", Execution),
    ("target", "Target", Target),
    ("stop_loss", "Stop loss", StopLoss),
    ("exit", "Exit", Exit),
    ("monitoring", "Monitoring", Monitoring),
    ("at_broker", "At broker", AtBroker),
    ("range_breakout", "Range breakout", RangeBreakout),
    ("conditions", "Extra conditions", ExtraConditions),
    ("reentry", "Re-entry", ReEntry),
    ("hedge", "Dynamic hedge", DynamicHedge),
)
"""The editor's pages in order: (field, title, schema)."""


def spec_problems(error: ValidationError) -> list[str]:
    """Each problem as ``where: what`` (``legs.2.lots: Input should be greater than …``)."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "portfolio"
        lines.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return lines


def parse_spec(data: object) -> PortfolioSpec:
    """A checked spec from plain data (a file's JSON, the editor); ``ValueError`` listing every
    problem with its field path."""
    try:
        return PortfolioSpec.model_validate(data)
    except ValidationError as error:
        raise ValueError("; ".join(spec_problems(error))) from None


EXPORT_KEY = "portfolio"
"""The desk's export file is ``{"portfolio": <spec>}``; a template or a hand-written file is the
spec itself."""


def exported(spec: dict[str, object]) -> dict[str, object]:
    """A portfolio's spec as the desk's export file holds it."""
    return {EXPORT_KEY: spec}


def unwrapped(data: Any) -> Any:
    """The spec in a portfolio file's JSON, whether the desk's export or the spec itself."""
    return data.get(EXPORT_KEY, data) if isinstance(data, dict) else data
