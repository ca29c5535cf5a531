"""A leg's own action when its target or stop is hit (``reentry_spec`` has the vocabulary and the
primitives it is made of): the guards first (the line's count, the portfolio's cap, the safety
seconds, the end time, a stop moved to cost), then the count and the "done" marker and any leg
the action opens are saved, and only then are orders sent. A leg an action opens waits, as an
idle leg armed, for its moment (at once, the hit leg closed, the price back at cost or moved on,
every leg closed), checked on every tick and clock; then it enters like any leg."""

from __future__ import annotations

from decimal import Decimal

from engine.domain.events import Severity
from engine.domain.orders import Side
from engine.strategies.multileg.base import NS, P
from engine.strategies.multileg.hedging import PortfolioHedging
from engine.strategies.multileg.legrun import ENTRY, LegRun
from engine.strategies.multileg.lines import Line
from engine.strategies.multileg.reentry_spec import (
    RE_ENTERING,
    Action,
    Close,
    CloseAll,
    CloseLinked,
    ExecuteIdle,
    Open,
    OpenAll,
    OtherPortfolio,
    Reaction,
    Step,
    Strike,
    When,
    plan,
)
from engine.strategies.multileg.spec import Instrument, PremiumStrike
from engine.strategies.multileg.status import LegEvent, LegState
from engine.strategies.multileg.strikes import NoStrike

ENTERS = RE_ENTERING | {Action.DUPLICATE, Action.EXECUTE_LEG}


