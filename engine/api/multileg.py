"""Multileg portfolios through the facade: the saved portfolios and templates, starting,
stopping, entering and squaring off, and what the panel shows of each (status, MTM, legs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engine.api.parts import Service
from engine.strategies.multileg.desk import MultilegDesk, Template
from engine.strategies.multileg.leg_text import legs_text, parse_legs
from engine.strategies.multileg.spec import (
    SECTIONS,
    Leg,
    PortfolioSpec,
    parse_spec,
    spec_problems,
)
from engine.strategies.multileg.tags import AccountLimits, TagLimits
from engine.strategies.multileg.views import LegView, PortfolioView

_LEGS = TypeAdapter(list[Leg])


class MultilegService(Service):
    def _desk(self) -> MultilegDesk:
        desk = self._parts.multileg
        if desk is None:
            raise RuntimeError("this engine was built without multileg portfolios")
        return desk

    def portfolios(self) -> list[PortfolioView]:
        """Every saved portfolio with its status, MTM and net premium (₹)."""
        desk = self._parts.multileg
        return [] if desk is None else desk.views()

    def portfolio(self, name: str) -> PortfolioSpec | None:
        """A portfolio's settings."""
        return self._desk().spec(name)

    def portfolio_legs(self, name: str) -> list[LegView]:
        return self._desk().legs(name)

    def portfolio_legs_text(self, name: str) -> str | None:
        """A portfolio's legs as one line of leg text (Stoxxo's ``PortLegs`` form, see
        ``leg_text``); None when there is no such portfolio."""
        spec = self._desk().spec(name)
        return None if spec is None else legs_text(spec.legs)

    def legs_as_text(self, legs: Sequence[Leg | Mapping[str, Any]]) -> str:
        """Legs (checked, or an editor's values in their JSON form) as one line of leg text;
        ``ValueError`` naming each problem's field path (``legs.1.lots: …``)."""
        try:
            checked = _LEGS.validate_python(list(legs))
        except ValidationError as error:
            raise ValueError("; ".join(f"legs.{p}" for p in spec_problems(error))) from None
        return legs_text(checked)

    def legs_from_text(self, text: str) -> list[Leg]:
        """The legs one line of leg text writes; ``LegTextError`` (a ``ValueError``) saying which
        leg, at which column, and what is wrong."""
        return parse_legs(text)

    def portfolio_templates(self) -> list[Template]:
        return self._desk().templates()

    def portfolio_sections(self) -> tuple[tuple[str, str, type[Any]], ...]:
        """The editor's pages in order: (field, title, schema)."""
        return SECTIONS

    def check_portfolio(self, data: dict[str, Any]) -> PortfolioSpec:
        """``data`` as a checked portfolio; ``ValueError`` naming each problem's field path."""
        return parse_spec(data)

    def save_portfolio(self, spec: PortfolioSpec | dict[str, Any]) -> str | None:
        """Add or change a portfolio; None, or why not."""
        return self._desk().save(spec)

    def delete_portfolio(self, name: str) -> str | None:
        return self._desk().delete(name)

    def start_portfolio(self, name: str) -> str | None:
        return self._desk().start(name)

    def stop_portfolio(self, name: str) -> str | None:
        return self._desk().stop(name)

    def square_off_portfolio(self, name: str) -> str | None:
        return self._desk().square_off(name)

    def enter_portfolio(self, name: str) -> str | None:
        """Enter now, whatever its start time; None, or why not."""
        return self._desk().enter_now(name)

    def export_portfolio(self, name: str, path: Path) -> str | None:
        return self._desk().export(name, path)

    def import_portfolio(self, path: Path, name: str | None = None) -> str | None:
        return self._desk().import_file(path, name=name)

    def save_portfolio_template(self, name: str, key: str) -> str | None:
        return self._desk().save_template(name, key)

    def tag_limits(self) -> dict[str, TagLimits]:
        """Each strategy tag's maximum loss and profit on its portfolios' summed MTM."""
        return dict(self._desk().tags.limits)

    def tag_mtm(self, tag: str) -> Decimal:
        """A tag's summed MTM (₹) as its running portfolios last reported it."""
        return self._desk().tags.total(tag)

    def set_tag_limits(self, tag: str, limits: TagLimits | dict[str, Any] | None) -> str | None:
        return self._desk().set_tag_limits(tag, limits)

    def account_limits(self) -> AccountLimits | None:
        """This account's maximum loss and profit on all its portfolios, its square-off time
        and its quantity multiplier (None: none set)."""
        return self._desk().tags.account

    def set_account_limits(self, limits: AccountLimits | dict[str, Any] | None) -> str | None:
        return self._desk().set_account_limits(limits)

    def portfolio_problems(self) -> list[str]:
        desk = self._parts.multileg
        return [] if desk is None else list(desk.problems)
