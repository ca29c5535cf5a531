"""A halt stops the strategies written as classes: when trading becomes HALTED (the kill switch,
a breaker, the trader) each running one is stopped, journaled and told with why, so it neither
knocks on the closed gate all through the halt nor trades again the moment the trader re-arms;
the trader starts each again by hand. The desks' portfolios, algos and orders are left to their
desks (``on_halt``): their orders are the kill switch's to cancel, their positions its to square
off."""

from __future__ import annotations

from collections.abc import Callable

from engine.core.bus import EventBus
from engine.domain.events import RiskStateChanged, TradingState
from engine.risk.kill_switch import KillSwitchPressed


def stop_on_halt(bus: EventBus, stop: Callable[[str], None]) -> None:
    """Call ``stop`` with the reason each time trading becomes HALTED, and at every press of the
    kill switch (pressed again on a desk already HALTED: what was started since stops too)."""
    on_halt(bus, lambda source, reason: stop(halt_reason(source, reason)))


def on_halt(bus: EventBus, act: Callable[[str, str], None]) -> None:
    """Call ``act`` with who halted (the event's source: 'kill-switch', 'breaker:<name>', ...)
    and why, at the same moments as ``stop_on_halt``."""

    def on_state(event: RiskStateChanged) -> None:
        if event.state is TradingState.HALTED:
            act(event.source, event.reason)

    def on_press(event: KillSwitchPressed) -> None:
        act("kill-switch", event.reason)

    bus.subscribe(RiskStateChanged, on_state)
    bus.subscribe(KillSwitchPressed, on_press)


def halted_by(source: str) -> str:
    """Who halted, in words: "the kill switch", "the breaker max_loss", "the trading halt"."""
    if source == "kill-switch":
        return "the kill switch"
    if source.startswith("breaker:"):
        return f"the breaker {source.removeprefix('breaker:')}"
    return "the trading halt"


def halt_reason(source: str, reason: str) -> str:
    """Why a halt stopped a strategy, for its record and the Strategies panel."""
    return f"stopped by {halted_by(source)} ({reason}); start it again after re-arming"
