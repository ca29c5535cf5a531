"""Running a coroutine on qasync's loop, the one loop Qt and the engine share."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_qt_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a new qasync loop (a QApplication must exist).

    ``asyncio.run(..., loop_factory=...)`` exists only on 3.12+; on 3.11 qasync's own runner
    does the same job."""
    import qasync

    if sys.version_info >= (3, 12):
        return asyncio.run(coro, loop_factory=qasync.QEventLoop)
    result: T = qasync.run(coro)
    return result
