"""What every panel is given: the engine facade, the bridge, the palette and a few window actions.

Panels never reach into each other or into the window; they call these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from engine.api import EngineApi, OrderType, Settings, Side, StrategyLeg
from engine.api.backtests import BacktestService
from engine.domain.instruments import Instrument
from ui.bridge import EngineBridge
from ui.theme import ThemeHolder


@dataclass
class TicketRequest:
    """What a panel wants the order ticket to open with."""

    side: Side
    instrument: Instrument | None = None
    price: Decimal | None = None
    lots: int | None = None
    modify_order_id: str | None = None
    order_type: OrderType | None = None
    """The order's type (None: the trader's default); a modification opens with the order's own."""
    trigger: Decimal | None = None
    """The stop-loss trigger in rupees, for an SL or SL-M order."""


@dataclass
class PanelContext:
    api: EngineApi
    bridge: EngineBridge
    theme: ThemeHolder
    open_ticket: Callable[[TicketRequest], None] = field(default=lambda request: None)
    confirm: Callable[[str, str, Callable[[], None]], None] = field(
        default=lambda title, text, action: None
    )
    """Ask the trader (non-modal); runs ``action`` only on yes."""
    selected_instrument: Callable[[], Instrument | None] = field(default=lambda: None)
    payoff_legs: Callable[[Sequence[StrategyLeg], bool], None] = field(
        default=lambda legs, show: None
    )
    """Put these legs in the Payoff panel's builder; bring the panel forward when ``show``."""
    greeks_for: Callable[[str, bool], None] = field(default=lambda strategy_id, show: None)
    """Show one strategy's positions in the Greeks panel (grouped by strategy, its group
    selected); bring the panel forward when ``show``."""
    open_chart: Callable[[int | str | None, str | None], None] = field(
        default=lambda key, title: None
    )
    """A new chart dock of an instrument's token or a derived series' key (None: the selected
    instrument), titled ``title`` (None: the series' own name)."""
    set_alert: Callable[[Instrument | None], None] = field(default=lambda instrument: None)
    """Bring the Alerts panel forward with this instrument chosen (None: the selected one)."""
    preferences: Callable[[], Settings] = field(default=Settings)
    backtests: BacktestService | None = None
    """Runs on the desk's recordings (the Backtest panel); None where the window has none."""
    kill_switch: Callable[[], None] | None = None
    """The window's kill switch (the desk's one over every account where it trades several);
    None: a panel on its own presses its account's (``ui.kill_switch.press_kill_switch``)."""
    """The trader's current settings (the ticket's defaults, its confirmations)."""
