"""Greeks: each position's IV, Δ, Γ, Θ and vega, grouped, with totals per underlying.

A position's Greeks are the per-unit Greeks of its chain × its signed quantity (lots × the
contract's lot size), from one ``EngineApi.position_greeks`` call when a position changes, and at
most four times a second while quotes that feed them move. Δ is in units of the underlying (and
in ₹: Δ × spot), Γ per point, Θ in ₹ per calendar day, vega in ₹ per vol point. Δ and Γ add only
within one underlying, so group rows that span underlyings show ₹-delta, Θ and vega only.

A position at a stand-in IV (the smile's side of its strike has no quote) shows ≈ before its IV;
one without Greeks is left out of the totals and counted in the notice above the table, which
also says when a future or forward stands in for an underlying's price. While on screen the panel
streams the quotes it computes from (a live feed sends only what is asked for).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtGui import QColor, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.api import EngineApi, GreeksGrouping, GreeksTotal, PortfolioGreeks, PositionGreeks
from ui import format as fmt
from ui.bridge import QUEUED, OnFrames
from ui.context import PanelContext
from ui.models.table import Column, RowTableModel

QUOTE_REFRESH_MS = 250
"""Quote-driven recomputes at most four times a second: each is an IV solve over every chain
held (milliseconds), and Greeks read at 4 Hz as live as at the 10 Hz of the price tables."""

GROUPINGS = {
    "Strategy": GreeksGrouping.STRATEGY,
    "Underlying": GreeksGrouping.UNDERLYING,
    "Expiry": GreeksGrouping.EXPIRY,
}


def number(value: float | None, decimals: int = 2, *, signed: bool = True) -> str:
    """12,345.67 with Indian grouping; '—' for a missing or undefined value."""
    if value is None or not math.isfinite(value):
        return "—"
    scaled = round(value * 10**decimals)
    if decimals == 2:
        text = fmt.money(scaled)
    elif decimals == 0:
        text = fmt.money(scaled * 100)[:-3]
    else:
        text = f"{value:,.{decimals}f}"
    return f"+{text}" if signed and scaled > 0 else text


def gamma_text(value: float) -> str:
    return f"{value:+.4f}" if abs(value) >= 5e-5 else "0"


def rupees_whole(value: float | None) -> str:
    """A signed rupee amount without paise: +16,70,033."""
    return number(value, 0)


def duration(seconds: float) -> str:
    """'45 s', '12 min', '2 h 5 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class PanelWatch:
    """The quotes a panel computes from, streamed while it is on screen (a live feed streams
    only watched tokens): the set is held with one ref-counted ``api.watch`` while the panel is
    shown, and let go with ``api.unwatch`` when the trader closes or tabs it away, or (the
    difference only) when the set changes, as Market Watch does with its rows."""

    def __init__(self, api: EngineApi) -> None:
        self._api = api
        self.wanted: frozenset[int] = frozenset()
        self.held: frozenset[int] = frozenset()
        self.shown = False

    def set_tokens(self, tokens: Iterable[int]) -> None:
        self.wanted = frozenset(tokens)
        self._sync()

    def shown_event(self) -> None:
        self.shown = True
        self._sync()

    def hidden_event(self, panel: QWidget, event: QHideEvent) -> None:
        """Let go, unless the window system hid the panel (a minimised desk stays live for
        when it is restored) or the whole desk is closing (the feed goes with it)."""
        if event.spontaneous():
            return
        desk = panel.window()
        while (parent := desk.parentWidget()) is not None:  # a floating dock's desk
            desk = parent.window()
        if desk is panel or desk.isVisible():
            self.shown = False
            self._sync()

    def _sync(self) -> None:
        target = self.wanted if self.shown else frozenset()
        added, removed = target - self.held, self.held - target
        self.held = target
        if added:
            self._api.watch(sorted(added))
        if removed:
            self._api.unwatch(sorted(removed))


