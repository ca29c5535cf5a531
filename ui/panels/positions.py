"""Positions: net and day P&L, realised and unrealised, grouped, with a totals row and square-off."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.api import REPLACED_BY_SQUARE_OFF, Outcome, PositionSnapshot, Product, Side
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.models.table import ROW_ROLE, SORT_ROLE, Column, RowTableModel
from ui.panels.table_kit import LineLabel, view_action

ZERO = Decimal(0)
GROUPINGS = ("None", "Underlying", "Expiry", "Strategy", "Product")


@dataclass(frozen=True)
class PositionLine:
    """One row: a position, a group subtotal, or the grand total."""

    key: tuple[str, ...]
    label: str
    kind: str  # "position" | "group" | "total"
    product: str = ""
    net_quantity: int | None = None
    average_price: Decimal | None = None
    ltp: Decimal | None = None
    pnl: Decimal = ZERO
    realised: Decimal = ZERO
    unrealised: Decimal = ZERO
    day_pnl: Decimal = ZERO
    charges: Decimal = ZERO
    net_pnl: Decimal = ZERO
    token: int | None = None
    strategy: str = ""

    @property
    def pnl_percent(self) -> Decimal | None:
        if (
            self.kind != "position"
            or not self.net_quantity
            or not self.average_price
            or self.ltp is None
        ):
            return None
        direction = 1 if self.net_quantity > 0 else -1
        return (self.ltp - self.average_price) / self.average_price * 100 * direction


def _sum_line(
    key: tuple[str, ...], label: str, kind: str, lines: list[PositionLine]
) -> PositionLine:
    return PositionLine(
        key,
        label,
        kind,
        pnl=sum((x.pnl for x in lines), ZERO),
        realised=sum((x.realised for x in lines), ZERO),
        unrealised=sum((x.unrealised for x in lines), ZERO),
        day_pnl=sum((x.day_pnl for x in lines), ZERO),
        charges=sum((x.charges for x in lines), ZERO),
        net_pnl=sum((x.net_pnl for x in lines), ZERO),
    )


class PositionsModel(RowTableModel[PositionLine]):
    def __init__(self, context: PanelContext) -> None:
        palette = lambda: context.theme.palette  # noqa: E731 - the palette can change at run time

        def money_colour(value_of):  # type: ignore[no-untyped-def]
            def colour(line: PositionLine) -> QColor | None:
                value = value_of(line)
                if not value:
                    return palette().muted if line.kind == "position" else None
                return palette().up if value > 0 else palette().down

            return colour

        def background(line: PositionLine) -> QColor | None:
            return palette().total if line.kind != "position" else None

        columns = [
            Column("Instrument", lambda x: x.label, background=background),
            Column("Product", lambda x: x.product, background=background),
            Column(
                "Net qty",
                lambda x: x.net_quantity,
                fmt.quantity,
                "right",
                lambda x: (
                    palette().buy
                    if (x.net_quantity or 0) > 0
                    else palette().sell
                    if (x.net_quantity or 0) < 0
                    else palette().muted
                ),
                background,
            ),
            Column(
                "Avg",
                lambda x: x.average_price if x.net_quantity else None,
                fmt.rupees,
                "right",
                background=background,
            ),
            Column("LTP", lambda x: x.ltp, fmt.rupees, "right", background=background),
            Column(
                "P&L",
                lambda x: x.pnl,
                fmt.signed_rupees,
                "right",
                money_colour(lambda x: x.pnl),
                background,
            ),
            Column(
                "P&L %",
                lambda x: x.pnl_percent,
                fmt.percent,
                "right",
                money_colour(lambda x: x.pnl_percent),
                background,
            ),
            Column(
                "Realised",
                lambda x: x.realised,
                fmt.signed_rupees,
                "right",
                money_colour(lambda x: x.realised),
                background,
            ),
            Column(
                "Unrealised",
                lambda x: x.unrealised,
                fmt.signed_rupees,
                "right",
                money_colour(lambda x: x.unrealised),
                background,
            ),
            Column(
                "Day P&L",
                lambda x: x.day_pnl,
                fmt.signed_rupees,
                "right",
                money_colour(lambda x: x.day_pnl),
                background,
            ),
            Column("Charges", lambda x: x.charges, fmt.rupees, "right", background=background),
            Column(
                "Net P&L",
                lambda x: x.net_pnl,
                fmt.signed_rupees,
                "right",
                money_colour(lambda x: x.net_pnl),
                background,
            ),
        ]
        super().__init__(columns, key=lambda x: x.key)


def _line(p: PositionSnapshot, strategy: str) -> PositionLine:
    return PositionLine(
        key=("position", str(p.instrument.token), p.product.value),
        label=p.instrument.tradingsymbol,
        kind="position",
        product=p.product.value,
        net_quantity=p.net_quantity,
        average_price=p.average_price,
        ltp=p.ltp,
        pnl=p.pnl,
        realised=p.realised,
        unrealised=p.unrealised,
        day_pnl=p.day_pnl,
        charges=p.charges,
        net_pnl=p.net_pnl,
        token=p.instrument.token,
        strategy=strategy,
    )


class PositionsPanel(QWidget):
    def __init__(self, context: PanelContext) -> None:
        super().__init__()
        self._ctx = context
        self.model = PositionsModel(context)
        self.group_by = QComboBox()
        self.group_by.addItems(GROUPINGS)
        self.group_by.currentTextChanged.connect(lambda _: self.refresh())
        self.square_off_selected_button = QPushButton("Square off selected")
        self.square_off_selected_button.clicked.connect(self.square_off_selected)
        self.square_off_all_button = QPushButton("Square off all")
        self.square_off_all_button.clicked.connect(self.square_off_all)
        self.summary = QLabel("")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 2)
        bar.addWidget(QLabel("Group by"))
        bar.addWidget(self.group_by)
        self.feedback = LineLabel("", self)
        """What the last square-off did, in words (sent, working exits cancelled, refused)."""
        self.feedback.setObjectName("positionsFeedback")
        bar.addWidget(self.feedback, 1)
        bar.addWidget(self.summary)
        bar.addWidget(self.square_off_selected_button)
        bar.addWidget(self.square_off_all_button)
        self.view = QTableView()
        self.view.setAccessibleName("Positions")
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.model)
        proxy.setSortRole(SORT_ROLE)
        self.view.setModel(proxy)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.square_off_selected_button.setEnabled(False)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.setColumnWidth(0, 190)
        self.square_off_action = view_action(
            self.view,
            "Square off selected…",
            self.square_off_selected,
            QKeySequence(Qt.Key.Key_Delete),
            "Square off the selected positions at market (asks first)",
        )
        self.square_off_selected_button.setToolTip(self.square_off_action.toolTip())
        for column in range(1, self.model.columnCount()):
            self.view.setColumnWidth(column, 92)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self._tokens: set[int] = set()
        context.bridge.positions_changed.connect(self.refresh, QUEUED)
        context.bridge.quotes_changed.connect(self._on_quotes, QUEUED)
        self.refresh()

    def _strategies(self) -> dict[tuple[int, str], str]:
        """Which order sources built each position ('ticket', 'strategy:demo', ...)."""
        sources: dict[tuple[int, str], set[str]] = defaultdict(set)
        api = self._ctx.api
        for trade in api.trades():
            order = api.order(trade.order_id)
            sources[(trade.instrument.token, trade.product.value)].add(
                order.source if order else "?"
            )
        return {k: ", ".join(sorted(v)) for k, v in sources.items()}

    def lines(self) -> list[PositionLine]:
        snapshots = self._ctx.api.positions()
        grouping = self.group_by.currentText()
        strategies = self._strategies() if grouping == "Strategy" else {}
        positions = [
            _line(p, strategies.get((p.instrument.token, p.product.value), ""))
            for p in sorted(
                snapshots, key=lambda p: (p.net_quantity == 0, p.instrument.tradingsymbol)
            )
        ]
        tokens = {p.instrument.token for p in snapshots}
        if tokens - self._tokens:
            self._ctx.api.watch(tokens - self._tokens)  # held instruments must keep streaming
        self._tokens = tokens
        out: list[PositionLine] = []
        if grouping == "None":
            out = positions
        else:
            groups: dict[str, list[PositionLine]] = defaultdict(list)
            by_token = {p.instrument.token: p.instrument for p in snapshots}
            for line in positions:
                instrument = by_token[line.token or 0]
                group = {
                    "Underlying": instrument.underlying,
                    "Expiry": f"{instrument.expiry:%d %b %Y}" if instrument.expiry else "Cash",
                    "Strategy": line.strategy or "—",
                    "Product": line.product,
                }[grouping]
                groups[group].append(line)
            for group, members in sorted(groups.items()):
                out.append(_sum_line(("group", group), f"▾ {group}", "group", members))
                out.extend(members)
        if positions:
            out.append(_sum_line(("total",), "Total", "total", positions))
        return out

    def refresh(self) -> None:
        lines = self.lines()
        self.model.set_rows(lines)
        open_count = sum(1 for x in lines if x.kind == "position" and x.net_quantity)
        self.summary.setText(f"{open_count} open")
        self.square_off_all_button.setEnabled(open_count > 0)
        self._selection_changed()

    def _selection_changed(self, *_args: object) -> None:
        self.square_off_selected_button.setEnabled(bool(self.selected_lines()))

    def _on_quotes(self, tokens: set[int]) -> None:
        if self._tokens & tokens:
            self.refresh()

    def selected_lines(self) -> list[PositionLine]:
        rows = self.view.selectionModel().selectedRows()
        lines = [index.data(ROW_ROLE) for index in rows]
        return [
            x
            for x in lines
            if isinstance(x, PositionLine) and x.kind == "position" and x.net_quantity
        ]

    def square_off_selected(self) -> None:
        lines = self.selected_lines()
        if not lines:
            return
        names = ", ".join(x.label for x in lines)
        closing = {(x.token, x.product, x.net_quantity > 0) for x in lines}
        self._ctx.confirm(
            "Square off",
            f"Square off {len(lines)} position(s) at market?\n{names}{self._exits_said(closing)}",
            lambda: self._square_off(lines),
        )

    def square_off_all(self) -> None:
        held = [p for p in self._ctx.api.positions() if p.net_quantity]
        if not held:
            return
        closing = {(p.instrument.token, p.product.value, p.net_quantity > 0) for p in held}
        self._ctx.confirm(
            "Square off all",
            f"Square off all {len(held)} open position(s) at market?{self._exits_said(closing)}",
            self._square_off_all_now,
        )

    def _exits_said(self, closing: set[tuple[int | None, str, bool]]) -> str:
        """The plain orders working to close these positions (``closing``: token, product and
        whether it is long), which the square-off cancels first, in words."""
        count = sum(
            1
            for o in self._ctx.api.orders()
            if o.status.is_open
            and o.strategy is None
            and (o.instrument.token, o.product.value, o.side is Side.SELL) in closing
        )
        if not count:
            return ""
        return (
            f"\n{count} working order(s) that close them are cancelled first, so none can turn "
            "a position over once it is flat."
        )

    def _square_off(self, lines: list[PositionLine]) -> None:
        outcomes: list[Outcome] = []
        for line in lines:
            if line.token is not None:
                outcomes += self._ctx.api.square_off(line.token, Product(line.product))
        self._said(outcomes)

    def _square_off_all_now(self) -> None:
        self._said(self._ctx.api.square_off_all())

    def _said(self, outcomes: list[Outcome]) -> None:
        """Tell the trader what the square-off did: orders sent, exits cancelled, refusals."""
        refused = [o for o in outcomes if not o]
        cancelled = sum(1 for o in outcomes if o and o.note.startswith(REPLACED_BY_SQUARE_OFF))
        sent = len(outcomes) - len(refused) - cancelled
        text = f"Square-off: {sent} order(s) sent" if outcomes else "Nothing left to square off"
        if cancelled:
            text += f"; {cancelled} working order(s) cancelled first"
        if refused:
            text += "; refused — " + "; ".join(o.reason for o in refused)
        self.feedback.say(text, self._ctx.theme.palette, error=bool(refused))
