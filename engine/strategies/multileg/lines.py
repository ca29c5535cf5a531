"""Legs a running portfolio adds to the ones the trader set: a dynamic hedge for a sold leg
(``hedging``), and the legs a target or stop action opens again (``reentry``). Each extra leg is
numbered after the trader's legs and remembers its line: the leg it came from, the original leg
of its line (counts are kept per line) and what it waits for before it is sent.

Across a restart the extra legs, the counts and the "done" markers are part of the portfolio's
saved state, saved before the orders they cause are sent: the restarted desk rebuilds the extra
legs before it finds their orders in the book (their tags name their numbers), so an action is
neither taken twice nor lost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Protocol

from engine.domain.orders import Product, Side
from engine.strategies.kernel import StrategyContext
from engine.strategies.multileg.base import PortfolioBase
from engine.strategies.multileg.legrun import LegRun
from engine.strategies.multileg.reentry_spec import When
from engine.strategies.multileg.spec import Leg, PortfolioSpec
from engine.strategies.multileg.status import LegState
from engine.strategies.multileg.tags import TagGuard

MOST_LEGS = 99
"""A leg's order tag holds two digits of its number."""


class PortfolioLinks(Protocol):
    """What a portfolio's actions may ask of the desk about another portfolio."""

    def start(self, name: str) -> str | None: ...

    def square_off(self, name: str) -> str | None: ...

    def net_position(self, token: int, product: Product) -> int | None:
        """The account's net units of ``token`` in ``product`` (None: the desk cannot tell)."""
        ...


@dataclass(slots=True)
class Line:
    parent: int
    """The leg this one came from (its number)."""
    root: int
    """The trader's leg its line started from: counts are kept per line."""
    when: When = When.NOW
    level: str | None = None
    """Paise (Decimal text): the price an at-cost or momentum re-entry waits for, once known."""
    below: bool = False
    """Whether it waits for the price at or below ``level`` (else at or above)."""
    close_parent_on_fill: bool = False
    hedge_for: int = 0
    """A hedge: the sold leg it covers (0: not a hedge)."""


class PortfolioLines(PortfolioBase):
    """The extra legs and their lines (this module's docstring)."""

    def __init__(
        self,
        ctx: StrategyContext,
        spec: PortfolioSpec,
        tags: TagGuard | None = None,
        links: PortfolioLinks | None = None,
    ) -> None:
        self._links = links
        self._lines: dict[int, Line] = {}
        self._counts: dict[str, int] = {}
        self._done: set[str] = set()
        self._last_act_ns: dict[str, int] = {}
        self._linked: dict[int, list[int]] = {}
        self._resumed = True
        super().__init__(ctx, spec, tags)

    def _settings(self, spec: PortfolioSpec) -> None:
        super()._settings(spec)
        self._lines = {}

    def _add_leg(self, spec: Leg, line: Line, *, remark: str) -> LegRun | None:
        """A new leg after the others, idle; None when the portfolio holds as many as it can."""
        n = len(self.legs) + 1
        if n > MOST_LEGS:
            self._say(f"{self.spec.name}: no leg added, it has {MOST_LEGS} already")
            return None
        leg = LegRun(n, spec, LegState.IDLE, 1 if spec.side is Side.BUY else -1)
        leg.remark = remark
        self.legs.append(leg)
        self._lines[n] = line
        return leg

    def _same_contract(self, leg: LegRun, source: LegRun) -> None:
        leg.token, leg.symbol, leg.strike, leg.expiry = (
            source.token,
            source.symbol,
            source.strike,
            source.expiry,
        )
        leg.lot_size, leg.tick_size, leg.freeze = source.lot_size, source.tick_size, source.freeze
        leg.quantity = leg.spec.lots * self.spec.defaults.multiplier * source.lot_size
        leg.ltp, leg.bid, leg.ask, leg.last_tick_ns = (
            source.ltp,
            source.bid,
            source.ask,
            source.last_tick_ns,
        )
        self._track(leg)

    def _account_net(self, token: int) -> int | None:
        links = self._links
        return (
            None
            if links is None
            else links.net_position(token, Product(self.spec.defaults.product))
        )

    def _lines_waiting(self) -> bool:
        """Whether an action still waits to open a leg (the portfolio is not done)."""
        return any(
            self.legs[n - 1].state is LegState.WAITING and not line.hedge_for
            for n, line in self._lines.items()
        )

    # -- across a restart ----------------------------------------------------------------------

    def _lines_snapshot(self) -> dict[str, Any]:
        return {
            "extra_legs": [
                {"spec": self.legs[n - 1].spec.model_dump(mode="json"), "line": asdict(line)}
                for n, line in sorted(self._lines.items())
            ],
            "action_counts": dict(self._counts),
            "actions_done": sorted(self._done),
            "last_action_ns": dict(self._last_act_ns),
            "linked": {str(n): legs for n, legs in self._linked.items()},
            "round_from": self._round_from,
        }

    def _restore_lines(self, state: dict[str, Any]) -> None:
        """The extra legs back (before the legs' saved states are read), and the counts."""
        for saved in state.get("extra_legs", ()):
            line = dict(saved["line"])
            line["when"] = When(line["when"])
            self._add_leg(Leg.model_validate(saved["spec"]), Line(**line), remark="")
        self._counts = {str(k): int(v) for k, v in state.get("action_counts", {}).items()}
        self._done = {str(key) for key in state.get("actions_done", ())}
        self._last_act_ns = {str(k): int(v) for k, v in state.get("last_action_ns", {}).items()}
        self._linked = {int(n): list(legs) for n, legs in state.get("linked", {}).items()}
        self._round_from = int(state.get("round_from", 1))
        self._resumed = False

    def _level(self, line: Line) -> Decimal | None:
        return None if line.level is None else Decimal(line.level)