IV_NOTES = {
    "own": "IV from this option's own price: the {other} at this strike (the smile's side) has "
    "no quote, so these Greeks are approximate",
    "atm": "no IV at this strike (neither option is quoted): Greeks at the chain's ATM IV, "
    "approximate",
    "missing": "no IV: its chain has no usable quotes; left out of the totals",
}
SPOT_NOTES = {
    "future": "a future's price",
    "forward": "the option chain's forward",
}


@dataclass(frozen=True)
class GreeksLine:
    """One row: a position, a group's totals or the portfolio's."""

    key: tuple[str, ...]
    label: str
    kind: str  # "position" | "group" | "total"
    product: str = ""
    lots: float | None = None
    quantity: int | None = None
    iv: float | None = None
    delta: float = math.nan
    delta_rupees: float = math.nan
    gamma: float = math.nan
    theta: float = math.nan
    vega: float = math.nan
    spot: float = math.nan
    approximate: bool = False
    """At a stand-in IV: shown ≈."""
    note: str = ""
    """Why the row is approximate or incomplete, or which figure stands in for the spot."""
    spot_source: str = "index"


def _position_note(line: PositionGreeks) -> str:
    holding = line.holding
    note = IV_NOTES.get(line.iv_source.value, "")
    if note:
        other = "put" if holding.kind == "CE" else "call"
        note = note.format(other=other)
    elif not line.complete:
        note = "no Greeks (no price for it or its underlying); left out of the totals"
    return note


def _position_line(group: str, line: PositionGreeks) -> GreeksLine:
    holding = line.holding
    return GreeksLine(
        key=("position", group, str(holding.token), holding.product, holding.strategy),
        label=holding.tradingsymbol,
        kind="position",
        product=holding.product,
        lots=line.lots if holding.expiry is not None else None,
        quantity=holding.quantity,
        iv=line.iv if math.isfinite(line.iv) else None,
        delta=line.delta,
        delta_rupees=line.delta_rupees,
        gamma=line.gamma,
        theta=line.theta,
        vega=line.vega,
        spot=line.spot,
        approximate=line.approximate,
        note=_position_note(line),
        spot_source=line.spot_source.value,
    )


def _total_line(key: tuple[str, ...], label: str, kind: str, total: GreeksTotal) -> GreeksLine:
    return GreeksLine(
        key=key,
        label=label,
        kind=kind,
        delta=total.delta,
        delta_rupees=total.delta_rupees,
        gamma=total.gamma,
        theta=total.theta,
        vega=total.vega,
        spot=total.spot,
        note=_spot_note(total),
        spot_source=total.spot_source.value,
    )


def _spot_note(total: GreeksTotal) -> str:
    stand_in = SPOT_NOTES.get(total.spot_source.value)
    if stand_in is None or total.underlying is None:
        return ""
    return f"{total.underlying} has no fresh quote: {stand_in} stands in for its spot"


def spot_text(line: GreeksLine) -> str:
    """'25,954.90', or '25,993.91 fwd' / '25,956.25 fut' when a forward or future stands in."""
    suffix = {"forward": " fwd", "future": " fut"}.get(line.spot_source, "")
    return number(line.spot, 2, signed=False) + suffix


