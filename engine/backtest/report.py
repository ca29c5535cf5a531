"""The performance report: one self-contained HTML file (inline CSS, charts as inline SVG, no
script, no network) with the equity curve, the drawdown, the daily P&L, the metrics, the P&L per
strategy and symbol, and the trade list. A backtest and a live or paper day give the same page.

``ReportView.of(performance, owner)`` reads a journal's figures (``engine.backtest.performance``);
``ReportView.of_run(curve, trades)`` a backtest's. ``report_html(view, title)`` is the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import escape

from engine.backtest.metrics import (
    DEFAULT_PERIODS_PER_YEAR,
    EquityCurve,
    Metrics,
    compute_metrics,
    daily_pnl,
    drawdown_series,
)
from engine.backtest.performance import DESK, DayRow, Performance, PnlRow
from engine.backtest.report_svg import DOWN, bar_chart, line_chart, percent_label
from engine.backtest.trades import Trade
from engine.core.clock import IST
from engine.domain.values import format_rupees, round_paisa

MAX_TRADE_ROWS = 5000
"""A longer trade list is cut here, with a line saying how many more (the page stays light)."""
NO_DRAWDOWN = "no drawdown"
NO_LOSSES = "∞ (no losses)"
"""A profit factor with winners and no loser: unbounded, not unknown."""
NO_LOSING_DAYS = "∞ (no losing days)"
"""A Sortino with no day below the risk-free rate."""


@dataclass(frozen=True, slots=True)
class ReportView:
    owner: str
    metrics: Metrics
    curve: EquityCurve
    trades: Sequence[Trade]
    owners: Sequence[PnlRow] = field(default_factory=tuple)
    symbols: Sequence[PnlRow] = field(default_factory=tuple)
    days: Sequence[DayRow] = field(default_factory=tuple)

    @classmethod
    def of(cls, performance: Performance, owner: str = DESK) -> ReportView:
        return cls(
            owner,
            performance.metrics(owner),
            performance.curve(owner),
            performance.trades(owner),
            performance.strategies() if owner == DESK else (),
            performance.symbols(None if owner == DESK else owner),
            performance.days(owner),
        )

    @classmethod
    def of_run(
        cls,
        curve: EquityCurve,
        trades: Sequence[Trade],
        *,
        owner: str = "backtest",
        periods_per_year: int = DEFAULT_PERIODS_PER_YEAR,
        risk_free_rate: float = 0.0,
    ) -> ReportView:
        metrics = compute_metrics(
            curve, trades, periods_per_year=periods_per_year, risk_free_rate=risk_free_rate
        )
        return cls(owner, metrics, curve, trades)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;
margin:0;background:#f5f6f8}
main{max-width:980px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:26px 0 8px}
.sub{color:#6b7280;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:10px 12px}
.card .k{color:#6b7280;font-size:12px}.card .v{font-size:19px;font-weight:600;margin-top:2px}
.chart{width:100%;height:auto;background:#fff;border:1px solid #e3e6ea;border-radius:8px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
table.trades{font-size:12px}table.trades td,table.trades th{padding:4px 5px}
th,td{padding:5px 8px;border-bottom:1px solid #eceef1;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600}th:first-child,td:first-child{text-align:left}
td.l{text-align:left}.up{color:#1b7a47}.down{color:#c2352e}
.metrics td:nth-child(odd){text-align:left;color:#4b5563}
.note{color:#6b7280;font-size:12px}
.partial{background:#fff4e5;border:1px solid #f0b35a;border-radius:8px;padding:10px 12px;
margin:0 0 16px;font-weight:600;color:#7a4a00}
@media print{body{background:#fff}.card,.chart{break-inside:avoid}}
"""


def _money(amount: Decimal | None) -> str:
    if amount is None:
        return "—"
    paise = int(round_paisa(amount) * 100)
    return ("-₹" if paise < 0 else "₹") + format_rupees(abs(paise))


def _signed(amount: Decimal | None) -> str:
    if amount is None:
        return "—"
    css = "up" if amount > 0 else "down" if amount < 0 else ""
    text = ("+" if amount > 0 else "") + _money(amount)
    return f'<span class="{css}">{escape(text)}</span>'


