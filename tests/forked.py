"""Child processes forked from a server that has imported the engine once.

A crash test needs a fresh process for every run it kills, and another to reopen the book. Started
from scratch, each pays about four seconds of imports; forked from multiprocessing's forkserver,
which preloads the engine, each costs a fork. The child is still a process of its own, with its
own database connections, killed by a real SIGKILL, so what it tests is unchanged.

``ForkedChild`` looks like the ``subprocess.Popen`` these tests used before: ``stdout`` (lines of
text as the child writes them), ``stdin`` (when asked for), ``stderr`` (readable once it ended),
``pid``, ``poll``, ``wait``, ``kill``, ``send_signal`` and ``returncode`` (minus the signal that
ended it). The server is started by the first child a test worker forks and inherits that worker's
environment.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from typing import IO

_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["engine.runtime", "sqlalchemy.dialects.postgresql", "psycopg"])


def _run(
    module: str,
    argv: list[str],
    stdin: Connection | None,
    stdout: Connection,
    stderr_path: str,
) -> None:
    """In the child: standard streams onto the parent's pipes, then ``module.main(argv)``."""
    os.dup2(stdout.fileno(), 1)
    stdout.close()
    with open(stderr_path, "wb") as err:
        os.dup2(err.fileno(), 2)
    if stdin is not None:
        os.dup2(stdin.fileno(), 0)
        stdin.close()
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the child's stdin
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    code = importlib.import_module(module).main(argv)
    sys.stdout.flush()
    sys.exit(code or 0)


class ForkedChild:
    """``module.main(argv)`` run in a process forked from the engine's forkserver."""

    def __init__(self, module: str, argv: list[str], *, stdin: bool = False) -> None:
        out_read, out_write = _FORKS.Pipe(duplex=False)
        in_read, in_write = _FORKS.Pipe(duplex=False) if stdin else (None, None)
        handle, self._stderr_path = tempfile.mkstemp(prefix="forked-", suffix=".err")
        os.close(handle)
        self._process = _FORKS.Process(
            target=_run, args=(module, argv, in_read, out_write, self._stderr_path), daemon=False
        )
        try:
            self._process.start()
        finally:
            out_write.close()  # the child holds the write end now: its death ends our reads
            if in_read is not None:
                in_read.close()
        self.stdout: IO[str] = os.fdopen(os.dup(out_read.fileno()), encoding="utf-8")
        out_read.close()
        self.stdin: IO[str] | None = None
        if in_write is not None:
            self.stdin = os.fdopen(os.dup(in_write.fileno()), "w", encoding="utf-8")
            in_write.close()
        self.stderr: IO[str] = open(self._stderr_path, encoding="utf-8")  # noqa: SIM115
        self.pid = self._process.pid
        self.args = [module, *argv]

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Kill it if it still runs, and let its pipes and files go."""
        if self.poll() is None:
            self.kill()
            self.wait()
        for stream in (self.stdout, self.stdin, self.stderr):
            if stream is not None:
                stream.close()
        self._process.close()
        os.unlink(self._stderr_path)

    def __enter__(self) -> ForkedChild:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
