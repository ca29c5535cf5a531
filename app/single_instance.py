"""One desk window per profile: a second start brings the running window to the front instead.

``QLockFile`` in the profile's config folder says who runs the profile (pid, host, since when) and
treats the lock of a process that no longer exists as stale, so a desk that crashed never blocks
the next start. ``QLocalServer`` lets the second start ask the first to show its window. A pid can
be reused (after a reboot, say) by a program QLockFile mistakes for the desk; so when no desk
answers on the socket, the lock is removed if nobody holds its OS lock (a running desk keeps the
lock file open and locked, which the OS releases when the desk dies). The book
lock (``engine.store.book_lock``) still guards each book on its own, for headless runs and for
two profiles pointed at one ``--db``.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app.startup import StartupProblem

log = logging.getLogger(__name__)

RAISE_REQUEST = b"raise\n"
STALE_AFTER_MS = 0
"""A lock is stale only when its process is gone (QLockFile checks the pid), never by age: a desk
may run for weeks."""


def server_name(profile_dir: Path) -> str:
    """A local socket name unique to this OS user and profile folder (short enough for a Unix
    socket path)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    digest = hashlib.sha1(f"{user}:{profile_dir.resolve()}".encode()).hexdigest()[:16]
    return f"dalaldesk-{digest}"


class ProfileInUse(StartupProblem):
    def __init__(self, profile: str, pid: int, host: str, raised: bool) -> None:
        self.profile, self.pid, self.host, self.raised = profile, pid, host, raised
        process = f"process {pid}" if pid else "another process"
        where = f" on {host}" if host and host != socket.gethostname() else ""
        front = " Its window was brought to the front." if raised else ""
        super().__init__(
            f'DalalDesk is already running for profile "{profile}" ({process}{where}).{front} '
            "One desk per profile keeps its orders, layout and journal in one place; close that "
            "desk first, or start another profile with --profile NAME."
        )


class SingleInstance(QObject):
    """The profile's lock and the server that answers a second start; keep it for the desk's
    lifetime and call ``release`` at the end."""

    def __init__(self, profile: str, profile_dir: Path, on_raise: Callable[[], None]) -> None:
        super().__init__()
        self.profile = profile
        self._on_raise = on_raise
        profile_dir.mkdir(parents=True, exist_ok=True)
        self._lock = QLockFile(str(profile_dir / "desk.lock"))
        self._lock.setStaleLockTime(STALE_AFTER_MS)
        self._name = server_name(profile_dir)
        self._server: QLocalServer | None = None

    def claim(self) -> None:
        """Take the profile or raise ``ProfileInUse`` (after asking the holder to show itself)."""
        if not self._lock.tryLock(100):
            if self._lock.error() != QLockFile.LockError.LockFailedError:
                raise self._write_error()
            info = self._lock.getLockInfo()  # (pid, host, app); older bindings lead with a bool
            pid, host = info[-3:-1] if len(info) >= 3 else (0, "")
            raised = self._ask_to_raise()
            elsewhere = bool(host) and host != socket.gethostname()  # its pids are not ours
            if raised or elsewhere or not self._take_stale_lock(int(pid or 0)):
                raise ProfileInUse(self.profile, int(pid or 0), str(host or ""), raised)
        QLocalServer.removeServer(self._name)  # a crashed desk's socket file
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._answer)
        if not self._server.listen(self._name):
            log.warning(
                "a second start cannot bring this window forward: %s", self._server.errorString()
            )

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.unlock()

    def _take_stale_lock(self, pid: int) -> bool:
        """Take a lock no desk answers for, if its holder is gone whatever now has its pid.

        ``removeStaleLockFile`` deletes the file only when it can take the OS lock a live holder
        keeps (flock on POSIX; an open handle on Windows), so a desk that runs is never robbed.
        """
        if not self._lock.removeStaleLockFile() or not self._lock.tryLock(100):
            return False
        log.warning(
            "profile %s: removed a stale desk.lock of process %s (no desk was running)",
            self.profile,
            pid or "unknown",
        )
        return True

    def _write_error(self) -> OSError:
        """Why the lock file could not be written, as the OS says it (a full disk, a read-only
        folder), with its errno and the file's name, so the trader is told what to do."""
        path = self._lock.fileName()
        probe = Path(f"{path}.{os.getpid()}.probe")
        try:
            with probe.open("wb") as file:
                file.write(b"\0" * 256)  # about what the lock holds: pid, app, host, ids
                file.flush()
                os.fsync(file.fileno())
        except OSError as problem:
            return OSError(problem.errno, problem.strerror, path)
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        # The OS names no reason now (the disk has room again): an unforeseen fault.
        return OSError(f"cannot write the profile lock {path}")

    def _ask_to_raise(self) -> bool:
        peer = QLocalSocket()
        peer.connectToServer(self._name)
        if not peer.waitForConnected(1000):
            return False
        peer.write(RAISE_REQUEST)
        sent = peer.waitForBytesWritten(1000)
        peer.disconnectFromServer()
        return sent

    def _answer(self) -> None:
        assert self._server is not None
        while (connection := self._server.nextPendingConnection()) is not None:
            connection.readyRead.connect(lambda c=connection: self._read(c))
            connection.disconnected.connect(connection.deleteLater)
            if connection.bytesAvailable():
                self._read(connection)

    def _read(self, connection: QLocalSocket) -> None:
        if bytes(connection.readAll().data()).startswith(RAISE_REQUEST.strip()):
            log.info("a second start of profile %s: bringing the window to the front", self.profile)
            self._on_raise()
