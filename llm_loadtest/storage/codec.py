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
from collections.abc import Iterable, Mapping, Sequence
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
_TOKEN_DTYPES = {_TOKENS_U8: "<u1", _TOKENS_U16: "<u2", _TOKENS_I32: "<i4", _TOKENS_I64: "<i8"}
_TOKEN_WIDTHS = {_TOKENS_U8: 1, _TOKENS_U16: 2, _TOKENS_I32: 4, _TOKENS_I64: 8}


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
    code = _token_code(low, high)
    return bytes((code,)) + values.astype(_TOKEN_DTYPES[code]).tobytes()


def decode_tokens(blob: bytes | None) -> np.ndarray:
    if not blob:
        return EMPTY_COUNTS
    code = blob[0]
    if code == _TOKENS_ONES:
        (count,) = _COUNT.unpack_from(blob, 1)
        return np.ones(count, dtype=np.int32)
    dtype = _TOKEN_DTYPES.get(code)
    if dtype is None:
        raise CodecError(f"unknown chunk-token encoding {code}")
    wide = np.int64 if code == _TOKENS_I64 else np.int32
    return np.frombuffer(blob, dtype=dtype, offset=1).astype(wide)


# -- whole levels at once ----------------------------------------------------------------------
# The same format, produced and read with one numpy pass over all the chunks of a level instead
# of a few numpy calls per request: a 10,000-request level is one call, not 40,000.


def encode_times_many(times: Sequence[np.ndarray], t_starts: Sequence[int]) -> list[bytes | None]:
    out: list[bytes | None] = [None] * len(times)
    nonempty = [i for i, t in enumerate(times) if len(t)]
    if not nonempty:
        return out
    flat = np.concatenate([np.asarray(times[i], dtype=np.int64) for i in nonempty])
    lengths = np.fromiter((len(times[i]) for i in nonempty), dtype=np.int64, count=len(nonempty))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    previous = np.empty_like(flat)
    previous[1:] = flat[:-1]
    previous[starts] = np.fromiter((int(t_starts[i]) for i in nonempty), dtype=np.int64, count=len(nonempty))
    gaps = flat - previous
    fits = (np.minimum.reduceat(gaps, starts) >= 0) & (np.maximum.reduceat(gaps, starts) <= _U32_MAX)
    narrow = gaps.astype("<u4").tobytes()
    wide = gaps.astype("<i8").tobytes() if not fits.all() else b""
    head_narrow, head_wide = bytes((_TIMES_U32,)), bytes((_TIMES_I64,))
    for i, start, length, ok in zip(nonempty, starts.tolist(), lengths.tolist(), fits.tolist(), strict=True):
        if ok:
            out[i] = head_narrow + narrow[4 * start : 4 * (start + length)]
        else:
            out[i] = head_wide + wide[8 * start : 8 * (start + length)]
    return out


def encode_tokens_many(tokens: Sequence[np.ndarray]) -> list[bytes | None]:
    out: list[bytes | None] = [None] * len(tokens)
    nonempty = [i for i, t in enumerate(tokens) if len(t)]
    if not nonempty:
        return out
    flat = np.concatenate([np.asarray(tokens[i], dtype=np.int64) for i in nonempty])
    lengths = np.fromiter((len(tokens[i]) for i in nonempty), dtype=np.int64, count=len(nonempty))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    lows = np.minimum.reduceat(flat, starts).tolist()
    highs = np.maximum.reduceat(flat, starts).tolist()
    packed: dict[int, bytes] = {}  # code -> every token in that width, made when first needed
    for i, start, length, low, high in zip(nonempty, starts.tolist(), lengths.tolist(), lows, highs, strict=True):
        if low == high == 1:
            out[i] = bytes((_TOKENS_ONES,)) + _COUNT.pack(length)
            continue
        code = _token_code(low, high)
        if code not in packed:
            packed[code] = flat.astype(_TOKEN_DTYPES[code]).tobytes()
        width = _TOKEN_WIDTHS[code]
        out[i] = bytes((code,)) + packed[code][width * start : width * (start + length)]
    return out


