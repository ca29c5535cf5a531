"""Start-up of the window on a qasync loop shared with the engine."""

from __future__ import annotations

import asyncio
import signal
import sys

from engine.runtime import Engine, EngineConfig


async def _run(config: EngineConfig) -> int:
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    engine = Engine.build(config)
    closed = asyncio.Event()
    window = MainWindow(engine.api, on_close=closed.set)
    app.aboutToQuit.connect(closed.set)
    window.show()
    engine.start()
    try:
        await closed.wait()
    finally:
        window.stop()
        await engine.stop()
    return 0


def run_gui(config: EngineConfig) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    QApplication(sys.argv)
    if sys.version_info >= (3, 12):
        return asyncio.run(_run(config), loop_factory=qasync.QEventLoop)
    return qasync.run(_run(config))  # type: ignore[no-any-return]
