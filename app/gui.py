"""Start-up and shutdown of the workstation on one qasync loop shared with the engine."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import platformdirs

from app.crash import CrashHandler
from app.logging_setup import log_dir
from engine.api import ConnectionChanged
from engine.core.memory import freeze_startup_objects
from engine.runtime import Engine, EngineConfig

log = logging.getLogger(__name__)


def settings_path(profile: str) -> Path:
    return Path(platformdirs.user_config_dir("dalaldesk")) / profile / "layout.ini"


def session_text(engine: Engine) -> str:
    from engine.calendar import CalendarNotLoaded

    try:
        state = engine.calendar.session_state(engine.clock.now(), "FO")
    except CalendarNotLoaded:
        return "calendar not loaded"
    label = f"NSE F&O {state.value.replace('_', '-')}"
    return f"{label} · simulated market kept open" if engine.config.always_open else label


async def run_window(
    config: EngineConfig, *, profile: str, reset_layout: bool, crash: CrashHandler | None
) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = asyncio.get_running_loop()
    if crash is not None:
        loop.set_exception_handler(crash.loop_exception)
    kite_link, instruments = None, []
    if config.market_feed == "kite":
        from app.main import gui_login, prepare_kite
        from engine.brokers.kite.session import LoginError
        from engine.credentials import CredentialsUnavailable

        while kite_link is None:
            try:
                kite_link, instruments = await prepare_kite(profile, login=gui_login)
            except (LoginError, CredentialsUnavailable) as problem:
                # Keys missing or refused: the trader fixes them in Settings -> Brokers, or quits.
                if not await broker_settings_until_closed(profile, str(problem)):
                    return 2
    engine = Engine.build(config, kite=kite_link, instruments=instruments)
    layouts = LayoutStore(settings_path(profile))
    if reset_layout:
        layouts.forget_current()
    closed = asyncio.Event()
    theme = str(layouts.value("theme", "dark"))
    login_windows: list[object] = []  # strong references while they are open

    def on_connection(event: ConnectionChanged) -> None:
        if event.component == "broker" and event.state == "login required" and engine.kite:
            from app.main import kite_login_window

            window_, _done = kite_login_window(engine.kite.session, event.detail)
            login_windows.append(window_)

    engine.api.subscribe(ConnectionChanged, on_connection)
    window = MainWindow(
        engine.api,
        open_broker_settings=lambda: open_broker_settings(profile, engine),
        layouts=layouts,
        broker="Paper" if config.broker == "paper" else config.broker,
        session_state=lambda: session_text(engine),
        theme=theme if theme in ("dark", "light") else "dark",
        on_close=closed.set,
    )
    watchlists = layouts.value("watchlists")
    if isinstance(watchlists, dict) and watchlists:
        window.panels["marketWatch"].load(watchlists)  # type: ignore[attr-defined]
    if crash is not None:

        def notify(text: str) -> None:
            box = QMessageBox(QMessageBox.Icon.Critical, "DalalDesk — error", text, parent=window)
            box.open()

        crash.notify = notify
    app.aboutToQuit.connect(closed.set)
    window.show()
    freeze_startup_objects()
    engine.start()
    try:
        await closed.wait()
    finally:
        window.stop()
        await engine.stop()
        log.info("workstation closed cleanly")
    return 0


_open_pages: list[object] = []


def open_broker_settings(profile: str, engine: Engine | None = None, reason: str = "") -> object:
    """Settings -> Brokers, non-modal; Test checks the keys (and the session, if one is live)."""
    from app.main import check_kite_keys
    from engine.credentials import CredentialStore
    from ui.panels.broker_settings import BrokerSettingsPage

    store = CredentialStore(profile)
    page = BrokerSettingsPage(store)
    if reason:
        page.setWindowTitle(f"Brokers — {reason}")

    def test() -> None:
        session = engine.kite.session if engine is not None and engine.kite else None

        async def run() -> None:
            ok, text = await check_kite_keys(store, session)
            page.show_result(ok, text)

        task = asyncio.get_running_loop().create_task(run(), name="broker-test")
        _open_pages.append(task)
        task.add_done_callback(_open_pages.remove)

    page.test_requested.connect(test)
    page.destroyed.connect(lambda: _open_pages.remove(page) if page in _open_pages else None)
    _open_pages.append(page)
    page.show()
    return page


async def broker_settings_until_closed(profile: str, reason: str) -> bool:
    """Show the broker settings with why they are needed; True if the trader saved keys."""
    from PySide6.QtCore import QEvent, QObject

    page = open_broker_settings(profile, reason=reason)
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[bool] = loop.create_future()
    saved = [False]
    page.saved.connect(lambda: saved.__setitem__(0, True))  # type: ignore[attr-defined]

    class CloseWatcher(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Close and not closed.done():
                closed.set_result(saved[0])
            return False

    watcher = CloseWatcher()
    page.installEventFilter(watcher)  # type: ignore[attr-defined]
    return await closed


def run_gui(config: EngineConfig, *, profile: str = "default", reset_layout: bool = False) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    app = QApplication(sys.argv)
    app.setApplicationName("DalalDesk")
    app.setOrganizationName("DalalDesk")
    crash = CrashHandler(log_dir(profile))
    crash.install()
    try:
        coro = run_window(config, profile=profile, reset_layout=reset_layout, crash=crash)
        if sys.version_info >= (3, 12):
            return asyncio.run(coro, loop_factory=qasync.QEventLoop)
        return qasync.run(coro)  # type: ignore[no-any-return]
    finally:
        crash.uninstall()