class GreeksModel(RowTableModel[GreeksLine]):
    def __init__(self, context: PanelContext, *, first: str = "Instrument") -> None:
        palette = lambda: context.theme.palette  # noqa: E731 - the palette can change at run time

        def background(line: GreeksLine) -> QColor | None:
            return palette().total if line.kind != "position" else None

        def signed_colour(value_of):  # type: ignore[no-untyped-def]
            def colour(line: GreeksLine) -> QColor | None:
                value = value_of(line)
                if value is None or not math.isfinite(value) or abs(value) < 1e-9:
                    return palette().muted
                return palette().up if value > 0 else palette().down

            return colour

        def side_colour(line: GreeksLine) -> QColor | None:
            if not line.quantity:
                return None
            return palette().buy if line.quantity > 0 else palette().sell

        def finite(value: float) -> float | None:
            return value if math.isfinite(value) else None

        def iv_colour(line: GreeksLine) -> QColor | None:
            return palette().warning if line.approximate else None

        columns: list[Column[GreeksLine]] = [
            Column(first, lambda x: x.label, background=background, tooltip=lambda x: x.note),
            Column(
                "Lots",
                lambda x: x.lots,
                lambda v: f"{v:+,.2f}".rstrip("0").rstrip("."),
                "right",
                side_colour,
                background,
            ),
            Column(
                "Qty",
                lambda x: x.quantity,
                lambda v: f"{v:+,}",
                "right",
                side_colour,
                background,
            ),
            Column(
                "IV %",
                # Text, not a number: the ≈ of a stand-in IV is part of it (the table is not
                # sorted or exported).
                lambda x: (
                    None if x.iv is None else f"{'≈' if x.approximate else ''}{x.iv * 100:.2f}"
                ),
                align="right",
                foreground=iv_colour,
                background=background,
                tooltip=lambda x: x.note,
            ),
            Column(
                "Δ",
                lambda x: finite(x.delta),
                lambda v: number(v, 2),
                "right",
                background=background,
                tooltip=lambda x: "units of the underlying (per-unit Δ × quantity)",
            ),
            Column(
                "Δ ₹",
                lambda x: finite(x.delta_rupees),
                rupees_whole,
                "right",
                signed_colour(lambda x: x.delta_rupees),
                background,
                tooltip=lambda x: "rupee delta: Δ × spot",
            ),
            Column(
                "Γ",
                lambda x: finite(x.gamma),
                gamma_text,
                "right",
                background=background,
                tooltip=lambda x: "change of Δ per point of the underlying",
            ),
            Column(
                "Θ ₹/day",
                lambda x: finite(x.theta),
                lambda v: number(v, 2),
                "right",
                signed_colour(lambda x: x.theta),
                background,
            ),
            Column(
                "Vega ₹/pt",
                lambda x: finite(x.vega),
                lambda v: number(v, 2),
                "right",
                background=background,
                tooltip=lambda x: "rupees per vol point of IV",
            ),
        ]
        super().__init__(columns, key=lambda x: x.key)

    def column_titled(self, title: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.title == title)


class TotalsModel(RowTableModel[GreeksLine]):
    """Totals per underlying and for the portfolio."""

    def __init__(self, context: PanelContext) -> None:
        palette = lambda: context.theme.palette  # noqa: E731

        def background(line: GreeksLine) -> QColor | None:
            return palette().total if line.kind == "total" else None

        def colour(line: GreeksLine) -> QColor | None:
            value = line.theta
            if not math.isfinite(value) or abs(value) < 1e-9:
                return palette().muted
            return palette().up if value > 0 else palette().down

        def finite(value: float) -> float | None:
            return value if math.isfinite(value) else None

        columns: list[Column[GreeksLine]] = [
            Column("Underlying", lambda x: x.label, background=background),
            Column(
                "Spot",
                # Text: a stand-in for the underlying's price says which one it is.
                lambda x: None if not math.isfinite(x.spot) else spot_text(x),
                align="right",
                background=background,
                tooltip=lambda x: x.note,
            ),
            Column(
                "Δ",
                lambda x: finite(x.delta),
                lambda v: number(v, 2),
                "right",
                background=background,
            ),
            Column(
                "Δ ₹",
                lambda x: finite(x.delta_rupees),
                rupees_whole,
                "right",
                background=background,
            ),
            Column(
                "Γ",
                lambda x: finite(x.gamma),
                gamma_text,
                "right",
                background=background,
            ),
            Column(
                "Θ ₹/day",
                lambda x: finite(x.theta),
                lambda v: number(v, 2),
                "right",
                colour,
                background,
            ),
            Column(
                "Vega ₹/pt",
                lambda x: finite(x.vega),
                lambda v: number(v, 2),
                "right",
                background=background,
            ),
        ]
        super().__init__(columns, key=lambda x: x.key)


