"""What the Multileg panel's grids show: a portfolio, a leg (with its contract's IV and Greeks)
and an order of a portfolio, as columns over the engine's snapshots, with the status colours."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtGui import QColor

from engine.api import (
    ContractGreeks,
    LegView,
    PortfolioStatus,
    PortfolioView,
    Side,
    read_leg_tag,
)
from ui import format as fmt
from ui.context import PanelContext
from ui.models.table import Column
from ui.panels.greeks import number
from ui.panels.orderbook import FilledOf, OrderRow, status_colour
from ui.theme import Palette

LEGS_IN = frozenset({"entering", "entered", "exiting"})
"""Leg states in which a leg may hold a position (its Greeks count)."""
_PURPOSES = {"E": "entry", "X": "exit", "S": "stop"}


def status_brush(status: PortfolioStatus, palette: Palette) -> QColor:
    """Started green; Failed and Rejected red; on the way in or out amber; waiting blue;
    idle grey (multileg_and_panels.md §3.3, as the orderbook colours its statuses)."""
    if status is PortfolioStatus.STARTED:
        return palette.up
    if status in (PortfolioStatus.FAILED, PortfolioStatus.REJECTED):
        return palette.down
    if status in (PortfolioStatus.UNDER_EXECUTION, PortfolioStatus.UNDER_EXIT):
        return palette.warning
    if status in (PortfolioStatus.PENDING, PortfolioStatus.MONITORING):
        return palette.buy
    return palette.muted


def leg_state_brush(state: str, palette: Palette) -> QColor:
    if state == "entered":
        return palette.up
    if state in ("entering", "exiting"):
        return palette.warning
    if state == "failed":
        return palette.down
    if state == "waiting":
        return palette.buy
    return palette.muted


def tag_text(tag: str) -> str:
    """A portfolio order's tag in words: ``L2E1`` is leg 2's first entry order."""
    found = read_leg_tag(tag)
    if found is None:
        return tag
    leg, purpose, number = found
    return f"{leg} {_PURPOSES[purpose]} #{number}"


def signed_number(value: float | None) -> str:
    return "" if value is None else number(value, 2)


# -- rows and columns -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegRow:
    leg: LegView
    greeks: ContractGreeks | None
    per_unit: bool

    @property
    def key(self) -> int:
        return self.leg.n

    @property
    def signed_quantity(self) -> int:
        return self.leg.quantity if self.leg.side == Side.BUY.value else -self.leg.quantity

    def greek(self, name: str) -> float | None:
        """A Greek of the leg: per unit, or × its signed quantity while it is in."""
        if self.greeks is None:
            return None
        value = float(getattr(self.greeks, name))
        if not math.isfinite(value):
            return None
        if self.per_unit:
            return value
        return value * self.signed_quantity if self.leg.state in LEGS_IN else None


def portfolio_columns(context: PanelContext) -> list[Column[PortfolioView]]:
    def palette() -> Palette:  # read at paint time: the theme can change under a live model
        return context.theme.palette

    def money_colour(view: PortfolioView) -> QColor | None:
        if not view.mtm:
            return palette().muted
        return palette().up if view.mtm > 0 else palette().down

    def mode_colour(view: PortfolioView) -> QColor | None:
        return palette().warning if view.mode == "live" else palette().muted

    return [
        Column("Portfolio", lambda v: v.name, width=170, tooltip=lambda v: v.strategy_id),
        Column(
            "Status",
            lambda v: v.status.value,
            foreground=lambda v: status_brush(v.status, palette()),
            width=110,
        ),
        Column("MTM ₹", lambda v: v.mtm, fmt.signed_rupees, "right", money_colour, width=100),
        Column(
            "Premium ₹",
            lambda v: v.premium,
            fmt.rupees,
            "right",
            width=100,
            tooltip=lambda v: "net premium in size: credit received (+) or debit paid (−)",
        ),
        Column("Legs", lambda v: v.legs, str, "right", width=44),
        Column("Underlying", lambda v: v.underlying, width=90),
        Column("Mode", lambda v: v.mode, foreground=mode_colour, width=60),
        Column("Reason", lambda v: v.reason, tooltip=lambda v: v.reason),
    ]


def leg_columns(context: PanelContext) -> list[Column[LegRow]]:
    def palette() -> Palette:
        return context.theme.palette

    def side_colour(row: LegRow) -> QColor:
        return palette().buy if row.leg.side == Side.BUY.value else palette().sell

    def pnl_colour(row: LegRow) -> QColor | None:
        if not row.leg.pnl:
            return palette().muted
        return palette().up if row.leg.pnl > 0 else palette().down

    def side_text(row: LegRow) -> str:
        return f"{row.leg.side} H" if row.leg.hedge else row.leg.side

    def greek_tip(what: str) -> str:
        return f"{what}: per unit, or × the leg's signed quantity while it is in"

    def price(value: Decimal | None) -> str:
        return fmt.rupees(value) if value is not None else "—"

    return [
        Column("#", lambda r: r.leg.n, str, "right", width=30),
        Column(
            "Symbol",
            lambda r: r.leg.symbol or f"{r.leg.instrument} (not chosen yet)",
            width=170,
            tooltip=lambda r: (
                f"{r.leg.symbol} · expires {r.leg.expiry:%d %b %Y}" if r.leg.expiry else ""
            ),
        ),
        Column("Strike", lambda r: r.leg.strike, price, "right", width=76),
        Column(
            "B/S",
            side_text,
            foreground=side_colour,
            align="center",
            width=56,
            tooltip=lambda r: "hedge: bought first, exited last" if r.leg.hedge else "",
        ),
        Column(
            "Lots",
            lambda r: r.leg.lots,
            str,
            "right",
            width=44,
            tooltip=lambda r: f"{r.leg.quantity:,} units",
        ),
        Column("Entry", lambda r: r.leg.entry, price, "right", width=72),
        Column("LTP", lambda r: r.leg.ltp, price, "right", width=72),
        Column("Exit", lambda r: r.leg.exit, price, "right", width=72),
        Column("P&L ₹", lambda r: r.leg.pnl, fmt.signed_rupees, "right", pnl_colour, width=90),
        Column(
            "IV %",
            lambda r: None if r.greeks is None else _finite(r.greeks.iv),
            lambda v: f"{v * 100:.2f}",
            "right",
            width=56,
        ),
        Column(
            "Δ",
            lambda r: r.greek("delta"),
            signed_number,
            "right",
            width=64,
            tooltip=lambda r: greek_tip("delta in units of the underlying"),
        ),
        Column(
            "Θ ₹/day",
            lambda r: r.greek("theta"),
            signed_number,
            "right",
            width=72,
            tooltip=lambda r: greek_tip("theta in rupees per calendar day"),
        ),
        Column(
            "Vega ₹/pt",
            lambda r: r.greek("vega"),
            signed_number,
            "right",
            width=76,
            tooltip=lambda r: greek_tip("vega in rupees per vol point"),
        ),
        Column("SL", lambda r: r.leg.stop, price, "right", width=66),
        Column("Target", lambda r: r.leg.target, price, "right", width=66),
        Column(
            "Trail",
            lambda r: "on" if r.leg.trailing else "",
            align="center",
            width=42,
            tooltip=lambda r: "the stop trails the price" if r.leg.trailing else "",
        ),
        Column(
            "Status",
            lambda r: r.leg.state,
            foreground=lambda r: leg_state_brush(r.leg.state, palette()),
            width=66,
        ),
        Column("Remark", lambda r: r.leg.remark, tooltip=lambda r: r.leg.remark),
    ]


def order_columns(context: PanelContext) -> list[Column[OrderRow]]:
    def palette() -> Palette:
        return context.theme.palette

    return [
        Column(
            "Time",
            lambda r: (r.placed, r.order_id),
            lambda v: v[0].strftime("%H:%M:%S"),
            width=66,
        ),
        Column("Leg", lambda r: tag_text(r.tag), width=80, tooltip=lambda r: r.tag),
        Column("Symbol", lambda r: r.symbol, width=170),
        Column(
            "B/S",
            lambda r: r.side.value,
            foreground=lambda r: palette().buy if r.side is Side.BUY else palette().sell,
            align="center",
            width=44,
        ),
        Column("Type", lambda r: r.order_type.value, align="center", width=60),
        Column("Qty", lambda r: FilledOf(r.quantity, r.filled), str, "right", width=84),
        Column("Price", lambda r: r.price, fmt.rupees, "right", width=72),
        Column("Avg", lambda r: r.average, fmt.rupees, "right", width=72),
        Column(
            "Status",
            lambda r: r.status.value,
            foreground=lambda r: status_colour(r.status, palette()),
            width=110,
        ),
        Column("Reason", lambda r: r.reason, tooltip=lambda r: r.reason, width=220),
        Column("Order ID", lambda r: r.order_id, foreground=lambda r: palette().muted),
    ]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
