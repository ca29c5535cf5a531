"""The Advanced orders panel: the desk's brackets, OCO exits, trailing stops, conditional orders
and GTTs, what each is doing now or how it ended, and Cancel. On a desk whose broker keeps GTTs
(Kite) the broker's list is read every few seconds. The table follows the engine once a second
and after order events; it owns no state of its own."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from PySide6.QtCore import QSortFilterProxyModel, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from engine.api import AdvancedOrderView, GttReport
from ui import format as fmt
from ui.bridge import QUEUED
from ui.context import PanelContext
from ui.models.table import Column, RowTableModel
from ui.panels.table_kit import make_table, panel_layout, selected_rows

log = logging.getLogger(__name__)

REFRESH_MS = 1000
BROKER_GTT_EVERY = 5
"""Refreshes between two reads of the broker's GTT list."""


@dataclass(frozen=True, slots=True)
class AdvancedRow:
    parent_id: str
    kind: str
    instrument: str
    working: bool
    state: str
    detail: str
    broker_gtt: bool = False


def _gtt_row(report: GttReport, symbol: str) -> AdvancedRow:
    triggers = " / ".join(fmt.paise(t) for t in report.request.triggers)
    legs = "; ".join(
        f"{leg.side.value} {leg.quantity} @ {fmt.paise(leg.price)}" for leg in report.request.legs
    )
    detail = f"{report.request.kind.value} at {triggers}: {legs}"
    if report.order_id:
        detail += f"; order {report.order_id}"
    if report.rejection:
        detail += f"; failed: {report.rejection}"
    return AdvancedRow(
        report.gtt_id, "GTT", symbol, report.status.is_live, report.status.value, detail, True
    )


class AdvancedOrdersPanel(QWidget):
    def __init__(self, context: PanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("advancedOrdersPanel")
        self._ctx = context
        palette = context.theme

        def state_colour(row: AdvancedRow) -> QColor | None:
            if row.working:
                return palette.palette.up
            return palette.palette.down if row.state == "failed" else palette.palette.muted

        self.model: RowTableModel[AdvancedRow] = RowTableModel(
            [
                Column("Id", lambda r: r.parent_id, width=110),
                Column("Kind", lambda r: r.kind, width=90),
                Column("Instrument", lambda r: r.instrument, width=110),
                Column("State", lambda r: r.state, foreground=state_colour, width=80),
                Column("Detail", lambda r: r.detail, tooltip=lambda r: r.detail),
            ],
            key=lambda r: r.parent_id,
        )
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.view = make_table(self.model, self.proxy, self)
        self.view.setObjectName("advancedOrdersTable")
        self.cancel_button = QPushButton("Cancel", self, objectName="advancedCancel")
        self.cancel_button.setToolTip(
            "Cancel the selected order: an entry not yet filled is cancelled, what it holds is "
            "exited at the market; a GTT is deleted"
        )
        self.feedback = QLabel(self, objectName="advancedFeedback")
        self.feedback.setWordWrap(True)
        panel_layout(self, [self.cancel_button, self.feedback], self.view, stretch=self.feedback)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self._broker_gtts: list[AdvancedRow] = []
        self._ticks = 0
        self._task: asyncio.Task[None] | None = None
        self._timer = QTimer(self, objectName="advanced-orders-refresh")
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        context.bridge.orders_changed.connect(self.refresh, QUEUED)
        self.refresh()

    def _symbol(self, token: int) -> str:
        instrument = self._ctx.api.instruments.find(token)
        return instrument.tradingsymbol if instrument is not None else str(token)

    def _row(self, view: AdvancedOrderView) -> AdvancedRow:
        return AdvancedRow(
            view.parent_id, view.title, self._symbol(view.token), view.working, view.state,
            view.detail,
        )  # fmt: skip

    def refresh(self) -> None:
        api = self._ctx.api
        rows = [self._row(v) for v in api.advanced_orders()]
        if api.has_gtt_book:
            if self._ticks % BROKER_GTT_EVERY == 0:
                self._read_broker_gtts()
            self._ticks += 1
            rows += self._broker_gtts
        self.model.set_rows(rows)
        self.cancel_button.setEnabled(any(r.working for r in self._selected()))

    def _read_broker_gtts(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._broker_list(), name="advanced-gtts")

    async def _broker_list(self) -> None:
        try:
            reports = await self._ctx.api.gtts()
        except Exception as exc:  # shown in the panel; the GTTs themselves are at the broker
            log.warning("the broker's GTT list could not be read: %s", exc)
            self.feedback.setText(f"{self._ctx.api.broker_name} GTTs not read: {exc}")
            return
        self._broker_gtts = [_gtt_row(r, self._symbol(r.request.token)) for r in reports]

    def _selected(self) -> list[AdvancedRow]:
        return [r for r in selected_rows(self.view) if isinstance(r, AdvancedRow)]

    def cancel_selected(self) -> None:
        said = []
        for row in self._selected():
            if row.broker_gtt:
                self._spawn_gtt_cancel(row.parent_id)
                said.append(f"{row.parent_id}: delete sent")
                continue
            outcome = self._ctx.api.cancel_advanced(row.parent_id)
            said.append(f"{row.parent_id}: {'cancelled' if outcome.ok else outcome.reason}")
        self.feedback.setText("; ".join(said))
        self.refresh()

    def _spawn_gtt_cancel(self, gtt_id: str) -> None:
        async def cancel() -> None:
            outcome = await self._ctx.api.cancel_gtt(gtt_id)
            self.feedback.setText(f"{gtt_id}: {'deleted' if outcome.ok else outcome.reason}")
            self._ticks = 0

        try:
            self._task = asyncio.get_running_loop().create_task(cancel(), name="gtt-cancel")
        except RuntimeError:
            self.feedback.setText("no event loop: the GTT was not deleted")
