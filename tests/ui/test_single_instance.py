"""One desk per profile: the profile lock, a stale one left by a killed desk, a lock that cannot
be written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QLockFile
from PySide6.QtWidgets import QApplication

from app.single_instance import ProfileInUse, SingleInstance
from app.startup import explain


def left_by_a_killed_desk(profile_dir: Path) -> Path:
    """The desk.lock a SIGKILLed desk leaves, naming a pid that now belongs to a live process of
    the same name (this test's own python: its name is what the lock says)."""
    path = profile_dir / "desk.lock"
    lock = QLockFile(str(path))
    assert lock.tryLock(100)
    content = path.read_bytes()
    lock.unlock()  # the file goes, and with it the OS lock a running desk keeps
    path.write_bytes(content)
    return path


def test_single_instance_when_a_stale_lock_names_a_live_unrelated_process_starts(
    qapp: QApplication, tmp_path: Path
) -> None:
    path = left_by_a_killed_desk(tmp_path)
    assert path.read_text().split("\n")[0] == str(os.getpid())
    guard = SingleInstance("default", tmp_path, on_raise=lambda: None)

    guard.claim()
    try:
        assert path.exists()
        second = SingleInstance("default", tmp_path, on_raise=lambda: None)
        with pytest.raises(ProfileInUse, match="already running"):
            second.claim()
    finally:
        guard.release()


def test_single_instance_when_a_running_desk_does_not_answer_is_still_refused(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised: list[bool] = []
    running = SingleInstance("default", tmp_path, on_raise=lambda: raised.append(True))
    running.claim()
    try:
        second = SingleInstance("default", tmp_path, on_raise=lambda: None)
        monkeypatch.setattr(second, "_ask_to_raise", lambda: False)  # its window is busy

        with pytest.raises(ProfileInUse, match=f"process {os.getpid()}"):
            second.claim()
        assert (tmp_path / "desk.lock").exists()
    finally:
        running.release()


class UnwritableLock:
    """QLockFile's answer on a full disk: no lock, an unknown error, no errno."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def tryLock(self, timeout: int) -> bool:
        return False

    def error(self) -> QLockFile.LockError:
        return QLockFile.LockError.UnknownError

    def fileName(self) -> str:
        return str(self.path)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a full device)")
def test_single_instance_when_the_disk_is_full_says_free_some_space(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = SingleInstance("default", tmp_path, on_raise=lambda: None)
    path = tmp_path / "desk.lock"
    monkeypatch.setattr(guard, "_lock", UnwritableLock(path))
    # Whatever the desk writes beside the lock lands on a full device, as on a full disk.
    Path(f"{path}.{os.getpid()}.probe").symlink_to("/dev/full")

    with pytest.raises(OSError) as failed:
        guard.claim()

    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(path)
    message = explain(failed.value)
    assert message is not None and "Free some space" in message and str(path) in message


def test_single_instance_when_the_lock_cannot_be_written_for_no_known_reason_is_unforeseen(
    qapp: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = SingleInstance("default", tmp_path, on_raise=lambda: None)
    monkeypatch.setattr(guard, "_lock", UnwritableLock(tmp_path / "desk.lock"))

    with pytest.raises(OSError, match="cannot write the profile lock") as failed:
        guard.claim()

    assert explain(failed.value) is None  # a crash report, not a wrong "disk full"
    assert list(tmp_path.iterdir()) == []  # the probe is gone
