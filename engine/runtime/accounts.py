"""Several broker accounts traded from one desk: a Kite account and an XTS account side by side.

Each account is an engine of its own (``Engine``): its own book (journal), broker link, risk
limits, positions and P&L, so nothing of one account can leak into the other's figures or
limits. What they share is the loop they run on and one kill switch: pressing it on any account
(its window, its API, this object) halts every account and cancels every open order at every
broker, and a square-off asked with it squares off every account.

Orders go to an account by its name; there is no "default" account behind the trader's back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.api import EngineApi, KillSwitchReport, PositionSnapshot, TradingState
from engine.domain.events import EngineMessage, RiskStateChanged, Severity
from engine.oms.outcome import Outcome
from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

KILL_SWITCH_SOURCE = "kill-switch"
"""The risk layer's source of a state change made by the kill switch."""


@dataclass(frozen=True, slots=True)
class AccountStatus:
    account: str
    broker: str
    state: TradingState
    reason: str
    day_pnl: Decimal
    open_positions: int
    open_orders: int


class Accounts:
    """The accounts of one desk, by name (``kite``, ``xts``, or the trader's own names)."""

    def __init__(self, engines: Mapping[str, Engine]) -> None:
        if not engines:
            raise ValueError("a desk trades at least one account")
        self._engines = dict(engines)
        self._spreading = False
        for name, engine in self._engines.items():
            engine.bus.subscribe(RiskStateChanged, self._listener(name))

    def _listener(self, account: str) -> Callable[[RiskStateChanged], None]:
        return lambda event: self._state_changed(account, event)

    # -- the accounts ------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self._engines)

    def __iter__(self) -> Iterator[tuple[str, Engine]]:
        return iter(self._engines.items())

    def engine(self, account: str) -> Engine:
        try:
            return self._engines[account]
        except KeyError:
            raise ValueError(
                f"no account {account!r} on this desk; there are: {', '.join(self._engines)}"
            ) from None

    def api(self, account: str) -> EngineApi:
        return self.engine(account).api

    # -- orders ------------------------------------------------------------------------------------

    def place_order(self, account: str, *args: Any, **kwargs: Any) -> Outcome:
        """``EngineApi.place_order`` on ``account``'s engine: its gate, its limits, its broker."""
        return self.api(account).place_order(*args, **kwargs)

    # -- one kill switch ---------------------------------------------------------------------------

    def kill_switch(
        self, *, square_off: bool = False, reason: str = ""
    ) -> dict[str, KillSwitchReport]:
        """Halt every account and cancel its open orders (and square off, if asked). One
        account that fails does not stop the others: the failure is logged and said."""
        reports: dict[str, KillSwitchReport] = {}
        self._spreading = True
        try:
            for name, engine in self._engines.items():
                try:
                    reports[name] = engine.api.kill_switch(square_off=square_off, reason=reason)
                except Exception as error:  # one broken account must not keep others trading
                    log.exception("kill switch on account %s failed", name)
                    self._tell(engine, f"The kill switch could not halt account {name}: {error}")
        finally:
            self._spreading = False
        return reports

    def rearm(self, reason: str = "re-armed by the trader") -> dict[str, bool]:
        """Back to ACTIVE, account by account (re-arming is never spread by itself)."""
        return {name: engine.api.rearm(reason) for name, engine in self._engines.items()}

    def _state_changed(self, account: str, event: RiskStateChanged) -> None:
        """The kill switch pressed on one account's own window or API halts the others too."""
        if self._spreading or event.source != KILL_SWITCH_SOURCE:
            return
        if event.state is not TradingState.HALTED:
            return
        self._spreading = True
        try:
            for name, engine in self._engines.items():
                if name == account:
                    continue
                try:
                    engine.api.kill_switch(reason=f"{event.reason} (on account {account})")
                except Exception as error:  # one broken account must not keep others trading
                    log.exception("kill switch spread to account %s failed", name)
                    self._tell(engine, f"The kill switch could not halt account {name}: {error}")
        finally:
            self._spreading = False

    def _tell(self, engine: Engine, text: str) -> None:
        engine.bus.publish(EngineMessage(engine.clock.time_ns(), Severity.ERROR, text, "risk"))

    # -- the desk's figures, per account -----------------------------------------------------------

    def positions(self) -> dict[str, list[PositionSnapshot]]:
        return {name: engine.api.positions() for name, engine in self._engines.items()}

    def day_pnl(self) -> dict[str, Decimal]:
        return {name: engine.api.day_pnl() for name, engine in self._engines.items()}

    def status(self) -> list[AccountStatus]:
        rows = []
        for name, engine in self._engines.items():
            api = engine.api
            trading = api.trading_state()
            rows.append(
                AccountStatus(
                    account=name,
                    broker=engine.config.broker,
                    state=trading.state,
                    reason=trading.reason,
                    day_pnl=api.day_pnl(),
                    open_positions=sum(1 for p in api.positions() if p.net_quantity),
                    open_orders=sum(1 for o in api.orders() if o.status.is_open),
                )
            )
        return rows

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> None:
        for engine in self._engines.values():
            engine.start()

    async def stop(self) -> None:
        for engine in self._engines.values():
            await engine.stop()

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
