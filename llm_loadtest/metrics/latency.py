"""Per-request derived figures (docs/metrics.md, "Per request: derived"), as numpy arrays.

Every function here that takes records ignores warm-up ones, so that no caller can let one slip
into a figure.
Absent values are NaN in the per-request arrays (aligned with the successful requests), never 0:
`stats` drops them, and goodput's `<` is False for NaN, so an absent figure never passes an SLO.

TTFT, TPOT, E2E and ITL in milliseconds are each ONE correctly rounded division of exact integer
nanoseconds (TPOT's divisor, (tokens - 1) x 1e6, is exact too). A value exactly on a goodput
threshold, 50 ms say, is therefore exactly 50.0 and fails a strict `< 50`, instead of landing on
49.999999 by the luck of two roundings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from llm_loadtest.model.records import RequestRecord

NS_PER_MS = 1_000_000.0
NS_PER_S = 1_000_000_000.0

_EMPTY_F64 = np.empty(0, dtype=np.float64)
_EMPTY_F64.flags.writeable = False


@dataclass(frozen=True, slots=True)
class Latencies:
    """Latency arrays of the successful, measured requests of one level.

    `ttft_ms`, `tpot_ms`, `e2e_ms` and `output_tokens` are aligned: element i is request i, in
    record order, NaN (or -1 for tokens) where the figure is absent. `itl_ms` and
    `itl_per_token_ms` are pooled over all requests (one value per gap, not per request), as vLLM
    does, so they are not aligned with anything; they may be the very same array (one token per
    chunk). Every array is read-only, so that sharing is safe.
    """

    ttft_ms: np.ndarray
    tpot_ms: np.ndarray
    e2e_ms: np.ndarray
    output_tokens: np.ndarray
    itl_ms: np.ndarray
    itl_per_token_ms: np.ndarray

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "tpot_ms", "e2e_ms", "output_tokens", "itl_ms", "itl_per_token_ms"):
            getattr(self, name).flags.writeable = False

    @property
    def count(self) -> int:
        return int(self.e2e_ms.size)


def measured(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    """The records that count: everything but warm-up, all outcomes."""
    return [r for r in records if not r.warmup]


def level_duration_s(records: Iterable[RequestRecord]) -> float | None:
    """First t_start to last t_end of the measured requests, all outcomes; None when none.

    Failed requests count: they held a slot of the level's wall time like any other.
    """
    kept = measured(records)
    if not kept:
        return None
    start = min(r.t_start_ns for r in kept)
    end = max(r.t_end_ns for r in kept)
    return (end - start) / NS_PER_S


def tpot_ms(e2e_ns: np.ndarray, ttft_ns: np.ndarray, output_tokens: np.ndarray) -> np.ndarray:
    """(E2E - TTFT) / (output_tokens - 1) per request, NaN where output_tokens < 2.

    Inputs are aligned integer arrays; pass NaN-free values and mark an absent TTFT or token
    count by output_tokens < 2 (the caller knows which requests qualify).
    """
    out = np.asarray(output_tokens, dtype=np.int64)
    result = np.full(out.shape, np.nan)
    mask = out >= 2
    delta = np.asarray(e2e_ns, dtype=np.int64)[mask] - np.asarray(ttft_ns, dtype=np.int64)[mask]
    result[mask] = delta / ((out[mask] - 1) * NS_PER_MS)
    return result


def itl_ms(chunk_times_ns: Sequence[np.ndarray], chunk_tokens: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pooled inter-chunk gaps, and the same gaps divided by the tokens of the later chunk.

    One array of chunk arrival times per request. All requests are concatenated and diffed in
    one numpy call; the gaps that would straddle two requests are masked out, so there is no
    Python loop per chunk.

    A later chunk that carries 0 tokens (or whose token counts were not recorded: a `chunk_tokens`
    entry of another length) has no per-token figure and is left out of the second array only;
    treating it as 1 token would invent a token that never came.
    """
    if not chunk_times_ns:
        return _EMPTY_F64, _EMPTY_F64
    lengths = np.fromiter((len(t) for t in chunk_times_ns), dtype=np.int64, count=len(chunk_times_ns))
    total = int(lengths.sum())
    if total < 2:
        return _EMPTY_F64, _EMPTY_F64
    # Gaps go straight to float64 (exact: a gap is far below 2**53 ns), and each big array is
    # dropped as soon as it is used: with 100,000 requests of 128 chunks these are 100 MB apiece,
    # and touching fresh memory, not arithmetic, is what costs time here.
    times = np.concatenate(chunk_times_ns)
    gaps = np.subtract(times[1:], times[:-1], dtype=np.float64)
    del times
    # Gap i joins chunk i and chunk i+1; it straddles two requests when chunk i+1 opens one.
    starts = np.cumsum(lengths)[:-1]
    starts = starts[(starts > 0) & (starts < total)]
    within = np.ones(gaps.size, dtype=bool)
    within[starts - 1] = False

    itl = gaps[within]
    del gaps
    itl /= NS_PER_MS
    if chunk_tokens is None:
        return itl, _EMPTY_F64
    token_lengths = np.fromiter((len(t) for t in chunk_tokens), dtype=np.int64, count=len(chunk_tokens))
    if not np.array_equal(token_lengths, lengths):
        chunk_tokens = [
            tok if len(tok) == n else np.zeros(n, dtype=np.int32) for tok, n in zip(chunk_tokens, lengths.tolist(), strict=True)
        ]
    later_tokens = np.concatenate(chunk_tokens)[1:][within]
    if (later_tokens == 1).all():
        # One token per chunk, the common case: per-token ITL is ITL. Returning the same
        # (read-only) array lets callers skip a second percentile pass over millions of gaps.
        itl.flags.writeable = False
        return itl, itl
    counted = later_tokens > 0
    if counted.all():
        per_token = itl / later_tokens
    else:
        per_token = itl[counted] / later_tokens[counted]
    return itl, per_token


