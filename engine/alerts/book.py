"""The desk's alert rules, watched on every tick of the instruments they name and on the day's
P&L each second, and kept in the profile's ``alerts.json``.

A tick costs one dict lookup unless its instrument has a rule. The rules one tick (or one P&L
check) makes fire are saved as fired together, in one write, before they are told
(``AlertFired`` and a line in Messages), so a restart never fires one again; if the file cannot
be written the trader is told that too. The file keeps every armed rule and the newest
``KEEP_FIRED`` fired ones: when more have fired, the oldest fired are dropped (an armed rule
never is), so the file and each write of it stay small after months of use.

A rule names its instrument as ``EXCHANGE:TRADINGSYMBOL`` (NSE:RELIANCE and BSE:RELIANCE apart).
No rule is set or re-armed on a contract past its expiry close; a saved rule on an instrument the
desk no longer lists (or one that expired) is kept, and the trader is told it cannot fire.

A file that cannot be read is set aside (``alerts.json.bad``, or ``alerts.json.<time>.bad``
beside an earlier one, which is kept too) and the desk starts with no rules, saying so; a saved
rule that cannot be read, or that repeats an earlier rule's id, is set aside the same way and the
others are kept. Temporary files a desk killed mid-write left beside the file are removed at
start. A rule whose check fails is told once and the other rules go on being checked.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from engine.alerts.rules import (
    PAISE,
    AlertError,
    AlertRule,
    Condition,
    make_rule,
    pnl_fires,
    price_fires,
    rule_from_json,
)
from engine.core.bus import EventBus
from engine.core.clock import Clock
from engine.core.files import aside_path, remove_leftovers
from engine.domain.events import AlertFired, EngineMessage, Severity
from engine.domain.instruments import Instrument
from engine.domain.requests import shown
from engine.domain.ticks import Tick
from engine.store.files import write_json, write_text
from engine.store.urls import profile_folder

log = logging.getLogger(__name__)

KEEP_FIRED = 500
"""Fired rules kept (the newest by when they fired); armed rules are all kept."""
_NUMBERED_ID = re.compile(r"A([0-9]{1,18})")
"""An id the book gave (``A17``): ASCII digits only, few enough to read as a number."""


def alerts_path(profile: str) -> Path:
    """Where a profile keeps its alert rules: ``<user data dir>/<profile>/alerts.json``."""
    return profile_folder(profile, "alerts.json")


@dataclass(frozen=True, slots=True)
class AlertListing:
    """What the book asks of the desk's instruments."""

    find: Callable[[int], Instrument | None]
    """The instrument a token names; None when the desk does not list it."""
    expiry_close: Callable[[date], datetime]
    """When contracts expiring on a day stop trading (the desk's market calendar)."""


