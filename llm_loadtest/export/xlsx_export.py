"""XLSX: a Summary sheet (run, configuration, per-level table, native charts), a Requests
sheet, and GPU / Server sheets when the run has samples.

Written in openpyxl's write-only mode: a 100,000-request sheet streams to disk instead of
holding millions of cell objects. Numbers stay numbers (a null is an empty cell) and only the
display format rounds them; openpyxl writes 16 significant digits, more than Excel's 15, so
a figure may differ from the JSON in its 17th digit. CSV and JSON are exact.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from llm_loadtest.export.tables import (
    REQUEST_COLUMNS,
    RecordsArg,
    flatten_dict,
    level_table,
    request_rows,
    sample_table,
)
from llm_loadtest.model.redact import redact
from llm_loadtest.model.results import GpuSample, RunResult, ServerSample

# Excel's limits: rows in a sheet (header row included), characters in a cell.
MAX_ROWS = 1_048_576
MAX_CELL_CHARS = 32_767
TRUNCATED_MARK = "…"
_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_NUMBER_FORMAT = "#,##0.00"
# (chart title, y-axis title, summary columns), all plotted against concurrency or rate
_CHARTS = (
    ("Output throughput", "tok/s", ("output_throughput",)),
    ("TTFT", "ms", ("ttft_ms_p50", "ttft_ms_p99")),
    ("E2E latency", "ms", ("e2e_ms_p50", "e2e_ms_p99")),
)


def to_xlsx(result: RunResult, records: RecordsArg, path: str | Path) -> None:
    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("Summary")
    requests = workbook.create_sheet("Requests")
    truncated = _write_requests(requests, result, records)
    _write_summary(summary, result, truncated)
    if result.gpu_samples:
        _write_samples(workbook.create_sheet("GPU"), result.gpu_samples, GpuSample)
    if result.server_samples:
        _write_samples(workbook.create_sheet("Server"), result.server_samples, ServerSample)
    # Composed in memory, then written in one go: a disk that fails (full, gone) is then one
    # OSError, not a half-closed zip whose clean-up prints tracebacks when it is collected.
    buffer = io.BytesIO()
    workbook.save(buffer)
    with open(path, "wb") as handle:
        handle.write(buffer.getbuffer())


def _write_summary(sheet: Any, result: RunResult, truncated: int) -> None:
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 24
    document = redact(result.to_json_dict())
    rows: list[list[Any]] = [[_cell(sheet, f"llm-loadtest run {result.run_id}", _TITLE)], []]
    about = [
        ("run_id", result.run_id),
        ("status", result.status),
        ("started_at", document["started_at"]),
        ("finished_at", document["finished_at"]),
    ]
    about += [(f"config.{k}", v) for k, v in flatten_dict(document["config"])]
    about += [(f"token_source.{k}", v) for k, v in flatten_dict(document["token_source"])]
    about += [(f"environment.{k}", v) for k, v in flatten_dict(document["environment"])]
    about += [("warning", w) for w in result.warnings]
    about += [("note", n) for n in result.notes]
    if truncated:
        about.append(
            (
                "warning",
                f"Requests sheet holds the first {MAX_ROWS - 1:,} of {truncated:,} requests "
                "(Excel's limit); export --format csv --requests has them all",
            )
        )
    rows += [[_cell(sheet, key, _BOLD), value] for key, value in about]
    rows.append([])

    columns, levels = level_table(result)
    header_row = len(rows) + 1
    rows.append([_cell(sheet, name, _BOLD) for name in columns])
    for level in levels:
        rows.append([_number(sheet, level.get(name)) for name in columns])
    for row in rows:
        _append(sheet, row)
    if levels:
        _add_charts(sheet, columns, levels, header_row, anchor_row=header_row + len(levels) + 3)


def _add_charts(sheet: Any, columns: list[str], levels: list[dict], header_row: int, anchor_row: int) -> None:
    open_loop = all(level.get("request_rate") is not None for level in levels)
    x_name = "request_rate" if open_loop else "concurrency"
    x_title = "request rate (req/s)" if open_loop else "concurrency"
    first, last = header_row + 1, header_row + len(levels)
    x_values = Reference(sheet, min_col=columns.index(x_name) + 1, min_row=first, max_row=last)
    for n, (title, y_title, names) in enumerate(_CHARTS):
        chart = ScatterChart()
        chart.title = f"{title} by {x_title}"
        chart.style = 13
        chart.x_axis.title = x_title
        chart.y_axis.title = y_title
        # openpyxl 3.1 hides axes unless told otherwise; Excel then draws a chart without scales
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.height, chart.width = 7.5, 15
        for name in names:
            col = columns.index(name) + 1
            values = Reference(sheet, min_col=col, min_row=header_row, max_row=last)
            series = Series(values, x_values, title_from_data=True)
            series.marker.symbol = "circle"
            series.smooth = False
            chart.series.append(series)
        sheet.add_chart(chart, f"{get_column_letter(1 + 9 * n)}{anchor_row}")


def _write_requests(sheet: Any, result: RunResult, records: RecordsArg) -> int:
    """Rows written; returns the number of requests when Excel's row limit cut them short."""
    sheet.freeze_panes = "A2"
    _append(sheet, [_cell(sheet, name, _BOLD) for name in REQUEST_COLUMNS])
    written = 0
    total = 0
    for row in request_rows(result, records):
        total += 1
        if written < MAX_ROWS - 1:
            _append(sheet, row)
            written += 1
    return total if total > written else 0


def _write_samples(sheet: Any, samples: list, model: type) -> None:
    sheet.freeze_panes = "A2"
    columns, rows = sample_table(samples, model)
    _append(sheet, [_cell(sheet, name, _BOLD) for name in columns])
    for row in rows:
        _append(sheet, row)


def _append(sheet: Any, row: list[Any]) -> None:
    """Every row goes through here, so that every string cell is one Excel accepts."""
    sheet.append([_clean(value) if isinstance(value, str) else value for value in row])


def _clean(value: Any) -> Any:
    """A string Excel takes as it is: no control characters (openpyxl refuses them, Excel
    calls the file damaged), and at most MAX_CELL_CHARS characters (Excel "repairs" a longer
    cell); a cut string ends in TRUNCATED_MARK. Anything else is returned unchanged."""
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(text) > MAX_CELL_CHARS // 2:
        # Excel counts UTF-16 units: a character outside the BMP (an emoji) counts twice
        units = text.encode("utf-16-le")
        if len(units) > 2 * MAX_CELL_CHARS:
            end = 2 * (MAX_CELL_CHARS - len(TRUNCATED_MARK))
            if 0xD8 <= units[end - 1] <= 0xDB:  # never cut a surrogate pair in two
                end -= 2
            text = units[:end].decode("utf-16-le") + TRUNCATED_MARK
    return text


def _cell(sheet: Any, value: Any, font: Font | None = None) -> Cell:
    cell = WriteOnlyCell(sheet, value=_clean(value))
    if font is not None:
        cell.font = font
    return cell


def _number(sheet: Any, value: Any) -> Any:
    if isinstance(value, float):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = _NUMBER_FORMAT
        return cell
    return value
