"""Table export to CSV and Excel, and the non-modal file dialog that asks where.

Values are written as exactly as the engine holds them: a ``Decimal`` stays a ``Decimal`` (its exact
text in CSV, a number formatted to two decimals in Excel), enums become their names, aware
datetimes are written in IST (Excel cannot store a zone, so the sheet says IST in the header).
Files are replaced as the engine replaces its own (``replacing``, from ``engine.core.files``): a
temporary name beside the target renamed into place, so a failed export never leaves half a file
where the trader expects a good one; the file keeps its permissions, a link keeps pointing at it,
and an error names the file the trader chose.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtWidgets import QFileDialog, QWidget

from engine.api import replacing
from engine.domain.cells import cell_text
from ui.format import IST_NAME

IST = ZoneInfo(IST_NAME)

CSV_FILTER = "CSV (*.csv)"
XLSX_FILTER = "Excel workbook (*.xlsx)"
FORMATS = {".csv": CSV_FILTER, ".xlsx": XLSX_FILTER}

_MONEY_FORMAT = "#,##0.00"
_SHEET_TITLE_LENGTH = 31
_NOT_IN_SHEET_TITLES = re.compile(r"[\[\]:*?/\\]")
"""Characters Excel refuses in a sheet's name (openpyxl raises on them)."""
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def at_ist(ns: int) -> datetime:
    """An engine timestamp (ns since the epoch) as an aware IST datetime: the value panels sort
    and export by, shown as HH:MM:SS."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanos // 1000)
    return moment.astimezone(IST)


class ExportError(ValueError):
    """An export the writers cannot do (unknown file type, ragged rows)."""


def write_csv(path: str | Path, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Write ``rows`` under ``headers`` as UTF-8 CSV; returns the number of data rows written."""
    _check_shape(headers, rows)
    with (
        replacing(Path(path)) as temporary,
        temporary.open("w", newline="", encoding="utf-8") as f,
    ):
        writer = csv.writer(f)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([csv_text(value) for value in row])
    return len(rows)


def write_xlsx(
    path: str | Path,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str = "Export",
) -> int:
    """Write ``rows`` under ``headers`` to one sheet of an Excel workbook; returns the row count."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    _check_shape(headers, rows)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = sheet_title(title)
    has_time = [any(isinstance(r[i], datetime) for r in rows) for i in range(len(headers))]
    sheet.append([f"{h} (IST)" if timed else h for h, timed in zip(headers, has_time, strict=True)])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [len(str(h)) + (6 if timed else 0) for h, timed in zip(headers, has_time, strict=True)]
    for row in rows:
        sheet.append([xlsx_value(value) for value in row])
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(csv_text(value)))
    for column, (width, timed) in enumerate(zip(widths, has_time, strict=True), start=1):
        letter = get_column_letter(column)
        sheet.column_dimensions[letter].width = min(60, max(8, width + 2))
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            if isinstance(cell.value, Decimal):
                cell.number_format = _MONEY_FORMAT
            elif timed and isinstance(cell.value, datetime):
                cell.number_format = _TIME_FORMAT
            elif cell.data_type == "f":
                cell.data_type = (
                    "s"  # text that looks like a formula stays text (engine.domain.cells)
                )
    sheet.freeze_panes = "A2"
    # Zipped in memory, then written with one file we open and close: openpyxl leaves its zip
    # open when a write fails, and its finaliser would fail again later (and, on Windows, hold
    # the temporary file open so it cannot be removed).
    workbook_bytes = io.BytesIO()
    workbook.save(workbook_bytes)
    with replacing(Path(path)) as temporary:
        # A copy, not a getbuffer() view: collecting a view whose write failed crashes CPython
        # 3.12.1 (a segfault in the garbage collector).
        temporary.write_bytes(workbook_bytes.getvalue())
    return len(rows)


def write_table(path: str | Path, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """CSV or Excel, chosen by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return write_csv(path, headers, rows)
    if suffix == ".xlsx":
        return write_xlsx(path, headers, rows, title=Path(path).stem)
    raise ExportError(f"cannot export to {Path(path).name!r}: choose a .csv or .xlsx file")


def sheet_title(name: str) -> str:
    """``name`` as Excel takes a sheet's name: without []:*?/\\, at most 31 characters, never
    empty (and never starting or ending with the apostrophe Excel refuses there)."""
    title = _NOT_IN_SHEET_TITLES.sub("", name)[:_SHEET_TITLE_LENGTH].strip().strip("'").strip()
    return title or "Export"


def csv_text(value: Any) -> str:
    """The exact text of one value."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(IST)
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return cell_text(str(value))


def xlsx_value(value: Any) -> Any:
    """A value openpyxl can store: numbers stay numbers, aware times become IST wall-clock times."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(IST).replace(tzinfo=None)
        return value
    if isinstance(value, bool | int | Decimal | float | date | str):
        return value
    return str(value)


def ask_export_path(
    parent: QWidget, title: str, default_name: str, on_path: Callable[[str], None]
) -> QFileDialog:
    """Open a non-modal save dialog offering CSV and Excel; ``on_path`` gets the chosen file.

    The dialog is returned (and parented) so the caller can keep it alive or close it; it never
    blocks the event loop, so the engine keeps running while the trader picks a file.
    """
    dialog = QFileDialog(parent, title)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setNameFilters([CSV_FILTER, XLSX_FILTER])
    suffix = Path(default_name).suffix.lower()
    dialog.selectNameFilter(FORMATS.get(suffix, CSV_FILTER))
    dialog.setDefaultSuffix(suffix.lstrip(".") or "csv")
    dialog.selectFile(default_name)

    def on_filter(name_filter: str) -> None:
        dialog.setDefaultSuffix("xlsx" if name_filter == XLSX_FILTER else "csv")

    dialog.filterSelected.connect(on_filter)
    dialog.fileSelected.connect(on_path)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def ask_save_path(
    parent: QWidget,
    title: str,
    name_filter: str,
    default_name: str,
    on_path: Callable[[str], object],
) -> QFileDialog:
    """Open a non-modal save dialog for one kind of file (``name_filter``, e.g. "CSV (*.csv)");
    ``on_path`` gets the chosen file. Like ``ask_export_path``, it never blocks the event loop."""
    dialog = QFileDialog(parent, title)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilter(name_filter)
    dialog.setDefaultSuffix(Path(default_name).suffix.lstrip("."))
    dialog.selectFile(default_name)
    dialog.fileSelected.connect(on_path)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def _check_shape(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    for number, row in enumerate(rows, start=1):
        if len(row) != len(headers):
            raise ExportError(f"row {number} has {len(row)} values for {len(headers)} columns")
