"""The kill switch: one action for the toolbar, the Trade menu and Ctrl+Shift+K.

Pressing it halts trading at once (HALTED, every open and queued order cancelled) and only then
asks, through ``context.confirm``, whether to square off the open positions as well: a kill
switch must never wait on a dialog, and a halt is safe to leave in place while the trader reads
the question. Trading stays HALTED until the trader re-arms (the re-arm action, the risk panel).

The toolbar button shows the trading state and is red while HALTED, amber while REDUCING.

A desk that trades several accounts has one kill switch (``DeskKillSwitch``): pressed in any
account's window it halts every account, and the square-off question counts, and squares off,
the open positions of every account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from engine.api import KillSwitchReport, TradingState, TradingStatus
from ui.context import PanelContext
from ui.theme import Palette

KILL_SWITCH_SHORTCUT = "Ctrl+Shift+K"
KILL_REASON = "kill switch pressed by the trader"
REARM_REASON = "re-armed by the trader"


def press_kill_switch(context: PanelContext) -> KillSwitchReport:
    """Halt and cancel now; then offer to square off whatever positions are open."""
    api = context.api
    report = api.kill_switch(reason=KILL_REASON)
    open_positions = [p for p in api.positions() if p.net_quantity]
    if open_positions:
        count = len(open_positions)
        context.confirm(
            "Kill switch — square off?",
            f"Trading is HALTED and {_cancels_in_words([report])}.\n\n"
            f"Also square off all {count} open position{'s' if count != 1 else ''} at market?",
            lambda: api.kill_switch(square_off=True, reason=KILL_REASON),
        )
    return report


def _cancels_in_words(reports: list[KillSwitchReport]) -> str:
    """'N open order(s) were cancelled', and the cancels a live broker has not confirmed yet."""
    cancelled = sum(report.cancelled for report in reports)
    said = f"{cancelled} open order(s) were cancelled"
    sent = sum(len(report.cancel_sent) for report in reports)
    if sent:
        brokers = " / ".join(dict.fromkeys(r.broker for r in reports if r.cancel_sent))
        said += (
            f"; the cancel of {sent} more was sent, not yet confirmed by {brokers} (sent again "
            f"until {brokers} cancels them)"
        )
    return said


@dataclass(frozen=True)
class DeskKillSwitch:
    """The kill switch of a desk trading several accounts, as one account's window presses it
    (the composition root builds one per window over the desk's accounts)."""

    press: Callable[[bool, str], Mapping[str, KillSwitchReport]]
    """``(square_off, reason)``: halt every account and cancel its open orders, and square off
    every account when asked; the report of each account it halted, by account."""
    open_positions: Callable[[], Mapping[str, int]]
    """How many positions each account holds open, by account."""


def press_desk_kill_switch(
    context: PanelContext, desk: DeskKillSwitch
) -> Mapping[str, KillSwitchReport]:
    """Halt and cancel on every account now; then offer to square off the open positions of
    every account (asked in the window it was pressed in)."""
    reports = desk.press(False, KILL_REASON)
    held = {account: count for account, count in desk.open_positions().items() if count}
    if held:
        count = sum(held.values())
        cancelled = _cancels_in_words(list(reports.values()))
        each = ", ".join(f"{account} {n}" for account, n in held.items())
        context.confirm(
            "Kill switch — square off?",
            f"Trading is HALTED on {', '.join(reports) or 'no account'} and {cancelled}."
            f"\n\nAlso square off all {count} open "
            f"position{'s' if count != 1 else ''} ({each}) at market?",
            lambda: desk.press(True, KILL_REASON),
        )
    return reports


def ask_rearm(context: PanelContext) -> None:
    """Ask the trader, then go back to ACTIVE (nothing happens when already active)."""
    status = context.api.trading_state()
    if status.state is TradingState.ACTIVE:
        return
    why = f" ({status.reason})" if status.reason else ""
    context.confirm(
        "Re-arm trading",
        f"Trading is {status.state.value}{why}.\n\nRe-arm and accept new orders again?",
        lambda: context.api.rearm(REARM_REASON),
    )


def make_kill_switch_action(
    context: PanelContext,
    parent: QObject,
    shortcut: str | QKeySequence = KILL_SWITCH_SHORTCUT,
    desk: DeskKillSwitch | None = None,
) -> QAction:
    """The kill switch as an action with an application-wide shortcut (Ctrl+Shift+K unless
    given another; an empty shortcut leaves it to menus and buttons). With ``desk`` it is the
    desk's one kill switch over every account; without, the window's account's."""
    action = QAction("Kill switch", parent)
    action.setObjectName("killSwitchAction")
    sequence = QKeySequence(shortcut)
    if not sequence.isEmpty():
        action.setShortcut(sequence)
        action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    keys = sequence.toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(
        "Halt trading and cancel every open order; then choose whether to square off"
        + (f" ({keys})" if keys else "")
    )
    if desk is None:
        action.triggered.connect(lambda _checked=False: press_kill_switch(context))
    else:
        action.triggered.connect(lambda _checked=False: press_desk_kill_switch(context, desk))
    return action


def make_rearm_action(context: PanelContext, parent: QObject) -> QAction:
    """'Re-arm trading…': enabled only while trading is REDUCING or HALTED; asks first."""
    action = QAction("Re-arm trading…", parent)
    action.setObjectName("rearmAction")
    action.setToolTip("Back to ACTIVE after the kill switch or a circuit breaker (asks first)")
    action.triggered.connect(lambda _checked=False: ask_rearm(context))
    watch_trading_state(
        context, action, lambda status: action.setEnabled(status.state is not TradingState.ACTIVE)
    )
    return action


class TradingStateWatcher(QObject):
    """Reads the trading state once a frame (a cheap read) and says when it changed, or when
    the theme did (the state's colours follow it). Child of the widget it serves, so the
    connection ends with that widget."""

    changed = Signal(object)
    """the TradingStatus (new, or shown in a new theme)"""

    def __init__(self, context: PanelContext, parent: QObject) -> None:
        super().__init__(parent)
        self._api = context.api
        self._theme = context.theme
        self.status = context.api.trading_state()
        self._palette = context.theme.palette.name
        context.bridge.frame.connect(self.poll)

    def poll(self) -> None:
        status = self._api.trading_state()
        palette = self._theme.palette.name
        if status != self.status or palette != self._palette:
            self.status, self._palette = status, palette
            self.changed.emit(status)


def watch_trading_state(
    context: PanelContext, owner: QObject, show: Callable[[TradingStatus], None]
) -> TradingStateWatcher:
    """Call ``show`` now and whenever the trading state changes, for as long as ``owner`` lives."""
    watcher = TradingStateWatcher(context, owner)
    watcher.changed.connect(show)
    show(watcher.status)
    return watcher


def state_colour(palette: Palette, state: TradingState) -> str:
    if state is TradingState.HALTED:
        return palette.down.name()
    if state is TradingState.REDUCING:
        return palette.warning.name()
    return palette.up.name()


class KillSwitchButton(QToolButton):
    """The toolbar button: press to kill; its menu re-arms. Shows the trading state."""

    def __init__(
        self,
        context: PanelContext,
        kill: QAction,
        rearm: QAction | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("killSwitchButton")
        self._context = context
        self.setDefaultAction(kill)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        if rearm is not None:
            menu = QMenu(self)
            menu.addAction(rearm)
            self.setMenu(menu)
            self.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.state = TradingState.ACTIVE
        watch_trading_state(context, self, self.show_status)

    def show_status(self, status: TradingStatus) -> None:
        self.state = status.state
        palette = self._context.theme.palette
        colour = state_colour(palette, status.state)
        self.setText(f"KILL SWITCH  ·  {status.state.value}")
        tip = self.defaultAction().toolTip()
        if status.state is not TradingState.ACTIVE:
            tip = f"Trading {status.state.value}: {status.reason}\n{tip}"
        self.setToolTip(tip)
        if status.state is TradingState.HALTED:
            style = (
                f"QToolButton#killSwitchButton {{ background: {colour}; color: white;"
                " font-weight: 700; border-radius: 3px; padding: 3px 10px; }"
            )
        else:
            style = (
                f"QToolButton#killSwitchButton {{ color: {colour}; font-weight: 700;"
                f" border: 1px solid {colour}; border-radius: 3px; padding: 3px 10px; }}"
            )
        self.setStyleSheet(style)


def make_kill_switch_button(
    context: PanelContext,
    kill: QAction,
    rearm: QAction | None = None,
    parent: QWidget | None = None,
) -> KillSwitchButton:
    return KillSwitchButton(context, kill, rearm, parent)
