"""Results as flat tables (columns and rows), shared by the CSV and XLSX exports.

Level columns follow the result model, not the data: a statistic that is null for every
level still has its `_p50`, `_p99`... columns, so two exports of different runs line up.
Only open-ended maps (errors by class, goodput by SLO) add columns as their keys appear.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel

from llm_loadtest.metrics.latency import NS_PER_MS, tpot_ms
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import LevelSummary, RunResult

# Records as given to an export: a mapping level index -> records, or one flat list.
RecordsArg = Mapping[int, Sequence[RequestRecord]] | Sequence[RequestRecord] | None

LIST_SEPARATOR = "; "


def level_table(result: RunResult) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per level: `run_id`, `level_index`, then every summary figure flattened.

    A count map (errors by class, goodput by SLO) is a count in every level that has the map:
    a level without an error class another level has shows 0 for it, not an empty cell.
    """
    rows = []
    for index, summary in enumerate(result.levels):
        row: dict[str, Any] = {"run_id": result.run_id, "level_index": index}
        row.update(flatten_model(LevelSummary, summary))
        rows.append(row)
    if not rows:
        empty = {"run_id": None, "level_index": None} | flatten_model(LevelSummary, None)
        return list(empty), []
    columns = merged_columns(rows)
    for path, prefix in count_maps(LevelSummary):
        keys = [c for c in columns if c.startswith(prefix)]
        for summary, row in zip(result.levels, rows, strict=True):
            if _at(summary, path[:-1]) is not None:  # a null parent (no goodput SLO) stays empty
                for key in keys:
                    row.setdefault(key, 0)
    return columns, rows


def count_maps(model: type[BaseModel], prefix: str = "") -> list[tuple[tuple[str, ...], str]]:
    """(attribute path, column prefix) of every map of counts in `model`: `dict[str, int]`, or
    `dict[str, M]` where every field of M is an int (goodput.by_slo's {met, total})."""
    found: list[tuple[tuple[str, ...], str]] = []
    for name, field in model.model_fields.items():
        nested = _model_type(field.annotation)
        if nested is not None:
            found += [((name, *path), column) for path, column in count_maps(nested, f"{prefix}{name}_")]
        elif _is_count_map(field.annotation):
            found.append(((name,), f"{prefix}{name}_"))
    return found


def _is_count_map(annotation: Any) -> bool:
    if get_origin(annotation) is not dict:
        return False
    value = get_args(annotation)[1]
    if value is int:
        return True
    return isinstance(value, type) and issubclass(value, BaseModel) and all(f.annotation is int for f in value.model_fields.values())


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if value is None:
            return None
        value = getattr(value, name)
    return value


def flatten_model(model: type[BaseModel], value: BaseModel | None, prefix: str = "") -> dict[str, Any]:
    """`ttft_ms: {p50: 1}` -> `{"ttft_ms_p50": 1}`; a null sub-model gives its columns as None."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = getattr(value, name) if value is not None else None
        nested = _model_type(field.annotation)
        if nested is not None:
            out.update(flatten_model(nested, sub, f"{key}_"))
        elif isinstance(sub, Mapping):
            for item_key, item in sub.items():
                if isinstance(item, BaseModel):
                    out.update(flatten_model(type(item), item, f"{key}_{item_key}_"))
                else:
                    out[f"{key}_{item_key}"] = item
        elif isinstance(sub, (list, tuple)) and sub and all(isinstance(v, BaseModel) for v in sub):
            # a list of figures (a chat's turns): numbered columns, turns_1_ttft_ms_p50, ...
            for number, item in enumerate(sub, 1):
                out.update(flatten_model(type(item), item, f"{key}_{number}_"))
        elif isinstance(sub, (list, tuple)):
            out[key] = LIST_SEPARATOR.join(str(v) for v in sub) if sub else None
        elif _is_mapping_type(field.annotation):
            continue  # an empty or null map adds no column
        else:
            out[key] = sub
    return out


def flatten_dict(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Key/value pairs of a JSON-like document, nested keys dotted (`goodput.ttft_ms`)."""
    pairs: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            pairs.extend(flatten_dict(value, f"{name}.") if value else [(name, None)])
        elif isinstance(value, (list, tuple)):
            pairs.append((name, ", ".join(_scalar_text(v) for v in value) if value else None))
        else:
            pairs.append((name, value))
    return pairs


def merged_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Union of the rows' keys; a key first seen late lands right after its neighbour."""
    columns: list[str] = []
    seen: set[str] = set()
    for row in rows:
        previous: str | None = None
        for key in row:
            if key not in seen:
                position = columns.index(previous) + 1 if previous is not None else 0
                columns.insert(position, key)
                seen.add(key)
            previous = key
    return columns