def latencies(records: Iterable[RequestRecord]) -> Latencies:
    """TTFT, TPOT, E2E per successful measured request, plus pooled ITL and ITL per token.

    Non-streamed requests: TTFT = E2E (the record's `ttft_ns` says so), TPOT and ITL absent.
    A streamed request with no content chunk has no TTFT, hence no TPOT. A request whose output
    token count is unknown (None) has no TPOT.
    """
    ok = [r for r in records if r.ok and not r.warmup]
    n = len(ok)
    e2e_ns = np.fromiter((r.t_end_ns - r.t_start_ns for r in ok), dtype=np.int64, count=n)
    ttft_raw = [r.ttft_ns for r in ok]
    has_ttft = np.fromiter((t is not None for t in ttft_raw), dtype=bool, count=n)
    ttft_ns = np.fromiter((0 if t is None else t for t in ttft_raw), dtype=np.int64, count=n)
    out = np.fromiter((-1 if r.output_tokens is None else r.output_tokens for r in ok), dtype=np.int64, count=n)
    streamed = np.fromiter((r.stream for r in ok), dtype=bool, count=n)

    ttft = np.where(has_ttft, ttft_ns / NS_PER_MS, np.nan)
    # Requests that do not qualify for TPOT get a token count of -1 so that tpot_ms leaves NaN.
    tpot = tpot_ms(e2e_ns, ttft_ns, np.where(streamed & has_ttft, out, -1))

    streams = [r for r in ok if r.stream]
    itl, itl_per_token = itl_ms([r.chunk_times_ns for r in streams], [r.chunk_tokens for r in streams])
    return Latencies(
        ttft_ms=ttft,
        tpot_ms=tpot,
        e2e_ms=e2e_ns / NS_PER_MS,
        output_tokens=out,
        itl_ms=itl,
        itl_per_token_ms=itl_per_token,
    )


def connect_ms(records: Iterable[RequestRecord]) -> np.ndarray:
    """TCP connect time of the measured requests that paid one (connect_ns > 0), all outcomes.

    A request that failed after connecting still paid the connect; a warm connection (0) is not
    a 0 ms connect and would drag the figures down, so it is left out.
    """
    values = [r.connect_ns for r in records if not r.warmup and r.connect_ns > 0]
    return np.asarray(values, dtype=np.int64) / NS_PER_MS


def scheduling_delay_ms(records: Iterable[RequestRecord]) -> np.ndarray:
    """t_start - t_scheduled of the measured requests that had a schedule (open-loop rate mode).

    All outcomes: the client's own queueing happens before anyone knows how a request will end.
    """
    values = [r.t_start_ns - r.t_scheduled_ns for r in records if not r.warmup and r.t_scheduled_ns is not None]
    return np.asarray(values, dtype=np.int64) / NS_PER_MS
