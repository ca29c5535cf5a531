"""The desk's alert rules, watched on every tick of the instruments they name and on the day's
P&L each second, and kept in the profile's ``alerts.json``.

A tick costs one dict lookup unless its instrument has a rule. A rule that fires is saved as
fired before it is told (``AlertFired`` and a line in Messages), so a restart never fires it
again; if the file cannot be written the trader is told that too. A file that cannot be read is
set aside (``alerts.json.bad``, or ``alerts.json.<time>.bad`` beside an earlier one, which is
kept too) and the desk starts with no rules, saying so; a saved rule that cannot be read is set
aside the same way and the others are kept. A rule whose check fails is
told once and the other rules go on being checked.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from engine.alerts.rules import (
    AlertError,
    AlertRule,
    Condition,
    make_rule,
    rule_from_json,
    rupee_amount,
)
from engine.core.bus import EventBus
from engine.core.clock import Clock
from engine.core.files import aside_path
from engine.domain.events import AlertFired, EngineMessage, Severity
from engine.domain.requests import shown
from engine.domain.ticks import Tick
from engine.domain.values import rupees_text
from engine.store.files import write_json, write_text
from engine.store.urls import profile_folder

log = logging.getLogger(__name__)

PAISE = Decimal(100)


def alerts_path(profile: str) -> Path:
    """Where a profile keeps its alert rules: ``<user data dir>/<profile>/alerts.json``."""
    return profile_folder(profile, "alerts.json")


class AlertBook:
    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        path: Path | None,
        title_of: Callable[[int], str],
        ltp_of: Callable[[int], int | None],
    ) -> None:
        self._bus = bus
        self._clock = clock
        self.path = path
        """Where the rules are kept; None keeps them in memory only (tests, demos)."""
        self._title_of = title_of
        self._ltp_of = ltp_of
        self._rules: dict[str, AlertRule] = {}
        self._by_token: dict[int, list[str]] = {}
        self._last: dict[int, int] = {}
        """The last price seen per watched instrument, paise: the side a cross starts from."""
        self._last_pnl: Decimal | None = None
        self._faults: dict[str, str] = {}
        """Why a rule's check failed, per alert id: told once, not on every tick."""
        self.problem: str | None = None
        """Why the saved rules could not be read (they were set aside), if so."""
        self._load()
        bus.subscribe(Tick, self.on_tick, tokens=self._by_token)

    # -- the rules ---------------------------------------------------------------------------------

    def rules(self) -> list[AlertRule]:
        return sorted(self._rules.values(), key=lambda r: (r.created_ns, r.alert_id))

    def add(
        self,
        condition: Condition | str,
        value: Decimal | int | float | str,
        *,
        token: int | None = None,
        note: str = "",
    ) -> AlertRule:
        """Set a rule; ``AlertError`` says why one cannot be set."""
        title = self._title_of(token) if token is not None else "Desk"
        if token is not None and not title:
            raise AlertError(f"no instrument has token {token}")
        rule = make_rule(
            self._next_id(),
            condition,
            value,
            token=token,
            title=title,
            note=note,
            created_ns=self._clock.time_ns(),
            reference=self._price(token),
        )
        self._rules[rule.alert_id] = rule
        unsaved = self._save()
        if unsaved is not None:
            del self._rules[rule.alert_id]
            raise AlertError(f"the alert was not set: {unsaved}")
        ltp = None if token is None else self._ltp_of(token)
        if token is not None and ltp:
            self._last[token] = ltp  # the side a cross starts from: where the price is now
        self._index()
        return rule

    def remove(self, alert_id: str) -> bool:
        rule = self._rules.pop(alert_id, None)
        if rule is None:
            return False
        self._faults.pop(alert_id, None)
        self._tell_unsaved(self._save())
        self._index()
        return True

    def rearm(self, alert_id: str) -> AlertRule | None:
        """Start a fired rule again from the current price."""
        rule = self._rules.get(alert_id)
        if rule is None:
            return None
        rule = rule.rearmed(self._price(rule.token))
        self._rules[alert_id] = rule
        self._faults.pop(alert_id, None)
        if rule.token is not None:
            self._last.pop(rule.token, None)
        self._tell_unsaved(self._save())
        self._index()
        return rule

    def _next_id(self) -> str:
        numbers = [int(i[1:]) for i in self._rules if i[1:].isdigit()]
        return f"A{max(numbers, default=0) + 1}"

    def _price(self, token: int | None) -> Decimal | None:
        ltp = None if token is None else self._ltp_of(token)
        return None if not ltp else Decimal(ltp) / PAISE

    def _index(self) -> None:
        self._by_token.clear()  # the bus holds this dict: it routes ticks by its keys
        for rule in self._rules.values():
            if rule.armed and rule.token is not None:
                self._by_token.setdefault(rule.token, []).append(rule.alert_id)

    # -- watching ------------------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        watching = self._by_token.get(tick.token)
        if watching is None or tick.ltp <= 0:
            return
        before = self._last.get(tick.token)
        self._last[tick.token] = tick.ltp
        for alert_id in list(watching):
            rule = self._rules[alert_id]
            try:
                self._check_price(rule, before, tick.ltp)
            except Exception as exc:  # one rule's fault must not stop the others' checks
                self._rule_failed(rule, exc)

    def _check_price(self, rule: AlertRule, before: int | None, ltp: int) -> None:
        if rule.condition is Condition.MOVES_PCT and rule.reference is None:
            # Set with no price yet: the move is measured from the first one, which is saved so
            # that a restart measures from it too, not from the first tick after the restart.
            rule = replace(rule, reference=Decimal(ltp) / PAISE)
            self._rules[rule.alert_id] = rule
            self._tell_unsaved(self._save())
        text = _price_fires(rule, before, ltp)
        if text is not None:
            self._fire(rule, text)

    def _rule_failed(self, rule: AlertRule, exc: Exception) -> None:
        """Say once (not on every tick) that a rule could not be checked, with its traceback in
        the log; it stays set, so the trader can see it, and remove or re-set it."""
        fault = f"{type(exc).__name__}: {exc}"
        if self._faults.get(rule.alert_id) == fault:
            return
        self._faults[rule.alert_id] = fault
        log.exception("alert %s could not be checked", rule.alert_id)
        self._bus.publish(
            EngineMessage(
                self._clock.time_ns(),
                Severity.WARNING,
                f"Alerts: alert {rule.alert_id} ({rule.title}) could not be checked ({fault}); "
                "the other alerts go on being checked",
                "alerts",
            )
        )

    @property
    def has_pnl_rules(self) -> bool:
        rules = self._rules
        return bool(rules) and any(r.armed and not r.condition.on_price for r in rules.values())

    def check_pnl(self, pnl: Decimal) -> None:
        """The day's P&L (net of charges), from the heartbeat."""
        before, self._last_pnl = self._last_pnl, pnl
        if before is None:
            return
        for rule in [r for r in self._rules.values() if r.armed and not r.condition.on_price]:
            try:
                self._check_pnl_rule(rule, before, pnl)
            except Exception as exc:  # one rule's fault must not stop the others' checks
                self._rule_failed(rule, exc)

    def _check_pnl_rule(self, rule: AlertRule, before: Decimal, pnl: Decimal) -> None:
        crossed = (
            before >= rule.value > pnl
            if rule.condition is Condition.PNL_BELOW
            else before <= rule.value < pnl
        )
        if crossed:
            moved = "fell below" if rule.condition is Condition.PNL_BELOW else "rose above"
            self._fire(rule, f"Day P&L {moved} {rupee_amount(rule.value)} ({rupee_amount(pnl)})")

    def _fire(self, rule: AlertRule, text: str) -> None:
        now = self._clock.time_ns()
        self._rules[rule.alert_id] = rule.fired(now, text)
        self._index()
        unsaved = self._save()
        if rule.note:
            text = f"{text} — {rule.note}"
        log.info("alert %s: %s", rule.alert_id, text)
        self._bus.publish(AlertFired(now, rule.alert_id, text))
        self._bus.publish(EngineMessage(now, Severity.WARNING, f"Alert: {text}", "alerts"))
        if unsaved is not None:
            self._tell_unsaved(f"{unsaved}; this alert may fire again after a restart")

    # -- the file ----------------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        kept = aside_path(self.path)
        try:
            saved = self.path.read_text(encoding="utf-8")
            data = json.loads(saved)
            if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
                raise AlertError('the file holds no "alerts" list')
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AlertError) as problem:
            try:
                os.replace(self.path, kept)
            except OSError as exc:
                log.error("could not set aside %s: %s", self.path, exc)
                # Saving new rules would overwrite the unreadable ones: keep them in memory.
                where = (
                    f"the file is left where it is (it could not be set aside: "
                    f"{exc.strerror or exc}) and new alerts are not saved until it is moved"
                )
                self.path = None
            else:
                where = f"the file is kept as {kept.name}"
            self.problem = f"the saved alerts could not be read ({problem}); {where}"
            log.warning("%s", self.problem)
            return
        refused: list[str] = []
        for number, item in enumerate(data["alerts"], 1):
            try:
                rule = rule_from_json(item)
            except AlertError as problem:
                refused.append(f"{_saved_name(item, number)}: {problem}")
                continue
            self._rules[rule.alert_id] = rule
        self._index()
        if refused:
            self._set_aside(refused, saved, kept)

    def _set_aside(self, refused: list[str], saved: str, kept: Path) -> None:
        """Keep the file as it was for the rules that could not be read, and the readable ones
        in ``alerts.json``, so neither is lost and a restart does not refuse them again."""
        unsaved = write_text(kept, saved)
        if unsaved is None:
            unsaved = self._save()
        where = (
            f"the file as it was is kept as {kept.name}"
            if unsaved is None
            else f"the file is left as it was ({unsaved})"
        )
        self.problem = (
            f"saved alerts set aside as they could not be read ({'; '.join(refused)}); {where}"
        )
        log.warning("%s", self.problem)

    def _save(self) -> str | None:
        if self.path is None:
            return None
        return write_json(self.path, {"alerts": [rule.to_json() for rule in self.rules()]})

    def _tell_unsaved(self, problem: str | None) -> None:
        if problem is not None:
            log.warning("%s", problem)
            self._bus.publish(
                EngineMessage(
                    self._clock.time_ns(), Severity.WARNING, f"Alerts: {problem}", "alerts"
                )
            )


def _saved_name(item: object, number: int) -> str:
    """How a refused saved rule is named to the trader: its id if it has one, else its place."""
    alert_id = item.get("alert_id") if isinstance(item, dict) else None
    return f"alert {shown(alert_id)}" if alert_id is not None else f"alert number {number}"


def _price_fires(rule: AlertRule, before: int | None, now: int) -> str | None:
    """The message if this tick makes ``rule`` come true, else None."""
    price = rupees_text(now)
    if rule.condition is Condition.MOVES_PCT:
        assert rule.reference is not None
        moved = (Decimal(now) / PAISE / rule.reference - 1) * 100
        if abs(moved) >= rule.value:
            return f"{rule.title} moved {moved:+.2f}% from {rule.reference:,.2f} ({price})"
        return None
    if before is None:
        return None
    level = int(rule.value * PAISE)  # exact: a level finer than a paisa is refused when set
    if rule.condition is Condition.CROSSES_ABOVE and before < level <= now:
        return f"{rule.title} crossed above {rule.value:,.2f} ({price})"
    if rule.condition is Condition.CROSSES_BELOW and before > level >= now:
        return f"{rule.title} crossed below {rule.value:,.2f} ({price})"
    return None
