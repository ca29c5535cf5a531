"""A halt stops the strategies written as classes: when trading becomes HALTED (the kill switch,
a breaker, the trader) each running one is stopped, journaled and told with why, so it neither
knocks on the closed gate all through the halt nor trades again the moment the trader re-arms;
the trader starts each again by hand. The desks' portfolios, algos and orders are left to their
desks: their orders are the kill switch's to cancel, their positions its to square off."""

from __future__ import annotations

from collections.abc import Callable

from engine.core.bus import EventBus
from engine.domain.events import RiskStateChanged, TradingState
from engine.risk.kill_switch import KillSwitchPressed


def stop_on_halt(bus: EventBus, stop: Callable[[str], None]) -> None:
    """Call ``stop`` with the reason each time trading becomes HALTED, and at every press of the
    kill switch (pressed again on a desk already HALTED: what was started since stops too)."""

    def on_state(event: RiskStateChanged) -> None:
        if event.state is TradingState.HALTED:
            stop(halt_reason(event.source, event.reason))

    def on_press(event: KillSwitchPressed) -> None:
        stop(halt_reason("kill-switch", event.reason))

    bus.subscribe(RiskStateChanged, on_state)
    bus.subscribe(KillSwitchPressed, on_press)


def halt_reason(source: str, reason: str) -> str:
    """Why a halt stopped a strategy, for its record and the Strategies panel."""
    if source == "kill-switch":
        by = "the kill switch"
    elif source.startswith("breaker:"):
        by = f"the breaker {source.removeprefix('breaker:')}"
    else:
        by = "the trading halt"
    return f"stopped by {by} ({reason}); start it again after re-arming"
