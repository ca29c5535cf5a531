"""The trader's own strategies: Python files in the profile's strategies folder, each holding one
or more ``Strategy`` subclasses with a ``strategy_id``.

A file that cannot be loaded (a syntax error, an import that fails, an exception at import time,
two strategies with one name) is reported with its file and line in words, and the other files
still load. ``TEMPLATE`` is what a new file starts from; ``write_examples`` puts the template and
two examples in an empty folder.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from engine.domain.origin import is_strategy_id
from engine.store.files import write_whole
from engine.store.urls import profile_folder
from engine.strategies.demo import DemoStrategy
from engine.strategies.ema_cross import EmaCrossStrategy
from engine.strategies.kernel import Strategy, StrategyKernel

log = logging.getLogger(__name__)


def strategies_dir(profile: str) -> Path:
    """Where a profile keeps its own strategies: ``<user data dir>/<profile>/strategies``."""
    return profile_folder(profile, "strategies")


@dataclass(frozen=True, slots=True)
class LoadProblem:
    file: Path
    line: int | None
    text: str

    def describe(self) -> str:
        where = f"{self.file.name}, line {self.line}" if self.line else self.file.name
        return f"{where}: {self.text}"


@dataclass(frozen=True, slots=True)
class Loaded:
    strategies: list[tuple[type[Strategy], Path]]
    problems: list[LoadProblem]


def load_strategies(folder: Path) -> Loaded:
    """Every strategy class in ``folder/*.py`` (files starting with ``_`` are skipped)."""
    found: list[tuple[type[Strategy], Path]] = []
    problems: list[LoadProblem] = []
    if not folder.is_dir():
        return Loaded(found, problems)
    names: dict[str, Path] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            classes = _classes_in(path)
        except _FileProblem as problem:
            problems.append(LoadProblem(path, problem.line, problem.text))
            continue
        if not classes:
            problems.append(LoadProblem(path, None, "no Strategy subclass with a strategy_id"))
        for cls in classes:
            name = cls.strategy_id
            if not is_strategy_id(name):
                problems.append(
                    LoadProblem(
                        path,
                        _line_of(cls),
                        f"{cls.__name__}.strategy_id {name!r} must be 1 to 48 letters, digits "
                        "or '-_.'",
                    )
                )
            elif name in names:
                problems.append(
                    LoadProblem(
                        path,
                        _line_of(cls),
                        f"strategy {name!r} is already defined in {names[name].name}",
                    )
                )
            else:
                names[name] = path
                found.append((cls, path))
    return Loaded(found, problems)


class _FileProblem(Exception):
    def __init__(self, line: int | None, text: str) -> None:
        super().__init__(text)
        self.line, self.text = line, text


def load_into(kernel: StrategyKernel, folder: Path | None) -> list[str]:
    """The built-in strategies and the trader's own (from ``folder``) into the kernel's
    catalogue; what could not be loaded, each as "file, line: why" (also kept on the kernel)."""
    kernel.add(DemoStrategy)
    kernel.add(EmaCrossStrategy)
    loaded = load_strategies(folder) if folder is not None else Loaded([], [])
    problems = [problem.describe() for problem in loaded.problems]
    for strategy, path in loaded.strategies:
        try:
            kernel.add(strategy, str(path))
        except ValueError as exc:
            problems.append(f"{path.name}: {exc}")
    kernel.problems += problems
    return problems


def _classes_in(path: Path) -> list[type[Strategy]]:
    module_name = f"dalaldesk_user_strategies.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise _FileProblem(None, "not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise _FileProblem(exc.lineno, f"syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        line = next(
            (
                frame.lineno
                for frame in reversed(traceback.extract_tb(exc.__traceback__))
                if Path(frame.filename) == path
            ),
            None,
        )
        log.warning("strategy file %s failed to load", path, exc_info=exc)
        raise _FileProblem(line, f"{type(exc).__name__} while loading: {exc}") from None
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value.__module__ == module_name
        and value.strategy_id
    ]


def _line_of(cls: type) -> int | None:
    """The line of the class's first method (its own, not one it inherits from ``Strategy``)."""
    lines = [
        value.__code__.co_firstlineno
        for value in vars(cls).values()
        if callable(value) and hasattr(value, "__code__")
    ]
    return min(lines) if lines else None


TEMPLATE = '''"""My strategy: what it does, in a sentence or two."""

from engine.strategies.demo import DemoStrategy
from engine.strategies.kernel import Strategy, StrategyKernel


class MyStrategy(Strategy):
    strategy_id = "my-strategy"  # letters, digits, '-', '_' or '.'; shown on its orders
    title = "My strategy"

    def on_start(self, state):
        # state: what snapshot() returned when it last ran ({} the first time); a Start
        # after a Stop, or after the desk restarted, goes on from it.
        self.entered = state.get("entered", False)
        nifty = self.ctx.instruments.search("NIFTY 50", limit=1)
        self.ctx.watch(i.token for i in nifty)

    def on_tick(self, tick):
        # tick.ltp, tick.bid, tick.ask are paise; ctx.quote(token) gives rupees.
        pass

    def on_order(self, event):
        pass

    def snapshot(self):
        return {"entered": self.entered}
'''

EXAMPLES = {
    "example_timed_straddle.py": '''"""Example: sell the NIFTY at-the-money straddle once, a minute after the strategy starts."""

from engine.strategies.demo import DemoStrategy
from engine.strategies.kernel import Strategy, StrategyKernel


class TimedStraddle(Strategy):
    strategy_id = "example-timed-straddle"
    title = "Example: timed straddle"

    def on_start(self, state):
        self.sold = state.get("sold", False)
        if not self.sold:
            self.ctx.after(60, "enter")

    def on_timer(self, name):
        spot = self.ctx.instruments.search("NIFTY 50", limit=1)
        quote = self.ctx.quote(spot[0].token) if spot else None
        if quote is None:
            self.ctx.say("no NIFTY price yet; not entered")
            return
        options = [i for i in self.ctx.instruments.search(underlying="NIFTY", limit=100000)
                   if i.is_option and i.expiry]
        expiry = min(i.expiry for i in options)
        nearest = min((i for i in options if i.expiry == expiry),
                      key=lambda i: abs(i.strike / 100 - float(quote.ltp)))
        for leg in options:
            if leg.expiry == expiry and leg.strike == nearest.strike:
                self.ctx.place(leg.token, "SELL", leg.lot_size, "MARKET", product="MIS")
        self.sold = True
        self.ctx.save()

    def snapshot(self):
        return {"sold": self.sold}
''',
    "example_price_alert.py": '''"""Example: tell the trader when NIFTY moves 0.5 % from where the strategy first started (a
Start after a Stop goes on measuring from there, and does not tell twice)."""

from engine.strategies.demo import DemoStrategy
from engine.strategies.kernel import Strategy, StrategyKernel


class PriceAlert(Strategy):
    strategy_id = "example-price-alert"
    title = "Example: NIFTY move alert"

    def on_start(self, state):
        self.start_price = state.get("start_price")
        self.told = state.get("told", False)
        self.ctx.watch(i.token for i in self.ctx.instruments.search("NIFTY 50", limit=1))

    def on_tick(self, tick):
        if self.start_price is None:
            self.start_price = tick.ltp
            self.ctx.save()
        move = (tick.ltp - self.start_price) / self.start_price
        if abs(move) >= 0.005 and not self.told:
            self.told = True
            self.ctx.say(f"NIFTY moved {move:+.2%} since the strategy started")
            self.ctx.save()

    def snapshot(self):
        return {"start_price": self.start_price, "told": self.told}
''',
}


def write_examples(folder: Path) -> list[Path]:
    """The template and the examples in ``folder`` (created), never over a trader's file."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in {"_template.py": TEMPLATE, **EXAMPLES}.items():
        path = folder / name
        if not path.exists():
            write_whole(path, text)  # a full disk leaves no half example that is never redone
            written.append(path)
    return written
