"""CSV: one row per level with every summary figure, one row per request, or one row per
GPU or server sample.

Numbers are written with Python's shortest exact repr, so reading a cell back with float()
gives the very figure of the JSON; a null is an empty cell.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from llm_loadtest.export.tables import REQUEST_COLUMNS, RecordsArg, level_table, request_rows, sample_table
from llm_loadtest.model.results import GpuSample, RunResult, ServerSample

SampleKind = Literal["gpu", "server"]
SAMPLE_KINDS: tuple[SampleKind, ...] = ("gpu", "server")


def to_csv(result: RunResult, path: str | Path | IO[str], requests: RecordsArg = None, samples: SampleKind | None = None) -> None:
    """Levels; or, when `requests` is given (a list, or level index -> records), requests;
    or, when `samples` is "gpu" or "server", the run's samples of that kind (docs/results.md's
    fields, `t` in seconds since the run started)."""
    if requests is not None and samples is not None:
        raise ValueError("a CSV holds requests or samples, not both")
    with _open(path) as handle:
        writer = csv.writer(handle)
        if samples is not None:
            rows, model = _samples(result, samples)
            columns, values = sample_table(rows, model)
            writer.writerow(columns)
            writer.writerows(_cells(row) for row in values)
        elif requests is None:
            columns, rows = level_table(result)
            writer.writerow(columns)
            writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
        else:
            writer.writerow(REQUEST_COLUMNS)
            writer.writerows(_cells(row) for row in request_rows(result, requests))


def _samples(result: RunResult, kind: SampleKind) -> tuple[list, type]:
    if kind == "gpu":
        return result.gpu_samples, GpuSample
    if kind == "server":
        return result.server_samples, ServerSample
    raise ValueError(f"samples are 'gpu' or 'server', not {kind!r}")


def _cells(row: Iterable[Any]) -> list[str]:
    return [_cell(value) for value in row]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


@contextmanager
def _open(path: str | Path | IO[str]) -> Iterator[IO[str]]:
    if isinstance(path, str | os.PathLike):
        with open(path, "w", newline="", encoding="utf-8") as handle:
            yield handle
        return
    yield path  # an open text stream: the caller's to close
