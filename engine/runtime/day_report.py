"""The end-of-day report: the day's P&L per position, charges, orders, fills and denials, as JSON
and HTML in the schedule's ``reports`` folder, and beside them the book's performance report (the
scheduler's ``end_of_day_report`` job, at 15:45 IST).

The report is of one IST trade date, the job's: the orders placed and the fills made that day, the
charges of those fills, and a row for each position that traded that day or is held at its end.
A position's day P&L follows the positions table's rule (``Position.day_pnl``): the quantity
carried in, marked from the previous close, plus the day's own trades at the last price. So on a
desk left running overnight, or restarted on a later day, yesterday's orders, charges and closed
positions stay yesterday's.

The day's figures are read from the live book on the loop (a pass over the fills, milliseconds on
a day of thousands) and written at once: the mailing waits for the JSON, and mails the page beside
it, so the page is written first and each file whole. The book's performance report reads the
whole journal and renders every trade, a second or more on a busy book, so with a loop running
its figures are read as the Performance panel reads them (``read_performance``: on worker
threads, the live prices and names taken on the loop) and the page is rendered and written on a
thread; the trader hears when it is saved, or why it was not.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from engine.api.performance import PerformanceUnavailable
from engine.backtest.performance import DESK, Performance
from engine.core.clock import IST, ist_day_number
from engine.core.memory import collector_paused
from engine.domain.events import EngineMessage, OrderFilled, Severity
from engine.domain.ids import InstrumentToken
from engine.domain.marks import money_text, paisa_text
from engine.domain.orders import OrderStatus, Product
from engine.domain.positions import Position
from engine.domain.ticks import Tick, previous_close
from engine.domain.values import ZERO
from engine.store.files import write_json, write_text

if TYPE_CHECKING:
    from engine.api import EngineApi
    from engine.runtime.engine import Engine

log = logging.getLogger(__name__)

PERFORMANCE_TASK = "end-of-day-performance-report"
"""The name of the task that writes the book's performance report (as the engine keeps it)."""


def end_of_day_report(engine: Engine, now: datetime) -> str:
    folder = engine.schedule.folder if engine.schedule is not None else None
    report = day_report(engine, now)
    if folder is None:
        return f"End-of-day report: day P&L ₹{report['day_pnl']}"
    day = now.date().isoformat()
    path = folder / "reports" / f"{day}.json"
    page = path.with_suffix(".html")
    # The page before the JSON: the mailing starts once the JSON is there and mails both.
    unsaved = write_text(page, report_html(report)) or write_json(path, report)
    if unsaved is not None:
        raise OSError(unsaved)  # the schedule tells the trader the job failed, in these words
    text = f"End-of-day report: day P&L ₹{report['day_pnl']}, saved as {page}"
    if engine.journal.closed or not engine.orders.fills:  # no performance to report
        _tell(engine, Severity.INFO, text)
        return text
    full = path.with_name(f"{day}-performance.html")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # No loop to hold (a script or a test driving the schedule by hand): written here.
        problem = write_performance_report(engine.api, full)
        text += f"; performance report {full}" if problem is None else f"; {problem}"
        _tell(engine, Severity.INFO if problem is None else Severity.WARNING, text)
        return text
    engine.spawn(_write_performance_off_the_loop(engine, full, day), PERFORMANCE_TASK)
    text += f"; the book's performance report is being written to {full}"
    _tell(engine, Severity.INFO, text)
    return text


# -- the day's figures ------------------------------------------------------------------------------


def day_report(engine: Engine, now: datetime) -> dict[str, object]:
    """The report of ``now``'s IST trade date: its orders, fills and charges, and the day P&L
    of each position that traded that day or is held at its end, net of the day's charges."""
    day = now.astimezone(IST).date()
    day_number = ist_day_number(int(now.timestamp()) * 10**9)
    fills: defaultdict[tuple[InstrumentToken, Product], list[OrderFilled]] = defaultdict(list)
    # Quantity filled after the day (a report of a day gone by): taken off what is held now.
    after: Counter[tuple[InstrumentToken, Product]] = Counter()
    fill_count = 0
    for fill in engine.orders.fills:
        fill_day = ist_day_number(fill.ts_ns)
        if fill_day < day_number:
            continue
        key = (fill.token, fill.product)
        if fill_day == day_number:
            fills[key].append(fill)
            fill_count += 1
        else:
            after[key] += fill.side.sign * fill.quantity
    rows: list[dict[str, object]] = []
    day_pnl = charges = ZERO
    for position in engine.positions.all():
        key = (position.token, position.product)
        traded = fills.get(key, [])
        held = position.net_quantity - after[key]
        if not traded and held == 0:
            continue  # closed on an earlier day: not this day's
        pnl, paid = _position_day(position, held, traded, engine.quotes.get(position.token), day)
        day_pnl += pnl
        charges += paid
        instrument = engine.registry.find(position.token)
        symbol = str(position.token) if instrument is None else instrument.tradingsymbol
        rows.append(
            {
                "instrument": symbol,
                "product": position.product.value,
                "net_quantity": held,
                "day_pnl": money_text(pnl),
                "charges": money_text(paid),
            }
        )
    orders = [
        o for o in engine.orders.orders.values() if ist_day_number(o.created_ns) == day_number
    ]
    return {
        "day": day.isoformat(),
        "day_pnl": money_text(day_pnl - charges),
        "charges": money_text(charges),
        "orders": len(orders),
        "fills": fill_count,
        "rejected": sum(1 for o in orders if o.status is OrderStatus.REJECTED),
        "positions": rows,
    }


