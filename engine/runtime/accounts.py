"""Several broker accounts traded from one desk: a Kite account and an XTS account side by side.

Each account is an engine of its own (``Engine``): its own book (journal), broker link, risk
limits, positions and P&L, so nothing of one account can leak into the other's figures or
limits. What they share is the loop they run on and one kill switch: pressing it on any account
(its window, its API, this object) halts every account and cancels every open order at every
broker, and a square-off asked with it squares off every account. Every press counts, not only
the first: pressed again on an account already HALTED, it halts again an account re-armed since.

Orders go to an account by its name; there is no "default" account behind the trader's back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.api import EngineApi, KillSwitchReport, PositionSnapshot, TradingState
from engine.domain.events import EngineMessage, Severity
from engine.oms.outcome import Outcome
from engine.risk.kill_switch import KillSwitchPressed
from engine.runtime.engine import Engine

log = logging.getLogger(__name__)


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
            engine.bus.subscribe(KillSwitchPressed, self._listener(name))

    def _listener(self, account: str) -> Callable[[KillSwitchPressed], None]:
        return lambda event: self._pressed(account, event)

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
        self, *, square_off: bool = False, reason: str = "", pressed_on: str = ""
    ) -> dict[str, KillSwitchReport]:
        """Halt every account and cancel its open orders (and square off, if asked). One
        account that fails does not stop the others: the failure is logged and said.
        ``pressed_on``: the account whose window the trader pressed it in (the others' reason
        names it)."""
        reports: dict[str, KillSwitchReport] = {}
        self._spreading = True
        try:
            for name, engine in self._engines.items():
                why = reason if name == pressed_on or not pressed_on else _on(reason, pressed_on)
                try:
                    reports[name] = engine.api.kill_switch(square_off=square_off, reason=why)
                except Exception as error:  # one broken account must not keep others trading
                    log.exception("kill switch on account %s failed", name)
                    self._tell(engine, f"The kill switch could not halt account {name}: {error}")
        finally:
            self._spreading = False
        return reports

    def rearm(self, reason: str = "re-armed by the trader") -> dict[str, bool]:
        """Back to ACTIVE, account by account (re-arming is never spread by itself)."""
        return {name: engine.api.rearm(reason) for name, engine in self._engines.items()}

    def _pressed(self, account: str, event: KillSwitchPressed) -> None:
        """The kill switch pressed on one account's own window or API halts the others too, and
        squares them off when it was asked to: every press, even on an account already HALTED
        (another may have been re-armed since)."""
        if self._spreading:
            return
        self._spreading = True
        try:
            for name, engine in self._engines.items():
                if name == account:
                    continue
                try:
                    engine.api.kill_switch(
                        square_off=event.square_off, reason=_on(event.reason, account)
                    )
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

    def open_positions(self) -> dict[str, int]:
        """How many positions each account holds open (what a square-off would close)."""
        return {
            name: sum(1 for p in engine.api.positions() if p.net_quantity)
            for name, engine in self._engines.items()
        }

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
        """Stop every account at once: a broker that does not answer holds only its own
        account's stop, and one account's failure is logged and said, never skipping another."""
        names = list(self._engines)
        results = await asyncio.gather(
            *(self._engines[name].stop() for name in names), return_exceptions=True
        )
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.error("account %s did not stop cleanly", name, exc_info=result)
                self._tell(
                    self._engines[name],
                    f"Account {name} did not close cleanly: {result!r}. The log has the details.",
                )

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()


def _on(reason: str, account: str) -> str:
    """A kill switch reason as another account sees it: where it was pressed."""
    return f"{reason or 'kill switch pressed'} (on account {account})"
