"""Child process of the breakout crash test: the crash test's iron condor (``multileg_crash_child``:
sliced legs, stops resting at the broker, a target on the sold call) entered on a breakout of
the underlying's 09:20:00–09:20:30 range instead of at its start time, squared off at 09:23.

Same command line and ``--serve`` as ``multileg_crash_child.py``, whose runner it uses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from engine.runtime import Engine
from tests.integration import multileg_crash_child as child

RANGE = {
    "enabled": True,
    "range_start": "09:20:00",
    "range_end": "09:20:30",
    "on": "underlying",
    "entry_at": "either",
    "buffer": "5",
    "opposite_sl": False,
}

_condor = child.portfolio


def portfolio(engine: Engine) -> dict[str, Any]:
    data = _condor(engine)
    data["execution"] = {**data["execution"], "square_off": "09:23:00"}
    data["range_breakout"] = RANGE
    return data


if __name__ == "__main__":
    child.portfolio = portfolio  # in the child process only (see the re-entry crash child)
    if sys.argv[1:] == ["--serve"]:
        child.serve()
    else:
        from datetime import datetime

        book, folder, at = sys.argv[1], Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
        kill_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
        child.run(book, folder, at, kill_after, sys.stdout)
