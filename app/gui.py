"""Start-up and shutdown of the workstation on one qasync loop shared with the engine."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from app.broker_logins import BrokerLogins
from app.crash import CrashHandler
from engine.api import EngineMessage, KillSwitchReport
from engine.brokers.registry import broker_spec
from engine.core.logs import log_dir
from engine.core.memory import collector_paused, freeze_startup_objects
from engine.domain.events import Severity
from engine.domain.instruments import Exchange, Instrument
from engine.runtime import Engine, EngineConfig
from engine.runtime.accounts import Accounts
from engine.settings import Settings, SettingsStore, settings_file

if TYPE_CHECKING:
    from engine.api.backtests import BacktestService
    from engine.brokers.registry import Connected
    from ui.kill_switch import DeskKillSwitch
    from ui.main_window import MainWindow

log = logging.getLogger(__name__)

FIRST_RUN_PAGE = "getting-started.html"
"""The manual's page shown beside the window at a profile's first start."""


def settings_path(profile: str) -> Path:
    return Path(platformdirs.user_config_dir("dalaldesk")) / profile / "layout.ini"


def session_text(engine: Engine) -> str:
    from engine.calendar import CalendarNotLoaded

    try:
        state = engine.calendar.session_state(engine.clock.now(), "FO")
    except CalendarNotLoaded:
        return "calendar not loaded"
    label = f"NSE F&O {state.value.replace('_', '-')}"
    year = engine.clock.now().year
    if engine.calendar.is_provisional(year):
        label += f" · {year} holidays not loaded"
    return f"{label} · simulated market kept open" if engine.config.always_open else label


Probe = Callable[["MainWindow"], Coroutine[Any, Any, None]]
"""Given the window before it is first shown, the steps to run on the running desk (the smoke
test's); the desk closes when the window does."""


async def run_window(
    config: EngineConfig,
    *,
    also: Sequence[EngineConfig] = (),
    profile: str,
    reset_layout: bool,
    crash: CrashHandler | None,
    probe: Probe | None = None,
    settings: SettingsStore | None = None,
    settings_problem: str | None = None,
) -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = asyncio.get_running_loop()
    if crash is not None:
        loop.set_exception_handler(crash.loop_exception)
    engines: list[Engine] = []
    try:
        for account in (config, *also):
            connected = None
            if account.market_feed != "simulated":
                connected = await _connect(account, profile)
                if connected is None:
                    return 2
            engines.append(
                Engine.build(
                    account,
                    link=None if connected is None else connected.link,
                    instruments=() if connected is None else connected.instruments,
                )
            )
        return await _run_desk(
            app,
            engines[0],
            also=engines[1:],
            profile=profile,
            reset_layout=reset_layout,
            crash=crash,
            probe=probe,
            settings=settings or SettingsStore(),
            settings_problem=settings_problem,
        )
    finally:
        for engine in engines:
            engine.close()  # idempotent: a desk that never started still lets its book go


async def _connect(config: EngineConfig, profile: str) -> Connected | None:
    """The live broker of ``config``, connected; keys missing or refused, the trader fixes them
    in Settings -> Brokers, or gives up (None)."""
    from app.main import connect_live, gui_login
    from engine.brokers.registry import ConnectProblem

    while True:
        try:
            return await connect_live(config, profile, login=gui_login)
        except ConnectProblem as problem:
            if not await broker_settings_until_closed(profile, str(problem), config.market_feed):
                return None


async def _run_desk(
    app: Any,
    engine: Engine,
    *,
    also: Sequence[Engine] = (),
    profile: str,
    reset_layout: bool,
    crash: CrashHandler | None,
    probe: Probe | None,
    settings: SettingsStore,
    settings_problem: str | None,
) -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow

    config = engine.config
    first_run = not settings_path(profile).exists()
    layouts = LayoutStore(settings_path(profile))
    if reset_layout:
        layouts.forget_current()
    closed = asyncio.Event()
    adopt_layout_theme(settings, layouts)
    logins = BrokerLogins()
    for account in (engine, *also):
        logins.watch(account)
    forget_rules = settings.subscribe(lambda old, new: follow_signal_settings(engine, old, new))
    delivery = AlertDeliveries(engine, profile, settings)
    accounts = Accounts({e.config.broker: e for e in (engine, *also)})
    """One kill switch over every account: pressed in any window, it halts them all."""

    def kill_switch(account: Engine) -> DeskKillSwitch | None:
        return desk_kill_switch(accounts, account.config.broker) if also else None

    with collector_paused():  # the window's start: see collector_paused
        window = MainWindow(
            engine.api,
            open_broker_settings=lambda: open_broker_settings(profile, engine),
            log_in=logins.action(engine),
            open_calendar_update=lambda: open_calendar_update(engine),
            set_webhook_passphrase=lambda: ask_webhook_passphrase(profile),
            notification_actions=delivery.actions(),
            api_token_actions=(
                lambda: new_api_token(profile),
                lambda: revoke_api_token(profile),
            ),
            save_diagnostics=lambda path, done: save_diagnostics(profile, engine, path, done),
            layouts=layouts,
            broker=broker_spec(config.broker).title,
            session_state=lambda: session_text(engine),
            settings=settings,
            on_close=closed.set,
            backtests=backtest_service(engine, profile),
            kill_switch=kill_switch(engine),
        )
    unreadable = window.restore_watchlists()
    if unreadable is not None:
        engine.bus.publish(
            EngineMessage(
                engine.clock.time_ns(),
                Severity.WARNING,
                f"The saved watchlists could not be read ({unreadable}); they are kept in "
                f"{layouts.path} as watchlists_unreadable and the default lists are shown.",
                "layout",
            )
        )
    if settings_problem is not None:
        engine.bus.publish(
            EngineMessage(engine.clock.time_ns(), Severity.WARNING, settings_problem, "settings")
        )
    if crash is not None:
        crash.notify = ErrorNotice(window)
    app.aboutToQuit.connect(closed.set)
    steps = None if probe is None else probe(window)
    window.show()
    if first_run:  # a new profile: the manual's first steps beside the window
        window.show_manual(FIRST_RUN_PAGE)
    if settings_problem is not None:
        box = QMessageBox(
            QMessageBox.Icon.Warning, "DalalDesk — settings", settings_problem, parent=window
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)  # the kill switch stays in reach
        box.show()  # never exec() nor open() (window-modal): the desk runs on behind it
    windows = [
        window,
        *(account_window(e, profile, settings, closed.set, kill_switch(e), logins) for e in also),
    ]
    keys = KeysFollowTheTrader(windows) if also else None
    stop_listening = close_on_termination_signals(window.close_for_termination)
    freeze_startup_objects()
    accounts.start()
    log.info(
        "workstation open: %d window(s); SIGTERM or SIGINT closes it as Close does", len(windows)
    )
    probing = None if steps is None else asyncio.get_running_loop().create_task(steps, name="probe")
    try:
        await closed.wait()
        if probing is not None:
            await probing
    finally:
        stop_listening()
        if keys is not None:
            keys.stop()
        forget_rules()
        logins.close()
        await delivery.close()
        for shown in windows:
            shown.stop()
            if shown is not window:
                shown.close()
        await accounts.stop()
        log.info("workstation closed cleanly")
    return 0


class ErrorNotice:
    """The crash handler's words for the trader in one non-modal box over ``window``: the
    window, its kill switch (Ctrl+Shift+K) and its keys stay in reach while it is open. The
    newest error is in front (a repeating one with its count, as the crash handler says it);
    other errors since the box opened are under Show Details. A new box opens only after the
    trader closed the last one. The box does not take the keyboard focus (an order being typed
    goes on into its ticket); the status bar points to it."""

    TITLE = "DalalDesk — error"
    LISTED = 50
    """Errors the box lists at most (the oldest go; the log keeps them all)."""

    def __init__(self, window: Any) -> None:
        self._window = window
        self.box: Any = None
        self._errors: dict[str, str] = {}
        """Each error's latest words since the box opened, by its first line; newest last."""

    def __call__(self, text: str) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QMessageBox

        summary = text.split("\n", 1)[0]
        self._errors.pop(summary, None)
        self._errors[summary] = text
        if len(self._errors) > self.LISTED:
            del self._errors[next(iter(self._errors))]
        others = len(self._errors) - 1
        front = text
        if others:
            front += f"\n\n{others} other error{'s' if others > 1 else ''} since: Show Details…"
        if self.box is None:
            box = QMessageBox(QMessageBox.Icon.Critical, self.TITLE, front, parent=self._window)
            box.setObjectName("errorNotice")
            box.setWindowModality(Qt.WindowModality.NonModal)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.finished.connect(self._closed)
            self.box = box
            box.show()
        else:
            self.box.setText(front)
        if others:
            self.box.setDetailedText("\n\n".join(reversed(self._errors.values())))
        self._window.statusBar().showMessage(f"Error: {summary} (details in the error box)")

    def _closed(self, _result: int) -> None:
        self.box = None
        self._errors.clear()
        self._window.statusBar().clearMessage()


def backtest_service(engine: Engine, profile: str) -> BacktestService:
    """The Backtest panel's runs: the profile's recordings (or the desk's ``--record`` folder),
    runs kept under the profile, the strategies the desk knows (built in and the trader's)."""
    from engine.api.backtests import BacktestService
    from engine.runtime.backtests import backtests_dir, recordings_dir, run_backtest

    config = engine.config
    instruments = engine.api.instruments

    def find_instrument(symbol: str) -> Instrument | None:
        found = (instruments.by_symbol(exchange, symbol) for exchange in Exchange)
        return next((instrument for instrument in found if instrument is not None), None)

    return BacktestService(
        runner=run_backtest,
        runs_dir=backtests_dir(profile),
        recordings_dir=config.recordings_dir or recordings_dir(profile),
        strategies=lambda: [info.strategy_id for info in engine.api.strategies()],
        strategies_dir=config.strategies_dir,
        history=engine.charts.history,
        find_instrument=find_instrument,
        now=engine.clock.now,
        risk_limits=lambda: desk_limits(engine),
    )


def desk_limits(engine: Engine) -> dict[str, Any]:
    """The risk limits this desk's account trades under (its overrides folded into the
    defaults), as a backtest's gate takes them."""
    return engine.api.risk_limits().as_account(engine.config.account).to_mapping()


def account_window(
    engine: Engine,
    profile: str,
    settings: SettingsStore,
    on_close: Callable[[], None],
    kill_switch: DeskKillSwitch | None = None,
    logins: BrokerLogins | None = None,
) -> MainWindow:
    """The window of an account traded beside the main one (``--also``): its own panels and
    layout, the same settings; closing it closes the desk, as the main window's Close does.
    ``kill_switch``: the desk's one kill switch (``desk_kill_switch``)."""
    from ui.layout_store import LayoutStore
    from ui.main_window import MainWindow

    broker = engine.config.broker
    layouts = LayoutStore(settings_path(profile).with_name(f"layout-{broker}.ini"))
    with collector_paused():  # the window's start: see collector_paused
        window = MainWindow(
            engine.api,
            open_broker_settings=lambda: open_broker_settings(profile, engine, broker=broker),
            log_in=None if logins is None else logins.action(engine),
            layouts=layouts,
            broker=f"{broker_spec(broker).title} account",
            session_state=lambda: session_text(engine),
            settings=settings,
            on_close=on_close,
            kill_switch=kill_switch,
        )
    unreadable = window.restore_watchlists()
    if unreadable is not None:  # told as the main window's start tells it, naming the account
        engine.bus.publish(
            EngineMessage(
                engine.clock.time_ns(),
                Severity.WARNING,
                f"The saved watchlists of the {broker_spec(broker).title} account window could "
                f"not be read ({unreadable}); they are kept in {layouts.path} as "
                "watchlists_unreadable and the default lists are shown.",
                "layout",
            )
        )
    window.show()
    return window


def desk_kill_switch(accounts: Accounts, account: str) -> DeskKillSwitch:
    """The desk's one kill switch as ``account``'s window presses it: every account halted and
    its orders cancelled (the others' reason names ``account``), and the square-off question
    counting, and squaring off, the positions of every account."""
    from ui.kill_switch import DeskKillSwitch

    def press(square_off: bool, reason: str) -> dict[str, KillSwitchReport]:
        return accounts.kill_switch(square_off=square_off, reason=reason, pressed_on=account)

    return DeskKillSwitch(press=press, open_positions=accounts.open_positions)


class KeysFollowTheTrader:
    """A desk of several account windows: the keys (F1, F2, Ctrl+Shift+X, Ctrl+Shift+Q, the kill
    switch, the panels' keys) act on the account of the window the trader is in, or whose order
    ticket, manual or dialog the trader is in.

    That window's keys are application-wide, as a single window's are (so they work from its
    ticket and dialogs too); every other window's wait for their window to become the active
    one, and then take over. Never two windows' at once: the same key application-wide in two
    windows is ambiguous, and Qt then runs neither (the kill switch included). A window of no
    account (the broker settings, a login) leaves the keys where they were."""

    def __init__(self, windows: Sequence[MainWindow]) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication

        self._windows = list(windows)
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self._app = app
        self._window_only = Qt.ShortcutContext.WindowShortcut
        self._application = Qt.ShortcutContext.ApplicationShortcut
        self.in_use = self._windows[0]
        for window in self._windows[1:]:
            window.keys_reach(self._window_only)
        self._app.focusWindowChanged.connect(self._focus_moved)
        self._focus_moved()

    def _focus_moved(self, *_focus: object) -> None:
        from PySide6.QtWidgets import QApplication

        window = self._account_window_of(QApplication.activeWindow())
        if window is None or window is self.in_use:
            return
        self.in_use.keys_reach(self._window_only)  # first: never two windows' keys at once
        window.keys_reach(self._application)
        self.in_use = window

    def _account_window_of(self, widget: Any) -> MainWindow | None:
        while widget is not None:
            for window in self._windows:
                if widget is window:
                    return window
            widget = widget.parentWidget()
        return None

    def stop(self) -> None:
        self._app.focusWindowChanged.disconnect(self._focus_moved)


class AlertDeliveries:
    """Alerts by Telegram and e-mail (``engine.alerts.delivery``) for the desk's main account:
    started with the desk, started again when Settings → Notifications change, flushed at the
    close; and the Notifications page's buttons (the bot token and the mail password into the
    keyring, a test message through each channel that is on)."""

    def __init__(self, engine: Engine, profile: str, settings: SettingsStore) -> None:
        from engine.alerts.delivery import DeliveryKeys, attach_deliveries
        from engine.credentials import CredentialStore

        self._engine = engine
        self._settings = settings
        self.keys = DeliveryKeys(CredentialStore(profile))
        self._attach = attach_deliveries
        self.handle = attach_deliveries(engine.api, self._chosen(settings.current), self.keys)
        self._mail_reports(settings.current)
        self._forget = settings.subscribe(self._changed)

    def _mail_reports(self, settings: Settings) -> None:
        """The schedule mails the end-of-day report with these e-mail settings (when ticked)."""
        from engine.alerts.delivery import ReportMailer

        if self._engine.schedule is not None:
            self._engine.schedule.report_mailer = ReportMailer(
                settings.notifications.email, self.keys
            )

    def _chosen(self, settings: Settings) -> Any:
        from app.main import delivery_settings

        return delivery_settings(settings)

    def _changed(self, old: Settings, new: Settings) -> None:
        if self._chosen(old) == self._chosen(new):
            return
        previous = self.handle
        self.handle = self._attach(self._engine.api, self._chosen(new), self.keys)
        self._mail_reports(new)
        task = asyncio.get_running_loop().create_task(previous.close(), name="delivery-restart")
        _open_pages.append(task)
        task.add_done_callback(_open_pages.remove)

    async def close(self) -> None:
        self._forget()
        await self.handle.close(flush=3.0)

    def actions(self) -> list[tuple[str, Callable[[], object]]]:
        return [
            ("Telegram bot token…", lambda: self._ask_secret("bot token", self.keys.save_bot_token)),
            ("E-mail password…", lambda: self._ask_secret("mail password", self._save_mail_password)),
            ("Send test messages", self.send_tests),
        ]  # fmt: skip

    def _save_mail_password(self, password: str) -> None:
        self.keys.save_smtp_password(password)
        self._mail_reports(self._settings.current)  # a report refused for the login: try again

    def _ask_secret(self, what: str, save: Callable[[str], None]) -> object:
        return ask_secret(
            f"Alerts: the {what}",
            f"The {what} (kept in the OS keyring; never shown again):",
            lambda text: save(text.strip()),
        )

    def send_tests(self) -> asyncio.Task[list[str]]:
        from engine.alerts.delivery import send_test

        notifications = self._settings.current.notifications

        async def run() -> list[str]:
            said = []
            for name, chosen in (
                ("Telegram", notifications.telegram),
                ("E-mail", notifications.email),
            ):
                if not chosen.enabled:
                    said.append(f"{name}: off (turn it on and Apply first)")
                    continue
                _ok, text = await send_test(chosen, self.keys)
                said.append(f"{name}: {text}")
            self._engine.api.tell("; ".join(said), source="notifications")
            return said

        task = asyncio.get_running_loop().create_task(run(), name="delivery-test")
        _open_pages.append(task)
        task.add_done_callback(_open_pages.remove)
        return task


def follow_signal_settings(engine: Engine, old: Settings, new: Settings) -> None:
    """Settings → Signals applies at once (a mode given with --signal-mode stays)."""
    from app.main import signal_rules

    current = engine.signals.rules.default_mode.value
    pinned = None if current == old.signals.mode else current
    engine.signals.rules = signal_rules(new.signals, pinned)


def keep_open(box: Any) -> Any:
    """Open a dialog without a parent, held until it closes (else Python collects it at once
    and the trader never sees it)."""
    from PySide6.QtCore import Qt

    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _open_pages.append(box)
    box.finished.connect(lambda _result: _open_pages.remove(box))
    box.open()
    return box


def ask_secret(title: str, label: str, save: Callable[[str], None]) -> object:
    """A secret typed hidden, handed to ``save`` (the keyring); what ``save`` refuses
    (``ValueError``, a keyring that cannot be used) is told in a box, in its words."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

    from engine.credentials import CredentialsUnavailable

    dialog = QInputDialog()
    dialog.setWindowTitle(title)
    dialog.setLabelText(label)
    dialog.setTextEchoMode(QLineEdit.EchoMode.Password)

    def chosen(text: str) -> None:
        try:
            save(text)
        except (ValueError, CredentialsUnavailable) as problem:
            keep_open(QMessageBox(QMessageBox.Icon.Warning, title, str(problem)))

    dialog.textValueSelected.connect(chosen)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _open_pages.append(dialog)
    dialog.finished.connect(lambda _result: _open_pages.remove(dialog))
    dialog.open()
    return dialog


def ask_webhook_passphrase(profile: str) -> object:
    """Settings → Signals → Set passphrase…: typed hidden, kept in the OS keyring only."""
    from engine.credentials import CredentialStore

    def save(text: str) -> None:
        if len(text) < 12 or text != text.strip() or " " in text:
            raise ValueError("Not kept: a passphrase is at least 12 characters, with no spaces.")
        CredentialStore(profile).set("signals", "webhook_passphrase", text)

    return ask_secret(
        "Webhook passphrase",
        "The passphrase TradingView's alert message carries (at least 12 characters, no "
        "spaces).\nIt is kept in the OS keyring; the desk never shows it again.",
        save,
    )


def new_api_token(profile: str) -> str | None:
    """Settings → Signals → New API token: a fresh random token into the keyring (the old one
    stops working at once), shown this once to copy into the script."""
    import secrets

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from engine.credentials import CredentialStore, CredentialsUnavailable

    token = secrets.token_urlsafe(32)
    try:
        CredentialStore(profile).set("api", "token", token)
    except CredentialsUnavailable as problem:
        keep_open(QMessageBox(QMessageBox.Icon.Warning, "Local API token", str(problem)))
        return None
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "Local API token",
        "A new token for the local API (the previous one no longer works). Copy it now: the "
        "desk keeps it in the OS keyring and does not show it again.\n\n" + token,
    )
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    keep_open(box)
    return token


def revoke_api_token(profile: str) -> bool:
    """Settings → Signals → Revoke API token: scripts are refused from now on."""
    from engine.credentials import CredentialStore, CredentialsUnavailable

    try:
        return CredentialStore(profile).delete("api", "token")
    except CredentialsUnavailable as problem:
        log.warning("the API token could not be revoked: %s", problem)
        return False


def adopt_layout_theme(settings: SettingsStore, layouts: Any) -> None:
    """Earlier versions kept the theme with the window layout: a profile that has no settings
    file yet takes its theme from there, once, and the layout forgets it."""
    saved = layouts.value("theme")
    if saved is None:
        return
    if settings.path is not None and not settings.path.exists() and saved in ("dark", "light"):
        settings.update("display", theme=saved)
    layouts.remove("theme")


def close_on_termination_signals(close: Callable[[], object]) -> Callable[[], None]:
    """SIGTERM (a logout, a service manager, ``kill``) and SIGINT close the desk exactly as the
    window's Close does: layout saved, tasks stopped, journal closed, exit 0.

    A Python signal handler runs only when the interpreter next runs, and Qt's loop may sleep in
    C++ for a long time; the wake-up fd lets a socket notifier wake the loop at once. Returns the
    function that puts the previous handlers back."""
    if sys.platform == "win32":  # no SIGTERM to a GUI process there; the OS sends a close event
        return lambda: None
    import socket

    from PySide6.QtCore import QSocketNotifier

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in signals}
    previous_fd = signal.set_wakeup_fd(writer.fileno())
    for number in signals:
        signal.signal(number, lambda _number, _frame: None)  # the notifier does the work
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def woken() -> None:
        try:
            received = reader.recv(64)
        except BlockingIOError:
            return
        names = sorted({signal.Signals(b).name for b in received if b in (*signals,)})
        if names:
            log.info("%s received: closing the workstation as its Close does", ", ".join(names))
            close()

    notifier.activated.connect(woken)

    def restore() -> None:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(previous_fd)
        for number, handler in previous.items():
            signal.signal(number, handler)
        reader.close()
        writer.close()

    return restore


_open_pages: list[object] = []


def open_calendar_update(engine: Engine) -> object:
    """Help → Update market calendar…: import a file or fetch NSE's list, then reload."""
    from engine.calendar import CalendarError
    from engine.calendar.update import (
        CalendarImportError,
        fetch_nse_holidays,
        import_calendar_file,
    )
    from ui.panels.calendar_update import CalendarUpdateDialog

    def coverage() -> str:
        years = ", ".join(str(y) for y in sorted(engine.calendar.covered_years))
        warning = engine.calendar.coverage_warning(engine.clock.now().date())
        return f"Holiday lists loaded: {years}." + (f" {warning}" if warning else "")

    def imported(path: Path) -> str:
        result = import_calendar_file(path)
        try:
            engine.reload_calendar()
        except CalendarError as problem:  # another override file is wrong: say which
            raise ValueError(str(problem)) from None
        return result.describe()

    def fetch(year: int, done: Callable[[bool, str], None]) -> None:
        async def run() -> None:
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(None, fetch_nse_holidays, year)
                engine.reload_calendar()
            except (CalendarImportError, CalendarError) as problem:
                done(False, str(problem))
                return
            except Exception as problem:  # the dialog must not wait for good on a surprise
                log.exception("calendar fetch for %s failed", year)
                done(False, f"the list could not be loaded ({problem}); see the log")
                return
            done(True, result.describe())

        task = asyncio.get_running_loop().create_task(run(), name="calendar-fetch")
        _open_pages.append(task)
        task.add_done_callback(_open_pages.remove)

    this_year = engine.clock.now().year  # the year the warning is about, else next year's list
    year = this_year if engine.calendar.is_provisional(this_year) else this_year + 1
    dialog = CalendarUpdateDialog(coverage=coverage, import_file=imported, fetch=fetch, year=year)
    _open_pages.append(dialog)
    dialog.finished.connect(lambda _result: _open_pages.remove(dialog))
    dialog.show()
    return dialog


def save_diagnostics(
    profile: str, engine: Engine, path: Path, done: Callable[[bool, str], None]
) -> None:
    """Help → Save diagnostics bundle…: written off the event loop (logs and the book check
    take a moment), then ``done`` says in words what happened."""
    from app.diagnostics import DiagnosticsError, desk_facts, write_bundle

    config = engine.config
    details = (("Broker", config.broker), ("Feed", config.market_feed))

    def write() -> str:
        return write_bundle(path, desk_facts(profile, config.db_url, details=details)).describe()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        try:
            text = await loop.run_in_executor(None, write)
        except DiagnosticsError as problem:
            done(False, str(problem))
            return
        done(True, text)

    task = asyncio.get_running_loop().create_task(run(), name="diagnostics-bundle")
    _open_pages.append(task)
    task.add_done_callback(_open_pages.remove)


def open_broker_settings(
    profile: str, engine: Engine | None = None, reason: str = "", broker: str = ""
) -> object:
    """Settings -> Brokers, non-modal, a tab per broker (``broker``'s in front); Test checks the
    keys (and the session, if one is live)."""
    from engine.brokers.kite.connect import check_kite_keys
    from engine.brokers.xts.check import XtsKeys, check_xts_keys
    from engine.credentials import CredentialStore
    from ui.panels.broker_settings import BrokerSettingsPage, BrokersWindow
    from ui.panels.xts_settings import XtsSettingsPage

    store = CredentialStore(profile)
    kite_page = BrokerSettingsPage(store)
    xts_page = XtsSettingsPage(XtsKeys(store))
    window = BrokersWindow(
        {"Kite": kite_page, "XTS": xts_page}, current=broker.upper() if broker == "xts" else "Kite"
    )
    if reason:
        window.setWindowTitle(f"Brokers — {reason}")
    session = engine.link.session if engine is not None and engine.link else None

    def test(page: Any, check: Callable[..., Awaitable[tuple[bool, str]]]) -> None:
        async def run() -> None:
            ok, text = await check(store, session)
            page.show_result(ok, text)

        task = asyncio.get_running_loop().create_task(run(), name="broker-test")
        _open_pages.append(task)
        task.add_done_callback(_open_pages.remove)

    kite_page.test_requested.connect(lambda: test(kite_page, check_kite_keys))
    xts_page.test_requested.connect(lambda: test(xts_page, check_xts_keys))
    window.destroyed.connect(lambda: _open_pages.remove(window) if window in _open_pages else None)
    _open_pages.append(window)
    window.show()
    return window


async def broker_settings_until_closed(profile: str, reason: str, broker: str = "") -> bool:
    """Show the broker settings with why they are needed; True if the trader saved keys."""
    from PySide6.QtCore import QEvent, QObject

    page = open_broker_settings(profile, reason=reason, broker=broker)
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


def profile_secrets(profile: str) -> list[str]:
    """The secret values the profile's keyring (and the environment) holds: a crash report
    must not carry them."""
    from app.diagnostics import known_secrets
    from engine.credentials import CredentialStore

    return known_secrets(CredentialStore(profile))


def run_gui(
    config: EngineConfig,
    *,
    also: Sequence[EngineConfig] = (),
    profile: str = "default",
    reset_layout: bool = False,
    probe: Probe | None = None,
    settings: SettingsStore | None = None,
    settings_problem: str | None = None,
) -> int:
    """The workstation window; start-up problems propagate to ``app.main`` in readable form.
    ``settings``: the profile's (``app.main.open_settings``); None opens the profile's file."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.qt_loop import run_on_qt_loop
    from app.single_instance import SingleInstance
    from app.startup import EXIT_STARTUP_PROBLEM, offer_backups
    from engine.store import book_file_of
    from engine.store.book import inspect_book_file
    from engine.strategies.loader import write_examples
    from resources import resource_path
    from ui.charts.page import prepare_web_engine

    prepare_web_engine()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("DalalDesk")
    app.setOrganizationName("DalalDesk")
    app.setDesktopFileName("dalaldesk")  # Wayland and the task bar find the .desktop entry's icon
    app.setWindowIcon(QIcon(str(resource_path("icons", "dalaldesk.png"))))

    def bring_to_front() -> None:
        for window in QApplication.topLevelWidgets():
            if window.objectName() == "mainWindow":
                window.showNormal()
                window.raise_()
                window.activateWindow()

    guard = SingleInstance(profile, settings_path(profile).parent, bring_to_front)
    guard.claim()
    book = book_file_of(config.db_url)
    problem = None if book is None else inspect_book_file(book)
    if book is not None and problem is not None and not offer_backups(book, problem):
        guard.release()
        return EXIT_STARTUP_PROBLEM
    folder = config.strategies_dir
    if folder is not None and not folder.exists():
        try:
            write_examples(folder)  # a first start: the template and two examples to begin from
        except OSError as exc:
            log.warning("could not write the strategy examples to %s: %s", folder, exc)
    crash = CrashHandler(log_dir(profile), secrets=lambda: profile_secrets(profile))
    crash.install()
    try:
        if settings is None:
            settings, settings_problem = SettingsStore.open(settings_file(profile))
        return run_on_qt_loop(
            run_window(
                config,
                also=also,
                profile=profile,
                reset_layout=reset_layout,
                crash=crash,
                probe=probe,
                settings=settings,
                settings_problem=settings_problem,
            )
        )
    finally:
        crash.uninstall()
        guard.release()