REQUEST_COLUMNS = [
    "run_id",
    "level_index",
    "concurrency",
    "request_rate",
    "request_id",
    "outcome",
    "error_class",
    "http_status",
    "error",
    "start_offset_ms",
    "ttft_ms",
    "tpot_ms",
    "e2e_ms",
    "max_itl_ms",
    "output_tokens",
    "input_tokens",
    "output_token_source",
    "input_token_source",
    "chunks",
    "reasoning_chunks",
    "reasoning_tokens",
    "ttft_answer_ms",
    "input_len_requested",
    "output_len_requested",
    "turn",
    "connect_ms",
    "scheduling_delay_ms",
    "stream",
    "t_start_ns",
    "t_end_ns",
    "t_scheduled_ns",
    "send_delay_ms",
    "clock",
    "t_ready_ns",
]


def request_rows(result: RunResult, records: RecordsArg) -> Iterable[list[Any]]:
    """One row per request, in REQUEST_COLUMNS order; times in ms from the run's first request.

    TPOT is docs/metrics.md's (successful streamed requests with at least two output tokens), and
    it comes from the same function as the summaries, so the two can never disagree.
    """
    groups = _groups(records)
    starts = [r.t_start_ns for _, recs in groups for r in recs]
    if not starts:
        return
    origin = min(starts)
    for index, recs in groups:
        if not recs:
            continue
        level = result.levels[index] if index is not None and index < len(result.levels) else None
        tpot = _tpot(recs)
        for record, tpot_value in zip(recs, tpot, strict=True):
            ttft = record.ttft_ns
            times = record.chunk_times_ns
            yield [
                result.run_id,
                index,
                level.concurrency if level else None,
                level.request_rate if level else None,
                record.request_id,
                str(record.outcome),
                record.error_class,
                record.http_status,
                record.error,
                (record.t_start_ns - origin) / NS_PER_MS,
                ttft / NS_PER_MS if ttft is not None else None,
                tpot_value,
                record.e2e_ns / NS_PER_MS,
                int(np.diff(times).max()) / NS_PER_MS if len(times) > 1 else None,
                record.output_tokens,
                record.input_tokens,
                str(record.output_token_source) if record.output_token_source else None,
                str(record.input_token_source) if record.input_token_source else None,
                len(times),
                record.reasoning_chunks,
                record.reasoning_tokens,
                record.ttft_answer_ns / NS_PER_MS if record.ttft_answer_ns is not None else None,
                record.input_len_requested,
                record.output_len_requested,
                record.turn,
                record.connect_ns / NS_PER_MS if record.connect_ns else None,
                (record.t_start_ns - record.t_scheduled_ns) / NS_PER_MS if record.t_scheduled_ns is not None else None,
                record.stream,
                record.t_start_ns,
                record.t_end_ns,
                record.t_scheduled_ns,
                (record.t_start_ns - record.t_ready_ns) / NS_PER_MS if record.t_ready_ns is not None else None,
                str(record.clock),
                record.t_ready_ns,
            ]


def sample_table(samples: Sequence[BaseModel], model: type[BaseModel]) -> tuple[list[str], list[list[Any]]]:
    columns = list(model.model_fields)
    return columns, [[getattr(s, name) for name in columns] for s in samples]


def _groups(records: RecordsArg) -> list[tuple[int | None, Sequence[RequestRecord]]]:
    if records is None:
        return []
    if isinstance(records, Mapping):
        return [(index, [r for r in records[index] if not r.warmup]) for index in sorted(records)]
    return [(None, [r for r in records if not r.warmup])]


def _tpot(records: Sequence[RequestRecord]) -> list[float | None]:
    n = len(records)
    qualifies = np.fromiter(
        (r.ok and r.stream and r.ttft_ns is not None and r.output_tokens is not None for r in records), dtype=bool, count=n
    )
    e2e = np.fromiter((r.e2e_ns for r in records), dtype=np.int64, count=n)
    ttft = np.fromiter((r.ttft_ns or 0 for r in records), dtype=np.int64, count=n)
    out = np.fromiter((r.output_tokens if r.output_tokens is not None else -1 for r in records), dtype=np.int64, count=n)
    values = tpot_ms(e2e, ttft, np.where(qualifies, out, -1))
    return [None if np.isnan(v) else float(v) for v in values]


def _model_type(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        candidates = [a for a in get_args(annotation) if a is not type(None)]
    if len(candidates) == 1 and isinstance(candidates[0], type) and issubclass(candidates[0], BaseModel):
        return candidates[0]
    return None


def _is_mapping_type(annotation: Any) -> bool:
    args = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    return any(get_origin(a) is dict or a is dict for a in args)


def _scalar_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_scalar_text(v)}" for k, v in value.items()) + "}"
    return str(value)
