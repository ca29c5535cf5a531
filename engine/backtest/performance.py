"""Performance of live and paper days, read from a book's journal: per strategy, per symbol, per
day, with an equity curve, trades and the metrics of each.

Every order carries its ``StrategyId`` (or its source: ``manual``, ``api``, ``signal``...), so
each fill the journal holds belongs to one owner (``engine.domain.origin.attribution``). The
journal is replayed with the same order state table the desk restores with
(``engine.domain.order_replay``): a fill the order refused (a duplicate, an overfill) is not
counted, exactly as in the desk and in ``engine.store.pnl_rebuild``.

Valuation follows the positions table and the P&L rebuild: a position is worth
``sell value - buy value + net quantity x price`` (Kite's P&L) less its charges. The price of an
instrument is the last one the journal knows: a fill's price, or the ltp of a ``pnl_marks`` row
(a mark with no ltp leaves an open quantity unvalued, as the rebuild does), and at the end, when
given, the live quotes. So at a ``pnl_marks`` row (of a journal whose fills came before the marks
stamped after them), the owners' P&L add up to the P&L the desk stated and the rebuild gives
back, to the paisa.

An owner's equity curve is ``capital`` plus its P&L after charges, a point after every fill of
it and every mark; the desk's is the same over every owner. Each owner is measured against the
same ``capital`` (a setting: the capital the desk trades). Fills and marks are valued in time
order, not journal order: a live fill is stamped with the exchange's time and may be journaled
after a mark stamped later (heard late, found by reconciliation), and it counts from its own
moment, so every curve goes forward in time (rows of one moment keep the journal's order).
A price moves only the owners holding the instrument: an owner that is flat in it gets no point.

The live quotes (``track``'s ``last_prices``) stand for the moment they were last traded at:
while a session is open, now; otherwise the close of the last session (``quoted_at``). So a
look at the figures on a Sunday or in the evening adds no day of its own, and only what is still
held is marked at them.

Slippage is measured against each order's arrival price: the instrument's mid as the desk
accepted the order, which the journal keeps with it (``OrderSubmitted.arrival``; a MARKET order
is journaled as the protected LIMIT the gate sent, so its limit is no reference). A fill of an
order with no arrival price (one journaled before it was kept, or placed outside the desk) has no
slippage, and an owner none of whose fills has one shows it as not measured.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from engine.backtest.metrics import (
    DEFAULT_PERIODS_PER_YEAR,
    EquityCurve,
    Metrics,
    TradingSessions,
    compute_metrics,
    day_of,
)
from engine.backtest.performance_rows import DayRow, DaySum, PnlRow, sum_rows
from engine.backtest.trades import Trade, TradeFill, round_trips
from engine.calendar import packaged_calendar
from engine.core.clock import IST, ist_day_number
from engine.domain.events import OrderFilled, OrderSubmitted, arrival_of
from engine.domain.ids import InstrumentToken, OrderId, TradeId
from engine.domain.marks import PnlMarks
from engine.domain.order_replay import replay_orders
from engine.domain.origin import attribution
from engine.domain.positions import Position
from engine.domain.values import ZERO
from engine.store.journal import JournalEntry

log = logging.getLogger(__name__)

DESK = "desk"
"""The owner name of the whole desk's figures (every strategy and manual order together)."""
DEFAULT_CAPITAL = Decimal(1_000_000)
SESSION_LOOK_BACK = timedelta(days=15)
"""How far back the last session's close is looked for (NSE has never been shut this long)."""

LET_GO_PIECE = 500
"""Objects freed at a time by ``let_go`` (a few milliseconds' work)."""

_T = TypeVar("_T")


