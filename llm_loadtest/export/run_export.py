"""The one way a stored run is exported, from the command line and the app alike.

Which records an export reads, and in what shape, is decided here only: requests are always
read by level, so that every Requests row carries its level_index, concurrency and rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal, Protocol

from llm_loadtest.export.csv_export import SampleKind, to_csv
from llm_loadtest.export.json_export import to_json
from llm_loadtest.export.xlsx_export import to_xlsx
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import RunResult

ExportFormat = Literal["csv", "xlsx", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "json")


class RecordsByLevel(Protocol):
    """What an export needs of a store (`llm_loadtest.storage.Store` is one)."""

    def get_records_by_level(self, run_id: str) -> Mapping[int, Sequence[RequestRecord]]: ...


def export_records(
    store: RecordsByLevel | None, run_id: str, fmt: ExportFormat, *, requests: bool = False
) -> Mapping[int, Sequence[RequestRecord]] | None:
    """The records the export of `fmt` writes: XLSX has a Requests sheet, a CSV has them with
    `requests`; None when the export has no request rows. A run not stored has none."""
    if fmt != "xlsx" and not requests:
        return None
    return store.get_records_by_level(run_id) if store is not None else {}


def write_export(
    result: RunResult,
    fmt: ExportFormat,
    target: str | Path | IO[str],
    records: Mapping[int, Sequence[RequestRecord]] | None,
    *,
    samples: SampleKind | None = None,
) -> None:
    """Write `result` as `fmt` (the records from `export_records`) to a path, or a text
    stream for CSV and JSON."""
    if fmt == "json":
        to_json(result, target)
    elif fmt == "csv":
        to_csv(result, target, requests=records, samples=samples)
    elif fmt == "xlsx":
        if not isinstance(target, str | Path):
            raise ValueError("xlsx is written to a file, not a stream")
        to_xlsx(result, records or {}, target)
    else:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(EXPORT_FORMATS)}")