def _ratio(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _profit_factor(m: Metrics) -> str:
    return NO_LOSSES if m.trade_stats.without_losses else _ratio(m.trade_stats.profit_factor)


def _sortino(m: Metrics) -> str:
    return NO_LOSING_DAYS if m.sortino is None and m.sortino_unbounded else _ratio(m.sortino)


def _annual(m: Metrics, value: float | None, *, ratio: bool = False) -> str:
    """A CAGR or a Calmar; on a short record, a dash that says why on hover."""
    if not m.annualised:
        return f'<span title="{escape(m.short_record)}">—</span>'
    return _ratio(value) if ratio else _percent(value)


def _duration(ns: int) -> str:
    seconds = ns // 10**9
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, IST).strftime("%d %b %Y %H:%M:%S")


def _short(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, IST).strftime("%d %b %H:%M:%S")


def _cards(m: Metrics) -> str:
    depth = m.max_drawdown.depth
    cards = [
        ("Net P&L", _signed(m.net_pnl)),
        ("CAGR", _annual(m, m.shown_cagr)),
        ("Sharpe", _ratio(m.sharpe)),
        (
            "Max drawdown",
            f'<span class="down">{_percent(depth)}</span>' if depth < 0 else NO_DRAWDOWN,
        ),
        ("Trades", str(m.trade_stats.trades)),
        ("Win rate", _percent(m.trade_stats.win_rate)),
        ("Profit factor", escape(_profit_factor(m))),
        ("Charges paid", escape(_money(m.charges))),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )


def _metrics_table(m: Metrics) -> str:
    dd = m.max_drawdown
    fell = dd.depth < 0
    # Equity never below a previous high: no depth, peak, duration or recovery to tell of.
    recovered = (
        "—" if not fell else _when(dd.recovered_ns) if dd.recovered_ns is not None else "not yet"
    )
    stats = m.trade_stats
    pairs = [
        (
            "Start equity",
            escape(_money(m.start_equity)),
            "End equity",
            escape(_money(m.end_equity)),
        ),
        ("Net P&L", _signed(m.net_pnl), "Trading days", str(m.days)),
        ("CAGR", _annual(m, m.shown_cagr), "Volatility (annual)", _percent(m.volatility)),
        ("Sharpe", _ratio(m.sharpe), "Sortino", escape(_sortino(m))),
        (
            "Calmar",
            _annual(m, m.shown_calmar, ratio=True),
            "Max drawdown",
            _percent(dd.depth) if fell else NO_DRAWDOWN,
        ),
        (
            "Max drawdown (₹)",
            _signed(dd.rupees) if fell else "—",
            "Drawdown duration",
            _duration(dd.duration_ns) if fell else "—",
        ),
        ("Drawdown peak", _when(dd.peak_ns) if fell else "—", "Recovered", recovered),
        ("Longest under water", _duration(m.longest_drawdown_ns), "Best day", _signed(m.best_day)),
        ("Worst day", _signed(m.worst_day), "Trades", str(stats.trades)),
        ("Win rate", _percent(stats.win_rate), "Expectancy / trade", _signed(stats.expectancy)),
        ("Profit factor", escape(_profit_factor(m)), "Average win", _signed(stats.average_win)),
        ("Average loss", _signed(stats.average_loss), "Charges paid", escape(_money(m.charges))),
        (
            "Slippage (cost)",
            _slippage(m),
            "Wins / losses",
            f"{stats.wins} / {stats.losses}",
        ),
    ]
    rows = "".join(
        f"<tr><td>{a}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>" for a, b, c, d in pairs
    )
    return f'<table class="metrics">{rows}</table><p class="note">{escape(m.convention)}.</p>'


def _slippage(m: Metrics) -> str:
    if not m.slippage_measured:
        return '<span title="needs each fill\'s reference price">not measured</span>'
    return escape(_money(m.slippage))


