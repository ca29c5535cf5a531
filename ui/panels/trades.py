"""The trade book: every fill of the session with its charges, and a totals line.

Rows come from ``api.trades()`` and are re-read only in frames in which the bridge reports a fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QWidget

from engine.api import OrderFilled, Product, Side, TradeSnapshot
from engine.domain.instruments import Instrument
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import IST, ask_export_path, at_ist, write_table
from ui.format import quantity, rupees
from ui.models.table import Column, RowTableModel
from ui.panels.table_kit import (
    LineLabel,
    RowFilterProxy,
    action_button,
    action_menu,
    copy_rows,
    export_actions,
    export_table,
    make_table,
    panel_layout,
    popup_menu,
    search_box,
    selected_rows,
    view_action,
)


@dataclass(frozen=True)
class TradeRow:
    trade_id: str
    order_id: str
    time: datetime
    instrument: Instrument
    symbol: str
    side: Side
    product: Product
    quantity: int
    price: Decimal
    charges: Decimal

    @property
    def value(self) -> Decimal:
        """Turnover of the fill, rupees."""
        return self.price * self.quantity


def trade_row(trade: TradeSnapshot) -> TradeRow:
    return TradeRow(
        trade_id=str(trade.trade_id),
        order_id=str(trade.order_id),
        time=at_ist(trade.ts_ns),
        instrument=trade.instrument,
        symbol=trade.instrument.tradingsymbol,
        side=trade.side,
        product=trade.product,
        quantity=trade.quantity,
        price=trade.price,
        charges=trade.charges,
    )


@dataclass(frozen=True)
class TradeTotals:
    count: int
    bought: Decimal
    sold: Decimal
    charges: Decimal

    @property
    def turnover(self) -> Decimal:
        return self.bought + self.sold


def totals(rows: list[TradeRow]) -> TradeTotals:
    bought = sum((r.value for r in rows if r.side is Side.BUY), Decimal(0))
    sold = sum((r.value for r in rows if r.side is Side.SELL), Decimal(0))
    charges = sum((r.charges for r in rows), Decimal(0))
    return TradeTotals(len(rows), bought, sold, charges)


EXPORT_FIELDS = [
    ("Time", lambda r: r.time),
    ("Symbol", lambda r: r.symbol),
    ("Exchange", lambda r: r.instrument.exchange),
    ("Side", lambda r: r.side),
    ("Product", lambda r: r.product),
    ("Quantity", lambda r: r.quantity),
    ("Price", lambda r: r.price),
    ("Value", lambda r: r.value),
    ("Charges", lambda r: r.charges),
    ("Order ID", lambda r: r.order_id),
    ("Trade ID", lambda r: r.trade_id),
]


class TradesPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tradesPanel")
        self._context = context
        self._export_dialog: QWidget | None = None

        self.model: RowTableModel[TradeRow] = RowTableModel(
            self._columns(), key=lambda r: r.trade_id
        )
        self.proxy = RowFilterProxy(self.model, self)
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("tradesTable")
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)

        self.search = search_box(
            self,
            "tradesSearch",
            "Filter trades…",
            "Matches symbol, side, product, order id and trade id",
        )
        self.totals_label = QLabel(self)
        self.totals_label.setObjectName("tradesTotals")
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.feedback = LineLabel("", self)
        self.feedback.setObjectName("tradesFeedback")

        self.copy_action = view_action(self.view, "Cop&y rows", self.copy_selected, "Ctrl+C")
        self.export_csv_action, self.export_xlsx_action = export_actions(self, self.ask_export)

        bar = [
            self.search,
            self.feedback,
            action_button(self.export_csv_action, self, "tradesExportCsv"),
            action_button(self.export_xlsx_action, self, "tradesExportXlsx"),
        ]
        panel_layout(self, bar, self.view, stretch=self.feedback, footer=self.totals_label)

        self.search.textChanged.connect(self._on_search)
        self.view.customContextMenuRequested.connect(self._context_menu)
        context.bridge.orders_changed.connect(self._on_orders_changed, QUEUED)
        self.reload()

    def _columns(self) -> list[Column[TradeRow]]:
        def side_colour(row: TradeRow) -> QColor:
            palette = self._context.theme.palette
            return palette.buy if row.side is Side.BUY else palette.sell

        def muted(_row: TradeRow) -> QColor:
            return self._context.theme.palette.muted

        return [
            Column("Time", lambda r: r.time, text=lambda t: t.strftime("%H:%M:%S"), width=66,
                   tooltip=lambda r: f"{r.time:%d %b %Y %H:%M:%S} IST"),
            Column("Symbol", lambda r: r.symbol, tooltip=lambda r: str(r.instrument), width=160),
            Column("B/S", lambda r: r.side, foreground=side_colour, align="center", width=42),
            Column("Product", lambda r: r.product, align="center", width=68),
            Column("Qty", lambda r: r.quantity, text=quantity, align="right", width=70),
            Column("Price", lambda r: r.price, text=rupees, align="right", width=80),
            Column("Value", lambda r: r.value, text=rupees, align="right", width=100),
            Column("Charges", lambda r: r.charges, text=rupees, align="right", width=72),
            Column("Order ID", lambda r: r.order_id, foreground=muted, width=152),
            Column("Trade ID", lambda r: r.trade_id, foreground=muted, width=152),
        ]  # fmt: skip

    # -- data ----------------------------------------------------------------------------------------

    def reload(self) -> None:
        self.model.set_rows([trade_row(t) for t in self._context.api.trades()])
        self._update_totals()

    def _on_search(self, text: str) -> None:
        self.proxy.set_needle(text)
        self._update_totals()

    def _on_orders_changed(self, events: list[object]) -> None:
        if any(isinstance(e, OrderFilled) for e in events):
            self.reload()

    @property
    def totals(self) -> TradeTotals:
        """Totals of the trades shown (all of them unless a filter is typed)."""
        return totals(self.visible_rows())

    def _update_totals(self) -> None:
        t = self.totals
        shown = "shown " if self.search.text().strip() else ""
        self.totals_label.setText(
            f"{t.count} {shown}trade{'s' if t.count != 1 else ''}   ·   Bought ₹{rupees(t.bought)}   ·   "
            f"Sold ₹{rupees(t.sold)}   ·   Turnover ₹{rupees(t.turnover)}   ·   "
            f"Charges ₹{rupees(t.charges)}"
        )

    def visible_rows(self) -> list[TradeRow]:
        return self.proxy.visible_rows()  # type: ignore[return-value]

    # -- actions -------------------------------------------------------------------------------------

    def copy_selected(self) -> None:
        copy_rows(self.model.columns, selected_rows(self.view))

    def _context_menu(self, position: QPoint) -> None:
        menu = action_menu(
            self, [self.copy_action], [self.export_csv_action, self.export_xlsx_action]
        )
        popup_menu(menu, self.view, position)

    def export_rows(self) -> tuple[list[str], list[list[object]]]:
        return export_table(EXPORT_FIELDS, self.visible_rows())

    def export_to(self, path: str | Path) -> int:
        """Write the shown trades to ``path`` (.csv or .xlsx); returns how many rows."""
        headers, rows = self.export_rows()
        count = write_table(path, headers, rows)
        self.feedback.setText(f"Exported {count} trades to {Path(path).name}")
        return count

    def ask_export(self, suffix: str) -> None:
        name = f"trades-{datetime.now(tz=IST):%Y-%m-%d}.{suffix}"
        self._export_dialog = ask_export_path(self, "Export trades", name, self._export_chosen)

    def _export_chosen(self, path: str) -> None:
        try:
            self.export_to(path)
        except (OSError, ValueError) as exc:
            self.feedback.setText(f"Export failed: {exc}")
