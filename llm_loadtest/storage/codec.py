"""Request records to database rows and back, with per-chunk arrays as compact exact blobs.

Chunk arrival times are stored as gaps: the first from `t_start` (the TTFT, often seconds
under load), then each from the one before (milliseconds between tokens). The first gap is
a signed 64-bit header of its own and the others 32 unsigned bits each (4.29 s), so one slow
first token does not widen every gap of its request. A request with a later gap outside 32
bits (a stall, a clock that went back) falls back to 64-bit gaps throughout, whose
wrap-around arithmetic is exactly reversible. Token counts are usually all ones (one token a
chunk), stored as a count alone; otherwise the narrowest integer that holds them. Decoding
gives back the same nanoseconds and counts, bit for bit.

Everything is coded a whole level at a time (one numpy pass over all the chunks of a level,
not a few numpy calls per request): `rows_for_level` and `records_from_rows` are the way in
and out. Blobs of schema 1 (every gap in 32 bits, the first one included) are still read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from llm_loadtest.model.records import EMPTY_COUNTS, EMPTY_TIMES, ClockSource, Outcome, RequestRecord, TokenSource

_TIMES_U32 = 1  # schema 1, read only: every gap in 32 bits, the first one included
_TIMES_I64 = 2  # every gap in 64 bits
_TIMES_FIRST_I64 = 3  # the first gap in 64 bits, the others in 32
_TOKENS_ONES = 0
_TOKENS_U8 = 1
_TOKENS_U16 = 2
_TOKENS_I32 = 3
_TOKENS_I64 = 4
_U32_MAX = 2**32 - 1
_COUNT = struct.Struct("<I")
_FIRST = struct.Struct("<q")
_TOKEN_DTYPES = {_TOKENS_U8: "<u1", _TOKENS_U16: "<u2", _TOKENS_I32: "<i4", _TOKENS_I64: "<i8"}
_TOKEN_WIDTHS = {_TOKENS_U8: 1, _TOKENS_U16: 2, _TOKENS_I32: 4, _TOKENS_I64: 8}


class CodecError(ValueError):
    """A blob this version cannot read (a newer format or damaged bytes)."""


def _flatten(arrays: Sequence[np.ndarray]) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """The requests that have chunks, all their values in one int64 array, each one's length
    and where each starts in it: a whole level is encoded in one numpy pass."""
    nonempty = [i for i, a in enumerate(arrays) if len(a)]
    if not nonempty:
        return nonempty, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    flat = np.concatenate([np.asarray(arrays[i], dtype=np.int64) for i in nonempty])
    lengths = np.fromiter((len(arrays[i]) for i in nonempty), dtype=np.int64, count=len(nonempty))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return nonempty, flat, lengths, starts


def encode_times_many(times: Sequence[np.ndarray], t_starts: Sequence[int]) -> list[bytes | None]:
    """One blob per request (None for no chunks): its chunk times as gaps from `t_starts`."""
    out: list[bytes | None] = [None] * len(times)
    nonempty, flat, lengths, starts = _flatten(times)
    if not nonempty:
        return out
    previous = np.empty_like(flat)
    previous[1:] = flat[:-1]
    previous[starts] = np.fromiter((int(t_starts[i]) for i in nonempty), dtype=np.int64, count=len(nonempty))
    gaps = flat - previous
    # every gap after the first must fit 32 unsigned bits; the first has its own 64-bit header
    outside = (gaps < 0) | (gaps > _U32_MAX)
    outside[starts] = False
    fits = np.add.reduceat(outside, starts) == 0
    narrow = gaps.astype("<u4").tobytes()
    wide = gaps.astype("<i8").tobytes() if not fits.all() else b""
    firsts = gaps[starts].tolist()
    head_wide = bytes((_TIMES_I64,))
    code = bytes((_TIMES_FIRST_I64,))
    for i, start, length, first, ok in zip(nonempty, starts.tolist(), lengths.tolist(), firsts, fits.tolist(), strict=True):
        if ok:
            out[i] = code + _FIRST.pack(first) + narrow[4 * (start + 1) : 4 * (start + length)]
        else:
            out[i] = head_wide + wide[8 * start : 8 * (start + length)]
    return out


def encode_tokens_many(tokens: Sequence[np.ndarray]) -> list[bytes | None]:
    """One blob per request (None for no chunks): its tokens per chunk, as narrow as they fit."""
    out: list[bytes | None] = [None] * len(tokens)
    nonempty, flat, lengths, starts = _flatten(tokens)
    if not nonempty:
        return out
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
    """The chunk times (int64 ns) of each blob, whichever of the time codes it holds."""
    out: list[np.ndarray] = [EMPTY_TIMES] * len(blobs)
    narrow: list[int] = []  # blobs whose later gaps are 32 bits: decoded together below
    narrow_blobs: list[bytes] = []
    firsts: list[int] = []
    offsets: list[int] = []
    for i, blob in enumerate(blobs):
        if not blob:
            continue
        code = blob[0]
        if code == _TIMES_FIRST_I64 and len(blob) >= 1 + _FIRST.size and (len(blob) - 1 - _FIRST.size) % 4 == 0:
            narrow.append(i)
            narrow_blobs.append(blob)
            firsts.append(_FIRST.unpack_from(blob, 1)[0])
            offsets.append(1 + _FIRST.size)
        elif code == _TIMES_U32 and len(blob) >= 5 and (len(blob) - 1) % 4 == 0:
            narrow.append(i)
            narrow_blobs.append(blob)
            firsts.append(_COUNT.unpack_from(blob, 1)[0])
            offsets.append(5)
        elif code == _TIMES_I64 and len(blob) >= 9 and (len(blob) - 1) % 8 == 0:
            gaps = np.frombuffer(blob, dtype="<i8", offset=1).astype(np.int64)
            gaps[0] += np.int64(t_starts[i])
            out[i] = np.cumsum(gaps, dtype=np.int64)  # rare: a stall over 4 s
        else:
            raise CodecError(f"unknown chunk-time encoding {code} ({len(blob)} bytes)")
    if not narrow:
        return out
    # each request as [its first gap, then its 32-bit gaps], all requests in one array
    rest = np.frombuffer(b"".join(memoryview(blob)[offset:] for blob, offset in zip(narrow_blobs, offsets, strict=True)), dtype="<u4")
    rest_lengths = np.fromiter(
        ((len(blob) - offset) // 4 for blob, offset in zip(narrow_blobs, offsets, strict=True)), dtype=np.int64, count=len(narrow)
    )
    lengths = rest_lengths + 1
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    gaps = np.empty(int(lengths.sum()), dtype=np.int64)
    is_later = np.ones(len(gaps), dtype=bool)
    is_later[starts] = False
    gaps[is_later] = rest
    gaps[starts] = firsts
    # one cumulative sum for the level, then each request's own running total and start added
    # (int64 arithmetic wraps around exactly, so even huge gaps come back bit for bit)
    with np.errstate(over="ignore"):
        running = np.cumsum(gaps)
        before = running[starts] - gaps[starts]
        origin = np.fromiter((int(t_starts[i]) for i in narrow), dtype=np.int64, count=len(narrow))
        times = running + np.repeat(origin - before, lengths)
    for i, start, length in zip(narrow, starts.tolist(), lengths.tolist(), strict=True):
        out[i] = times[start : start + length]
    return out


def decode_tokens_many(blobs: Sequence[bytes | None]) -> list[np.ndarray]:
    """The tokens per chunk (int32, int64 when wider) of each blob."""
    out: list[np.ndarray] = [EMPTY_COUNTS] * len(blobs)
    ones: list[tuple[int, int]] = []
    for i, blob in enumerate(blobs):
        if not blob:
            continue
        code = blob[0]
        if code == _TOKENS_ONES and len(blob) == 1 + _COUNT.size:
            ones.append((i, _COUNT.unpack_from(blob, 1)[0]))
            continue
        dtype = _TOKEN_DTYPES.get(code)
        if dtype is None or len(blob) < 2 or (len(blob) - 1) % _TOKEN_WIDTHS[code]:
            raise CodecError(f"unknown chunk-token encoding {code} ({len(blob)} bytes)")
        wide = np.int64 if code == _TOKENS_I64 else np.int32
        out[i] = np.frombuffer(blob, dtype=dtype, offset=1).astype(wide)
    if ones:
        # all-ones requests share one buffer: one allocation instead of one per request
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
    if low >= -(2**31) and high < 2**31:
        return _TOKENS_I32
    return _TOKENS_I64


def _record_to_row(record: RequestRecord, run_pk: int, level_index: int, times: bytes | None, tokens: bytes | None) -> dict[str, Any]:
    t_start = int(record.t_start_ns)
    return {
        "run_pk": run_pk,
        "level_index": level_index,
        "request_id": str(record.request_id),
        "t_start_ns": t_start,
        "t_end_ns": int(record.t_end_ns),
        "t_scheduled_ns": _opt_int(record.t_scheduled_ns),
        "t_ready_ns": _opt_int(record.t_ready_ns),
        "clock": ClockSource(record.clock).value,
        "clock_steps": int(record.clock_steps),
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
        "input_len_requested": _opt_int(record.input_len_requested),
        "output_len_requested": _opt_int(record.output_len_requested),
        "turn": _opt_int(record.turn),
        "t_first_answer_ns": _opt_int(record.t_first_answer_ns),
        "reasoning_tokens": _opt_int(record.reasoning_tokens),
    }


# The columns `records_from_rows` reads, in the order a SELECT should name them.
RECORD_COLUMNS = (
    "request_id",
    "t_start_ns",
    "t_end_ns",
    "t_scheduled_ns",
    "t_ready_ns",
    "clock",
    "clock_steps",
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
    "input_len_requested",
    "output_len_requested",
    "turn",
    "t_first_answer_ns",
    "reasoning_tokens",
)


class Row(Protocol):
    """A stored request's columns by name: a dict, or SQLAlchemy's RowMapping."""

    def __getitem__(self, name: str, /) -> Any: ...


def _row_to_record(row: Row, times: np.ndarray, tokens: np.ndarray) -> RequestRecord:
    t_start = int(row["t_start_ns"])
    return RequestRecord(
        request_id=row["request_id"],
        t_start_ns=t_start,
        t_end_ns=int(row["t_end_ns"]),
        outcome=Outcome(row["outcome"]),
        t_scheduled_ns=_opt_int(row["t_scheduled_ns"]),
        t_ready_ns=_opt_int(row["t_ready_ns"]),
        clock=ClockSource(row["clock"] or ClockSource.USER),
        clock_steps=int(row["clock_steps"] or 0),
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
        input_len_requested=_opt_int(row["input_len_requested"]),
        output_len_requested=_opt_int(row["output_len_requested"]),
        turn=_opt_int(row["turn"]),
        t_first_answer_ns=_opt_int(row["t_first_answer_ns"]),
        reasoning_tokens=_opt_int(row["reasoning_tokens"]),
    )


def rows_for_level(records: Iterable[RequestRecord], run_pk: int, level_index: int) -> list[dict[str, Any]]:
    """Rows of the measured requests; warm-up requests are excluded from every result."""
    kept = [r for r in records if not r.warmup]
    times = encode_times_many([r.chunk_times_ns for r in kept], [r.t_start_ns for r in kept])
    tokens = encode_tokens_many([r.chunk_tokens for r in kept])
    return [_record_to_row(r, run_pk, level_index, *blobs) for r, blobs in zip(kept, zip(times, tokens), strict=True)]


def records_from_rows(rows: Sequence[Row]) -> list[RequestRecord]:
    """Records of rows holding RECORD_COLUMNS, their blobs decoded in one pass.

    The chunk arrays of these records are slices of one buffer per batch (one allocation
    instead of two per request); each record still sees only its own chunks.
    """
    times = decode_times_many([row["chunk_times"] for row in rows], [int(row["t_start_ns"]) for row in rows])
    tokens = decode_tokens_many([row["chunk_tokens"] for row in rows])
    return [_row_to_record(row, *arrays) for row, arrays in zip(rows, zip(times, tokens), strict=True)]


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_source(value: TokenSource | str | None) -> str | None:
    return None if value is None else TokenSource(value).value


def _opt_token_source(value: str | None) -> TokenSource | None:
    return None if value is None else TokenSource(value)