@dataclass(slots=True)
class _Owner:
    positions: dict[tuple[int, str], Position] = field(default_factory=dict)
    symbols: dict[int, str] = field(default_factory=dict)
    points: list[tuple[int, Decimal]] = field(default_factory=list)
    closes: dict[int, Decimal] = field(default_factory=dict)
    """IST day number -> equity at the day's last event."""
    day_charges: defaultdict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    day_fills: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    fills: list[TradeFill] = field(default_factory=list)
    values: dict[tuple[int, str], Decimal] = field(default_factory=dict)
    """Each position's P&L after charges at the last prices (kept up to date by token)."""
    pnl: Decimal = ZERO
    """The sum of ``values``."""


def _price_value(position: Position, price: int | None) -> Decimal:
    """A position's P&L before charges at ``price`` (None: no price known, open units not
    valued), as the positions table and the rebuild count it."""
    if price is None:
        return position.realised if position.net_quantity else position.pnl(0)
    return position.pnl(price)


class Performance:
    """Figures of one journal, built once (``track``); read them per owner. Each figure is
    worked out once and kept (``prepare`` works them all out, on a worker thread)."""

    def __init__(self, capital: Decimal, calendar: TradingSessions | None = None) -> None:
        self.capital = capital
        self.calendar = calendar
        """Whose trading days the metrics count (None: the packaged NSE calendar)."""
        self._owners: dict[str, _Owner] = {}
        self._prices: dict[int, int | None] = {}
        self._holders: dict[int, set[str]] = {}
        """Token -> the owners holding units of it (a flat owner is not moved by its price)."""
        self._desk_points: list[tuple[int, Decimal]] = []
        self._trades: dict[str, list[Trade]] = {}
        self._closed_on: dict[str, dict[int, list[Trade]]] = {}
        """Owner -> IST day number -> the trades that closed that day."""
        self._of_token: dict[tuple[str, int], tuple[list[TradeFill], list[Trade]]] = {}
        """(owner, token) -> its fills and trades."""
        self._kept: dict[tuple[object, ...], object] = {}
        """Figures worked out, by what was asked; emptied whenever the record grows."""
        self.skipped_marks = 0
        """``pnl_marks`` rows that did not read (passed over, logged)."""

    # -- building ----------------------------------------------------------------------------------

    def _revalue(self, owner: _Owner, tokens: set[int]) -> None:
        """Bring the owner's positions in ``tokens`` to the last prices."""
        for key, position in owner.positions.items():
            if key[0] not in tokens:
                continue
            value = _price_value(position, self._prices.get(key[0])) - position.charges
            owner.pnl += value - owner.values.get(key, ZERO)
            owner.values[key] = value

    def _record(self, ts_ns: int, touched: Iterable[str], tokens: set[int]) -> None:
        self._kept.clear()
        day = ist_day_number(ts_ns)
        for name in touched:
            owner = self._owners[name]
            self._revalue(owner, tokens)
            equity = self.capital + owner.pnl
            owner.points.append((ts_ns, equity))
            owner.closes[day] = equity
        desk = self.capital + sum((o.pnl for o in self._owners.values()), ZERO)
        self._desk_points.append((ts_ns, desk))

    def add_fill(
        self, name: str, fill: OrderFilled, symbol: str, reference: Decimal | None
    ) -> None:
        owner = self._owners.get(name)
        if owner is None:
            owner = self._owners[name] = _Owner()
            owner.points.append((fill.ts_ns, self.capital))
        if not self._desk_points:
            self._desk_points.append((fill.ts_ns, self.capital))
        key = (int(fill.token), fill.product.value)
        position = owner.positions.get(key)
        if position is None:
            position = owner.positions[key] = Position(fill.token, fill.product)
        day = ist_day_number(fill.ts_ns)
        position.apply(fill, day_of(day))
        owner.symbols[int(fill.token)] = symbol
        charges = fill.charges.total if fill.charges is not None else ZERO
        owner.day_charges[day] += charges
        owner.day_fills[day] += 1
        owner.fills.append(
            TradeFill(
                fill.ts_ns,
                fill.token,
                fill.side,
                fill.quantity,
                fill.price,
                charges,
                reference,
                name,
                symbol,
                fill.product.value,
                fill.order_id,
            )
        )
        token = int(fill.token)
        self._prices[token] = fill.price
        # The new price moves every owner holding the instrument, not only the one that traded.
        holders = self._holders.setdefault(token, set())
        touched = holders | {name}
        if any(p.net_quantity for (t, _), p in owner.positions.items() if t == token):
            holders.add(name)
        else:
            holders.discard(name)
        self._record(fill.ts_ns, sorted(touched), {token})

    def add_marks(self, ts_ns: int, prices: dict[int, int | None]) -> None:
        self._kept.clear()
        self._prices.update(prices)
        touched = set().union(*(self._holders.get(token, set()) for token in prices))
        if touched:
            self._record(ts_ns, sorted(touched), set(prices))

    def held_tokens(self) -> set[int]:
        """The instruments some owner holds units of."""
        return {token for token, holders in self._holders.items() if holders}

    def finish(self) -> None:
        self._kept.clear()
        for name, owner in self._owners.items():
            trades = self._trades[name] = round_trips(owner.fills).trades
            closed_on: dict[int, list[Trade]] = defaultdict(list)
            for trade in trades:
                closed_on[ist_day_number(trade.exit_ns)].append(trade)
            self._closed_on[name] = dict(closed_on)
            for token in owner.symbols:
                self._of_token[(name, token)] = ([], [])
            for fill in owner.fills:
                self._of_token[(name, int(fill.token))][0].append(fill)
            for trade in trades:
                self._of_token[(name, int(trade.token))][1].append(trade)

    def prepare(self) -> None:
        """Work out every table, curve and metric of every owner now (a worker thread's job), so
        that reading them later is a look-up. A curve that cannot be built is left to fail, in
        words, where it is read."""
        self.strategies()
        self.symbols()
        for owner in [*self.owners, DESK]:
            self.days(owner)
            self.trades(owner)
            try:
                self.metrics(owner)
            except (ValueError, ArithmeticError) as problem:
                log.debug("the figures of %s are not prepared: %s", owner, problem)

    def _keep(self, key: tuple[object, ...], work: Callable[[], _T]) -> _T:
        if key not in self._kept:
            self._kept[key] = work()
        return cast(_T, self._kept[key])

    # -- reading -----------------------------------------------------------------------------------

    @property
    def owners(self) -> list[str]:
        """Every owner with a fill: strategy ids and sources, sorted."""
        return sorted(self._owners)

    def curve(self, owner: str = DESK) -> EquityCurve:
        """The owner's equity (capital + P&L after charges) after each of its events."""
        return self._keep(("curve", owner), lambda: self._curve(owner))

    def _curve(self, owner: str) -> EquityCurve:
        if owner == DESK:
            return EquityCurve.of(self._desk_points or [(0, self.capital)])
        return EquityCurve.of(self._owners[owner].points)

    def trades(self, owner: str = DESK) -> list[Trade]:
        if owner == DESK:
            merged = self._keep(
                ("trades", DESK),
                lambda: sorted(
                    [t for trades in self._trades.values() for t in trades],
                    key=lambda t: (t.exit_ns, t.owner),
                ),
            )
            return list(merged)
        return list(self._trades.get(owner, []))

    def symbols(self, owner: str | None = None) -> list[PnlRow]:
        """One row per owner and instrument (products together)."""
        key = DESK if owner is None else owner
        return list(self._keep(("symbols", key), lambda: self._symbols(key)))

    def _symbols(self, owner: str) -> list[PnlRow]:
        rows = []
        for name in self.owners if owner == DESK else [owner]:
            data = self._owners[name]
            by_token: dict[int, list[Position]] = defaultdict(list)
            for (token, _product), position in data.positions.items():
                by_token[token].append(position)
            for token, positions in sorted(by_token.items(), key=lambda i: data.symbols[i[0]]):
                rows.append(self._row(name, data.symbols[token], positions, token))
        return rows

    def strategies(self) -> list[PnlRow]:
        """One row per owner, and last the desk's."""
        return list(self._keep(("strategies",), self._strategies))

    def _strategies(self) -> list[PnlRow]:
        rows = []
        for name in self.owners:
            rows.append(sum_rows(name, self.symbols(name)))
        rows.append(sum_rows(DESK, self.symbols()))
        return rows

    def days(self, owner: str = DESK) -> list[DayRow]:
        """One row per IST date the owner had an event (the desk: every owner's, summed)."""
        return list(self._keep(("days", owner), lambda: self._days(owner)))

    def _days(self, owner: str) -> list[DayRow]:
        names = self.owners if owner == DESK else [owner]
        combined: dict[int, DaySum] = {}
        for name in names:
            data = self._owners[name]
            previous = self.capital
            closed_on = self._closed_on.get(name, {})
            for day in sorted(data.closes):
                close = data.closes[day]
                closed = closed_on.get(day, ())
                total = combined.setdefault(day, DaySum())
                total.net += close - previous
                previous = close
                total.charges += data.day_charges.get(day, ZERO)
                total.fills += data.day_fills.get(day, 0)
                total.trades += len(closed)
                total.wins += sum(1 for t in closed if t.net > 0)
        return [
            DayRow(
                owner,
                day_of(day),
                t.net + t.charges,
                t.charges,
                t.net,
                t.fills,
                t.trades,
                t.wins,
            )
            for day, t in sorted(combined.items())
        ]

    def metrics(
        self,
        owner: str = DESK,
        *,
        periods_per_year: int = DEFAULT_PERIODS_PER_YEAR,
        risk_free_rate: float = 0.0,
    ) -> Metrics:
        return self._keep(
            ("metrics", owner, periods_per_year, risk_free_rate),
            lambda: self._metrics(owner, periods_per_year, risk_free_rate),
        )

    def _metrics(self, owner: str, periods_per_year: int, risk_free_rate: float) -> Metrics:
        names = self.owners if owner == DESK else [owner]
        charges = sum((p.charges for n in names for p in self._owners[n].positions.values()), ZERO)
        fills = [f for n in names for f in self._owners[n].fills]
        return compute_metrics(
            self.curve(owner),
            self.trades(owner),
            periods_per_year=periods_per_year,
            risk_free_rate=risk_free_rate,
            charges=charges,
            slippage=sum((f.slippage for f in fills), ZERO),
            slippage_measured=any(f.reference is not None for f in fills),
            calendar=self.calendar,
        )

    def _row(self, owner: str, symbol: str, positions: list[Position], token: int) -> PnlRow:
        price = self._prices.get(token)
        realised = sum((p.realised for p in positions), ZERO)
        value = sum((_price_value(p, price) for p in positions), ZERO)
        charges = sum((p.charges for p in positions), ZERO)
        fills, trades = self._of_token.get((owner, token), ([], []))
        return PnlRow(
            owner,
            symbol,
            realised,
            value - realised,
            charges,
            value - charges,
            sum(p.fills for p in positions),
            len(trades),
            sum(1 for t in trades if t.net > 0),
            sum(p.net_quantity for p in positions),
            sum((f.slippage for f in fills), ZERO),
            sum(1 for p in positions if p.net_quantity),
            any(f.reference is not None for f in fills),
        )