class GreeksPanel(QWidget):
    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self._ctx = context
        self.report: PortfolioGreeks | None = None
        self.refresh_seconds = 0.0
        """Wall time of the last recompute (one analytics call over every chain held)."""
        self._tokens: set[int] = set()
        self._watched_for: frozenset[int] = frozenset()
        self.streams = PanelWatch(context.api)
        """What the panel asks the feed for while it is on screen."""
        self._quotes_moved = OnFrames(
            context.bridge, QUOTE_REFRESH_MS, lambda: self.refresh(), parent=self
        )
        self.model = GreeksModel(context)
        self.totals = TotalsModel(context)
        self.group_by = QComboBox()
        self.group_by.addItems(list(GROUPINGS))
        self.group_by.setCurrentText("Underlying")
        self.group_by.currentTextChanged.connect(lambda _: self.refresh())
        self.summary = QLabel("")
        self.summary.setObjectName("ticketInfo")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 2)
        bar.addWidget(QLabel("Group by"))
        bar.addWidget(self.group_by)
        bar.addStretch(1)
        bar.addWidget(self.summary)
        self.notice = QLabel("")
        """In words: positions left out of the totals, a stand-in or stale spot, a failed
        recompute."""
        self.notice.setObjectName("ticketError")
        self.notice.setWordWrap(True)
        self.notice.setContentsMargins(4, 0, 4, 2)
        self.notice.setVisible(False)
        self.view = self._table(self.model)
        self.view.setColumnWidth(0, 190)
        self.totals_view = self._table(self.totals)
        self.totals_view.setColumnWidth(0, 190)
        caption = QLabel("Totals by underlying")
        caption.setObjectName("ticketInfo")
        caption.setContentsMargins(4, 6, 4, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.notice)
        layout.addWidget(self.view, 1)
        layout.addWidget(caption)
        layout.addWidget(self.totals_view)
        context.bridge.positions_changed.connect(self.refresh, QUEUED)
        context.bridge.quotes_changed.connect(self._on_quotes, QUEUED)
        self.refresh()

    @staticmethod
    def _table(model: RowTableModel[GreeksLine]) -> QTableView:
        view = QTableView()
        view.setModel(model)
        view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        view.setShowGrid(False)
        view.verticalHeader().setVisible(False)
        view.verticalHeader().setDefaultSectionSize(22)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        for column in range(1, model.columnCount()):
            view.setColumnWidth(column, 92)
        return view

    def _fit_totals(self, rows: int) -> None:
        """Show every totals row without a scroll bar (a few underlyings at most)."""
        view = self.totals_view
        height = view.horizontalHeader().sizeHint().height() + max(rows, 1) * 22 + 4
        view.setMinimumHeight(height)
        view.setMaximumHeight(height)

    @property
    def grouping(self) -> GreeksGrouping:
        return GROUPINGS[self.group_by.currentText()]

    def refresh(self) -> None:
        started = time.perf_counter()
        grouping = self.grouping
        api = self._ctx.api
        try:
            report = api.position_greeks(by_strategy=grouping is GreeksGrouping.STRATEGY)
        except LookupError as error:  # positions whose chains have no quotes (yet, or any more)
            # Old figures must not pass for today's: clear them and say why.
            self.report = None
            self.model.set_rows([])
            self.totals.set_rows([])
            self._fit_totals(0)
            self.summary.setText("Greeks not available")
            self._show_notice(f"Greeks not available: {error}")
            # Stream what they need all the same, or on a live feed they never come.
            held = {p.instrument.token for p in api.positions() if p.net_quantity}
            self._tokens = self._watched_tokens(frozenset(held))
            self.streams.set_tokens(self._tokens)
            return
        self.report = report
        self.refresh_seconds = time.perf_counter() - started
        self.model.set_rows(self.lines(report, grouping))
        totals = [
            _total_line(("underlying", t.name), t.name, "underlying", t)
            for t in report.by_underlying
        ]
        if report.positions:
            totals.append(_total_line(("total",), "Portfolio", "total", report.total))
        self.totals.set_rows(totals)
        self._fit_totals(len(totals))
        self._tokens = self._watched_tokens(frozenset(x.holding.token for x in report.positions))
        self.streams.set_tokens(self._tokens)
        total = report.total
        self.summary.setText(
            f"{len(report.positions)} positions   Δ ₹ {rupees_whole(total.delta_rupees)}   "
            f"Θ {number(total.theta)}/day   Vega {number(total.vega)}/pt"
            if report.positions
            else "No open positions"
        )
        self._show_notice(self.notices(report))

    @staticmethod
    def notices(report: PortfolioGreeks) -> str:
        """What the trader must know to read the figures, in words ('' when nothing)."""
        out = []
        missing = report.total.incomplete
        if missing:
            out.append(
                f"{missing} position{'s' if missing != 1 else ''} without Greeks "
                "(left out of the totals)"
            )
        approximate = sum(line.approximate for line in report.positions)
        if approximate:
            out.append(f"{approximate} at a stand-in IV (≈)")
        stale = dict(report.stale_spots)
        for total in report.by_underlying:
            stand_in = SPOT_NOTES.get(total.spot_source.value)
            if stand_in is None:
                continue
            why = (
                f"quote is stale ({duration(stale[total.name])} behind its derivatives' quotes)"
                if total.name in stale
                else "has no quote"
            )
            out.append(f"{total.name} {why}: {stand_in} stands in for its spot")
        return "   ·   ".join(out)

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.streams.shown_event()
        self.refresh()  # its quotes may not have streamed while it was hidden

    def hideEvent(self, event: QHideEvent) -> None:
        self.streams.hidden_event(self, event)
        super().hideEvent(event)

    def show_strategy(self, strategy_id: str) -> bool:
        """Group by strategy and select ``strategy_id``'s group (the Multileg panel's selected
        portfolio); False while the strategy holds no position."""
        if self.grouping is not GreeksGrouping.STRATEGY:
            self.group_by.setCurrentText(
                next(t for t, g in GROUPINGS.items() if g is GreeksGrouping.STRATEGY)
            )
        else:
            self.refresh()
        row = self.model.row_of(("group", strategy_id))
        if row is None:
            return False
        self.view.selectRow(row)
        self.view.scrollTo(self.model.index(row, 0))
        return True

    @staticmethod
    def lines(report: PortfolioGreeks, grouping: GreeksGrouping) -> list[GreeksLine]:
        out: list[GreeksLine] = []
        for total, members in report.groups(grouping):
            out.append(_total_line(("group", total.name), f"▾ {total.name}", "group", total))
            out.extend(_position_line(total.name, line) for line in members)
        return out

    def _watched_tokens(self, held: frozenset[int]) -> set[int]:
        """Quotes that move these Greeks: the positions ``held``, their chains (and futures) and
        their underlyings; worked out again only when the set of positions changes."""
        if held == self._watched_for:
            return self._tokens
        registry = self._ctx.api.instruments
        tokens: set[int] = set(held)
        for token in held:
            instrument = registry.get(token)
            if instrument.expiry is not None:
                same_expiry = registry.search(
                    underlying=instrument.underlying, expiry=instrument.expiry, limit=10_000
                )
                tokens.update(i.token for i in same_expiry)
            tokens.update(
                i.token
                for i in registry.search(underlying=instrument.underlying, limit=10_000)
                if not i.is_derivative
            )
        self._watched_for = held
        return tokens

    def _on_quotes(self, tokens: set[int]) -> None:
        if self._tokens & tokens:
            self._quotes_moved.mark()