def _position_day(
    position: Position, held: int, fills: Sequence[OrderFilled], tick: Tick | None, day: date
) -> tuple[Decimal, Decimal]:
    """One position's day P&L before charges and the charges of its fills that day.

    The day's buys and sells are summed into a position holding ``held`` at the day's end, so
    ``Position.day_pnl`` (what the positions table shows) works the P&L out: the quantity carried
    in is what is held less what the day bought net."""
    day_view = Position(position.token, position.product, net_quantity=held)
    charges = ZERO
    for fill in fills:
        value = fill.price * fill.quantity
        if fill.side.sign > 0:
            day_view.day_buy_quantity += fill.quantity
            day_view.day_buy_value += value
        else:
            day_view.day_sell_quantity += fill.quantity
            day_view.day_sell_value += value
        if fill.charges is not None:
            charges += fill.charges.total
    if tick is not None:
        return day_view.day_pnl(tick.ltp, previous_close(tick, day) or tick.ltp), charges
    # No price seen (the positions table shows no LTP either): the day's own round trips count
    # and what is held is not valued. Rare (the desk is fed what it trades), so the exact replay
    # of the day's fills, slower than the sums above, is affordable here.
    day_only = Position(position.token, position.product)
    for fill in fills:
        day_only.apply(fill, day)
    return day_only.realised, charges


def report_html(report: dict[str, object]) -> str:
    """The report as a page a mail program shows: every name and figure escaped, so a symbol
    such as ``M&M`` reads as itself and none can carry markup."""

    def cell(value: object) -> str:
        return f"<td>{escape(str(value))}</td>"

    def row(r: dict[str, object]) -> str:
        named = (r["instrument"], r["product"], r["net_quantity"])
        return "".join(
            cell(v) for v in (*named, paisa_text(r["day_pnl"]), paisa_text(r["charges"]))
        )

    positions = report["positions"]
    rows = "".join(f"<tr>{row(r)}</tr>" for r in (positions if isinstance(positions, list) else []))
    # To the paisa, as the mail's subject and text say them (the JSON keeps every digit).
    day = escape(str(report["day"]))
    pnl, charges = (escape(paisa_text(report[k])) for k in ("day_pnl", "charges"))
    orders, fills, rejected = (escape(str(report[k])) for k in ("orders", "fills", "rejected"))
    return (
        f"<!doctype html><meta charset='utf-8'><title>DalalDesk — {day}</title>"
        f"<h1>DalalDesk — {day}</h1>"
        f"<p>Day P&amp;L (net of the day's charges) ₹{pnl}; charges ₹{charges}; "
        f"{orders} orders, {fills} fills, {rejected} rejected.</p>"
        "<table border='1' cellpadding='4'><tr><th>Instrument</th><th>Product</th><th>Net qty</th>"
        f"<th>Day P&amp;L</th><th>Day's charges</th></tr>{rows}</table>"
    )


# -- the book's performance report ------------------------------------------------------------------


def write_performance_report(
    api: EngineApi, path: Path, performance: Performance | None = None
) -> str | None:
    """The whole desk's performance report, written whole to ``path``; None when written, else
    why not, in words. ``performance``: the figures already read (``read_performance``, off the
    loop), so this only renders and writes and is safe on a thread; without them they are read
    here (``api.performance()``).

    The cyclic collector is paused while it runs (``collector_paused``): the objects a long
    report holds would otherwise start full collections, which stop every thread, the loop's
    too; reference counting frees them when it returns."""
    try:
        with collector_paused():
            performance = performance or api.performance()
            if not performance.owners:
                return "the journal holds no fills to report on"
            return api.export_performance_report(path, DESK, performance=performance)
    except Exception as problem:  # the database gone, or a bug: said in words, the desk goes on
        log.exception("the performance report %s was not written", path)
        return f"the performance report was not written ({type(problem).__name__}: {problem})"


async def _write_performance_off_the_loop(engine: Engine, path: Path, day: str) -> None:
    """The book's figures read as the Performance panel reads them (off the loop, the live
    prices and names taken on it), then the page rendered and written on a thread."""
    api = engine.api
    try:
        performance = await api.performance_service.read_performance()
        problem = await asyncio.to_thread(write_performance_report, api, path, performance)
    except asyncio.CancelledError:
        log.warning("the performance report of %s was not finished: the desk closed", day)
        raise
    except PerformanceUnavailable as unavailable:
        problem = f"the performance report was not written ({unavailable})"
    if problem is None:
        _tell(engine, Severity.INFO, f"Performance report of {day} saved as {path}")
    else:
        _tell(engine, Severity.WARNING, f"Performance report of {day} not written: {problem}")


def _tell(engine: Engine, severity: Severity, text: str) -> None:
    engine.bus.publish(EngineMessage(engine.clock.time_ns(), severity, text, "schedule"))
