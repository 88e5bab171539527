"""The chunk blobs give back every nanosecond and token count, in a few bytes a chunk."""

from __future__ import annotations

import numpy as np
import pytest

from llm_loadtest.engine.records import Outcome, RequestRecord, TokenSource
from llm_loadtest.storage import codec

T0 = 123_456_789_012_345


@pytest.mark.parametrize(
    "gaps",
    [
        [5],
        [40_000_000] * 128,
        [0, 0, 1, 2**32 - 1],  # the largest gap that fits 32 bits
        [1, 2**32, 3],  # one more: 64-bit gaps
        [10, -7, 3],  # a clock that went back must survive too
        [2**62, 2**62, -(2**62)],  # wrap-around arithmetic stays exact
    ],
)
def test_times_round_trip_exactly(gaps):
    times = (T0 + np.cumsum(np.array(gaps, dtype=np.int64), dtype=np.int64)).astype(np.int64)
    back = codec.decode_times(codec.encode_times(times, T0), T0)
    assert back.dtype == np.int64
    assert np.array_equal(back, times)


def test_times_are_four_bytes_a_chunk_when_gaps_are_short():
    times = T0 + np.cumsum(np.full(128, 25_000_000, dtype=np.int64))
    assert len(codec.encode_times(times, T0)) == 1 + 4 * 128


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
    blob = codec.encode_tokens(tokens)
    assert len(blob) == size
    back = codec.decode_tokens(blob)
    assert back.dtype == np.int32
    assert np.array_equal(back, tokens)


def test_empty_arrays_are_null():
    assert codec.encode_times(np.empty(0, dtype=np.int64), T0) is None
    assert codec.encode_tokens(np.empty(0, dtype=np.int32)) is None
    assert codec.decode_times(None, T0).size == 0
    assert codec.decode_tokens(None).dtype == np.int32


def test_unknown_encoding_is_an_error():
    with pytest.raises(codec.CodecError):
        codec.decode_times(b"\x09abcd", T0)
    with pytest.raises(codec.CodecError):
        codec.decode_tokens(b"\x09abcd")


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
    )
    row = codec.record_to_row(record, run_pk=1, level_index=0)
    back = codec.row_to_record({name: row[name] for name in codec.RECORD_COLUMNS})
    for name in RequestRecord.__slots__:
        a, b = getattr(record, name), getattr(back, name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        else:
            assert a == b and type(a) is type(b), name


def test_whole_level_coding_matches_the_per_request_format():
    rng = np.random.default_rng(7)
    times, tokens, starts = [], [], []
    for i in range(300):
        n = int(rng.integers(0, 50)) if i % 7 else 0
        start = T0 + i * 10**9
        gaps = rng.integers(0, 80_000_000, size=n).astype(np.int64)
        if n and i % 5 == 0:
            gaps[-1] = 2**33  # a stall: this request needs 64-bit gaps
        times.append(start + np.cumsum(gaps))
        tokens.append(rng.integers(1, 3 if i % 2 else 2, size=n).astype(np.int32) * (300 if i % 11 == 1 else 1))
        starts.append(start)
    time_blobs = codec.encode_times_many(times, starts)
    token_blobs = codec.encode_tokens_many(tokens)
    assert time_blobs == [codec.encode_times(t, s) for t, s in zip(times, starts)]
    assert token_blobs == [codec.encode_tokens(t) for t in tokens]
    for got, expected in zip(codec.decode_times_many(time_blobs, starts), times, strict=True):
        assert got.dtype == np.int64 and np.array_equal(got, expected)
    for got, expected in zip(codec.decode_tokens_many(token_blobs), tokens, strict=True):
        assert got.dtype == np.int32 and np.array_equal(got, expected)
