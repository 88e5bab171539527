"""The chunk blobs give back every nanosecond and token count, in a few bytes a chunk.

Everything goes through the path the store takes: `rows_for_level` to rows, and
`records_from_rows` back (whole levels at once).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from llm_loadtest.model.records import ClockSource, Outcome, RequestRecord, TokenSource
from llm_loadtest.storage import codec

T0 = 123_456_789_012_345


def _record(i: int, gaps, tokens=None, t_start: int = T0) -> RequestRecord:
    gaps = np.asarray(gaps, dtype=np.int64)
    times = (t_start + np.cumsum(gaps, dtype=np.int64)).astype(np.int64) if len(gaps) else np.empty(0, np.int64)
    if tokens is None:
        tokens = np.ones(len(gaps), dtype=np.int32)
    return RequestRecord(
        request_id=f"r-{i}",
        t_start_ns=t_start,
        t_end_ns=t_start + 10**10,
        chunk_times_ns=times,
        chunk_tokens=np.asarray(tokens),
        output_tokens=int(np.sum(tokens)) if len(gaps) else None,
    )


def _round_trip(records: list[RequestRecord]) -> tuple[list[dict], list[RequestRecord]]:
    rows = codec.rows_for_level(records, run_pk=1, level_index=0)
    back = codec.records_from_rows([{name: row[name] for name in codec.RECORD_COLUMNS} for row in rows])
    return rows, back


def _assert_same(got: RequestRecord, expected: RequestRecord) -> None:
    for name in RequestRecord.__slots__:
        a, b = getattr(expected, name), getattr(got, name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), (expected.request_id, name)
        else:
            assert a == b and type(a) is type(b), (expected.request_id, name, a, b)


GAPS = [
    [5],
    [40_000_000] * 128,
    [0, 0, 1, 2**32 - 1],  # the largest later gap that fits 32 bits
    [1, 2**32, 3],  # one more: 64-bit gaps
    [10, -7, 3],  # a clock that went back must survive too
    [2**62, 2**62, -(2**62)],  # wrap-around arithmetic stays exact
    [-5, 3, 4],  # a first chunk stamped before t_start
    [6_000_000_000, 20_000_000, 15_000_000],  # a TTFT over 4.29 s, short gaps after it
    [2**40],  # one chunk, a huge first gap
]


@pytest.mark.parametrize("gaps", GAPS)
def test_times_round_trip_exactly(gaps):
    record = _record(0, gaps)
    _, (back,) = _round_trip([record])
    assert back.chunk_times_ns.dtype == np.int64
    assert np.array_equal(back.chunk_times_ns, record.chunk_times_ns)


def test_every_case_round_trips_in_one_level():
    records = [_record(i, gaps, t_start=T0 + i * 10**9) for i, gaps in enumerate(GAPS)]
    _, back = _round_trip(records)
    for got, expected in zip(back, records, strict=True):
        _assert_same(got, expected)


def test_a_slow_first_token_keeps_the_other_gaps_in_four_bytes():
    # TTFT 6 s (more than 32 bits of ns), then 127 gaps of 25 ms
    gaps = [6_000_000_000] + [25_000_000] * 127
    (row,), (back,) = _round_trip([_record(0, gaps)])
    assert len(row["chunk_times"]) == 1 + 8 + 4 * 127
    assert np.array_equal(back.chunk_times_ns, _record(0, gaps).chunk_times_ns)


def test_times_are_four_bytes_a_chunk_after_the_first():
    (row,), _ = _round_trip([_record(0, [25_000_000] * 128)])
    assert len(row["chunk_times"]) == 1 + 8 + 4 * 127


def test_a_stall_after_the_first_chunk_falls_back_to_eight_bytes():
    (row,), _ = _round_trip([_record(0, [25_000_000, 5_000_000_000, 25_000_000])])
    assert len(row["chunk_times"]) == 1 + 8 * 3


@pytest.mark.parametrize(
    "tokens,size",
    [
        (np.ones(128, dtype=np.int32), 5),  # the common case: a count, not an array
        (np.array([1, 3, 2, 0], dtype=np.int32), 5),
        (np.array([1, 300], dtype=np.int32), 5),
        (np.array([-1, 70_000], dtype=np.int32), 9),
    ],
)
def test_tokens_round_trip_in_the_narrowest_form(tokens, size):
    record = _record(0, [1_000_000] * len(tokens), tokens)
    (row,), (back,) = _round_trip([record])
    assert len(row["chunk_tokens"]) == size
    assert back.chunk_tokens.dtype == np.int32
    assert np.array_equal(back.chunk_tokens, tokens)


def test_no_chunks_is_null():
    record = RequestRecord(request_id="e", t_start_ns=T0, t_end_ns=T0 + 5, outcome=Outcome.TIMEOUT, stream=False)
    (row,), (back,) = _round_trip([record])
    assert row["chunk_times"] is None and row["chunk_tokens"] is None
    assert back.chunk_times_ns.size == 0 and back.chunk_times_ns.dtype == np.int64
    assert back.chunk_tokens.dtype == np.int32


@pytest.mark.parametrize(
    "times,tokens",
    [
        (b"\x09abcd", None),  # an encoding this version does not know
        (b"\x03abc", None),  # a header cut short
        (b"\x01abcdef", None),  # 32-bit gaps that are not a whole number of them
        (None, b"\x09abcd"),
        (None, b"\x02abc"),  # 16-bit counts cut in the middle of one
    ],
)
def test_unknown_or_damaged_blobs_are_an_error(times, tokens):
    row = {name: None for name in codec.RECORD_COLUMNS} | {
        "request_id": "x",
        "t_start_ns": T0,
        "t_end_ns": T0,
        "outcome": "success",
        "connect_ns": 0,
        "stream": True,
        "reasoning_chunks": 0,
        "chunk_times": times,
        "chunk_tokens": tokens,
    }
    with pytest.raises(codec.CodecError):
        codec.records_from_rows([row])


def test_schema_1_blobs_are_still_read():
    """Blobs as schema 1 wrote them, built here byte by byte: every gap 32 bits, or every gap 64."""
    narrow = [20_000_000, 1_000_000, 2**32 - 1]
    wide = [1, 2**32, -3]
    rows = []
    for i, (code, dtype, gaps) in enumerate(((1, "<u4", narrow), (2, "<i8", wide), (1, "<u4", [7]))):
        blob = bytes((code,)) + np.asarray(gaps, dtype=dtype).tobytes()
        rows.append(
            {name: None for name in codec.RECORD_COLUMNS}
            | {
                "request_id": f"old-{i}",
                "t_start_ns": T0 + i,
                "t_end_ns": T0 + 10**10,
                "outcome": "success",
                "connect_ns": 0,
                "stream": True,
                "reasoning_chunks": 0,
                "chunk_times": blob,
                "chunk_tokens": b"\x00" + struct.pack("<I", len(gaps)),
            }
        )
    back = codec.records_from_rows(rows)
    for record, gaps, i in zip(back, (narrow, wide, [7]), range(3), strict=True):
        assert record.chunk_times_ns.tolist() == (T0 + i + np.cumsum(gaps)).tolist()
        assert record.chunk_tokens.tolist() == [1] * len(gaps)


def test_record_row_round_trip_keeps_every_field():
    record = RequestRecord(
        request_id="r-1",
        t_start_ns=T0,
        t_end_ns=T0 + 10**9,
        outcome=Outcome.HTTP_5XX,
        t_scheduled_ns=T0 - 1234,
        chunk_times_ns=np.array([T0 + 5, T0 + 10**8], dtype=np.int64),
        chunk_tokens=np.array([2, 1], dtype=np.int32),
        reasoning_chunks=1,
        output_tokens=3,
        input_tokens=256,
        output_token_source=TokenSource.SERVER_TOKENIZE,
        input_token_source=TokenSource.TOKENIZER,
        http_status=502,
        error="Bad Gateway",
        connect_ns=777,
        stream=True,
        t_ready_ns=T0 - 99,
        clock=ClockSource.KERNEL,
        clock_steps=1,
    )
    warm = RequestRecord(request_id="w", t_start_ns=T0, t_end_ns=T0 + 1, warmup=True)
    rows, back = _round_trip([warm, record])
    assert [row["request_id"] for row in rows] == ["r-1"]  # warm-up is never stored
    _assert_same(back[0], record)


def test_a_whole_level_round_trips():
    rng = np.random.default_rng(7)
    records = []
    for i in range(300):
        n = int(rng.integers(0, 50)) if i % 7 else 0
        gaps = rng.integers(0, 80_000_000, size=n).astype(np.int64)
        if n and i % 5 == 0:
            gaps[-1] = 2**33  # a stall: this request needs 64-bit gaps
        if n and i % 3 == 0:
            gaps[0] = 5_000_000_000 + i  # a TTFT over 4.29 s: only the header is wide
        tokens = rng.integers(1, 3 if i % 2 else 2, size=n).astype(np.int32) * (300 if i % 11 == 1 else 1)
        records.append(_record(i, gaps, tokens, t_start=T0 + i * 10**9))
    rows, back = _round_trip(records)
    for got, expected in zip(back, records, strict=True):
        _assert_same(got, expected)
    # slow first tokens alone never cost 8 bytes a chunk
    for row, record in zip(rows, records, strict=True):
        n = len(record.chunk_times_ns)
        gaps = np.diff(record.chunk_times_ns, prepend=record.t_start_ns)
        if n and gaps[1:].max(initial=0) <= 2**32 - 1:
            assert len(row["chunk_times"]) == 1 + 8 + 4 * (n - 1)


def test_a_record_shifted_to_another_clock_moves_every_time_and_no_duration():
    import dataclasses

    import numpy as np

    from llm_loadtest.model.records import RequestRecord

    record = RequestRecord(
        "r",
        t_start_ns=1_000,
        t_end_ns=9_000,
        t_scheduled_ns=900,
        t_ready_ns=950,
        t_first_answer_ns=3_000,
        chunk_times_ns=np.array([2_000, 3_000], dtype=np.int64),
        connect_ns=40,
    )
    moved = record.shifted(-500)
    times = [f.name for f in dataclasses.fields(RequestRecord) if f.name.startswith("t_") and f.name.endswith("_ns")]
    assert {name: getattr(moved, name) - getattr(record, name) for name in times} == dict.fromkeys(times, -500)
    assert list(moved.chunk_times_ns - record.chunk_times_ns) == [-500, -500]
    assert (moved.ttft_ns, moved.e2e_ns, moved.connect_ns) == (record.ttft_ns, record.e2e_ns, record.connect_ns)