def decode_times_many(blobs: Sequence[bytes | None], t_starts: Sequence[int]) -> list[np.ndarray]:
    out: list[np.ndarray] = [EMPTY_TIMES] * len(blobs)
    narrow = [i for i, b in enumerate(blobs) if b and b[0] == _TIMES_U32]
    for i, blob in enumerate(blobs):
        if blob and blob[0] != _TIMES_U32:
            out[i] = decode_times(blob, t_starts[i])  # rare: a stall over 4 s, or damage
    if not narrow:
        return out
    gaps = np.frombuffer(b"".join(memoryview(blobs[i])[1:] for i in narrow), dtype="<u4").astype(np.int64)
    lengths = np.fromiter(((len(blobs[i]) - 1) // 4 for i in narrow), dtype=np.int64, count=len(narrow))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    # one cumulative sum for the level, then each request's own running total and start added
    running = np.cumsum(gaps)
    before = np.concatenate(([0], running[starts[1:] - 1]))
    origin = np.fromiter((int(t_starts[i]) for i in narrow), dtype=np.int64, count=len(narrow))
    times = running + np.repeat(origin - before, lengths)
    for i, start, length in zip(narrow, starts.tolist(), lengths.tolist(), strict=True):
        out[i] = times[start : start + length]
    return out


def decode_tokens_many(blobs: Sequence[bytes | None]) -> list[np.ndarray]:
    out: list[np.ndarray] = [EMPTY_COUNTS] * len(blobs)
    ones = [(i, _COUNT.unpack_from(b, 1)[0]) for i, b in enumerate(blobs) if b and b[0] == _TOKENS_ONES]
    for i, blob in enumerate(blobs):
        if blob and blob[0] != _TOKENS_ONES:
            out[i] = decode_tokens(blob)
    if ones:
        shared = np.ones(sum(count for _, count in ones), dtype=np.int32)
        start = 0
        for i, count in ones:
            out[i] = shared[start : start + count]
            start += count
    return out


def _token_code(low: int, high: int) -> int:
    if low >= 0 and high <= 0xFF:
        return _TOKENS_U8
    if low >= 0 and high <= 0xFFFF:
        return _TOKENS_U16
    if -(2**31) <= low and high < 2**31:
        return _TOKENS_I32
    return _TOKENS_I64


def record_to_row(
    record: RequestRecord, run_pk: int, level_index: int, blobs: tuple[bytes | None, bytes | None] | None = None
) -> dict[str, Any]:
    t_start = int(record.t_start_ns)
    times, tokens = blobs if blobs is not None else (encode_times(record.chunk_times_ns, t_start), encode_tokens(record.chunk_tokens))
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
        "chunk_times": times,
        "chunk_tokens": tokens,
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


def row_to_record(row: Mapping[str, Any], arrays: tuple[np.ndarray, np.ndarray] | None = None) -> RequestRecord:
    t_start = int(row["t_start_ns"])
    times, tokens = arrays if arrays is not None else (decode_times(row["chunk_times"], t_start), decode_tokens(row["chunk_tokens"]))
    return RequestRecord(
        request_id=row["request_id"],
        t_start_ns=t_start,
        t_end_ns=int(row["t_end_ns"]),
        outcome=Outcome(row["outcome"]),
        t_scheduled_ns=_opt_int(row["t_scheduled_ns"]),
        chunk_times_ns=times,
        chunk_tokens=tokens,
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
    kept = [r for r in records if not r.warmup]
    times = encode_times_many([r.chunk_times_ns for r in kept], [r.t_start_ns for r in kept])
    tokens = encode_tokens_many([r.chunk_tokens for r in kept])
    return [record_to_row(r, run_pk, level_index, blobs) for r, blobs in zip(kept, zip(times, tokens), strict=True)]


def records_from_rows(rows: Sequence[Mapping[str, Any]]) -> list[RequestRecord]:
    """Records of rows holding RECORD_COLUMNS, their blobs decoded in one pass.

    The chunk arrays of these records are slices of one buffer per batch (one allocation
    instead of two per request); each record still sees only its own chunks.
    """
    times = decode_times_many([row["chunk_times"] for row in rows], [int(row["t_start_ns"]) for row in rows])
    tokens = decode_tokens_many([row["chunk_tokens"] for row in rows])
    return [row_to_record(row, arrays) for row, arrays in zip(rows, zip(times, tokens), strict=True)]


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_source(value: TokenSource | str | None) -> str | None:
    return None if value is None else TokenSource(value).value


def _opt_token_source(value: str | None) -> TokenSource | None:
    return None if value is None else TokenSource(value)
