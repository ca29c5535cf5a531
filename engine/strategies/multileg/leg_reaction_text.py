"""A leg's target or stop action in its leg text (the ``OnTarget`` and ``OnSL`` keys of
``leg_text``): the action's name, then its options, comma-separated::

    OnSL:ReExecute,Count=2,Strike=Same
    OnSL:ReEntryMomentum,Points=15
    OnTarget:ExecuteLeg,Leg=3,KeepRunning

=================  ============================================================================
action             ReExecute, ReExecuteReversed, ReEntryAtCost, ReEntryMomentum, Duplicate,
                   ReExecutePortfolio, ExecuteLeg, StartPortfolio, SqOffPortfolio
Count=n            times it may fire along the leg's line (1 when left out)
Strike=…           AsSet (left out), Same, OppositeLTP — re-execute's new strike
Points=n           momentum re-entry: points on from the exit
Lots=n             the new leg's lots
Leg=n              execute leg: the idle leg
Portfolio=name     start or square off: the other portfolio
KeepRunning,       flags: keep the leg running; new leg first, close the old once it fills;
AfterFill,         close the legs this leg's earlier actions opened
SqOffLinked
=================  ============================================================================

The canonical text writes the options in the order above and leaves out what is a default, so
each action has one text and reading it gives the same action back.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.strategies.multileg.reentry_spec import PORTFOLIO_NAME, Action, Reaction, Strike

ACTION_WORDS = {
    Action.RE_EXECUTE: "ReExecute",
    Action.RE_EXECUTE_REVERSED: "ReExecuteReversed",
    Action.RE_ENTRY_AT_COST: "ReEntryAtCost",
    Action.RE_ENTRY_MOMENTUM: "ReEntryMomentum",
    Action.DUPLICATE: "Duplicate",
    Action.RE_EXECUTE_PORTFOLIO: "ReExecutePortfolio",
    Action.EXECUTE_LEG: "ExecuteLeg",
    Action.START_PORTFOLIO: "StartPortfolio",
    Action.SQUARE_OFF_PORTFOLIO: "SqOffPortfolio",
}
STRIKE_WORDS = {Strike.AS_SET: "AsSet", Strike.SAME: "Same", Strike.OPPOSITE_LTP: "OppositeLTP"}
FLAGS = {
    "KeepRunning": "keep_leg_running",
    "AfterFill": "after_fill",
    "SqOffLinked": "square_off_linked",
}
OPTIONS = {"Count": "count", "Strike": "strike", "Points": "momentum", "Lots": "lots", "Leg": "leg"}
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_WHOLE = re.compile(r"[0-9]{1,9}", re.ASCII)
_NAME = re.compile(PORTFOLIO_NAME, re.ASCII)


class ReactionProblem(Exception):
    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


def _word(written: str, words: dict[Any, str]) -> Any:
    stripped = written.strip()
    if not stripped.isascii():
        return None
    return next((key for key, word in words.items() if stripped.lower() == word.lower()), None)


def read_reaction(key: str, path: str, value: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The reaction ``value`` says and where each of its field paths starts in it."""
    parts, at = [], 0
    for part in value.split(","):
        parts.append((part, at))
        at += len(part) + 1
    action = _word(parts[0][0], ACTION_WORDS)
    if action is None:
        names = ", ".join(ACTION_WORDS.values())
        raise ReactionProblem(f"{key} is one of {names}; got {parts[0][0].strip()!r}")
    read: dict[str, Any] = {"action": action}
    where = {path: 0, f"{path}.action": 0}
    for part, begin in parts[1:]:
        start = begin + len(part) - len(part.lstrip())
        name, equals, written = part.partition("=")
        name = name.strip()
        flag = _word(name, {f: f for f in FLAGS})
        if flag is not None and not equals:
            read[FLAGS[flag]] = True
            where[f"{path}.{FLAGS[flag]}"] = start
            continue
        option = _word(name, {o: o for o in (*OPTIONS, "Portfolio")})
        if option is None or not equals:
            known = ", ".join([*(f"{o}=…" for o in (*OPTIONS, "Portfolio")), *FLAGS])
            raise ReactionProblem(f"{key} options are {known}; got {part.strip()!r}", start)
        written_at = begin + part.index("=") + 1 + len(written) - len(written.lstrip())
        written = written.strip()
        field = "portfolio" if option == "Portfolio" else OPTIONS[option]
        if field in read:
            raise ReactionProblem(f"{key}: {option} is given twice", start)
        read[field] = _option(key, option, written, written_at)
        where[f"{path}.{field}"] = written_at
    return read, where


def _option(key: str, option: str, written: str, at: int) -> Any:
    if option == "Strike":
        strike = _word(written, STRIKE_WORDS)
        if strike is None:
            raise ReactionProblem(
                f"{key}: Strike is AsSet, Same or OppositeLTP; got {written!r}", at
            )
        return strike
    if option == "Points":
        if not _NUMBER.fullmatch(written):
            raise ReactionProblem(f"{key}: Points wants a number, got {written!r}", at)
        return Decimal(written)
    if option == "Portfolio":
        if not _NAME.fullmatch(written):
            raise ReactionProblem(f"{key}: Portfolio wants a portfolio's name, got {written!r}", at)
        return written
    if not _WHOLE.fullmatch(written):
        raise ReactionProblem(f"{key}: {option} wants a whole number, got {written!r}", at)
    return int(written)


def reaction_text(reaction: Reaction) -> str:
    parts = [ACTION_WORDS[reaction.action]]
    if reaction.count != 1:
        parts.append(f"Count={reaction.count}")
    if reaction.strike is not Strike.AS_SET:
        parts.append(f"Strike={STRIKE_WORDS[reaction.strike]}")
    if reaction.momentum is not None:
        parts.append(f"Points={format(reaction.momentum, 'f')}")
    if reaction.lots is not None:
        parts.append(f"Lots={reaction.lots}")
    if reaction.leg is not None:
        parts.append(f"Leg={reaction.leg}")
    if reaction.portfolio:
        parts.append(f"Portfolio={reaction.portfolio}")
    parts += [flag for flag, field in FLAGS.items() if getattr(reaction, field)]
    return ",".join(parts)
