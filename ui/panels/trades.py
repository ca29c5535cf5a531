"""The trade book: the fills of the trading day (or of every day) with their charges, and a
totals line.

The book only grows, so the panel reads only the fills it has not read yet (``api.trades(start)``)
in frames in which the bridge reports a fill, puts each at its place in the order shown, and adds
them to running totals: a fill costs about the same at the 12,000th fill of a busy book as at the
first. Sorting is the model's, in Python (``GrowingTableModel``). The day shown, and the free-text
filter, are a filter over the rows; changing either re-counts the totals once. Exports are
written on a worker thread, so a big Excel file never holds the engine's loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import shiboken6
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QWidget

from engine.api import OrderFilled, Product, Side, TradeSnapshot
from engine.domain.events import Severity
from engine.domain.instruments import Instrument
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.export import ask_export_path, at_ist, write_table
from ui.format import quantity, rupees
from ui.models.table import Column
from ui.panels.table_kit import (
    TODAY,
    DaysShown,
    GrowingTableModel,
    LineLabel,
    ModelOrderProxy,
    action_menu,
    copy_rows,
    export_actions,
    export_button,
    export_table,
    make_table,
    panel_layout,
    popup_menu,
    row_text,
    search_box,
    selected_rows,
    view_action,
)

log = logging.getLogger(__name__)


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

    def plus(self, rows: list[TradeRow]) -> TradeTotals:
        """These totals with ``rows`` added (a new fill: no re-count of the others)."""
        bought, sold, charges = self.bought, self.sold, self.charges
        for row in rows:
            if row.side is Side.BUY:
                bought += row.value
            else:
                sold += row.value
            charges += row.charges
        return TradeTotals(self.count + len(rows), bought, sold, charges)


NO_TRADES = TradeTotals(0, Decimal(0), Decimal(0), Decimal(0))


def totals(rows: list[TradeRow]) -> TradeTotals:
    return NO_TRADES.plus(rows)


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
        self._exports: set[asyncio.Task[None]] = set()
        self._read = 0
        """How many of the book's fills the panel holds: the next read starts after them."""
        self._needle = ""
        self._texts: dict[str, str] = {}
        """Each row's searchable text, made once (a fill never changes) when first searched."""
        self._totals = NO_TRADES

        self.model: GrowingTableModel[TradeRow] = GrowingTableModel(
            self._columns(), key=lambda r: r.trade_id
        )
        self.proxy = ModelOrderProxy(self.model, self)
        self.proxy.set_predicate(self._shows)  # type: ignore[arg-type]
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("tradesTable")
        self.view.setAccessibleName("Trades")
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)

        self.shown = DaysShown(
            self,
            "trades",
            "Today: the fills of the desk's trading day (IST). All days: every fill the book "
            "holds, each with its date",
            context.api.orders_service.trading_day,
        )
        self.days = self.shown.box
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
            self.days,
            self.search,
            self.feedback,
            export_button(self, "tradesExport", [self.export_csv_action, self.export_xlsx_action]),
        ]
        panel_layout(self, bar, self.view, stretch=self.feedback, footer=self.totals_label)

        self.search.textChanged.connect(self._on_search)
        self.view.customContextMenuRequested.connect(self._context_menu)
        context.bridge.orders_changed.connect(self._on_orders_changed, QUEUED)
        self.shown.follow(self.view, self._refilter)
        self.reload()

    def _columns(self) -> list[Column[TradeRow]]:
        def side_colour(row: TradeRow) -> QColor:
            palette = self._context.theme.palette
            return palette.buy if row.side is Side.BUY else palette.sell

        def muted(_row: TradeRow) -> QColor:
            return self._context.theme.palette.muted

        def clock(moment: datetime) -> str:
            return self.shown.time_text(moment)

        return [
            Column("Time", lambda r: r.time, text=clock, width=DaysShown.TIME_WIDTH[TODAY],
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
        """Read every fill again (start-up)."""
        rows = [trade_row(t) for t in self._context.api.trades()]
        self._read = len(rows)
        self.model.replace_rows(rows)
        self._recount()

    def _take_new_fills(self) -> None:
        new = [trade_row(t) for t in self._context.api.trades(self._read)]
        if not new:
            return
        self._read += len(new)
        self.model.append_rows(new)
        self._totals = self._totals.plus([row for row in new if self._shows(row)])
        self._show_totals()

    def _on_orders_changed(self, events: list[object]) -> None:
        if any(isinstance(e, OrderFilled) for e in events):
            self._check_day()
            self._take_new_fills()

    def _shows(self, row: TradeRow) -> bool:
        """Whether the row is shown: of the day chosen, and matching the filter typed."""
        if self.shown.scope == TODAY and row.time.date() != self.shown.day:
            return False
        return not self._needle or self._needle in self._text_of(row)

    def _text_of(self, row: TradeRow) -> str:
        text = self._texts.get(row.trade_id)
        if text is None:
            # With the fill's date whichever day is shown: the Time cell shows it only beside
            # other days' fills, and the text is made once.
            shown = row_text(self.model.columns, row)
            text = self._texts[row.trade_id] = f"{shown}\t{row.time:%d %b %Y}".casefold()
        return text

    def _on_search(self, text: str) -> None:
        self._needle = text.strip().casefold()
        self._refilter()

    @property
    def scope(self) -> str:
        """``TODAY`` (the desk's trading day) or ``ALL_DAYS``."""
        return self.shown.scope

    @property
    def day(self) -> date:
        """The desk's trading day the panel calls today."""
        return self.shown.day

    def set_scope(self, scope: str) -> None:
        self.shown.choose(scope)

    def _check_day(self) -> None:
        self.shown.check()

    def _refilter(self) -> None:
        self.proxy.set_predicate(self._shows)  # type: ignore[arg-type]
        self.view.viewport().update()  # the Time cells' text depends on the day shown
        self._recount()

    def _recount(self) -> None:
        self._totals = totals([row for row in self.model.rows if self._shows(row)])
        self._show_totals()

    @property
    def totals(self) -> TradeTotals:
        """Totals of the trades shown: the day's (or every day's), matching the filter typed."""
        return self._totals

    def _show_totals(self) -> None:
        t = self._totals
        shown = "shown " if self._needle else ""
        when = f"on {self.shown.day:%d %b %Y}" if self.shown.scope == TODAY else "on every day"
        self.totals_label.setText(
            f"{t.count} {shown}trade{'s' if t.count != 1 else ''} {when}   ·   "
            f"Bought ₹{rupees(t.bought)}   ·   Sold ₹{rupees(t.sold)}   ·   "
            f"Turnover ₹{rupees(t.turnover)}   ·   Charges ₹{rupees(t.charges)}"
        )

    def visible_rows(self) -> list[TradeRow]:
        """The rows shown, in the order shown (the model holds them in that order; the proxy
        only filters)."""
        return [row for row in self.model.rows if self._shows(row)]

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
        """Write the shown trades to ``path`` (.csv or .xlsx) now; returns how many rows."""
        headers, rows = self.export_rows()
        count = write_table(path, headers, rows)
        self.feedback.setText(f"Exported {count} trades to {Path(path).name}")
        return count

    def export_name(self, suffix: str) -> str:
        """The file name offered: the day shown, or every day up to it."""
        return f"trades-{self.shown.in_file_name()}.{suffix}"

    def ask_export(self, suffix: str) -> None:
        name = self.export_name(suffix)
        self._export_dialog = ask_export_path(self, "Export trades", name, self._export_chosen)

    def _export_chosen(self, path: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop runs (a script, a test): written here and now
            loop = None
        if loop is None:
            try:
                self.export_to(path)
            except (OSError, ValueError) as exc:
                self.feedback.setText(f"Export failed: {exc}")
            return
        rows = self.visible_rows()  # the rows as shown now; fills never change, so a list will do
        self.feedback.setText(f"Exporting {len(rows)} trades to {Path(path).name}…")
        task = loop.create_task(self._export(path, rows), name="trades-export")
        self._exports.add(task)
        task.add_done_callback(self._exports.discard)

    async def _export(self, path: str, rows: list[TradeRow]) -> None:
        """Write an export on a worker thread (an Excel file of 12,000 fills takes seconds),
        then say how it went: beside the filter, and in Messages if it failed (the trader
        may have moved on to another panel meanwhile)."""
        name = Path(path).name
        try:
            count = await asyncio.to_thread(_write_trades, path, rows)
        except asyncio.CancelledError:
            raise
        except (OSError, ValueError) as exc:  # the file's fault: said in words
            log.warning("the trades export to %s failed: %s", path, exc)
            text = self._export_failed(path, exc)
        except Exception as exc:  # a writer's fault: said in words, the traceback in the log
            log.exception("the trades export to %s failed", path)
            text = self._export_failed(path, exc)
        else:
            text = f"Exported {count} trades to {name}"
        if shiboken6.isValid(self.feedback):  # the panel may have closed while it was written
            self.feedback.setText(text)

    def _export_failed(self, path: str, problem: Exception) -> str:
        self._context.api.tell(
            f"Trades not exported to {path}: {problem}", Severity.WARNING, "trades"
        )
        return f"Export failed: {problem}"


def _write_trades(path: str, rows: list[TradeRow]) -> int:
    """Write ``rows`` as CSV or Excel (by the file's suffix); on a worker thread."""
    headers, cells = export_table(EXPORT_FIELDS, rows)
    return write_table(path, headers, cells)
