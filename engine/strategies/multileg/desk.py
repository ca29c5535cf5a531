"""The desk's multileg portfolios: the trader's saved portfolios (one JSON file each in the
profile's portfolios folder), the predefined templates (``resources/multileg/templates``) and the
trader's own, and each portfolio registered on the strategy kernel as a strategy of its own
(``ml.<name>``), so its orders carry its id and its P&L is attributable from the journal.

A file that does not parse is reported with its name and the field path of every problem, set
aside as ``<name>.json.bad`` so nothing is lost, and the other portfolios still load. Files are
written whole (a temporary file renamed over the old one): a crash mid-save leaves the old file.

What the panel reads of each portfolio and its legs (``PortfolioView``, ``LegView``) is made in
``engine.strategies.multileg.views``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from engine.core.files import aside_path
from engine.domain.orders import Product
from engine.domain.strategy_records import StrategyRecord, StrategyStatus
from engine.store.files import write_json
from engine.store.urls import profile_folder
from engine.strategies.halts import on_halt
from engine.strategies.kernel import StrategyContext, StrategyKernel
from engine.strategies.multileg.account_positions import net_position
from engine.strategies.multileg.portfolio import (
    PortfolioStrategy,
    portfolio_strategy_id,
    start_problem,
)
from engine.strategies.multileg.spec import PortfolioSpec, exported, parse_spec, unwrapped
from engine.strategies.multileg.status import LegState
from engine.strategies.multileg.tags import (
    ACCOUNT,
    AccountLimits,
    TagGuard,
    TagLimits,
    limit_problems,
    on_account,
)
from engine.strategies.multileg.views import LegView, PortfolioView, leg_views, portfolio_view

log = logging.getLogger(__name__)

_L = TypeVar("_L")

ORIGIN = "multileg"


def portfolios_dir(profile: str) -> Path:
    """Where a profile keeps its portfolios: ``<user data dir>/<profile>/portfolios``."""
    return profile_folder(profile, "portfolios")


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    title: str
    description: str
    spec: PortfolioSpec
    own: bool
    """The trader's own template (saved from a portfolio), not a predefined one."""


LIMIT_FILES = ("account.json", "tags.json")
"""The account's and the tags' limits, kept beside the portfolios and never read as one."""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _name_key(name: str) -> str:
    """Names with one key share a file (spaces become ``_``; a file system may ignore case) and
    a strategy id, so the desk keeps one portfolio per key."""
    return _slug(name).casefold()


def _reserved(name: str) -> str | None:
    if f"{_name_key(name)}.json" in LIMIT_FILES:
        return f"{name!r} names the file that keeps the {_name_key(name)} limits: choose another"
    return None


