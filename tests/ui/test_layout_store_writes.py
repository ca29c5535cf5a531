"""The layout file's saves say when they do not reach the disk, and stop saying so once they
do again (Qt keeps a QSettings' first error for good)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray

from ui.layout_store import LayoutStore


def test_save_workspace_when_the_file_cannot_be_written_says_so_and_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "layout.ini"
    store = LayoutStore(path)
    geometry, state = QByteArray(b"geometry"), QByteArray(b"state")
    assert store.save_workspace("Morning", geometry, state) is None
    assert LayoutStore(path).workspace("Morning") == (geometry, state)

    path.unlink()
    path.mkdir()  # a folder where the file should be: no write can replace it
    problem = store.save_workspace("Expiry day", geometry, state)
    assert problem == f"cannot write {path}"
    assert store.sync() == f"cannot write {path}"
    assert store.workspaces() == ["Expiry day", "Morning"], "usable until the desk closes"

    path.rmdir()
    assert store.sync() is None, "the disk takes it again"
    reread = LayoutStore(path)
    assert reread.workspaces() == ["Expiry day", "Morning"]
    assert reread.workspace("Expiry day") == (geometry, state)
    assert store.delete_workspace("Morning") is None
    assert LayoutStore(path).workspaces() == ["Expiry day"]


def test_sync_when_the_saved_file_was_damaged_writes_it_whole_without_a_word(
    tmp_path: Path,
) -> None:
    path = tmp_path / "layout.ini"
    path.write_bytes(b"[current]\nversion=1\n\x00\xff = =\n[[[\n")
    store = LayoutStore(path)
    assert store.current_problem() is not None
    store.set_value("watchlists", "NIFTY")
    assert store.sync() is None
    assert LayoutStore(path).value("watchlists") == "NIFTY"
