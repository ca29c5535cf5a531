"""The HTML report is one self-contained file: inline CSS, inline SVG charts, no script, no
network; its figures are the metrics' own."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from engine.backtest.metrics import EquityCurve
from engine.backtest.report import ReportView, report_html
from engine.backtest.report_svg import nice_ticks, rupees_label, session_positions
from engine.backtest.trades import TradeFill, round_trips
from engine.core.clock import IST
from engine.domain.ids import InstrumentToken
from engine.domain.orders import Side


def _ns(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 11, day, hour, minute, tzinfo=IST).timestamp()) * 10**9


def _view() -> ReportView:
    token = InstrumentToken(738561)
    fills = [
        TradeFill(_ns(23, 10), token, Side.BUY, 100, 155_000, Decimal("20"), owner="<b>x</b>"),
        TradeFill(_ns(23, 14), token, Side.SELL, 100, 156_000, Decimal("21"), owner="<b>x</b>"),
        TradeFill(_ns(25, 10), token, Side.SELL, 50, 157_000, Decimal("9"), owner="<b>x</b>"),
        TradeFill(_ns(25, 15), token, Side.BUY, 50, 158_000, Decimal("9"), owner="<b>x</b>"),
    ]
    trades = round_trips(fills).trades
    curve = EquityCurve(
        [_ns(23, 9), _ns(23, 14), _ns(25, 15)],
        [Decimal(1_000_000), Decimal("1000959"), Decimal("1000432")],
    )
    return ReportView.of_run(curve, trades, owner="<b>x</b>")


def test_report_html_is_self_contained_with_svg_charts_and_the_metrics() -> None:
    view = _view()
    html = report_html(view, "Backtest <NIFTY>")

    assert html.startswith("<!doctype html>")
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert re.findall(r"https?://[^\"']+", html) == ["http://www.w3.org/2000/svg"] * 3
    assert html.count("<svg") == 3  # equity, drawdown, daily P&L
    assert html.count("<polyline") == 2 and html.count("<rect") == 2  # two days' bars
    assert "Backtest &lt;NIFTY&gt;" in html and "<b>x</b>" not in html  # text is escaped
    assert "₹10,00,432.00" in html  # end equity, Indian grouping
    assert "+₹432.00" in html  # net P&L
    assert "-₹959.00" not in html
    # Two round trips: +₹1,000 gross less ₹41 charges, and a short that lost ₹500 and ₹18.
    assert view.metrics.trade_stats.trades == 2
    assert "+₹959.00" in html and "-₹518.00" in html
    assert "250 trading days" in html
    assert "Trades (2)" in html
    # Two trading days: the CAGR and Calmar are dashes that say why, not a yearly extrapolation.
    assert view.metrics.cagr is not None and f"{view.metrics.cagr * 100:.2f}%" not in html
    assert html.count('<span title="CAGR and Calmar are shown from 20 trading days on') == 3
    assert "(this record has 2 trading days)." in html


def test_report_svg_axis_helpers_round_and_shorten_nights() -> None:
    assert nice_ticks(0, 97) == [0, 25, 50, 75, 100]
    assert nice_ticks(-0.012, 0) == [-0.015, -0.01, -0.005, 0.0]
    assert rupees_label(1_234_567) == "₹12.35L" and rupees_label(-2500) == "-₹2.5K"
    # A night between two sessions takes 30 minutes of room, not 19 hours.
    positions = session_positions([_ns(23, 15), _ns(23, 15, 30), _ns(24, 10)])
    assert positions == [0.0, 30 * 60 * 10**9, 60 * 60 * 10**9]
