"""Worker processes that die with the desk, however the desk ends.

A process pool's workers outlive a desk that is SIGKILLed (and keep multiprocessing's resource
tracker alive with them): after a day of crashes a machine held dozens of orphans of ~85 MB. Each
worker therefore watches its parent from a thread and exits the moment the parent is gone; on
Linux the kernel's parent-death signal does the same even sooner.
"""

from __future__ import annotations

import copy
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from logging.handlers import QueueHandler
from multiprocessing.connection import wait
from queue import Empty
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.1
_STOP_SECONDS = 5.0


def worker_pool(
    max_workers: int = 1, *, log_to: Queue[logging.LogRecord] | None = None
) -> ProcessPoolExecutor:
    """A process pool (spawned, so no engine state is forked into it) whose workers exit with
    the desk. With ``log_to`` (a queue from ``logs_from_workers``) the workers' log records go
    to this process's handlers instead of their own stderr."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(log_to,),
    )


@contextmanager
def logs_from_workers() -> Iterator[Queue[logging.LogRecord] | None]:
    """A queue for ``worker_pool(log_to=...)`` whose records this process's root handlers take,
    while the block runs (the standard library's queue pattern: one process writes the file).
    None when this process has set no logging up: the workers then warn on their own stderr.

    Give each pool its own queue: a worker killed while it writes a line (the OOM killer
    strikes whenever it likes) holds the queue's write lock for good, and the next pool's
    workers would wait on it for ever."""
    handlers = logging.getLogger().handlers
    if not handlers:
        yield None
        return
    queue: Queue[logging.LogRecord] = multiprocessing.get_context("spawn").Queue()
    listener = _WorkerLines(queue, *handlers)
    listener.start()
    try:
        yield queue
    finally:
        if listener.stop_in_time():
            queue.close()


class _WorkerLines:
    """Hands the workers' lines to this process's handlers from a thread (as the standard
    library's ``QueueListener`` does), but never writes to their queue itself (a dead worker
    may hold its write lock) and gives up on a line a dead worker left half written."""

    def __init__(self, queue: Queue[logging.LogRecord], *handlers: logging.Handler) -> None:
        self._queue, self._handlers = queue, handlers
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._take, name="worker-lines", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _take(self) -> None:
        while True:
            try:
                record = self._queue.get(timeout=_POLL_SECONDS)
            except Empty:
                if self._stopping.is_set():
                    return  # every line written before the stop is taken
                continue
            except (EOFError, OSError) as exc:  # the queue was closed under a half-read line
                log.info("the workers' log queue ended partway through a line: %s", exc)
                return
            for handler in self._handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)

    def stop_in_time(self) -> bool:
        """Stop; False (and a warning) when a line a dead worker left half written holds the
        taker: its thread is left waiting, and the lines after it are lost."""
        self._stopping.set()
        self._thread.join(timeout=_STOP_SECONDS)
        if self._thread.is_alive():
            log.warning("a worker process ended while writing to the log: its last lines are lost")
            return False
        return True


class _ToParent(QueueHandler):
    """Sends a record as plain text: its message with the arguments in, and its traceback as
    ``exc_text`` (so the parent's handlers still format the two apart)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        return record


def _start_worker(log_to: Queue[logging.LogRecord] | None) -> None:
    die_with_parent()
    if log_to is not None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(_ToParent(log_to))
        root.setLevel(logging.INFO)


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
