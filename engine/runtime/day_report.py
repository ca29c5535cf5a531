"""The end-of-day report: the day's P&L per position, charges, orders, fills and denials, as JSON
and HTML in the schedule's ``reports`` folder, and beside them the book's performance report (the
scheduler's ``end_of_day_report`` job, at 15:45 IST)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.domain.events import EngineMessage, Severity
from engine.store.files import write_json, write_whole

if TYPE_CHECKING:
    from engine.runtime.engine import Engine


def end_of_day_report(engine: Engine, now: datetime) -> str:
    folder = engine.schedule.folder if engine.schedule is not None else None
    report = day_report(engine, now)
    if folder is None:
        return f"End-of-day report: day P&L ₹{report['day_pnl']}"
    path = folder / "reports" / f"{now.date().isoformat()}.json"
    unsaved = write_json(path, report)
    if unsaved is not None:
        raise OSError(unsaved)
    html = path.with_suffix(".html")
    write_whole(html, report_html(report))
    text = f"End-of-day report: day P&L ₹{report['day_pnl']}, saved as {html}"
    performance = engine.api.performance()
    if performance.owners:  # the book's performance to date: per strategy, symbol and day
        full = path.with_name(f"{now.date().isoformat()}-performance.html")
        problem = engine.api.export_performance_report(full, performance=performance)
        text += f"; performance report {full}" if problem is None else f"; {problem}"
    engine.bus.publish(EngineMessage(engine.clock.time_ns(), Severity.INFO, text, "schedule"))
    return text


def day_report(engine: Engine, now: datetime) -> dict[str, object]:
    api = engine.api
    positions = api.positions()
    orders = api.orders()
    rows = [
        {
            "instrument": p.instrument.tradingsymbol,
            "product": p.product.value,
            "net_quantity": p.net_quantity,
            "day_pnl": str(p.day_pnl),
            "charges": str(p.charges),
        }
        for p in positions
    ]
    return {
        "day": now.date().isoformat(),
        "day_pnl": str(api.day_pnl()),
        "charges": str(sum((p.charges for p in positions), Decimal(0))),
        "orders": len(orders),
        "fills": len(api.trades()),
        "rejected": sum(1 for o in orders if o.status.value == "REJECTED"),
        "positions": rows,
    }


def report_html(report: dict[str, object]) -> str:
    rows = "".join(
        f"<tr><td>{r['instrument']}</td><td>{r['product']}</td><td>{r['net_quantity']}</td>"
        f"<td>{r['day_pnl']}</td><td>{r['charges']}</td></tr>"
        for r in report["positions"]  # type: ignore[attr-defined]
    )
    return (
        f"<!doctype html><meta charset='utf-8'><title>DalalDesk — {report['day']}</title>"
        f"<h1>DalalDesk — {report['day']}</h1>"
        f"<p>Day P&amp;L (net of charges) ₹{report['day_pnl']}; charges ₹{report['charges']}; "
        f"{report['orders']} orders, {report['fills']} fills, {report['rejected']} rejected.</p>"
        "<table border='1' cellpadding='4'><tr><th>Instrument</th><th>Product</th><th>Net qty</th>"
        f"<th>Day P&amp;L</th><th>Charges</th></tr>{rows}</table>"
    )
