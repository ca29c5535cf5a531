"""Strategies through the facade: what the desk can run, what runs, starting and stopping."""

from __future__ import annotations

from engine.api.parts import Service
from engine.domain.events import TradingState
from engine.strategies.algos.desk import is_algo_id
from engine.strategies.kernel import StrategyInfo, StrategyKernel

TRADER_STOP = "stopped by the trader"
"""The reason journaled when the trader stops a strategy (a halt, a fault or the strategy itself
give their own)."""


class StrategyService(Service):
    def _kernel(self) -> StrategyKernel:
        kernel = self._parts.strategies
        if kernel is None:
            raise RuntimeError("this engine was built without strategies")
        return kernel

    def strategies(self) -> list[StrategyInfo]:
        """Every strategy the desk knows (built in, and the trader's own), with its status."""
        kernel = self._parts.strategies
        return [] if kernel is None else kernel.strategies()

    def start_strategy(self, strategy_id: str, *, fresh: bool = False) -> str | None:
        """Start a strategy; None, or why it did not start. Started again (after a Stop, a
        fault, a halt or a restart of the desk) it goes on from the state it last saved;
        ``fresh`` starts it from nothing instead. Not while trading is HALTED: re-arm first."""
        if is_algo_id(strategy_id):
            return f"{strategy_id} is an execution algo: algos start from the Algos panel or the ticket"
        if self._risk is not None and self._risk.state is TradingState.HALTED:
            why = self._risk.status().reason
            return f"trading is HALTED ({why}): re-arm before starting {strategy_id}"
        return self._kernel().start(strategy_id, {} if fresh else None)

    def stop_strategy(self, strategy_id: str) -> str | None:
        """Stop a strategy (its orders and positions stay); None, or why not."""
        return self._kernel().stop(strategy_id, TRADER_STOP)

    def strategy_problems(self) -> list[str]:
        """The trader's strategy files that could not be loaded, each with where and why."""
        kernel = self._parts.strategies
        return [] if kernel is None else list(kernel.problems)

    def live_session_problem(self) -> str | None:
        """Why live orders cannot be sent now, or None: a paper desk has no live session, and a
        broker's session may have ended (the daily token)."""
        check = self._parts.session_problem
        if check is None:
            return "the desk is on the paper market; live trading needs a broker login"
        return check()

    def paper_problem(self) -> str | None:
        """Why orders placed here are not paper orders, or None: a desk on a live broker sends
        every order to it, whatever the order source meant."""
        if self._parts.session_problem is None:
            return None
        return f"this desk sends its orders to {self._parts.broker_name}"
