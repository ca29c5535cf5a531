"""Alerts through the facade: set, list, remove and re-arm the trader's alert rules."""

from __future__ import annotations

from decimal import Decimal

from engine.alerts.book import AlertBook
from engine.alerts.rules import AlertError, AlertRule, Condition
from engine.api.parts import Service
from engine.domain.events import EngineMessage, Severity


class AlertService(Service):
    def alerts(self) -> list[AlertRule]:
        """Every rule, armed and fired, oldest first."""
        return [] if self._parts.alerts is None else self._parts.alerts.rules()

    def add_alert(
        self,
        condition: Condition | str,
        value: Decimal | int | float | str,
        *,
        token: int | None = None,
        note: str = "",
    ) -> AlertRule:
        """Set a rule: a price alert names its instrument's ``token``, a P&L alert none; a level
        in rupees is whole paise (101.005 is refused, not rounded). ``AlertError`` (a
        ValueError) says why a rule cannot be set."""
        return self._book().add(condition, value, token=token, note=note)

    def remove_alert(self, alert_id: str) -> bool:
        return self._book().remove(alert_id)

    def rearm_alert(self, alert_id: str) -> AlertRule | None:
        """Start a fired rule again from the current price; None if there is no such rule."""
        return self._book().rearm(alert_id)

    def tell(self, text: str, severity: Severity = Severity.WARNING, source: str = "") -> None:
        """Put a line in the trader's Messages (alert delivery saying a channel is down)."""
        now = self._parts.now()
        ts_ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
        self._bus.publish(EngineMessage(ts_ns, severity, text, source or "alerts"))

    def _book(self) -> AlertBook:
        if self._parts.alerts is None:
            raise AlertError("this desk runs without alerts")
        return self._parts.alerts
