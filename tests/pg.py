"""A real PostgreSQL server for tests: a throwaway cluster on 127.0.0.1 that a test can stop,
kill and start again.

``initdb`` and ``postgres`` refuse to run as root, so as root (CI, containers) the cluster is owned
by and run as the ``postgres`` system user the Debian package creates. The server binaries are
found on PATH or in ``/usr/lib/postgresql/<version>/bin``. Each test gets a database of its own
(``fresh_url``). ``DALALDESK_REQUIRE_POSTGRES=1`` (set by .ci/run) turns a missing server into a
failure instead of a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

USER = "postgres"


def server_binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found is not None:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="dalaldesk-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        if self._as_root:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, USER, USER)
        self._run(
            ["initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"]
        )

    def _command(self, args: list[str]) -> list[str]:
        tool = [str(self.binaries / args[0]), *args[1:]]
        return ["runuser", "-u", USER, "--", *tool] if self._as_root else tool

    def _run(self, args: list[str]) -> None:
        done = subprocess.run(self._command(args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-1000:]}")

    def start(self) -> None:
        self.process = subprocess.Popen(
            self._command(
                [
                    "postgres",
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={self.root}",
                    "-c",
                    "fsync=on",
                    "-c",
                    "max_connections=50",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url("postgres", driver=False), connect_timeout=1):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the PostgreSQL server did not start") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends, as a crash or a pulled plug would."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: postmaster and backends
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self._run(["pg_ctl", "-D", str(self.data), "stop", "-m", "fast", "-w"])
            self.process.wait(timeout=30)
            self.process = None

    def url(self, database: str, *, driver: bool = True) -> str:
        scheme = "postgresql+psycopg" if driver else "postgresql"
        return f"{scheme}://{USER}@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """A new empty database on the server, its SQLAlchemy URL."""
        name = f"book_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres", driver=False), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
