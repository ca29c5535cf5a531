"""Worker processes that die with the desk, however the desk ends.

A process pool's workers outlive a desk that is SIGKILLed (and keep multiprocessing's resource
tracker alive with them): after a day of crashes a machine held dozens of orphans of ~85 MB. Each
worker therefore watches its parent from a thread and exits the moment the parent is gone; on
Linux the kernel's parent-death signal does the same even sooner.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def worker_pool(max_workers: int = 1) -> ProcessPoolExecutor:
    """A process pool (spawned, so no engine state is forked into it) whose workers exit with
    the desk."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
    )


def die_with_parent() -> None:
    """Worker initializer: end this process as soon as the process that started it ends."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if sys.platform == "linux":
        _ask_kernel_for_parent_death_signal()
    watcher = threading.Thread(
        target=_exit_when_gone, args=(parent.sentinel,), name="parent-watch", daemon=True
    )
    watcher.start()
    if not parent.is_alive():  # the parent died before the watch began
        os._exit(0)


def _exit_when_gone(sentinel: int) -> None:
    wait([sentinel])
    os._exit(0)  # no cleanup to run: the worker holds no state of its own


def _ask_kernel_for_parent_death_signal() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        log.debug("no parent-death signal: %s", exc)
