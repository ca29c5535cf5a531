"""The Payoff panel's two tables: its legs (each with a check box that leaves it out) and the
scenario grid of P&L by spot move and IV shift."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from engine.api import StrategyLeg
from ui.context import PanelContext
from ui.models.table import Column, RowTableModel
from ui.panels.greeks import number, rupees_whole


def shift_text(value: float, unit: str) -> str:
    """A scenario's shift with its sign: '+2%', '-5 pts', '0%'."""
    return f"{value:+g}{unit}" if value else f"0{unit}"


@dataclass(frozen=True)
class LegRow:
    key: tuple[int, str, int]
    """(token, product or "", position in the builder)"""
    leg: StrategyLeg
    included: bool = True
    iv: float | None = None
    ltp: Decimal | None = None


class LegsModel(RowTableModel[LegRow]):
    """The legs, each with a check box that leaves it out of the payoff."""

    def __init__(self, context: PanelContext, on_toggle) -> None:  # type: ignore[no-untyped-def]
        palette = lambda: context.theme.palette  # noqa: E731 - the palette can change at run time
        self._on_toggle = on_toggle

        def side_colour(row: LegRow) -> QColor:
            return palette().buy if row.leg.quantity > 0 else palette().sell

        columns: list[Column[LegRow]] = [
            Column("Leg", lambda r: r.leg.instrument.tradingsymbol),
            Column(
                "B/S",
                lambda r: "B" if r.leg.quantity > 0 else "S",
                align="center",
                foreground=side_colour,
            ),
            Column(
                "Lots",
                lambda r: r.leg.lots,
                lambda v: f"{v:,.2f}".rstrip("0").rstrip("."),
                "right",
                side_colour,
            ),
            Column(
                "Entry", lambda r: r.leg.price, lambda v: number(float(v), signed=False), "right"
            ),
            Column(
                "LTP",
                lambda r: r.ltp,
                lambda v: number(float(v), signed=False),
                "right",
            ),
            Column("IV %", lambda r: r.iv, lambda v: f"{v * 100:.2f}", "right"),
        ]
        super().__init__(columns, key=lambda r: r.key)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        return flags | Qt.ItemFlag.ItemIsUserCheckable if index.column() == 0 else flags

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role == Qt.ItemDataRole.CheckStateRole and index.isValid() and index.column() == 0:
            included = self.row_at(index.row()).included
            return Qt.CheckState.Checked if included else Qt.CheckState.Unchecked
        return super().data(index, role)

    def setData(
        self,
        index: QModelIndex | QPersistentModelIndex,
        value: object,
        role: int = Qt.ItemDataRole.EditRole,
    ) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid() or index.column() != 0:
            return False
        row = self.row_at(index.row())
        checked = Qt.CheckState(value) == Qt.CheckState.Checked  # type: ignore[call-overload]
        self._on_toggle(row.key, checked)
        return True


class ScenarioModel(RowTableModel[tuple[float, tuple[float, ...]]]):
    """Rows: IV shifts; columns: spot moves; cells: P&L at the target date."""

    def __init__(self, context: PanelContext, spot_shifts: Sequence[float]) -> None:
        palette = lambda: context.theme.palette  # noqa: E731

        def cell(column: int):  # type: ignore[no-untyped-def]
            def colour(row: tuple[float, tuple[float, ...]]) -> QColor | None:
                value = row[1][column]
                if not math.isfinite(value) or abs(value) < 0.5:
                    return palette().muted
                return palette().up if value > 0 else palette().down

            return Column(
                shift_text(spot_shifts[column], "%"),
                lambda row: row[1][column],
                rupees_whole,
                "right",
                colour,
            )

        columns: list[Column[tuple[float, tuple[float, ...]]]] = [
            Column("IV \\ Spot", lambda row: row[0], lambda v: shift_text(v, " pts"), "center"),
            *(cell(i) for i in range(len(spot_shifts))),
        ]
        super().__init__(columns, key=lambda row: row[0])
