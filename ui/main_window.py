"""The workstation window: dockable panels, menus, shortcuts, workspaces and the status bar."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import (
    QByteArray,
    QDataStream,
    QEvent,
    QItemSelectionModel,
    QObject,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from engine.api import (
    IST,
    AlertFired,
    DisplayPreferences,
    EngineApi,
    Settings,
    SettingsError,
    SettingsStore,
    Side,
    SignalRecord,
    SignalResult,
    SignalStep,
)
from engine.api.backtests import BacktestService
from engine.domain.events import Severity
from engine.domain.instruments import Instrument
from ui import format as fmt
from ui.bridge import EngineBridge
from ui.charts.docks import ChartDocks
from ui.charts.settings import ChartSettings
from ui.context import PanelContext, TicketRequest
from ui.dialogs import AboutDialog, ShortcutsDialog
from ui.kill_switch import (
    DeskKillSwitch,
    make_kill_switch_action,
    make_kill_switch_button,
    make_rearm_action,
)
from ui.layout_store import LayoutStore, workspace_name
from ui.manual import ManualWindow, risk_limits_table, shortcuts_table
from ui.notify import DesktopNotices
from ui.panel_registry import (
    AFTER_FIRST_PAINT,
    PANELS,
    SHORTCUTS,
    Panels,
    PanelSpec,
    scrollable_if_tall,
)
from ui.panels.alerts import AlertsPanel
from ui.panels.backtest import BacktestPanel
from ui.panels.greeks import GreeksPanel
from ui.panels.health import set_banner
from ui.panels.market_watch import MarketWatchPanel
from ui.panels.multileg import MultilegPanel
from ui.panels.multileg_editor import PortfolioEditor
from ui.panels.option_chain import OptionChainPanel
from ui.panels.order_ticket import OrderTicket
from ui.panels.orderbook import OrderbookPanel
from ui.panels.payoff import PayoffPanel
from ui.panels.performance import PerformancePanel
from ui.panels.positions import PositionsPanel
from ui.panels.risk import RiskPanel
from ui.panels.settings_dialog import SettingsDialog
from ui.panels.signals import SignalsPanel, decision_words
from ui.theme import ThemeHolder, apply_density, apply_font_size

log = logging.getLogger(__name__)


SaveDiagnostics = Callable[[Path, Callable[[bool, str], None]], None]
"""Writes the diagnostics bundle to a path, then calls back with success and what to tell the
trader (the work is the composition root's: it knows the profile, the book and the logs)."""

LAYOUT_SAVE_DELAY_MS = 2000
LAYOUT_SETTLE_MS = 500
"""After the window is shown, what building, restoring and sizing it moves is not a change."""
CHARTS_KEY = "charts"
"""The chart docks of a layout or workspace and what each shows (JSON text)."""
DEFAULT_SIZE = QSize(1500, 900)
"""The window's size on a first run, on a screen that has room for it."""
TITLE_BAR_ROOM = 40
"""Room left above the window for the title bar the window system adds (not known before the
window is shown), so a window fitted to a small screen keeps its title bar on it."""
WATCHLISTS_KEY = "watchlists_ordered"
"""The watchlists in tab order (JSON text); "watchlists", the sorted map earlier versions wrote,
is still read when this key is absent and never written."""


def main_view_of(panel: QWidget) -> QWidget:
    """Where a panel's key (F3, F4, ...) puts the focus so the panel's own keys work at once:
    the panel itself when it takes keys (Signals' cards), else its main table (``view``, as
    the table panels call it), else the first control of its Tab order. (Not a focus proxy:
    a panel's proxy takes the panel's other controls out of the Tab order.)"""
    if panel.focusPolicy() != Qt.FocusPolicy.NoFocus:
        return panel
    view = getattr(panel, "view", None)
    if isinstance(view, QAbstractItemView) and view.isVisibleTo(panel):
        return view
    control = panel.nextInFocusChain()
    while control is not panel and panel.isAncestorOf(control):
        takes_tab = control.focusPolicy() & Qt.FocusPolicy.TabFocus
        if takes_tab and control.isVisibleTo(panel) and control.isEnabled():
            return control
        control = control.nextInFocusChain()
    return panel


def select_current(view: QAbstractItemView) -> None:
    """A view with nothing selected selects the cell (or row) under its cursor, the first
    when it has none: the first ↓ then goes to the second row, not past the first."""
    selection, model = view.selectionModel(), view.model()
    if selection is None or model is None or selection.hasSelection():
        return
    index = view.currentIndex()
    if not index.isValid():
        index = model.index(0, 0)
    if not index.isValid():
        return  # an empty table
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
    if view.selectionBehavior() == QAbstractItemView.SelectionBehavior.SelectRows:
        flags |= QItemSelectionModel.SelectionFlag.Rows
    selection.setCurrentIndex(index, flags)


class HeldEnterFilter(QObject):
    """Takes away the repeats of a held Enter: the key that sent an order to be confirmed
    must not go on to answer the question."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        return (
            isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.isAutoRepeat()
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        )


def saved_frame(geometry: QByteArray) -> QRect | None:
    """The window's frame as ``saveGeometry`` wrote it (its first rectangle, after the magic
    number and the format's version), or None where it does not read."""
    stream = QDataStream(geometry)
    stream.setVersion(QDataStream.Version.Qt_4_0)
    if stream.readUInt32() != _GEOMETRY_MAGIC:
        return None
    stream.readUInt16(), stream.readUInt16()  # the format's version: the frame comes first in all
    frame = QRect()
    stream >> frame
    return frame if stream.status() is QDataStream.Status.Ok and frame.isValid() else None


_GEOMETRY_MAGIC = 0x1D9D0CB
"""What ``QWidget.saveGeometry`` writes first."""


def default_window_rect(screen: QRect) -> QRect:
    """The window's default place on a screen's available area: ``DEFAULT_SIZE`` where it fits,
    else as much as fits with room for the title bar, centred."""
    size = DEFAULT_SIZE.boundedTo(QSize(screen.width(), screen.height() - TITLE_BAR_ROOM))
    rect = QRect(screen.topLeft(), size)
    rect.moveCenter(screen.center())
    rect.moveTop(max(rect.top(), screen.top() + TITLE_BAR_ROOM))
    return rect


class MainWindow(QMainWindow):
    def __init__(
        self,
        api: EngineApi,
        *,
        layouts: LayoutStore,
        broker: str = "Paper",
        session_state: Callable[[], str] = lambda: "",
        settings: SettingsStore | None = None,
        on_close: Callable[[], None] | None = None,
        open_broker_settings: Callable[[], None] | None = None,
        log_in: Callable[[], None] | None = None,
        open_calendar_update: Callable[[], None] | None = None,
        set_webhook_passphrase: Callable[[], object] | None = None,
        api_token_actions: tuple[Callable[[], object], Callable[[], object]] | None = None,
        notification_actions: list[tuple[str, Callable[[], object]]] | None = None,
        save_diagnostics: SaveDiagnostics | None = None,
        backtests: BacktestService | None = None,
        kill_switch: DeskKillSwitch | None = None,
    ) -> None:
        """``kill_switch``: the desk's one kill switch when the desk trades several accounts
        (a window each); None: the kill switch of this window's account alone."""
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"DalalDesk — {broker}")
        self._place_by_default()
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
        )
        self._api = api
        self._layouts = layouts
        self._session_state = session_state
        self._on_close = on_close
        self._open_broker_settings = open_broker_settings
        self._log_in = log_in
        """Shows the live broker's login window (None on the paper market)."""
        self._open_calendar_update = open_calendar_update
        self._set_webhook_passphrase = set_webhook_passphrase
        self._api_token_actions = api_token_actions
        self._notification_actions = notification_actions or []
        """Settings → Notifications' buttons: the channels' secrets, a test message."""
        """New API token (shown once) and Revoke, both on the keyring."""
        self._save_diagnostics = save_diagnostics
        self._desk_kill_switch = kill_switch
        self.key_actions: list[QAction] = []
        """The actions the window's keys trigger (``keys_reach`` says from where)."""
        self.manual: ManualWindow | None = None
        self._broker = broker
        self.settings = settings or SettingsStore()
        """The trader's preferences (``engine.settings``); the window follows their changes."""
        self.settings_dialog: SettingsDialog | None = None
        self.unsaved_question: QMessageBox | None = None
        """Closing with unsaved portfolio changes: Save, Discard or Cancel, while it is open."""
        self.theme = ThemeHolder(self.settings.current.display.theme)
        self.bridge = EngineBridge(api, self)
        self.context = PanelContext(
            api=api,
            bridge=self.bridge,
            theme=self.theme,
            open_ticket=self.open_ticket,
            confirm=self.confirm,
            selected_instrument=self.selected_instrument,
            payoff_legs=self.payoff_legs,
            greeks_for=self.greeks_for,
            open_chart=self.open_chart,
            set_alert=self.set_alert,
            preferences=lambda: self.settings.current,
            backtests=backtests,
        )
        self.ticket = OrderTicket(self.context, self)
        self.charts = ChartDocks(self, self.context)
        """The chart docks (any number), kept with the workspace."""
        self.panels = Panels(self._build_panel)
        """The panels by name; one of ``AFTER_FIRST_PAINT`` is built when first asked for."""
        self._building_later = False
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self._build_toolbar()
        self._default_state = self.saveState(1)
        self._layout_set_aside = False
        self._build_menus()
        self._build_status_bar()
        self._show_display(self.settings.current.display)
        self._forget_settings = self.settings.subscribe(self._settings_changed)
        self._sized = self.restore_layout()
        self.bridge.frame.connect(self._update_status)
        self.notices = DesktopNotices()
        self.bridge.alerts.connect(self._alerts_fired)
        self._forget_signals = api.subscribe(SignalRecord, self._signal_recorded)
        # The arrangement is saved a moment after each change, not only at a clean close: a desk
        # that is killed keeps the trader's layout.
        self._layout_timer = QTimer(self)
        self._layout_timer.setObjectName("layoutSave")
        self._layout_timer.setSingleShot(True)
        self._layout_timer.setInterval(LAYOUT_SAVE_DELAY_MS)
        self._layout_timer.timeout.connect(self.save_layout)
        self._watching_layout = False
        for dock in self.docks.values():
            dock.dockLocationChanged.connect(self.layout_changed)
            dock.topLevelChanged.connect(self.layout_changed)
            dock.visibilityChanged.connect(self.layout_changed)
            dock.installEventFilter(self)
        # Watchlists are written only once they are known good: restored, or edited since.
        self._watchlists_writable = False
        self._layout_unwritten: str | None = None
        """Why the layout file could not be written the last time, or None."""
        watch = self.panels["marketWatch"]
        assert isinstance(watch, MarketWatchPanel)
        watch.changed.connect(self._watchlists_edited)
        self.charts.changed.connect(self.layout_changed)

    # -- panels ---------------------------------------------------------------------------------------

    def _build_docks(self) -> None:
        for spec in PANELS:
            dock = QDockWidget(spec.title, self)
            dock.setObjectName(spec.object_name)
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetClosable
                | QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            )
            self.addDockWidget(spec.area, dock)
            self.docks[spec.object_name] = dock
            if spec.object_name in AFTER_FIRST_PAINT:
                dock.setWidget(QWidget(dock))  # until the panel is built
                self.panels.waiting[spec.object_name] = spec
                dock.visibilityChanged.connect(
                    lambda shown, name=spec.object_name: (
                        shown and self.isVisible() and self._build_waiting(name)
                    )
                )
            else:
                self._build_panel(spec)
        bottom = [
            self.docks[n]
            for n in (
                "positions",
                "greeks",
                "orderbook",
                "trades",
                "messages",
                "risk",
                "strategies",
                "multileg",
                "algos",
                "alerts",
                "health",
                "advancedOrders",
                "execution",
                "performance",
            )
        ]
        for other in bottom[1:]:
            self.tabifyDockWidget(bottom[0], other)
        bottom[0].raise_()
        self.tabifyDockWidget(self.docks["optionChain"], self.docks["payoff"])
        self.tabifyDockWidget(self.docks["optionChain"], self.docks["signals"])
        self.tabifyDockWidget(self.docks["optionChain"], self.docks["backtest"])
        self.docks["optionChain"].raise_()

    def _build_panel(self, spec: PanelSpec) -> QWidget:
        panel = spec.factory(self.context)
        self.docks[spec.object_name].setWidget(scrollable_if_tall(panel))
        self.panels[spec.object_name] = panel
        if isinstance(panel, SignalsPanel):
            panel.decided.connect(self._signal_decided)
        return panel

    def _build_waiting_panels(self) -> None:
        for name in list(self.panels.waiting):
            self._build_waiting(name)

    def _build_waiting(self, name: str) -> None:
        """Build a waiting panel now; one that fails says so in its dock and the window works on."""
        try:
            self.panels.get(name)
        except Exception as exc:  # one panel's fault must not take the window down with it
            log.exception("the %s panel could not be built", name)
            notice = QLabel(f"This panel could not be opened ({exc}). The log has the details.")
            notice.setWordWrap(True)
            notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.docks[name].setWidget(notice)

    def paintEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().paintEvent(event)
        if self.panels.waiting and not self._building_later:
            # The window is on screen: the panels that could wait are built on the next turn.
            self._building_later = True
            QTimer.singleShot(0, self._build_waiting_panels)

    def _size_default_docks(self) -> None:
        """The default proportions: watch and chain on top (about 60 %), the books below."""
        top = [self.docks["marketWatch"], self.docks["optionChain"]]
        height = max(self.height() - 120, 400)
        self.resizeDocks(top, [int(height * 0.62)] * 2, Qt.Orientation.Vertical)
        watch = 492  # the watch's columns up to Ask; the chain takes the rest
        self.resizeDocks(top, [watch, max(self.width() - watch, 400)], Qt.Orientation.Horizontal)

    def _build_toolbar(self) -> None:
        # Before saveState: the default layout must know the toolbar for Reset layout to work.
        self.kill_action = make_kill_switch_action(self.context, self, desk=self._desk_kill_switch)
        self.context.kill_switch = self.kill_action.trigger  # the Risk panel's button too
        self.addAction(self.kill_action)
        self.key_actions.append(self.kill_action)
        self.rearm_action = make_rearm_action(self.context, self)
        toolbar = self.addToolBar("Trading")
        toolbar.setObjectName("tradingToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(
            make_kill_switch_button(self.context, self.kill_action, self.rearm_action, toolbar)
        )
        self.paused_banner = QLabel(toolbar, objectName="pausedBanner")
        self.paused_banner.setToolTip("What holds new orders now; Health (Ctrl+Shift+H) has more")
        self.paused_action = toolbar.addWidget(self.paused_banner)
        self.paused_action.setVisible(False)

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        if not self._sized:
            # Dock sizes only stick once the window has its real size.
            self._sized = True
            QTimer.singleShot(0, self._size_default_docks)
        # Changes count once the window is up (building and restoring it are not changes).
        QTimer.singleShot(LAYOUT_SETTLE_MS, self._watch_layout)

    def _watch_layout(self) -> None:
        self._watching_layout = self.isVisible()  # a window closed meanwhile saves no more

    def layout_changed(self, *_args: object) -> None:
        """Something in the arrangement moved: save it shortly (changes in a burst save once)."""
        if self._watching_layout:
            self._layout_timer.start()

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        self.layout_changed()

    def moveEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().moveEvent(event)
        self.layout_changed()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() in (QEvent.Type.Resize, QEvent.Type.Move)
            and watched in self.docks.values()
        ):
            self.layout_changed()
        return super().eventFilter(watched, event)

    @property
    def api(self) -> EngineApi:
        """The engine's facade the window trades through."""
        return self._api

    def show_panel(self, name: str) -> None:
        self._build_waiting(name)
        dock = self.docks[name]
        dock.show()
        dock.raise_()
        # The panel itself, not the dock's widget: that may be a scroll area around it, or
        # the note that the panel could not be built.
        panel = self.panels.built(name) or dock.widget()
        target = main_view_of(panel)
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)
        # The main table's row is what its keys act on; another table's selection may choose
        # what the panel shows (Performance's owner), so it is left as it is.
        if isinstance(target, QAbstractItemView) and target is getattr(panel, "view", None):
            select_current(target)

    def selected_instrument(self):  # type: ignore[no-untyped-def]
        watch = self.panels["marketWatch"]
        assert isinstance(watch, MarketWatchPanel)
        return watch.selected_instrument()

    def payoff_legs(self, legs, show: bool) -> None:  # type: ignore[no-untyped-def]
        payoff = self.panels.get("payoff")
        if isinstance(payoff, PayoffPanel):
            payoff.set_legs(legs)
            if show:
                self.show_panel("payoff")

    def greeks_for(self, strategy_id: str, show: bool) -> None:
        greeks = self.panels.get("greeks")
        if isinstance(greeks, GreeksPanel):
            greeks.show_strategy(strategy_id)
            if show:
                self.show_panel("greeks")

    # -- charts ------------------------------------------------------------------------------------------

    def open_chart(self, key: int | str | None = None, title: str | None = None) -> None:
        """A new chart dock of an instrument (the selected one when no key is given) or of a
        derived series (a straddle, a portfolio, an option's IV)."""
        if key is None:
            key = self._chart_key_of_focus()
            if key is None:
                self.statusBar().showMessage(
                    "Select an instrument, a position or a portfolio to chart", 4000
                )
                return
        target = self._api.chart_target(key)
        if target is None:
            self.statusBar().showMessage(f"{title or key} cannot be charted on this desk", 5000)
            return
        beside = next(iter(self.charts.docks.values()), None) or self.docks["optionChain"]
        self.charts.open(ChartSettings(key, title or target.title), beside=beside)

    def set_alert(self, instrument: Instrument | None = None) -> None:
        """The Alerts panel, forward, with ``instrument`` (or the selected one) chosen."""

        self.show_panel("alerts")
        panel = self.panels["alerts"]
        assert isinstance(panel, AlertsPanel)
        panel.choose(instrument or self.selected_instrument())
        panel.value.setFocus()

    def open_iv_chart(self) -> None:
        """A chart of the selected option's implied volatility over the session."""
        key = self._chart_key_of_focus()
        instrument = self._api.instruments.find(key) if isinstance(key, int) else None
        if instrument is None or not instrument.is_option:
            self.statusBar().showMessage("Select an option (in the chain or a watchlist)", 4000)
            return
        holding = self._api.follow_iv(key)  # a series to chart from now on; the chart holds it
        try:
            self.open_chart(f"iv:{key}")
        finally:
            holding()

    def _chart_key_of_focus(self) -> int | str | None:
        """What the trader is on: the portfolio (its MTM) selected in the Multileg panel when
        it has the focus; otherwise the instrument ``instrument_of_focus`` says."""
        panel = self._panel_of_focus()
        if isinstance(panel, MultilegPanel):
            chosen = panel.selected()
            if chosen is not None:
                return f"portfolio:{chosen.name}:mtm"
        instrument = self.instrument_of_focus()
        return None if instrument is None else int(instrument.token)

    def _panel_of_focus(self) -> QWidget | None:
        focus = QApplication.focusWidget()
        if focus is None:
            return None
        return next((p for p in self.panels.values() if p.isAncestorOf(focus)), None)

    def instrument_of_focus(self) -> Instrument | None:
        """The instrument the trader is on (what F1, F2 and Alt+C act on): the option chain's
        cell, the position or the order selected in the panel that has the focus; otherwise
        the market watch's row."""
        panel = self._panel_of_focus()
        instrument: Instrument | None = None
        if isinstance(panel, OptionChainPanel):
            index = panel.view.currentIndex()
            instrument = panel.model.cell(index)[0] if index.isValid() else None
        elif isinstance(panel, PositionsPanel):
            tokens = [line.token for line in panel.selected_lines() if line.token]
            instrument = self._api.instruments.find(tokens[0]) if tokens else None
        elif isinstance(panel, OrderbookPanel):
            orders = [row for row in panel.selected_orders() if row.instrument is not None]
            instrument = orders[0].instrument if orders else None
        return instrument or self.selected_instrument()

    def _fill_options_charts(self) -> None:
        self.options_charts_menu.clear()
        choices = self._api.chart_choices()
        if not choices:
            self.options_charts_menu.addAction("No option series yet").setEnabled(False)
        for choice in choices:
            self.options_charts_menu.addAction(
                choice.title, lambda k=choice.key, t=choice.title: self.open_chart(k, t)
            )

    def _restore_charts(self, saved: object) -> None:
        problem = self.charts.restore(saved)
        if problem is not None:
            self.statusBar().showMessage(f"Some charts were not restored: {problem}", 8000)

    # -- ticket and confirmations ------------------------------------------------------------------------

    def open_ticket(self, request: TicketRequest) -> None:
        """The ticket as a panel asks for it; a request naming no instrument is for the one the
        trader is on (``instrument_of_focus``)."""
        if request.instrument is None:
            request.instrument = self.instrument_of_focus()
        self.ticket.open_for(request)

    def side_key(self, side: Side) -> None:
        """F1 / F2: a ticket for the instrument the trader is on; with the ticket open, the
        same ticket turned to that side, nothing else changed (a modification keeps its side,
        and says so)."""
        if not self.ticket.isVisible():
            self.open_ticket(TicketRequest(side))
            return
        refusal = self.ticket.turn_to(side)
        if refusal is not None:
            self.statusBar().showMessage(refusal, 8000)

    def confirm(self, title: str, text: str, action: Callable[[], None]) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        held_enter = HeldEnterFilter(box)
        for widget in (box, *box.buttons()):
            widget.installEventFilter(held_enter)
        box.finished.connect(
            lambda result: action() if result == QMessageBox.StandardButton.Yes else None
        )
        box.open()  # never exec(): a nested loop would stall the engine's tasks

    # -- menus and shortcuts ------------------------------------------------------------------------------

    def _action(self, text: str, slot: Callable[[], object], shortcut: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            self.key_actions.append(action)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def keys_reach(self, context: Qt.ShortcutContext) -> None:
        """Where the window's keys (F1, F2, the kill switch, ...) act from: anywhere in the
        application (the default, and on a desk of several windows the one in use: its
        ticket, manual and dialogs included), or only while this window is the active one.
        Two windows' keys both application-wide would be ambiguous, and Qt then runs neither."""
        for action in self.key_actions:
            action.setShortcutContext(context)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        trade = menu.addMenu("&Trade")
        trade.addAction(self._action("Buy…", lambda: self.side_key(Side.BUY), "F1"))
        trade.addAction(self._action("Sell…", lambda: self.side_key(Side.SELL), "F2"))
        trade.addSeparator()
        trade.addAction(self._action("Cancel all open orders…", self.cancel_all, "Ctrl+Shift+X"))
        trade.addAction(
            self._action("Square off all positions…", self.square_off_all, "Ctrl+Shift+Q")
        )
        trade.addSeparator()
        trade.addAction(self.kill_action)
        trade.addAction(self.rearm_action)
        trade.addSeparator()
        trade.addAction(self._action("Reconnect prices", self.reconnect_prices))
        view = menu.addMenu("&View")
        for spec in PANELS:
            toggle = self.docks[spec.object_name].toggleViewAction()
            view.addAction(toggle)
            if spec.shortcut:
                self._action(
                    f"Show {spec.title}",
                    lambda n=spec.object_name: self.show_panel(n),
                    spec.shortcut,
                )
        view.addSeparator()
        themes = view.addMenu("Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in ("dark", "light"):
            action = QAction(
                name.title(), self, checkable=True, checked=name == self.theme.palette.name
            )
            action.triggered.connect(lambda _checked=False, n=name: self.apply_theme(n))
            group.addAction(action)
            themes.addAction(action)
            self.theme_actions[name] = action
        view.addAction(self._action("Reset layout", self.reset_layout, "Ctrl+Shift+L"))
        # The menus' Alt letters are none of the window's keys (Alt+C charts, Alt+S shows
        # Strategies): a key that is both is ambiguous, and Qt then does neither.
        charts = menu.addMenu("Cha&rts")
        charts.addAction(
            self._action("Chart the selected instrument", lambda: self.open_chart(), "Alt+C")
        )
        charts.addAction(
            self._action("Chart the selected option's IV", self.open_iv_chart, "Alt+Shift+C")
        )
        self.options_charts_menu = charts.addMenu("Options charts")
        self.options_charts_menu.aboutToShow.connect(self._fill_options_charts)
        settings = menu.addMenu("S&ettings")
        settings.addAction(self._action("Preferences…", self.open_settings, "Ctrl+,"))
        if self._open_broker_settings is not None:
            settings.addAction(self._action("Brokers…", self._open_broker_settings))
        if self._log_in is not None:
            settings.addAction(self._action("Log in to the broker again…", self._log_in))
        settings.addAction(self._action("Risk limits…", self.open_risk_limits))
        self.workspace_menu = menu.addMenu("&Workspace")
        self.workspace_menu.aboutToShow.connect(self._fill_workspace_menu)
        self._fill_workspace_menu()
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action("User manual", self.show_manual, "Shift+F1"))
        help_menu.addAction(self._action("Keyboard shortcuts", self.show_shortcuts))
        if self._open_calendar_update is not None:
            help_menu.addAction(self._action("Update market calendar…", self._open_calendar_update))
        if self._save_diagnostics is not None:
            help_menu.addAction(self._action("Save diagnostics bundle…", self.ask_diagnostics_path))
        help_menu.addAction(self._action("About DalalDesk", self.show_about))

    def _fill_workspace_menu(self) -> None:
        self.workspace_menu.clear()
        self.workspace_menu.addAction("Save workspace as…", self._ask_workspace_name)
        names = self._layouts.workspaces()
        if names:
            self.workspace_menu.addSeparator()
            for name in names:
                self.workspace_menu.addAction(name, lambda n=name: self.switch_workspace(n))
            delete = self.workspace_menu.addMenu("Delete")
            for name in names:
                delete.addAction(name, lambda n=name: self.delete_workspace(n))

    def show_manual(self, page: str = "") -> ManualWindow:
        """Help → User manual: one window, brought back to the front when asked again; at
        ``page`` (a manual page's file name, with an anchor if wanted) when one is given."""
        if self.manual is None:
            blocks = {
                "shortcuts": shortcuts_table(SHORTCUTS),
                "risk-limits": risk_limits_table(self._api.risk_limit_schema()),
            }
            self.manual = ManualWindow(blocks, self)
            self.manual.setWindowFlag(Qt.WindowType.Window)  # beside the desk, closed with it
        if page:
            self.manual.open_page(page)
        self.manual.show()
        self.manual.raise_()
        self.manual.activateWindow()
        return self.manual

    def ask_diagnostics_path(self) -> QFileDialog:
        """Help → Save diagnostics bundle…: where to write it (non-modal), then write it."""
        stamp = datetime.now(IST).strftime("%Y%m%d-%H%M")
        dialog = QFileDialog(self, "Save diagnostics bundle")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("Zip archives (*.zip)")
        dialog.setDefaultSuffix("zip")
        dialog.selectFile(str(Path.home() / f"dalaldesk-diagnostics-{stamp}.zip"))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.save_diagnostics_to(Path(name)))
        dialog.open()
        return dialog

    def save_diagnostics_to(self, path: Path) -> None:
        if self._save_diagnostics is None:
            return
        self.statusBar().showMessage(f"Writing the diagnostics bundle to {path}…")
        self._save_diagnostics(path, self._diagnostics_done)

    def _diagnostics_done(self, ok: bool, text: str) -> None:
        self.statusBar().clearMessage()
        icon = QMessageBox.Icon.Information if ok else QMessageBox.Icon.Warning
        box = QMessageBox(icon, "Diagnostics bundle", text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("diagnosticsResult")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # never exec(): a nested loop would stall the engine's tasks

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(SHORTCUTS, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # a new one each time asked
        dialog.open()
        return dialog

    def show_about(self) -> AboutDialog:
        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # a new one each time asked
        dialog.open()
        return dialog

    # -- trade actions ------------------------------------------------------------------------------------

    def cancel_all(self) -> None:
        count = sum(1 for o in self._api.orders() if o.status.is_open)
        if count:
            self.context.confirm(
                "Cancel all", f"Cancel all {count} open order(s)?", self._api.cancel_all
            )

    def square_off_all(self) -> None:
        panel = self.panels["positions"]
        assert isinstance(panel, PositionsPanel)
        panel.square_off_all()

    def reconnect_prices(self) -> None:
        """A live feed that stopped trying connects again, without a restart (the answer is in
        Messages too)."""
        self.statusBar().showMessage(self._api.reconnect_feed(), 10_000)

    # -- layouts and workspaces -----------------------------------------------------------------------------

    def restore_layout(self) -> bool:
        problem = self._layouts.current_problem()
        if problem is not None:
            self._layout_unusable(problem)
        saved = self._layouts.current()
        if saved is None:
            return False
        geometry, state = saved
        self._restore_charts(self._layouts.value(CHARTS_KEY))
        self._restore_geometry(geometry)
        restored = self.restoreState(state, 1)
        if not restored:
            self._layout_unusable("the arrangement of the panels in it is not readable")
        return restored

    def _restore_geometry(self, geometry: QByteArray) -> None:
        """The window's saved place, or its default place where the saved one is on no screen
        now (saved on a monitor that is gone) or does not read."""
        frame = saved_frame(geometry)
        # Qt moves a place saved on a monitor that is gone onto a screen, squeezed to fit
        # there: the saved place itself says whether it is on a screen now.
        gone = frame is None or QGuiApplication.screenAt(frame.topLeft() + QPoint(8, 8)) is None
        if gone or not self.restoreGeometry(geometry) or not self._on_a_screen():
            self._place_by_default()

    def _on_a_screen(self) -> bool:
        """Whether the window is on a screen it fits, its top corner (the title bar) on it."""
        if self.isMaximized() or self.isFullScreen():
            return True  # the window system puts it on a screen
        rect = self.geometry()
        screen = QGuiApplication.screenAt(rect.center())
        if screen is None:
            return False
        area = screen.availableGeometry()
        fits = rect.width() <= area.width() and rect.height() <= area.height()
        return fits and area.contains(rect.topLeft())

    def _place_by_default(self) -> None:
        """The default size, or as much of the primary screen as there is (a 1366×768 laptop),
        centred on that screen."""
        screen = QGuiApplication.primaryScreen()
        if screen is None:  # no screen to fit (never on a desktop): the size alone
            self.resize(DEFAULT_SIZE)
            return
        self.setGeometry(default_window_rect(screen.availableGeometry()))

    def _layout_unusable(self, problem: str) -> None:
        """The saved layout cannot be used: the default one is shown, the file is kept aside
        before the next save writes over it, and the trader is told where (once a run)."""
        if self._layout_set_aside:
            return
        self._layout_set_aside = True
        path = self._layouts.path
        try:
            kept = f"the file is kept as {self._layouts.set_aside()}"
        except OSError as error:
            kept = f"a copy of the file could not be kept ({error.strerror or error})"
        text = (
            f"The saved window layout in {path} could not be used: {problem}. The default "
            f"layout is shown and {kept}."
        )
        log.warning("%s", text)
        self._api.tell(text, Severity.WARNING, "layout")
        self.statusBar().showMessage("The saved layout could not be used: see Messages", 15000)

    def save_layout(self) -> None:
        self._layout_timer.stop()
        self._layouts.save_current(self.saveGeometry(), self.saveState(1))
        self._layouts.set_value(CHARTS_KEY, self.charts.saved())
        watch = self.panels["marketWatch"]
        if isinstance(watch, MarketWatchPanel) and self._watchlists_writable:
            self._layouts.set_value(WATCHLISTS_KEY, watch.saved_form())
        self._layout_written(self._layouts.sync())

    def _layout_written(self, problem: str | None) -> None:
        """Say that the layout file cannot be written, once for each new problem (the layout is
        saved after every change, and at the close)."""
        if problem == self._layout_unwritten:
            return
        self._layout_unwritten = problem
        if problem is not None:
            log.warning("the layout was not saved: %s", problem)
            self.statusBar().showMessage(f"Layout not saved: {problem}", 15_000)

    def restore_watchlists(self) -> str | None:
        """The trader's watchlists as saved, in their tab order. A saved value that cannot be
        read is left as it is (the default lists are shown and not saved over it) until the
        trader edits a watchlist; a copy is kept as watchlists_unreadable. Returns the reason."""
        watch = self.panels["marketWatch"]
        assert isinstance(watch, MarketWatchPanel)
        saved = self._layouts.value(WATCHLISTS_KEY)
        if saved is None:
            saved = self._layouts.value("watchlists")  # the form earlier versions wrote
        problem = None if saved is None else watch.load(saved)
        if problem is None:
            self._watchlists_writable = True
            return None
        self._watchlists_writable = False
        self._layouts.set_value("watchlists_unreadable", str(saved))
        self._layouts.sync()
        log.warning("saved watchlists not restored (%s); kept as watchlists_unreadable", problem)
        return problem

    def _watchlists_edited(self) -> None:
        self._watchlists_writable = True  # the trader's own lists now: save them over the old
        self.layout_changed()

    def reset_layout(self) -> None:
        """View → Reset layout: the default arrangement, and the window at its default place on
        the primary screen (a window dragged off every screen comes back)."""
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._default_state, 1)
        if self.isMaximized() or self.isFullScreen():
            self.showNormal()
        self._place_by_default()
        self._size_default_docks()
        self._layouts.forget_current()

    def _ask_workspace_name(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Save workspace")
        dialog.setLabelText("Workspace name:")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # the name comes by the signal
        dialog.textValueSelected.connect(self.save_workspace)
        dialog.open()

    def save_workspace(self, name: str) -> None:
        try:
            name = workspace_name(name)
        except ValueError as problem:
            self.statusBar().showMessage(f"Workspace not saved: {problem}", 8000)
            return
        self._layouts.set_value(f"workspaces/{name}/{CHARTS_KEY}", self.charts.saved())
        problem = self._layouts.save_workspace(name, self.saveGeometry(), self.saveState(1))
        if problem is not None:
            log.warning("workspace %s not saved: %s", name, problem)
            self.statusBar().showMessage(
                f"Workspace {name} not saved: {problem}; it lasts until the desk closes", 15_000
            )

    def switch_workspace(self, name: str) -> bool:
        saved = self._layouts.workspace(name)
        if saved is None:
            return False
        geometry, state = saved
        self._restore_charts(self._layouts.value(f"workspaces/{name}/{CHARTS_KEY}"))
        self._restore_geometry(geometry)
        return self.restoreState(state, 1)

    def delete_workspace(self, name: str) -> None:
        self._layouts.delete_workspace(name)

    def apply_theme(self, name: str) -> None:
        """View → Theme: the Display setting changes, and with it the whole desk."""
        try:
            self.settings.update("display", theme=name)
        except SettingsError as problem:
            raise ValueError(str(problem)) from None

    # -- settings ------------------------------------------------------------------------------------------

    def open_settings(self, group: str = "") -> SettingsDialog:
        """Settings (Ctrl+,): one window, brought back to the front when asked again."""
        if self.settings_dialog is None:
            extras: dict[str, list[tuple[str, Callable[[], object]]]] = {
                "risk": [("Risk limits…", self.open_risk_limits)],
                "signals": [("Signals panel…", lambda: self.show_panel("signals"))],
                "notifications": list(self._notification_actions),
            }
            if self._set_webhook_passphrase is not None:
                extras["signals"].insert(0, ("Set passphrase…", self._set_webhook_passphrase))
            if self._api_token_actions is not None:
                new_token, revoke = self._api_token_actions
                extras["signals"][1:1] = [("New API token…", new_token), ("Revoke token", revoke)]
            if self._open_broker_settings is not None:
                extras["brokers"] = [("Broker keys…", self._open_broker_settings)]
            self.settings_dialog = SettingsDialog(self.settings, extras=extras, parent=self)
        if group:
            self.settings_dialog.show_group(group)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()
        return self.settings_dialog

    def open_risk_limits(self) -> QWidget:
        risk = self.panels["risk"]
        assert isinstance(risk, RiskPanel)
        return risk.open_settings()

    def _settings_changed(self, old: Settings, new: Settings) -> None:
        if old.display != new.display:
            self._show_display(new.display)

    def _show_display(self, display: DisplayPreferences) -> None:
        """Theme, colours, digit grouping, font and row height as the Display settings say."""
        fmt.set_number_format(display.number_format)
        self.theme.apply(display.theme, display.up_colour, display.down_colour)
        apply_font_size(display.font_size)
        apply_density(self, display.density)
        action = getattr(self, "theme_actions", {}).get(display.theme)
        if action is not None:
            action.setChecked(True)
        self.bridge.quotes_changed.emit(set())  # repaint models with the new palette
        self.charts.apply_theme()

    # -- status bar -----------------------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.broker_label = QLabel(f"● {self._broker}")
        self.feed_label = QLabel("Feed: —")
        self.session_label = QLabel("")
        self.mtm_label = QLabel("Day MTM —")
        self.clock_label = QLabel("")
        # All permanent: a message (an alert, an error) takes the bar's free space on the left
        # and never hides whether the broker and the feed are up.
        for label in (
            self.broker_label,
            self.feed_label,
            self.session_label,
            self.mtm_label,
            self.clock_label,
        ):
            bar.addPermanentWidget(label)
        self._clock_timer = QTimer(self, objectName="status-clock")
        self._clock_timer.setInterval(1000)
        self._clock_timer.timeout.connect(self._update_clock)
        self._clock_timer.start()
        self._update_clock()

    def _update_clock(self) -> None:
        self.clock_label.setText(datetime.now(IST).strftime("%H:%M:%S IST"))
        state = self._session_state()
        self.session_label.setText(state)
        self._update_paused_banner()

    def _alerts_fired(self, events: list[AlertFired]) -> None:
        """Each alert as it fires: in the status bar and as a desktop notification."""
        for event in events:
            self.statusBar().showMessage(f"Alert: {event.text}", 15_000)
            if self.settings.current.notifications.desktop:
                self.notices.notify("DalalDesk alert", event.text, urgent=True)

    def _signal_decided(self, result: SignalResult) -> None:
        """What became of a signal the trader approved or rejected, in the status bar."""
        self.statusBar().showMessage(f"Signal {decision_words(result)}", 15_000)

    def _signal_recorded(self, record: SignalRecord) -> None:
        """A signal waiting for approval: said in the status bar and as a notification."""
        if record.step is not SignalStep.PENDING:
            return
        detail = record.detail
        text = (
            f"{detail.get('instrument', '')} from {record.strategy}: waiting for approval "
            f"(Signals, Alt+Shift+S)"
        )
        self.statusBar().showMessage(f"Signal {record.signal_id}: {text}", 15_000)
        if self.settings.current.notifications.desktop:
            self.notices.notify("DalalDesk signal", text, urgent=True)

    def _update_paused_banner(self) -> None:
        """Shown only while something holds new orders (the kill switch, a login, the disk)."""
        paused = self._api.trading_paused()
        self.paused_action.setVisible(paused is not None)
        if paused is not None:
            set_banner(self.paused_banner, paused, self.theme.palette)

    def _update_status(self) -> None:
        rate = self.bridge.tick_rate
        self.feed_label.setText(f"Feed: {rate:,.0f} ticks/s" if rate else "Feed: idle")
        mtm = self._api.day_pnl()
        self.mtm_label.setText(f"Day MTM {fmt.signed_rupees(mtm)}")
        palette = self.theme.palette
        colour = palette.up if mtm > 0 else palette.down if mtm < 0 else palette.muted
        self.mtm_label.setStyleSheet(f"color: {colour.name()}; font-weight: 600;")

    # -- closing ---------------------------------------------------------------------------------------------

    def stop(self) -> None:
        # By name, not as the dock's widget: the dock may hold the panel in a scroll area.
        backtest = self.panels.built("backtest")
        if isinstance(backtest, BacktestPanel):
            backtest.stop_import()  # a file read on a thread would hold the desk's exit
        performance = self.panels.built("performance")
        if isinstance(performance, PerformancePanel):
            performance.stop_reading()  # a read of the journal would outlive the desk
        self._watching_layout = False
        self._forget_settings()
        self._forget_signals()
        self.charts.stop()
        self._layout_timer.stop()
        self.bridge.stop()
        self._clock_timer.stop()

    def _unsaved_editors(self) -> list[PortfolioEditor]:
        panel = self.panels.built("multileg")
        return panel.unsaved_editors() if isinstance(panel, MultilegPanel) else []

    def _ask_about_unsaved(self, editors: list[PortfolioEditor]) -> None:
        """Save, Discard or Cancel before the desk closes over unsaved portfolio changes."""
        if self.unsaved_question is not None:  # asked already: the question comes to the front
            self.unsaved_question.raise_()
            self.unsaved_question.activateWindow()
            return
        names = ", ".join(editor.described() for editor in editors)
        answers = (
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Unsaved portfolio changes",
            f"Save the changes to {names} before DalalDesk closes?",
            answers,
            self,
        )
        box.setObjectName("unsavedPortfolios")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._unsaved_answered)
        self.unsaved_question = box
        box.open()  # never exec(): a nested loop would stall the engine's tasks

    def _unsaved_answered(self, result: int) -> None:
        self.unsaved_question = None
        if result == QMessageBox.StandardButton.Discard:
            for editor in self._unsaved_editors():
                editor.discard_and_close()
            self.close()
        elif result == QMessageBox.StandardButton.Save and self._saved_all():
            self.close()

    def _saved_all(self) -> bool:
        """Save every editor's changes; one that cannot be saved is shown (it says why)."""
        not_saved = [editor for editor in self._unsaved_editors() if not editor.save()]
        if not not_saved:
            return True
        names = ", ".join(editor.described() for editor in not_saved)
        self.statusBar().showMessage(
            f"DalalDesk not closed: {names} could not be saved (the editor says why)", 15_000
        )
        not_saved[0].show()
        not_saved[0].raise_()
        not_saved[0].activateWindow()
        return False

    def close_for_termination(self) -> None:
        """SIGTERM or SIGINT (a logout, a service manager): the desk closes as its Close does,
        without asking, since nobody waits to answer; unsaved portfolio changes are dropped and
        the log names them."""
        unsaved = self._unsaved_editors()
        if unsaved:
            names = ", ".join(editor.described() for editor in unsaved)
            log.warning("closing on a termination signal: unsaved changes to %s not kept", names)
            for editor in unsaved:
                editor.discard_and_close()
        if self.unsaved_question is not None:
            question, self.unsaved_question = self.unsaved_question, None
            question.finished.disconnect(self._unsaved_answered)
            question.close()
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        unsaved = self._unsaved_editors()
        if unsaved:
            event.ignore()  # the desk stays open until the trader answers
            self._ask_about_unsaved(unsaved)
            return
        self.save_layout()
        # The docks hiding on the way out are no change: nothing is saved after this save.
        self._watching_layout = False
        self.ticket.close()
        if self.settings_dialog is not None:
            self.settings_dialog.close()
        if self.manual is not None:
            self.manual.close()
        multileg = self.panels.built("multileg")
        for editor in multileg.editors[:] if isinstance(multileg, MultilegPanel) else []:
            editor.close()  # none has unsaved changes by now
        if self._on_close is not None:
            self._on_close()
        event.accept()
