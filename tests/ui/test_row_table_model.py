"""The row model behind the book panels: ``set_rows`` inserts, updates and removes by key, a day's
turn removes thousands of neighbouring rows as one step (it took one reindex of the whole table
per row), new rows arrive together, and an unchanged row is left alone."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex

from ui.models.table import Column, RowTableModel


@dataclass(frozen=True)
class Row:
    key: int
    text: str


def model_of(rows: list[Row]) -> RowTableModel[Row]:
    model: RowTableModel[Row] = RowTableModel(
        [Column("Text", lambda r: r.text)], key=lambda r: r.key
    )
    model.set_rows(rows)
    return model


def test_row_model_when_most_rows_go_removes_each_run_of_neighbours_in_one_step(qtbot) -> None:  # type: ignore[no-untyped-def]
    rows = [Row(i, f"order {i}") for i in range(10_000)]
    model = model_of(rows)
    kept = model.index(9_990, 0)
    anchor = QPersistentModelIndex(kept)  # a selected row stays on its row
    removals: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda _parent, first, last: removals.append((first, last)))

    today = [*rows[9_990:], rows[5]]
    model.set_rows(today)

    assert removals == [(6, 9_989), (0, 4)]  # two runs, the later first
    assert [r.key for r in model.rows] == [r.key for r in today]
    assert model.row_of(5) == 10 and model.row_of(9_990) == 0
    assert anchor.isValid() and anchor.row() == 0


def test_row_model_when_rows_arrive_inserts_them_together_and_leaves_unchanged_rows_alone(
    qtbot,
) -> None:  # type: ignore[no-untyped-def]
    rows = [Row(i, f"order {i}") for i in range(3)]
    model = model_of(rows)
    inserted: list[tuple[int, int]] = []
    changed: list[int] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.dataChanged.connect(lambda top, _bottom, _roles=(): changed.append(top.row()))

    update = [rows[0], Row(1, "order 1 filled"), rows[2], Row(3, "new"), Row(4, "newer")]
    model.set_rows(update)

    assert inserted == [(3, 4)]
    assert changed == [1]  # the same row objects are not compared field by field, nor repainted
    assert model.data(model.index(1, 0)) == "order 1 filled"
    assert model.rowCount(QModelIndex()) == 5
