"""Request records to database rows and back, with per-chunk arrays as compact exact blobs.

Chunk arrival times are stored as gaps: the first from `t_start`, then each from the one
before. Gaps between tokens are milliseconds, so they fit 32 unsigned bits (4.29 s) nearly
always; a longer gap (a stall, a reordered clock) falls back to 64-bit gaps, whose
wrap-around arithmetic is exactly reversible. Token counts are usually all ones (one token
a chunk), stored as a count alone; otherwise the narrowest integer that holds them.
Decoding gives back the same nanoseconds and counts, bit for bit.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from llm_loadtest.engine.records import EMPTY_COUNTS, EMPTY_TIMES, Outcome, RequestRecord, TokenSource

_TIMES_U32 = 1
_TIMES_I64 = 2
_TOKENS_ONES = 0
_TOKENS_U8 = 1
_TOKENS_U16 = 2
_TOKENS_I32 = 3
_TOKENS_I64 = 4
_U32_MAX = 2**32 - 1
_COUNT = struct.Struct("<I")


class CodecError(ValueError):
    """A blob this version cannot read (a newer format or damaged bytes)."""


def encode_times(times: np.ndarray, t_start_ns: int) -> bytes | None:
    if len(times) == 0:
        return None
    values = np.asarray(times, dtype=np.int64)
    gaps = np.diff(values, prepend=np.int64(t_start_ns))
    if gaps.min() >= 0 and gaps.max() <= _U32_MAX:
        return bytes((_TIMES_U32,)) + gaps.astype("<u4").tobytes()
    return bytes((_TIMES_I64,)) + gaps.astype("<i8").tobytes()


def decode_times(blob: bytes | None, t_start_ns: int) -> np.ndarray:
    if not blob:
        return EMPTY_TIMES
    code = blob[0]
    if code == _TIMES_U32:
        gaps = np.frombuffer(blob, dtype="<u4", offset=1).astype(np.int64)
    elif code == _TIMES_I64:
        gaps = np.frombuffer(blob, dtype="<i8", offset=1).astype(np.int64)
    else:
        raise CodecError(f"unknown chunk-time encoding {code}")
    gaps[0] += np.int64(t_start_ns)
    return np.cumsum(gaps, dtype=np.int64)


def encode_tokens(tokens: np.ndarray) -> bytes | None:
    if len(tokens) == 0:
        return None
    values = np.asarray(tokens)
    low, high = int(values.min()), int(values.max())
    if low == high == 1:
        return bytes((_TOKENS_ONES,)) + _COUNT.pack(len(values))
    if low >= 0 and high <= 0xFF:
        return bytes((_TOKENS_U8,)) + values.astype("<u1").tobytes()
    if low >= 0 and high <= 0xFFFF:
        return bytes((_TOKENS_U16,)) + values.astype("<u2").tobytes()
    if -(2**31) <= low and high < 2**31:
        return bytes((_TOKENS_I32,)) + values.astype("<i4").tobytes()
    return bytes((_TOKENS_I64,)) + values.astype("<i8").tobytes()


def decode_tokens(blob: bytes | None) -> np.ndarray:
    if not blob:
        return EMPTY_COUNTS
    code = blob[0]
    if code == _TOKENS_ONES:
        (count,) = _COUNT.unpack_from(blob, 1)
        return np.ones(count, dtype=np.int32)
    dtype = {_TOKENS_U8: "<u1", _TOKENS_U16: "<u2", _TOKENS_I32: "<i4", _TOKENS_I64: "<i8"}.get(code)
    if dtype is None:
        raise CodecError(f"unknown chunk-token encoding {code}")
    wide = np.int64 if code == _TOKENS_I64 else np.int32
    return np.frombuffer(blob, dtype=dtype, offset=1).astype(wide)


def record_to_row(record: RequestRecord, run_pk: int, level_index: int) -> dict[str, Any]:
    t_start = int(record.t_start_ns)
    return {
        "run_pk": run_pk,
        "level_index": level_index,
        "request_id": str(record.request_id),
        "t_start_ns": t_start,
        "t_end_ns": int(record.t_end_ns),
        "t_scheduled_ns": _opt_int(record.t_scheduled_ns),
        "outcome": Outcome(record.outcome).value,
        "http_status": _opt_int(record.http_status),
        "error": record.error,
        "output_tokens": _opt_int(record.output_tokens),
        "input_tokens": _opt_int(record.input_tokens),
        "output_token_source": _opt_source(record.output_token_source),
        "input_token_source": _opt_source(record.input_token_source),
        "connect_ns": int(record.connect_ns),
        "stream": bool(record.stream),
        "reasoning_chunks": int(record.reasoning_chunks),
        "chunk_times": encode_times(record.chunk_times_ns, t_start),
        "chunk_tokens": encode_tokens(record.chunk_tokens),
    }


# The columns `row_to_record` reads, in the order a SELECT should name them.
RECORD_COLUMNS = (
    "request_id",
    "t_start_ns",
    "t_end_ns",
    "t_scheduled_ns",
    "outcome",
    "http_status",
    "error",
    "output_tokens",
    "input_tokens",
    "output_token_source",
    "input_token_source",
    "connect_ns",
    "stream",
    "reasoning_chunks",
    "chunk_times",
    "chunk_tokens",
)


def row_to_record(row: Mapping[str, Any]) -> RequestRecord:
    t_start = int(row["t_start_ns"])
    return RequestRecord(
        request_id=row["request_id"],
        t_start_ns=t_start,
        t_end_ns=int(row["t_end_ns"]),
        outcome=Outcome(row["outcome"]),
        t_scheduled_ns=_opt_int(row["t_scheduled_ns"]),
        chunk_times_ns=decode_times(row["chunk_times"], t_start),
        chunk_tokens=decode_tokens(row["chunk_tokens"]),
        reasoning_chunks=int(row["reasoning_chunks"]),
        output_tokens=_opt_int(row["output_tokens"]),
        input_tokens=_opt_int(row["input_tokens"]),
        output_token_source=_opt_token_source(row["output_token_source"]),
        input_token_source=_opt_token_source(row["input_token_source"]),
        http_status=_opt_int(row["http_status"]),
        error=row["error"],
        connect_ns=int(row["connect_ns"]),
        stream=bool(row["stream"]),
    )


def rows_for_level(records: Iterable[RequestRecord], run_pk: int, level_index: int) -> list[dict[str, Any]]:
    """Rows of the measured requests; warm-up requests are excluded from every result."""
    return [record_to_row(r, run_pk, level_index) for r in records if not r.warmup]


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_source(value: TokenSource | str | None) -> str | None:
    return None if value is None else TokenSource(value).value


def _opt_token_source(value: str | None) -> TokenSource | None:
    return None if value is None else TokenSource(value)