def quoted_at(now_ns: int, calendar: TradingSessions | None = None) -> int | None:
    """The moment live quotes read at ``now_ns`` stand for: now while a session is open, else
    the close of the last session (quotes on a Sunday, a holiday or an evening are that close's
    prices); None when no session is known within ``SESSION_LOOK_BACK``."""
    now = datetime.fromtimestamp(now_ns / 1e9, IST)
    today = now.date()
    sessions = (calendar or packaged_calendar()).sessions(today - SESSION_LOOK_BACK, today)
    for session in reversed(sessions):
        if session.open <= now:
            return now_ns if now < session.close else int(session.close.timestamp()) * 10**9
    return None


def track(
    entries: Iterable[JournalEntry],
    *,
    symbol_of: Callable[[InstrumentToken], str] = lambda token: str(token),
    capital: Decimal = DEFAULT_CAPITAL,
    last_prices: Callable[[InstrumentToken], int | None] | None = None,
    now_ns: int | None = None,
    calendar: TradingSessions | None = None,
) -> Performance:
    """The performance of every owner in the journal ``entries`` (any order; read by seq).
    ``last_prices`` (paise, None when unknown) marks what is still held at the end: the live
    quotes, read at ``now_ns`` (``quoted_at``); without it, the journal's own last prices stand.
    ``calendar``: the market's sessions (the packaged NSE calendar when None)."""
    if not isinstance(capital, Decimal) or not capital.is_finite() or capital <= 0:
        raise ValueError(f"capital must be a positive amount of rupees, not {capital!r}")
    rows = sorted(entries, key=lambda entry: entry.seq)
    replayed = replay_orders((r.kind, r.order_id, r.ts_ns, r.payload) for r in rows)
    accepted = {(f.order_id, f.trade_id): f for f in replayed.fills}
    performance = Performance(capital, calendar)
    names: dict[int, str] = {}
    arrivals: dict[str, Decimal] = {}
    for row in rows:
        if row.kind == OrderSubmitted.kind and row.order_id is not None:
            arrival = arrival_of(row.payload)
            if arrival is not None:
                arrivals[row.order_id] = arrival
    # The orders' states in journal order (above); their fills and the marks valued in time
    # order (stable: rows of one moment keep the journal's), so a late-journaled fill counts
    # from the exchange's moment and the curves never go back in time.
    for row in sorted(rows, key=lambda entry: entry.ts_ns):
        if row.kind == OrderFilled.kind and row.order_id is not None:
            key = (OrderId(row.order_id), TradeId(str(row.payload.get("trade_id"))))
            fill = accepted.pop(key, None)
            if fill is None:
                continue
            order = replayed.orders.get(fill.order_id)
            owner = attribution(order.source, order.strategy) if order else "unknown"
            if int(fill.token) not in names:
                names[int(fill.token)] = symbol_of(fill.token)
            reference = arrivals.get(fill.order_id)
            performance.add_fill(owner, fill, names[int(fill.token)], reference)
        elif row.kind == PnlMarks.kind:
            try:
                marks = PnlMarks.from_payload(row.ts_ns, row.payload)
            except (KeyError, TypeError, ValueError) as problem:
                performance.skipped_marks += 1
                log.warning("pnl_marks row %s does not read (%s); passed over", row.seq, problem)
                continue
            performance.add_marks(row.ts_ns, {int(m.token): m.ltp for m in marks.marks})
    if last_prices is not None and names:
        latest = max((r.ts_ns for r in rows), default=0)
        quoted = None if now_ns is None else quoted_at(now_ns, calendar)
        at = latest if quoted is None else max(quoted, latest)
        live = {token: last_prices(InstrumentToken(token)) for token in performance.held_tokens()}
        performance.add_marks(at, {t: p for t, p in live.items() if p is not None})
    performance.finish()
    let_go(replayed.orders)
    let_go(accepted)
    let_go(replayed.fills)
    return performance


def let_go(container: list[Any] | dict[Any, Any]) -> None:
    """Empty a big container ``LET_GO_PIECE`` items at a time. Freeing objects is one unbroken
    stretch of C that keeps the GIL: tens of thousands freed at once (a year's orders) hold every
    other thread, the desk's loop with it, for tens of milliseconds; freed in pieces on a worker
    thread, the loop gets in between them."""
    if isinstance(container, dict):
        while container:
            for _ in range(min(LET_GO_PIECE, len(container))):
                container.popitem()
    else:
        while container:
            del container[-LET_GO_PIECE:]
