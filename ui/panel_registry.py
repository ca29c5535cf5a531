"""The window's panels as data: each panel's dock name, title, factory, default area and shortcut;
the keyboard shortcuts the manual lists; which panels wait for the first paint; and the lazy map
of built panels the window keeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea, QWidget

from ui.context import PanelContext
from ui.panels.advanced_orders import AdvancedOrdersPanel
from ui.panels.alerts import AlertsPanel
from ui.panels.algos import AlgosPanel
from ui.panels.backtest import BacktestPanel
from ui.panels.execution import ExecutionPanel
from ui.panels.greeks import GreeksPanel
from ui.panels.health import HealthPanel
from ui.panels.market_watch import MarketWatchPanel
from ui.panels.messages import MessagesPanel
from ui.panels.multileg import SHORTCUTS as MULTILEG_KEYS
from ui.panels.multileg import MultilegPanel
from ui.panels.option_chain import OptionChainPanel
from ui.panels.orderbook import OrderbookPanel
from ui.panels.payoff import PayoffPanel
from ui.panels.performance import PerformancePanel
from ui.panels.positions import PositionsPanel
from ui.panels.risk import RiskPanel
from ui.panels.signals import SignalsPanel
from ui.panels.strategies import StrategiesPanel
from ui.panels.trades import TradesPanel


@dataclass(frozen=True)
class PanelSpec:
    object_name: str
    title: str
    factory: Callable[[PanelContext], QWidget]
    area: Qt.DockWidgetArea
    shortcut: str = ""


PANELS = (
    PanelSpec(
        "marketWatch", "Market Watch", MarketWatchPanel, Qt.DockWidgetArea.LeftDockWidgetArea, "F4"
    ),
    PanelSpec(
        "optionChain", "Option Chain", OptionChainPanel, Qt.DockWidgetArea.RightDockWidgetArea, "F9"
    ),
    PanelSpec(
        "positions", "Positions", PositionsPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Alt+F6"
    ),
    PanelSpec(
        "orderbook", "Orderbook", OrderbookPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "F3"
    ),
    PanelSpec("trades", "Trades", TradesPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "F8"),
    PanelSpec("messages", "Messages", MessagesPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "F7"),
    PanelSpec("risk", "Risk", RiskPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Ctrl+Shift+R"),
    PanelSpec("greeks", "Greeks", GreeksPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Alt+G"),
    PanelSpec("payoff", "Payoff", PayoffPanel, Qt.DockWidgetArea.RightDockWidgetArea, "Alt+P"),
    PanelSpec(
        "strategies", "Strategies", StrategiesPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Alt+S"
    ),
    PanelSpec(
        "multileg", "Multileg", MultilegPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Alt+M"
    ),
    PanelSpec(
        "alerts", "Alerts", AlertsPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Ctrl+Shift+A"
    ),
    PanelSpec("algos", "Algos", AlgosPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Alt+Shift+A"),
    PanelSpec(
        "health", "Health", HealthPanel, Qt.DockWidgetArea.BottomDockWidgetArea, "Ctrl+Shift+H"
    ),
    PanelSpec(
        "signals", "Signals", SignalsPanel, Qt.DockWidgetArea.RightDockWidgetArea, "Alt+Shift+S"
    ),
    PanelSpec(
        "performance",
        "Performance",
        PerformancePanel,
        Qt.DockWidgetArea.BottomDockWidgetArea,
        "Ctrl+Shift+P",
    ),
    PanelSpec(
        "advancedOrders",
        "Advanced Orders",
        AdvancedOrdersPanel,
        Qt.DockWidgetArea.BottomDockWidgetArea,
        "Alt+Shift+O",
    ),
    PanelSpec(
        "execution",
        "Execution",
        ExecutionPanel,
        Qt.DockWidgetArea.BottomDockWidgetArea,
        "Alt+Shift+E",
    ),
    PanelSpec(
        "backtest",
        "Backtest",
        lambda context: BacktestPanel(context.backtests),
        Qt.DockWidgetArea.RightDockWidgetArea,
        "Ctrl+Shift+B",
    ),
)

SHORTCUTS = (
    (
        "F1",
        "Buy order ticket for what you are on: the option chain's cell, the selected position "
        "or order, else the Market Watch row; with the ticket open, turn it to buy",
    ),
    ("F2", "Sell order ticket, as F1; with the ticket open, turn it to sell"),
    ("Enter", "Submit the order ticket (in its instrument search, Enter only picks)"),
    ("Esc", "Close the order ticket"),
    ("Enter", "Option Chain: a ticket at the cell's price: Bid sells, Ask or LTP buys"),
    ("F3", "Orderbook"),
    ("F4", "Market Watch"),
    ("Alt+F6", "Positions"),
    ("F7", "Messages (activity log)"),
    ("F8", "Trades"),
    ("F9", "Option Chain"),
    ("Ctrl+Shift+R", "Risk panel"),
    ("Alt+G", "Greeks"),
    ("Alt+P", "Payoff"),
    ("Alt+S", "Strategies"),
    ("Alt+M", "Multileg portfolios"),
    ("Alt+Shift+O", "Advanced orders: brackets, OCO, trailing stops, conditional orders, GTTs"),
    ("Ctrl+Shift+A", "Alerts: set a price or P&L alert, see which fired"),
    ("Alt+Shift+A", "Algos: execution algos' progress, pause, resume, cancel"),
    ("Alt+Shift+E", "Execution: slippage vs arrival and VWAP per parent, per owner and day; CSV"),
    ("Ctrl+Alt+A", "Market Watch: set an alert on the selected instrument"),
    ("Ctrl+Shift+H", "Health: connections, price age, loop lag, journal"),
    ("Alt+Shift+S", "Signals: approve (Enter) or reject (Delete) the waiting signals"),
    ("Ctrl+Shift+P", "Performance: P&L per strategy, symbol and day; equity, drawdown; report"),
    ("Ctrl+Shift+B", "Backtest: run a strategy on a recording; equity and drawdown"),
    ("+", "Signals: one more lot on the chosen card"),
    ("-", "Signals: one lot fewer on the chosen card"),
    ("↑", "Signals: choose the card above"),
    ("↓", "Signals: choose the card below"),
    ("Alt+C", "Chart what is selected: an instrument, a position, a portfolio's MTM"),
    ("Alt+Shift+C", "Chart the selected option's IV over the session"),
    (MULTILEG_KEYS["start"], "Multileg: start the selected portfolio"),
    (MULTILEG_KEYS["stop"], "Multileg: stop the selected portfolio"),
    (MULTILEG_KEYS["enter"], "Multileg: enter the selected portfolio now"),
    (MULTILEG_KEYS["square_off"], "Multileg: square off the selected portfolio (asks first)"),
    (MULTILEG_KEYS["new"], "Multileg: new portfolio"),
    ("Enter", "Multileg: edit the selected portfolio (in its grid)"),
    ("Shift+F2", "Modify the selected order"),
    ("Delete", "Market Watch: remove the selected instruments from the watchlist"),
    ("Delete", "Positions: square off the selected positions (asks first)"),
    ("Delete", "Orderbook: cancel the selected open orders"),
    ("Ctrl+Shift+K", "Kill switch: halt and cancel all orders, then ask whether to square off"),
    ("Ctrl+Shift+X", "Cancel all open orders (asks first)"),
    ("Ctrl+Shift+Q", "Square off all positions (asks first)"),
    ("Ctrl+Shift+L", "Reset the layout"),
    ("Shift+F1", "User manual"),
    ("Ctrl+,", "Settings: trading defaults, display, notifications, brokers, risk"),
)


AFTER_FIRST_PAINT = frozenset({"payoff", "performance", "backtest", "execution"})
"""Panels built once the window has painted (or when first asked for), not before it: each
reads what it shows when it is built, and their plots are about a fifth of the window's start."""


class Panels(dict[str, QWidget]):
    """The window's panels by name. A panel still waiting to be built is built when it is looked
    up (``panels[name]``, ``get``); iterating lists only the panels built so far."""

    def __init__(self, build: Callable[[PanelSpec], QWidget]) -> None:
        super().__init__()
        self._build = build
        self.waiting: dict[str, PanelSpec] = {}

    def __missing__(self, name: str) -> QWidget:
        spec = self.waiting.get(name)
        if spec is None:
            raise KeyError(name)
        panel = self._build(spec)
        del self.waiting[name]  # only once built: a panel that failed is tried again when asked
        return panel

    def get(self, name: str, default: QWidget | None = None) -> QWidget | None:  # type: ignore[override]
        return self[name] if name in self or name in self.waiting else default

    def built(self, name: str) -> QWidget | None:
        """The panel if it has been built; a waiting one is not built for the asking."""
        return super().get(name)


def scrollable_if_tall(panel: QWidget) -> QWidget:
    """A panel that needs more room than a shared dock area gives scrolls instead of forcing the
    whole area (and every panel tabbed with it) to its size."""
    hint = panel.minimumSizeHint()
    if hint.height() <= 260 and hint.width() <= 900:
        return panel
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(panel)
    return area