def _pnl_rows(rows: Sequence[PnlRow], first: str, with_owner: bool = False) -> str:
    open_label = "Open qty" if rows and rows[0].symbol else "Open positions"
    head = (
        f"<tr><th>{first}</th><th>Realised</th><th>Unrealised</th><th>Charges</th><th>Net</th>"
        f"<th>Fills</th><th>Trades</th><th>Win rate</th><th>{open_label}</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(_name(r, with_owner))}</td><td>{_signed(r.realised)}</td>"
        f"<td>{_signed(r.unrealised)}</td><td>{escape(_money(r.charges))}</td>"
        f"<td>{_signed(r.net)}</td><td>{r.fills}</td><td>{r.trades}</td>"
        f"<td>{_percent(r.win_rate)}</td><td>{r.open_positions if r.symbol == '' else r.open_quantity}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def _name(row: PnlRow, with_owner: bool) -> str:
    if not row.symbol:
        return row.owner
    return f"{row.owner} · {row.symbol}" if with_owner else row.symbol


def _day_rows(rows: Sequence[DayRow]) -> str:
    head = "<tr><th>Day</th><th>P&amp;L</th><th>Charges</th><th>Net</th><th>Fills</th><th>Trades</th><th>Wins</th></tr>"
    body = "".join(
        f"<tr><td>{r.day.strftime('%a %d %b %Y')}</td><td>{_signed(r.pnl)}</td>"
        f"<td>{escape(_money(r.charges))}</td><td>{_signed(r.net)}</td><td>{r.fills}</td>"
        f"<td>{r.trades}</td><td>{r.wins}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def _trade_rows(trades: Sequence[Trade]) -> str:
    head = (
        "<tr><th>#</th><th>Owner</th><th>Symbol</th><th>Side</th><th>Qty</th><th>Entry</th>"
        "<th>Entry price</th><th>Exit</th><th>Exit price</th><th>Gross</th><th>Charges</th>"
        "<th>Net</th></tr>"
    )
    shown = trades[:MAX_TRADE_ROWS]
    body = "".join(
        f"<tr><td>{i}</td><td class='l'>{escape(t.owner)}</td><td class='l'>{escape(t.symbol)}</td>"
        f"<td class='l'>{'Long' if t.is_long else 'Short'}</td><td>{t.quantity}</td>"
        f"<td>{_short(t.entry_ns)}</td><td>{t.entry_price:.2f}</td><td>{_short(t.exit_ns)}</td>"
        f"<td>{t.exit_price:.2f}</td><td>{_signed(t.gross)}</td>"
        f"<td>{escape(_money(t.charges))}</td><td>{_signed(t.net)}</td></tr>"
        for i, t in enumerate(shown, 1)
    )
    more = len(trades) - len(shown)
    tail = f'<p class="note">{more} more trades not listed.</p>' if more > 0 else ""
    if not trades:
        tail = '<p class="note">No closed trades yet.</p>'
    return f'<table class="trades">{head}{body}</table>{tail}'


def report_html(view: ReportView, title: str, partial: Sequence[str] = ()) -> str:
    """The whole page, self-contained. ``partial`` says why its figures are not of the whole
    range (a run cancelled, its strategy failed partway: ``results.partial_said``), a banner
    each at the top of the page."""
    m = view.metrics
    curve = view.curve
    ts = [int(t) for t in curve.ts_ns]
    days = daily_pnl(curve)
    first, last = _when(ts[0]), _when(ts[-1])
    sections = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(view.owner)} · {first} to {last} IST · generated by DalalDesk</p>',
        *(f'<p class="partial" role="alert">{escape(said)}</p>' for said in partial),
        _cards(m),
        "<h2>Equity</h2>",
        line_chart("Equity", ts, [float(v) for v in curve.values]),
        "<h2>Drawdown</h2>",
        line_chart(
            "Drawdown",
            ts,
            [float(v) for v in drawdown_series(curve)],
            label=percent_label,
            colour=DOWN,
            fill_to=0.0,
        ),
        "<h2>Daily P&amp;L</h2>",
        bar_chart("Daily P&L", [d for d, _ in days], [float(p) for _, p in days]),
        "<h2>Metrics</h2>",
        _metrics_table(m),
    ]
    if view.owners:
        sections += ["<h2>By strategy</h2>", _pnl_rows(view.owners, "Strategy")]
    if view.symbols:
        sections += ["<h2>By symbol</h2>", _pnl_rows(view.symbols, "Symbol", view.owner == DESK)]
    if view.days:
        sections += ["<h2>By day</h2>", _day_rows(view.days)]
    sections += [f"<h2>Trades ({len(view.trades)})</h2>", _trade_rows(view.trades)]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        + "".join(sections)
        + "</main></body></html>"
    )