class AlertBook:
    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        path: Path | None,
        listing: AlertListing,
        ltp_of: Callable[[int], int | None],
    ) -> None:
        self._bus = bus
        self._clock = clock
        self.path = path
        """Where the rules are kept; None keeps them in memory only (tests, demos)."""
        self._listing = listing
        self._ltp_of = ltp_of
        self._rules: dict[str, AlertRule] = {}
        self._by_token: dict[int, list[str]] = {}
        self._last: dict[int, int] = {}
        """The last price seen per watched instrument, paise: the side a cross starts from."""
        self._last_pnl: Decimal | None = None
        """The day's P&L last checked, while a P&L rule is armed: where its cross starts from."""
        self._pnl_day: date | None = None
        """The clock's day of ``_last_pnl``: the next day's P&L starts again, from none."""
        self._faults: dict[str, str] = {}
        """Why a rule's check failed, per alert id: told once, not on every tick."""
        self.problem: str | None = None
        """What the trader is told about the saved rules at start (set aside, cannot fire)."""
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
        title = "Desk" if token is None else self._tradable(token).key
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
        pnl_watched = self.has_pnl_rules
        self._rules[rule.alert_id] = rule
        unsaved = self._save()
        if unsaved is not None:
            del self._rules[rule.alert_id]
            raise AlertError(f"the alert was not set: {unsaved}")
        self._starts_now(rule, pnl_watched)
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
        """Start a fired rule again from the current price; None if there is no such rule.
        ``AlertError`` when it has not fired (it is left as it is: re-arming it would move a
        move's starting price) or its contract has expired."""
        rule = self._rules.get(alert_id)
        if rule is None:
            return None
        if rule.armed:
            raise AlertError(f"alert {alert_id} has not fired: it is armed already, left as it is")
        if rule.token is not None:
            self._tradable(rule.token)
        pnl_watched = self.has_pnl_rules
        rule = rule.rearmed(self._price(rule.token))
        self._rules[alert_id] = rule
        self._faults.pop(alert_id, None)
        self._starts_now(rule, pnl_watched)
        self._tell_unsaved(self._save())
        self._index()
        return rule

    def new_day(self) -> None:
        """The position book's day rolled and the day's P&L starts again: a P&L rule's cross
        starts from the new day's first P&L, not from the last one of the day before."""
        self._last_pnl = None

    def _starts_now(self, rule: AlertRule, pnl_watched: bool) -> None:
        """Where a rule set or re-armed now starts from, without moving other rules' start."""
        if rule.token is not None:
            ltp = self._ltp_of(rule.token)
            if ltp:  # the side a cross starts from: where the price is now, for every rule on it
                self._last[rule.token] = ltp
        elif not pnl_watched:
            # No P&L rule was armed, so none checked the P&L since: the last one seen may be
            # hours old, and a cross from it to now would fire a rule already past its level.
            self._last_pnl = None

    def _tradable(self, token: int) -> Instrument:
        """The instrument a price rule on ``token`` watches; ``AlertError`` when the desk does
        not list it or it has expired (a rule on it could never fire)."""
        instrument = self._listing.find(token)
        if instrument is None:
            raise AlertError(f"no instrument has token {token}")
        close = self._expired_at(instrument)
        if close is not None:
            raise AlertError(f"{instrument.expired_text(close)}: an alert on it would never fire")
        return instrument

    def _expired_at(self, instrument: Instrument) -> datetime | None:
        now = self._clock.now()
        # Only a contract expiring today or before asks the calendar: a far one's year may be
        # one the calendar does not hold.
        if instrument.expiry is None or instrument.expiry > now.date():
            return None
        return instrument.expired_at(now, self._listing.expiry_close)

    def _next_id(self) -> str:
        numbers = [int(m[1]) for i in self._rules if (m := _NUMBERED_ID.fullmatch(i))]
        number = max(numbers, default=0) + 1
        while f"A{number}" in self._rules:  # one too long to be read as a number may be it
            number += 1
        return f"A{number}"

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
        fires: list[tuple[AlertRule, str]] = []
        started = False
        for alert_id in list(watching):
            rule = self._rules[alert_id]
            try:
                if rule.condition is Condition.MOVES_PCT and rule.reference is None:
                    # Set with no price yet: the move is measured from the first one, which is
                    # saved so that a restart measures from it too, not from a later tick.
                    rule = replace(rule, reference=Decimal(tick.ltp) / PAISE)
                    self._rules[alert_id] = rule
                    started = True
                text = price_fires(rule, before, tick.ltp)
            except Exception as exc:  # one rule's fault must not stop the others' checks
                self._rule_failed(rule, exc)
                continue
            if text is not None:
                fires.append((rule, text))
        if fires:
            self._fire(fires)
        elif started:
            self._tell_unsaved(self._save())

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
        """The day's P&L (net of charges), from the heartbeat. On a new day (by the clock, as
        the position book's day goes: the risk breakers roll it on the day's first tick, before
        the heartbeat) the day's first P&L is where a cross starts from, not yesterday's last."""
        today = self._clock.now().date()
        before = self._last_pnl if self._pnl_day == today else None
        self._last_pnl, self._pnl_day = pnl, today
        if before is None:
            return
        fires: list[tuple[AlertRule, str]] = []
        for rule in [r for r in self._rules.values() if r.armed and not r.condition.on_price]:
            try:
                text = pnl_fires(rule, before, pnl)
            except Exception as exc:  # one rule's fault must not stop the others' checks
                self._rule_failed(rule, exc)
                continue
            if text is not None:
                fires.append((rule, text))
        if fires:
            self._fire(fires)

    def _fire(self, fires: list[tuple[AlertRule, str]]) -> None:
        """Save the rules as fired, in one write, then tell each."""
        now = self._clock.time_ns()
        for rule, text in fires:
            self._rules[rule.alert_id] = rule.fired(now, text)
        self._drop_old_fired()
        self._index()
        unsaved = self._save()
        for rule, text in fires:
            if rule.note:
                text = f"{text} — {rule.note}"
            log.info("alert %s: %s", rule.alert_id, text)
            self._bus.publish(AlertFired(now, rule.alert_id, text))
            self._bus.publish(EngineMessage(now, Severity.WARNING, f"Alert: {text}", "alerts"))
        if unsaved is not None:
            these = "this alert" if len(fires) == 1 else f"these {len(fires)} alerts"
            self._tell_unsaved(f"{unsaved}; {these} may fire again after a restart")

    def _drop_old_fired(self) -> None:
        fired = [r for r in self._rules.values() if not r.armed]
        if len(fired) <= KEEP_FIRED:
            return
        fired.sort(key=lambda r: (r.fired_ns, r.created_ns, r.alert_id))
        for rule in fired[:-KEEP_FIRED]:
            del self._rules[rule.alert_id]
            self._faults.pop(rule.alert_id, None)
        log.info("alerts: %d of the oldest fired alerts dropped", len(fired) - KEEP_FIRED)

    # -- the file ----------------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None:
            return
        remove_leftovers(self.path.parent, "alerts")
        if not self.path.exists():
            return
        kept = aside_path(self.path)
        try:
            saved = self.path.read_text(encoding="utf-8")
            items = _saved_items(saved)
        except (OSError, ValueError) as problem:  # ValueError: undecodable, not JSON, no list
            self._unreadable(self.path, problem, kept)
            return
        refused: list[str] = []
        for number, item in enumerate(items, 1):
            try:
                rule = rule_from_json(item)
            except AlertError as problem:
                refused.append(f"{_saved_name(item, number)}: {problem}")
                continue
            if rule.alert_id in self._rules:  # keeping either would hide the other one
                refused.append(
                    f"alert number {number} ({shown(rule.alert_id)}): an earlier saved alert "
                    "has the same id"
                )
                continue
            self._rules[rule.alert_id] = rule
        self._drop_old_fired()
        self._index()
        if refused:
            self._set_aside(refused, saved, kept)
        self._check_listed()

    def _unreadable(self, path: Path, problem: Exception, kept: Path) -> None:
        try:
            os.replace(path, kept)
        except OSError as exc:
            log.error("could not set aside %s: %s", path, exc)
            # Saving new rules would overwrite the unreadable ones: keep them in memory.
            where = (
                f"the file is left where it is (it could not be set aside: "
                f"{exc.strerror or exc}) and new alerts are not saved until it is moved"
            )
            self.path = None
        else:
            where = f"the file is kept as {kept.name}"
        self._said_at_start(f"the saved alerts could not be read ({problem}); {where}")

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
        self._said_at_start(
            f"saved alerts set aside as they could not be read ({'; '.join(refused)}); {where}"
        )

    def _check_listed(self) -> None:
        """Name each saved rule's instrument as the desk lists it now, and tell of the armed
        rules that cannot fire: on an instrument no longer listed, or a contract expired."""
        cannot: list[tuple[str, str]] = []
        for rule in list(self._rules.values()):
            if rule.token is None:
                continue
            instrument = self._listing.find(rule.token)
            if instrument is None:
                if rule.armed:
                    cannot.append((rule.alert_id, f"{rule.title} is no longer listed"))
                continue
            if rule.title != instrument.key:
                rule = self._rules[rule.alert_id] = replace(rule, title=instrument.key)
            close = self._expired_at(instrument) if rule.armed else None
            if close is not None:
                cannot.append((rule.alert_id, instrument.expired_text(close)))
        if len(cannot) == 1:
            [(alert_id, why)] = cannot
            self._said_at_start(
                f"alert {alert_id} cannot fire: {why}; remove it in the Alerts panel"
            )
        elif cannot:
            named = ", ".join(f"{alert_id} ({why})" for alert_id, why in cannot)
            self._said_at_start(f"alerts {named} cannot fire; remove them in the Alerts panel")

    def _said_at_start(self, text: str) -> None:
        log.warning("%s", text)
        self.problem = text if self.problem is None else f"{self.problem}. {text}"

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


def _saved_items(saved: str) -> list[object]:
    """The saved rules as the file holds them; ``AlertError`` when it holds no list of them."""
    try:
        data = json.loads(saved)
    except RecursionError:  # a hand-made file nested deeper than the parser goes
        raise AlertError("the file is nested too deeply to be read") from None
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise AlertError('the file holds no "alerts" list')
    return data["alerts"]


def _saved_name(item: object, number: int) -> str:
    """How a refused saved rule is named to the trader: its id if it has one, else its place."""
    alert_id = item.get("alert_id") if isinstance(item, dict) else None
    return f"alert {shown(alert_id)}" if alert_id is not None else f"alert number {number}"