class MultilegDesk:
    def __init__(
        self,
        kernel: StrategyKernel,
        live_problem: Callable[[], str | None],
        folder: Path | None,
        *,
        paper_problem: Callable[[], str | None],
    ) -> None:
        self._kernel = kernel
        self._live_problem = live_problem
        self._paper_problem = paper_problem
        self.folder = folder
        self._specs: dict[str, PortfolioSpec] = {}
        self._file_problems: list[str] = []
        """Files of the folder that could not be read at start (name and why)."""
        self._template_problems: list[str] = []
        """The trader's template files that could not be read at the last look."""
        self.tags = TagGuard(self._square_off_tag, lambda: kernel.clock.now().date())
        self._load_tags()
        self._load_account()
        self._load()
        # The kernel stops the strategies written as classes; the portfolios are this desk's.
        on_halt(kernel.bus, self._halt)

    # -- the library ---------------------------------------------------------------------------------

    def _load(self) -> None:
        if self.folder is None or not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            if path.name in LIMIT_FILES:
                continue
            try:
                spec = parse_spec(json.loads(path.read_text(encoding="utf-8-sig")))
            except (OSError, UnicodeDecodeError, ValueError, RecursionError) as problem:
                self._set_aside(path, _first_line(problem), "")
                continue
            clash = self._clash(spec.name) or _reserved(spec.name)
            if clash is not None:
                self._file_problems.append(f"{path.name}: not loaded: {clash}")
                continue
            self._register(spec)

    def _set_aside(self, path: Path, problem: str, then: str) -> None:
        """A file the desk cannot read: kept aside (``aside_path``) and named to the trader."""
        kept = aside_path(path)
        try:
            os.replace(path, kept)
        except OSError as unmoved:
            where = f"left where it is: it could not be set aside ({unmoved.strerror or unmoved})"
        else:
            where = f"kept as {kept.name}"
        self._file_problems.append(f"{path.name}: {problem} ({where}{then})")
        log.warning("portfolio folder file %s not read: %s", path, problem)

    def _clash(self, name: str) -> str | None:
        """Why ``name`` cannot be saved beside the portfolios already here, if it cannot."""
        key = _name_key(name)
        other = next((n for n in self._specs if n != name and _name_key(n) == key), None)
        if other is None:
            return None
        return (
            f"{name!r} would share its file and strategy id with the portfolio {other!r}: "
            "choose a name that differs by more than spaces, '_' or capitals"
        )

    @property
    def problems(self) -> list[str]:
        """Files that could not be read (name and why): the folder's at start, each set aside,
        and the trader's templates at the last look."""
        return [*self._file_problems, *self._template_problems]

    def _register(self, spec: PortfolioSpec) -> None:
        self._specs[spec.name] = spec

        def make(ctx: StrategyContext, name: str = spec.name) -> PortfolioStrategy:
            return PortfolioStrategy(ctx, on_account(self._specs[name], self.tags), self.tags, self)

        self._kernel.add_instance(
            portfolio_strategy_id(spec.name),
            make,
            title=spec.name,
            description=f"multileg portfolio on {spec.defaults.underlying}, {len(spec.legs)} legs",
            origin=ORIGIN,
        )

    def names(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, name: str) -> PortfolioSpec | None:
        return self._specs.get(name)

    def save(self, spec: PortfolioSpec | dict[str, Any], *, replace: bool = True) -> str | None:
        """Add or change a portfolio (validated); None, or why not. A running portfolio keeps
        the settings it started with until it is started again."""
        try:
            checked = spec if isinstance(spec, PortfolioSpec) else parse_spec(spec)
        except ValueError as problem:
            return str(problem)
        if checked.name in self._specs and not replace:
            return f"a portfolio named {checked.name!r} exists already"
        clash = self._clash(checked.name) or _reserved(checked.name)
        if clash is not None:
            return clash
        if self.folder is not None:
            unwritten = write_json(
                self.folder / f"{_slug(checked.name)}.json", checked.model_dump(mode="json")
            )
            if unwritten is not None:
                return unwritten
        self._register(checked)
        return None

    def delete(self, name: str) -> str | None:
        if name not in self._specs:
            return f"no portfolio named {name!r}"
        if self.running(name) is not None:
            return f"{portfolio_strategy_id(name)} is running; stop it first"
        if self.folder is not None:
            try:
                (self.folder / f"{_slug(name)}.json").unlink(missing_ok=True)
            except OSError as unlinked:
                return f"{name} could not be deleted: {unlinked.strerror or unlinked}"
        refused = self._kernel.remove(portfolio_strategy_id(name))
        if refused is not None:
            return refused
        del self._specs[name]
        return None

    def export(self, name: str, path: Path) -> str | None:
        spec = self._specs.get(name)
        if spec is None:
            return f"no portfolio named {name!r}"
        return write_json(path, exported(spec.model_dump(mode="json")))

    def import_file(self, path: Path, *, name: str | None = None) -> str | None:
        """Add the portfolio in ``path`` (an export, or a template file); None, or why not."""
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Notepad's) is fine
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as problem:
            return f"{path.name} cannot be read: {_first_line(problem)}"
        body = unwrapped(data)
        if name is not None and isinstance(body, dict) and isinstance(body.get("defaults"), dict):
            body = {**body, "defaults": {**body["defaults"], "name": name}}
        return self.save(body, replace=False)

    # -- templates -----------------------------------------------------------------------------------

    def templates(self) -> list[Template]:
        """The predefined templates and the trader's own; an own file that cannot be read is
        named once in ``problems`` (each look at the folder says what is wrong now)."""
        found = []
        packaged = resources.files("resources").joinpath("multileg", "templates")
        for entry in sorted(packaged.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                found.append(_template(entry.name[:-5], entry.read_text("utf-8"), own=False))
        unread = []
        if self.folder is not None and (self.folder / "templates").is_dir():
            for path in sorted((self.folder / "templates").glob("*.json")):
                try:
                    found.append(_template(path.stem, path.read_text("utf-8-sig"), own=True))
                except (OSError, UnicodeDecodeError, ValueError, RecursionError) as problem:
                    unread.append(f"template {path.name}: {_first_line(problem)}")
        self._template_problems = unread
        return found

    def template(self, key: str) -> Template | None:
        return next((t for t in self.templates() if t.key == key), None)

    def save_template(self, name: str, key: str) -> str | None:
        spec = self._specs.get(name)
        if spec is None:
            return f"no portfolio named {name!r}"
        if self.folder is None:
            return "this desk keeps no files"
        body = {"description": f"saved from {name}", "portfolio": spec.model_dump(mode="json")}
        return write_json(self.folder / "templates" / f"{_slug(key)}.json", body)

    # -- running -------------------------------------------------------------------------------------

    def start(self, name: str) -> str | None:
        spec = self._specs.get(name)
        if spec is None:
            return f"no portfolio named {name!r}"
        failed = self._failed_holding(name)
        if failed is not None:
            record, held = failed
            return (
                f"{name} stopped on a fault holding {_legs(held)} ({record.reason}): square it "
                "off first, and a fresh start enters no second set"
            )
        problem = start_problem(spec, self._live_problem, self._paper_problem)
        if problem is not None:
            return problem
        breach = self.tags.breach(spec.defaults.tag)
        account = self.tags.account
        if account is not None and spec.defaults.multiplier * account.multiplier > 100:
            return (
                f"{name} at {spec.defaults.multiplier}× on an account of {account.multiplier}× "
                "trades more than 100× its lots: lower one of the multipliers"
            )
        if breach is not None:
            return f"{name} does not start again today: {breach}"
        return self._kernel.start(portfolio_strategy_id(name))

    def stop(self, name: str) -> str | None:
        return self._kernel.stop(portfolio_strategy_id(name))

    def running(self, name: str) -> PortfolioStrategy | None:
        found = self._kernel.instance(portfolio_strategy_id(name))
        return found if isinstance(found, PortfolioStrategy) else None

    def square_off(self, name: str) -> str | None:
        """Exit every leg now; a portfolio that stopped on a fault with legs open is taken up
        again from what it last saved, to exit them. None, or why not."""
        running = self.running(name)
        if running is None:
            failed = self._failed_holding(name)
            if failed is None:
                return f"{name} is not running"
            problem = self._kernel.start(portfolio_strategy_id(name), failed[0].state)
            running = self.running(name)
            if problem is not None or running is None:
                return f"{name} could not be taken up again to exit its legs: {problem}"
        return running.square_off()

    def _failed_holding(self, name: str) -> tuple[StrategyRecord, int] | None:
        """The record of a portfolio that stopped on a fault with legs open, and how many."""
        if self.running(name) is not None:
            return None
        record = self._kernel.last_state(portfolio_strategy_id(name))
        if record is None or record.status is not StrategyStatus.FAILED:
            return None
        legs = record.state.get("legs")
        saved = legs if isinstance(legs, list) else []
        held = sum(1 for leg in saved if isinstance(leg, dict) and leg.get("state") in _HOLDING)
        return (record, held) if held else None

    def _halt(self, source: str, reason: str) -> None:
        """Trading halted: every running portfolio leaves its running statuses (``halting``)."""
        for name in list(self._specs):
            running = self.running(name)
            if running is not None:
                running.halt(source, reason)

    def net_position(self, token: int, product: Product) -> int | None:
        """The account's net units of ``token`` in ``product``, whoever placed them (None: the
        facade the strategies trade through does not tell positions)."""
        return net_position(self._kernel.api, token, product)

    def clock(self) -> list[str]:
        """The heartbeat's: square off what the account's time says, ticks or not; who."""
        if not self._specs:
            return []
        found = [self.running(name) for name in list(self._specs)]
        return [p.spec.name for p in found if p is not None and p.square_off_if_due() is not None]

    def enter_now(self, name: str) -> str | None:
        running = self.running(name)
        if running is None:
            return f"{name} is not running"
        return running.enter_now()

    # -- strategy tags -------------------------------------------------------------------------------

    def _load_tags(self) -> None:
        limits = self._read_limits("tags.json", _tag_limits, "no tag limits apply")
        self.tags.limits = limits or {}

    def _read_limits(self, name: str, parse: Callable[[object], _L], then: str) -> _L | None:
        """The limits kept in ``name`` (None when there are none). A file that cannot be read is
        set aside and named; one an earlier version set aside by mistake (it read the folder's
        every file as a portfolio) and that reads well is put back."""
        if self.folder is None:
            return None
        path = self.folder / name
        kept = path.with_name(name + ".bad")
        if not path.exists() and kept.exists():
            try:
                parse(json.loads(kept.read_text(encoding="utf-8-sig")))
                os.replace(kept, path)
            except (OSError, UnicodeDecodeError, ValueError, RecursionError):
                return None  # set aside for a reason of its own: it stays aside
            log.warning("%s was set aside by an earlier version and is read again", path)
        if not path.exists():
            return None
        try:
            return parse(json.loads(path.read_text(encoding="utf-8-sig")))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as bad:
            said = limit_problems(bad) if isinstance(bad, ValidationError) else _first_line(bad)
            self._set_aside(path, said, f"; {then}")
            return None

    def set_tag_limits(self, tag: str, limits: TagLimits | dict[str, Any] | None) -> str | None:
        """Set (or with None, clear) a tag's maximum loss and profit; None, or why not."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,20}", tag) or tag == ACCOUNT:
            return f"a tag is 1 to 20 letters, digits or '_.-', not {tag!r}"
        try:
            checked = None if limits is None else TagLimits.model_validate(limits)
        except ValidationError as problem:
            return f"tag {tag}: {limit_problems(problem)}"
        wanted = dict(self.tags.limits)
        if checked is None:
            wanted.pop(tag, None)
        else:
            wanted[tag] = checked
        if self.folder is not None:
            body = {name: value.model_dump(mode="json") for name, value in sorted(wanted.items())}
            unwritten = write_json(self.folder / "tags.json", body)
            if unwritten is not None:
                return unwritten
        self.tags.limits = wanted
        return None

    def _square_off_tag(self, tag: str, why: str) -> None:
        for name, spec in self._specs.items():
            running = self.running(name)
            if running is not None and (tag == ACCOUNT or spec.defaults.tag == tag):
                running.square_off(why)

    # -- the account ---------------------------------------------------------------------------------

    def _load_account(self) -> None:
        self.tags.account = self._read_limits("account.json", _account_limits, "no account limits")

    def set_account_limits(self, limits: AccountLimits | dict[str, Any] | None) -> str | None:
        """Set (or with None, clear) the account's limits, square-off time and multiplier;
        None, or why not (in words)."""
        try:
            checked = None if limits is None else AccountLimits.model_validate(limits)
        except ValidationError as problem:
            return f"account limits: {limit_problems(problem)}"
        if self.folder is not None:
            body = {} if checked is None else checked.model_dump(mode="json")
            unwritten = write_json(self.folder / "account.json", body)
            if unwritten is not None:
                return unwritten
        self.tags.account = checked
        return None

    # -- views ---------------------------------------------------------------------------------------

    def views(self) -> list[PortfolioView]:
        return [self.view(name) for name in self.names()]

    def view(self, name: str) -> PortfolioView:
        spec = self._specs[name]
        record = self._kernel.last_state(portfolio_strategy_id(name))
        return portfolio_view(spec, self.running(name), record)

    def legs(self, name: str) -> list[LegView]:
        spec = self._specs.get(name)
        if spec is None:
            return []
        record = self._kernel.last_state(portfolio_strategy_id(name))
        return leg_views(spec, self.running(name), record)


_HOLDING = frozenset({LegState.ENTERING.value, LegState.ENTERED.value, LegState.EXITING.value})


def _legs(count: int) -> str:
    return f"{count} open leg" + ("" if count == 1 else "s")


def _tag_limits(data: object) -> dict[str, TagLimits]:
    if not isinstance(data, dict):
        raise ValueError('tag limits are {"tag": {"max_loss": ...}, ...}')
    return {str(tag): TagLimits.model_validate(limits) for tag, limits in data.items()}


def _account_limits(data: object) -> AccountLimits | None:
    return AccountLimits.model_validate(data) if data else None


def _template(key: str, text: str, *, own: bool) -> Template:
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("portfolio"), dict):
        raise ValueError('a template is {"description": ..., "portfolio": {...}}')
    spec = parse_spec(data["portfolio"])
    return Template(key, spec.name, str(data.get("description", "")), spec, own)


def _first_line(problem: BaseException) -> str:
    """A problem in one line (a recursion error's own words are a page of frames)."""
    if isinstance(problem, RecursionError):
        return "nested too deeply to read"
    return str(problem).splitlines()[0] if str(problem) else type(problem).__name__