class PortfolioReentry(PortfolioHedging):
    """Target and stop actions (this module's docstring)."""

    def _react(self, leg: LegRun, kind: str, why: str, now: int, closed: bool = False) -> bool:
        reaction = leg.spec.on_stop if kind == "stop" else leg.spec.on_target
        text = f"leg {leg.n} {leg.symbol}: {why}"
        if reaction is None:
            return False
        if kind == "stop" and self.spec.stop_loss.move_to_cost:
            self._move_cost(leg)
        line = self._lines.get(leg.n)
        root = leg.n if line is None or line.hedge_for else line.root
        key = f"{root}:{kind}"
        refusal = self._refusal(leg, reaction, key, now)
        if refusal is not None:
            self._say(f"{text}; {reaction.action.value.replace('_', ' ')} not taken: {refusal}")
            if reaction.keep_leg_running and not closed:
                self._keep(leg, kind, f"{text}; kept running")
            else:
                self._close(leg, why, now)
            return True
        # The decision is saved before any order it causes: a restart neither repeats it (the
        # count and the marker are saved, the hit leg is closing) nor loses it (the legs it
        # opens are saved, waiting to be sent).
        self._counts[key] = self._counts.get(key, 0) + 1
        self._counts["portfolio"] = self._counts.get("portfolio", 0) + 1
        self._last_act_ns[str(root)] = now
        if reaction.action is Action.RE_EXECUTE_PORTFOLIO:
            self._last_act_ns["portfolio"] = now
        self._done.add(f"L{leg.n}:{kind}")
        steps = plan(reaction)
        if closed:  # its stop filled at the broker: the leg is closing whatever the action
            steps = [s for s in steps if not isinstance(s, Close)] + [Close()]
        opened = self._open_legs(leg, root, reaction, steps, kind)
        if any(_closes(step) for step in steps):
            leg.exit_reason = why
            leg.step(LegEvent.CLOSE)
        elif any(isinstance(step, Close) for step in steps):
            self._keep(leg, kind, f"{text}; closed once the new leg fills")
        else:
            self._keep(leg, kind, f"{text}; kept running")
        taken = f"{reaction.action.value.replace('_', ' ')} {self._counts[key]}/{reaction.count}"
        if opened:
            taken += f" → leg {', '.join(str(child.n) for child in opened)}"
        if leg.state is LegState.EXITING:
            leg.remark = f"{why}; {taken}"
        self._say(f"{text}; {taken}")
        self.ctx.save()
        self._act(leg, steps, opened, now)
        return True

    def _combined_react(self, kind: str, why: str, now: int) -> bool:
        """The combined level's re-execute: every running leg closes and enters again once all
        have closed, a new round whose MTM starts from its entry. Saved before any order."""
        section = self.spec.target if kind == "target" else self.spec.stop_loss
        if section.combined is None or not section.combined.re_execute:
            return False
        key = f"combined:{kind}"
        refusal = self._combined_refusal(key, section.combined.re_execute, now)
        if refusal is not None:
            self._say(f"{self.spec.name}: {why}; re-execute not taken: {refusal}")
            return False
        self._counts[key] = self._counts.get(key, 0) + 1
        self._counts["portfolio"] = self._counts.get("portfolio", 0) + 1
        self._last_act_ns["portfolio"] = now
        running = [leg for leg in self.legs if leg.state in (LegState.ENTERING, LegState.ENTERED)]
        new_round = len(self.legs) + 1
        again = Open(False, Strike.AS_SET, When.ALL_CLOSED)
        remark = f"combined {kind} re-execute {self._counts[key]}/{section.combined.re_execute}"
        for source in running:
            line = self._lines.get(source.n)
            if line is not None and line.hedge_for:
                continue  # a re-entered sold leg gets a fresh hedge of its own
            root = source.n if line is None else line.root
            self._child(source, root, again, remark, close_parent=False)
        self._round_from = new_round
        self._combined_breach_ns, self._last_mtm = None, None
        if self.combined is not None:
            self.combined.peak, self.combined.locked = Decimal(0), None
        for leg in running:
            leg.exit_reason = why
            leg.step(LegEvent.CLOSE)
        self._say(f"{self.spec.name}: {why}; {remark}")
        self.ctx.save()
        for leg in running:
            self._drive_exit(leg, now)
        return True

    def _combined_refusal(self, key: str, count: int, now: int) -> str | None:
        return self._spent(key, count) or self._portfolio_too_soon(now) or self._past_end(now)

    def _spent(self, key: str, count: int) -> str | None:
        """Why the action ``key`` may not act again: its own count, or the portfolio's cap."""
        done = self._counts.get(key, 0)
        if done >= count:
            return f"done {done} time{'s' if done > 1 else ''} already, its count"
        total = self._counts.get("portfolio", 0)
        cap = self.spec.reentry.max_per_portfolio
        if cap and total >= cap:
            return f"the portfolio has taken {total} actions, its cap"
        return None

    def _portfolio_too_soon(self, now: int) -> str | None:
        """Inside the portfolio's safety seconds since its last portfolio-wide action."""
        last = self._last_act_ns.get("portfolio")
        seconds = self.spec.reentry.portfolio_safety_seconds
        if last is not None and now - last < seconds * NS:
            return f"inside the portfolio's {seconds:g} s safety"
        return None

    def _past_end(self, now: int) -> str | None:
        """Past the entry window's end, when nothing may enter after it."""
        end = self._at(self.spec.execution.end, now)
        if self.spec.reentry.not_after_end and end is not None and now >= end:
            return f"past the entry window's end ({self.spec.execution.end:%H:%M})"
        return None

    def _refusal(self, leg: LegRun, reaction: Reaction, key: str, now: int) -> str | None:
        settings = self.spec.reentry
        spent = self._spent(key, reaction.count)
        if spent is not None:
            return spent
        root = key.partition(":")[0]
        last = self._last_act_ns.get(root)
        if last is not None and now - last < settings.leg_safety_seconds * NS:
            return (
                f"{(now - last) / NS:.2f} s after its line's last action, inside its "
                f"{settings.leg_safety_seconds:g} s safety"
            )
        if reaction.action is Action.RE_EXECUTE_PORTFOLIO:
            too_soon = self._portfolio_too_soon(now)
            if too_soon is not None:
                return too_soon
        if reaction.action in ENTERS:
            past_end = self._past_end(now)
            if past_end is not None:
                return past_end
            if settings.not_after_moved_to_cost and leg.moved_to_cost:
                return "its stop was moved to cost"
        if reaction.action is Action.EXECUTE_LEG:
            assert reaction.leg is not None
            target = self.legs[reaction.leg - 1]
            if target.state is not LegState.IDLE:
                return f"leg {target.n} is {target.state.value}, not idle"
        return None

    def _open_legs(
        self, leg: LegRun, root: int, reaction: Reaction, steps: list[Step], kind: str
    ) -> list[LegRun]:
        """The legs the steps open, added and armed (not yet sent)."""
        opened = []
        remark = f"{reaction.action.value.replace('_', ' ')} on leg {leg.n}'s {kind}"
        close_after = any(isinstance(step, Close) and step.after_new_fill for step in steps)
        for step in steps:
            if isinstance(step, Open):
                child = self._child(leg, root, step, remark, close_parent=close_after)
                if child is not None:
                    opened.append(child)
            elif isinstance(step, OpenAll):
                # The structure as it stands now, entered again once all of it has closed.
                running = (LegState.ENTERING, LegState.ENTERED)
                for source in [other for other in self.legs if other.state in running]:
                    line = self._lines.get(source.n)
                    source_root = source.n if line is None or line.hedge_for else line.root
                    again = Open(False, Strike.AS_SET, When.ALL_CLOSED)
                    child = self._child(source, source_root, again, remark, close_parent=False)
                    if child is not None:
                        opened.append(child)
        if opened:
            self._linked.setdefault(leg.n, []).extend(child.n for child in opened)
        return opened

    def _child(
        self, parent: LegRun, root: int, step: Open, remark: str, *, close_parent: bool
    ) -> LegRun | None:
        update: dict[str, object] = {"idle": True}
        if step.reverse:
            update["side"] = Side.SELL if parent.spec.side is Side.BUY else Side.BUY
            update["hedge"] = False
        if step.lots is not None:
            update["lots"] = step.lots
        if step.strike is Strike.OPPOSITE_LTP:
            price = self._opposite_ltp(parent)
            if price is None:
                self._say(f"leg {parent.n}: no leg of the other type has a price to match")
                return None
            update["strike"] = PremiumStrike(value=Decimal(price) / 100)
        spec = parent.spec.model_copy(update=update)
        line = Line(parent.n, root, step.when, close_parent_on_fill=close_parent)
        child = self._add_leg(spec, line, remark=remark)
        if child is None:
            return None
        if step.strike is Strike.SAME or step.when in (When.AT_COST, When.MOMENTUM):
            self._same_contract(child, parent)
        child.step(LegEvent.ARM)
        return child

    def _act(self, leg: LegRun, steps: list[Step], opened: list[LegRun], now: int) -> None:
        for step in steps:
            if isinstance(step, CloseLinked):
                for n in self._linked.get(leg.n, ()):
                    linked = self.legs[n - 1]
                    if linked.state in (LegState.ENTERING, LegState.ENTERED):
                        linked.exit_reason = f"linked to leg {leg.n}"
                        self._exit_leg(linked, now)
            elif isinstance(step, Close) and not step.after_new_fill:
                self._drive_exit(leg, now)
            elif isinstance(step, CloseAll):
                self._drive_exit(leg, now)
                for other in self.legs:
                    if other is not leg and other.state in (LegState.ENTERING, LegState.ENTERED):
                        other.exit_reason = f"re-executing the portfolio (leg {leg.n})"
                        self._exit_leg(other, now)
            elif isinstance(step, ExecuteIdle):
                self._execute_idle(self.legs[step.leg - 1], leg, now)
            elif isinstance(step, OtherPortfolio):
                self._other_portfolio(step)
        self._check_lines(now)

    def _execute_idle(self, idle: LegRun, by: LegRun, now: int) -> None:
        try:
            self._resolve_leg(idle, {})
        except (NoStrike, LookupError, ValueError) as problem:
            idle.remark = f"not executed: {problem}"
            self._say(f"{self.spec.name}: leg {idle.n} not executed — {problem}", Severity.ERROR)
            return
        idle.remark = f"executed on leg {by.n}'s action"
        self._linked.setdefault(by.n, []).append(idle.n)
        idle.step(LegEvent.ARM)
        idle.step(LegEvent.SEND)
        self.ctx.save()
        self._top_up(idle, ENTRY)

    def _other_portfolio(self, step: OtherPortfolio) -> None:
        if self._links is None:
            self._say(f"{self.spec.name}: no desk to reach portfolio {step.name}", Severity.ERROR)
            return
        problem = self._links.start(step.name) if step.start else self._links.square_off(step.name)
        done = "started" if step.start else "squared off"
        if problem is None:
            self._say(f"{self.spec.name}: portfolio {step.name} {done}")
        else:
            self._say(f"{self.spec.name}: portfolio {step.name} not {done} — {problem}")

    # -- leg by leg ----------------------------------------------------------------------------

    def _close(self, leg: LegRun, why: str, now: int) -> None:
        leg.exit_reason = why
        self._exit_leg(leg, now)
        self.ctx.save()

    def _keep(self, leg: LegRun, kind: str, text: str) -> None:
        """The leg runs on: the level that fired is spent, so it does not fire every tick."""
        if kind == "stop":
            leg.stop = None
        else:
            leg.target = None
        leg.remark = text

    def _move_cost(self, hit: LegRun) -> None:
        for leg in self.legs:
            if leg is hit or leg.state is not LegState.ENTERED or leg.moved_to_cost:
                continue
            entry = leg.average_entry
            assert entry is not None
            leg.stop = entry * 100
            leg.moved_to_cost = True
            leg.remark = f"stop moved to cost after leg {hit.n}'s stop"
            self._move_broker_stop(leg)

    def _opposite_ltp(self, leg: LegRun) -> int | None:
        other = Instrument.PE if leg.spec.instrument is Instrument.CE else Instrument.CE
        for candidate in self.legs:
            if (
                candidate.spec.instrument is other
                and candidate.state is LegState.ENTERED
                and candidate.ltp
            ):
                return candidate.ltp
        return None

    # -- the waiting legs ----------------------------------------------------------------------

    def _check_lines(self, now: int) -> None:
        if not self._resumed and self.status is P.STARTED:
            self._resumed = True
            for leg in self.legs:  # sent before the restart, not all of it working: top up
                if leg.state is LegState.ENTERING:
                    self._top_up(leg, ENTRY)
        if not self._lines:
            return
        self._close_hedges(now)
        if self.status is not P.STARTED:
            return
        # Whether everything was closed as this pass began: the legs it sends do not count.
        all_closed = not any(
            other.position or other.state in (LegState.ENTERING, LegState.EXITING)
            for other in self.legs
            if other.state is not LegState.WAITING
        )
        for n, line in list(self._lines.items()):
            leg = self.legs[n - 1]
            parent = self.legs[line.parent - 1]
            if line.close_parent_on_fill and leg.state is LegState.ENTERED:
                if parent.state is LegState.ENTERED:
                    line.close_parent_on_fill = False
                    parent.exit_reason = f"closed once leg {n} filled"
                    self.ctx.save()
                    self._exit_leg(parent, now)
                continue
            if leg.state is not LegState.WAITING or line.hedge_for:
                continue
            # A leg whose hedge went first was due then: it goes as soon as the hedge fills.
            if self._hedges_of(leg) or self._due(leg, line, parent, all_closed):
                self._send_line(leg, now)

    def _due(self, leg: LegRun, line: Line, parent: LegRun, all_closed: bool) -> bool:
        when = line.when
        if when is When.NOW:
            return True
        if when is When.ALL_CLOSED:
            return all_closed
        if parent.state is not LegState.EXITED:
            return False
        if when is When.AFTER_CLOSE:
            return True
        level = self._level(line)
        if level is None:
            level = self._set_level(leg, line, parent)
            if level is None:
                return False
        price = leg.ltp
        return bool(price) and (price <= level if line.below else price >= level)

    def _set_level(self, leg: LegRun, line: Line, parent: LegRun) -> Decimal | None:
        exit_price = parent.average_exit
        if exit_price is None:
            return None
        if line.when is When.AT_COST:
            entry = self.legs[line.root - 1].average_entry
            if entry is None:
                return None
            level = entry * 100
            line.below = exit_price * 100 > level
        else:
            points = next(
                (
                    r.momentum
                    for r in (leg.spec.on_stop, leg.spec.on_target)
                    if r is not None and r.momentum
                ),
                None,
            )
            assert points is not None  # the schema: a momentum re-entry has its points
            favour = -1 if leg.sign < 0 else 1  # a sold leg gains as the price falls
            level = exit_price * 100 + favour * points * 100
            line.below = favour < 0
        line.level = str(level)
        self.ctx.save()
        return level

    def _send_line(self, leg: LegRun, now: int) -> None:
        if not leg.token:
            try:
                self._resolve_leg(leg, {})
            except (NoStrike, LookupError, ValueError) as problem:
                leg.step(LegEvent.DISARM)
                leg.remark = f"not entered: {problem}"
                self._say(f"{self.spec.name}: leg {leg.n} not entered — {problem}", Severity.ERROR)
                self.ctx.save()
                return
        if not self._hedge_first(leg, now):
            return
        leg.step(LegEvent.SEND)
        self.ctx.save()  # the decision first: a restart tops the leg up, never doubles it
        self._top_up(leg, ENTRY)


def _closes(step: Step) -> bool:
    """Whether ``step`` closes the hit leg as the action is taken."""
    return isinstance(step, CloseAll) or (isinstance(step, Close) and not step.after_new_fill)
