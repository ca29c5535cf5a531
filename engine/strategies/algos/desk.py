"""The desk's execution algos: starting a parent (each its own kernel strategy, ``algo-<kind>-
<number>``), the commands on it, its progress, and its execution quality.

A parent's definition lives in the kernel's journaled records, nowhere else: at a restart the
desk reads them (``restore``) and registers every parent again, so the kernel resumes those that
were running (each then resumes or stops as its trader set), and the finished ones stay listed
with their figures.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from engine.core.clock import ist_date_of
from engine.domain.order_replay import JournalRow
from engine.domain.strategy_records import StrategyRecord, StrategyStatus
from engine.strategies.algos.pacer import AlgoPacer
from engine.strategies.algos.parent import AlgoStrategy
from engine.strategies.algos.quality import ExecutionQuality, measure
from engine.strategies.algos.spec import AlgoSpec, parse_spec, spec_of
from engine.strategies.algos.view import LIVE, AlgoStatus, AlgoView
from engine.strategies.kernel import StrategyContext, StrategyKernel

log = logging.getLogger(__name__)

ORIGIN = "algo"
_ID = re.compile(r"algo-([a-z]+)-(\d{4,})")


def is_algo_id(strategy_id: str) -> bool:
    return _ID.fullmatch(strategy_id) is not None


@dataclass(frozen=True, slots=True)
class AlgoStart:
    """The answer to starting a parent: its id, or why it did not start."""

    ok: bool
    parent_id: str = ""
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class AlgoDesk:
    def __init__(self, kernel: StrategyKernel, profile: Sequence[float] | None = None) -> None:
        self._kernel = kernel
        self._profile = profile
        self.pacer = AlgoPacer()
        """The order-rate budget all of this desk's algos share."""
        self._specs: dict[str, AlgoSpec] = {}
        self._number = 0
        self.problems: list[str] = []
        """Saved parents that could not be read back (which and why)."""

    # -- starting -------------------------------------------------------------------------------------

    def start(self, spec: AlgoSpec | dict[str, Any]) -> AlgoStart:
        """Start a parent; its id, or why not (bad settings are told in words, nothing starts)."""
        try:
            checked = spec if isinstance(spec, AlgoSpec) else parse_spec(spec)
        except ValueError as problem:
            return AlgoStart(False, reason=str(problem))
        problems = checked.problems()
        instrument = self._kernel.api.instruments.find(checked.token)
        if instrument is None:
            problems.append(f"no instrument with token {checked.token}")
        elif not instrument.tradable:
            problems.append(f"{instrument.tradingsymbol} is not tradable")
        elif instrument.is_derivative:
            lot = instrument.lot_size
            if checked.quantity % lot:
                problems.append(f"quantity {checked.quantity} is not a multiple of the lot ({lot})")
            if checked.visible_quantity % lot:
                problems.append(
                    f"visible_quantity {checked.visible_quantity} is not a multiple of the lot "
                    f"({lot})"
                )
        if problems:
            return AlgoStart(False, reason="; ".join(problems))
        self._number += 1
        parent_id = f"algo-{checked.kind.value}-{self._number:04d}"
        self._register(parent_id, checked)
        refused = self._kernel.start(parent_id, {"spec": checked.to_state()})
        if refused is not None:
            return AlgoStart(False, parent_id, refused)
        return AlgoStart(True, parent_id)

    def _register(self, parent_id: str, spec: AlgoSpec) -> None:
        self._specs[parent_id] = spec
        instrument = self._kernel.api.instruments.find(spec.token)
        symbol = instrument.tradingsymbol if instrument else str(spec.token)

        def make(ctx: StrategyContext) -> AlgoStrategy:
            return AlgoStrategy(ctx, spec, self.pacer, self._profile)

        self._kernel.add_instance(
            parent_id,
            make,
            title=f"{spec.kind.value.upper()} {spec.side.value} {spec.quantity} {symbol}",
            description=f"execution algo ({spec.kind.value}) started by {spec.owner}",
            origin=ORIGIN,
        )

    # -- restart ----------------------------------------------------------------------------------------

    def restore(self, entries: Iterable[JournalRow]) -> None:
        """Register every parent the journal's strategy records name (call after the kernel's
        ``restore``, before its ``resume``)."""
        seen: dict[str, dict[str, Any]] = {}
        for kind, _order_id, _ts_ns, payload in entries:
            if kind != StrategyRecord.kind:
                continue
            name = str(payload.get("strategy", ""))
            found = _ID.fullmatch(name)
            if found is None:
                continue
            self._number = max(self._number, int(found.group(2)))
            state = payload.get("state")
            if isinstance(state, dict) and "spec" in state:
                seen[name] = state
        for parent_id, state in seen.items():
            try:
                spec = spec_of(state)
            except ValueError as problem:
                self.problems.append(f"{parent_id}: {problem}")
                log.warning("algo %s not restored: %s", parent_id, problem)
                continue
            self._register(parent_id, spec)

    # -- commands ---------------------------------------------------------------------------------------

    def _running(self, parent_id: str) -> AlgoStrategy | str:
        if parent_id not in self._specs:
            return f"no algo named {parent_id!r}"
        strategy = self._kernel.instance(parent_id)
        if not isinstance(strategy, AlgoStrategy):
            return f"{parent_id} is not running"
        return strategy

    def pause(self, parent_id: str) -> str | None:
        algo = self._running(parent_id)
        return algo if isinstance(algo, str) else algo.pause()

    def resume(self, parent_id: str) -> str | None:
        algo = self._running(parent_id)
        return algo if isinstance(algo, str) else algo.resume()

    def cancel(self, parent_id: str) -> str | None:
        algo = self._running(parent_id)
        return algo if isinstance(algo, str) else algo.cancel()

    def modify(self, parent_id: str, remaining: int) -> str | None:
        algo = self._running(parent_id)
        return algo if isinstance(algo, str) else algo.modify_remaining(remaining)

    def instance(self, parent_id: str) -> AlgoStrategy | None:
        algo = self._running(parent_id)
        return None if isinstance(algo, str) else algo

    # -- what is read ---------------------------------------------------------------------------------------

    def parent_ids(self) -> list[str]:
        return sorted(self._specs)

    def views(self) -> list[AlgoView]:
        now = self._kernel.clock.time_ns()
        out = []
        ended: dict[str, ExecutionQuality] | None = None
        for parent_id in sorted(self._specs):
            algo = self.instance(parent_id)
            if algo is not None:
                out.append(algo.view(now))
                continue
            if ended is None:
                ended = {row.parent_id: row for row in self.quality()}
            view = self._ended_view(parent_id, ended.get(parent_id))
            if view is not None:
                out.append(view)
        return out

    def quality(self) -> list[ExecutionQuality]:
        """Every parent's execution quality: the running ones as they stand."""
        api = self._kernel.api
        owner_of = {o.order_id: str(o.strategy) for o in api.orders() if o.strategy}
        fills: dict[str, list[tuple[int, int, int]]] = {}
        children: dict[str, int] = {}
        for owner in owner_of.values():
            children[owner] = children.get(owner, 0) + 1
        for trade in api.trades():
            strategy = owner_of.get(trade.order_id)
            if strategy is not None:
                fills.setdefault(strategy, []).append(
                    (trade.ts_ns, trade.quantity, int(trade.price * 100))
                )
        rows = []
        for parent_id in sorted(self._specs):
            algo = self.instance(parent_id)
            if algo is not None:
                rows.append(algo.quality())
                continue
            record = self._kernel.last_state(parent_id)
            if record is None or "started_ns" not in record.state:
                continue
            state, spec = record.state, self._specs[parent_id]
            instrument = api.instruments.find(spec.token)
            started = int(state["started_ns"])
            arrival = state.get("arrival")
            rows.append(
                measure(
                    parent_id=parent_id,
                    kind=spec.kind.value,
                    owner=spec.owner,
                    symbol=instrument.tradingsymbol if instrument else str(spec.token),
                    side=spec.side,
                    day=_day(started),
                    status=self._ended_status(record).value,
                    target=int(state.get("target", spec.quantity)),
                    started_ns=started,
                    arrival_paise=None if arrival is None else Decimal(str(arrival)),
                    fills=fills.get(parent_id, []),
                    vwap_value_paise=int(state.get("vwap_value", 0)),
                    vwap_volume=int(state.get("vwap_volume", 0)),
                    children=children.get(parent_id, 0),
                    ticks_from_ns=int(state.get("ticks_from_ns", 0)),
                    ticks_to_ns=int(state.get("ticks_to_ns", 0)),
                )
            )
        return rows

    def _ended_status(self, record: StrategyRecord) -> AlgoStatus:
        if record.status is StrategyStatus.FAILED:
            return AlgoStatus.STOPPED
        status = AlgoStatus(record.state.get("status", AlgoStatus.STOPPED.value))
        # Running when the desk last wrote, not running now: it was held back or not resumed.
        return AlgoStatus.STOPPED if status in LIVE else status

    def _ended_view(self, parent_id: str, row: ExecutionQuality | None) -> AlgoView | None:
        record = self._kernel.last_state(parent_id)
        if record is None or "started_ns" not in record.state:
            return None
        spec = self._specs[parent_id]
        state = record.state
        return AlgoView(
            parent_id,
            spec.kind.value,
            row.symbol if row else str(spec.token),
            spec.side.value,
            int(state.get("target", spec.quantity)),
            row.filled if row else int(state.get("filled", 0)),
            0,
            None,
            self._ended_status(record),
            record.reason,
            int(state["started_ns"]),
            100.0,
            row.children if row else int(state.get("children", 0)),
            row.average_fill if row else None,
            row.slippage_arrival_bp if row else None,
            spec.on_restart.value,
            spec.owner,
        )


def _day(ns: int) -> date:
    return ist_date_of(ns).date()
