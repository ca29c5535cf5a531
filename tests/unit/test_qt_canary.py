"""Canary for PYSIDE-3474: PySide6 6.12 on CPython 3.11 leaks references to True/None per call
until the interpreter aborts. This turns a mid-session abort into a clear test failure."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CANARY = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication

    class Emitter(QObject):
        fired = Signal(bool)

    app = QApplication([])
    emitter = Emitter()
    received = []
    emitter.fired.connect(lambda flag: received.append(flag))
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(10_000):
        emitter.fired.emit(True)
        app.processEvents()
    print(len(received), true_before - sys.getrefcount(True), none_before - sys.getrefcount(None))
    """
)


def test_qt_signals_when_emitted_ten_thousand_times_keep_refcounts_and_process_alive() -> None:
    run = subprocess.run(
        [sys.executable, "-c", CANARY], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, f"Qt canary process died ({run.returncode}): {run.stderr[-2000:]}"
    received, true_lost, none_lost = (int(x) for x in run.stdout.split())
    assert received == 10_000
    assert true_lost < 500, (
        f"True lost {true_lost} references: PySide6/Python mismatch (PYSIDE-3474)"
    )
    assert none_lost < 500, (
        f"None lost {none_lost} references: PySide6/Python mismatch (PYSIDE-3474)"
    )
