"""Child process of the re-entry crash test: ``multileg_crash_child`` (the same desk, market, kill
and ``--serve`` machinery) running a short straddle whose legs re-execute on their stops.

``multileg_reentry_crash_child.py --serve`` | ``BOOK PORTFOLIOS AT [KILL_AFTER]``
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.runtime import Engine
from engine.strategies.multileg.portfolio import portfolio_strategy_id
from tests.integration import multileg_crash_child as child
from tests.multileg_support import template_spec

NAME = "Crash reentry"
STRATEGY = portfolio_strategy_id(NAME)
COUNT = 2
"""Each leg's line re-executes at most twice."""


def portfolio(engine: Engine) -> dict[str, Any]:
    """A short straddle of one lot a leg, each with a 2 % stop that re-executes the leg (the
    strike chosen again) up to twice, no safety seconds (every stop within its count acts),
    squared off three minutes after its 09:20 start."""
    data = template_spec(
        engine,
        "short_straddle",
        NAME,
        execution={"start": "09:20:00", "square_off": "09:23:00", "limit_buffer_pct": "0"},
        reentry={"leg_safety_seconds": 0},
    )
    for leg in data["legs"]:
        leg.update(
            stop={"measure": "percent", "value": "2"},
            on_stop={"action": "re_execute", "count": COUNT},
        )
    return data


if __name__ == "__main__":
    # The crash child's runner takes this portfolio: only in the child process, so a test that
    # imports this module for its names leaves the shared runner as other crash tests expect it.
    child.NAME, child.STRATEGY, child.portfolio = NAME, STRATEGY, portfolio
    if sys.argv[1:] == ["--serve"]:
        child.serve()
    else:
        book, folder, at = sys.argv[1], Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
        kill_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
        child.run(book, folder, at, kill_after, sys.stdout)
