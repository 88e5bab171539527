"""Figures for a progress display, over a short window of what the streams delivered.

A figure over finished requests only would read zero while long streams are flowing and jump
when they end; these count what arrived in the window, whether its request has ended or not.
Called a few times a second inside the engine's loop, so it takes small bounded inputs,
never the whole level. The level's summary (metrics.summary) is the figure of record.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

# the gaps of a stream's last chunks at most: a snapshot's cost stays bounded
MAX_GAPS_PER_STREAM = 16


def live_figures(output_tokens: float, window_s: float, ttft_ms: np.ndarray, itl_ms: np.ndarray) -> dict[str, float | None]:
    """Output throughput and TTFT / ITL p50 and p99 (ms) over the window."""
    figures: dict[str, float | None] = dict.fromkeys(("output_throughput", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms"))
    if window_s > 0:
        figures["output_throughput"] = max(output_tokens, 0.0) / window_s
    if len(ttft_ms):
        figures["ttft_p50_ms"], figures["ttft_p99_ms"] = (float(v) for v in np.percentile(ttft_ms, [50, 99]))
    if len(itl_ms):
        figures["itl_p50_ms"], figures["itl_p99_ms"] = (float(v) for v in np.percentile(itl_ms, [50, 99]))
    return figures


def gaps_in_window_ns(chunk_times_ns: Sequence[int] | np.ndarray, window_start_ns: int) -> list[int]:
    """Gaps between consecutive chunks whose later chunk arrived at or after the window's
    start; the last MAX_GAPS_PER_STREAM of them. Plain Python: cheaper than numpy at this size."""
    n = len(chunk_times_ns)
    if isinstance(chunk_times_ns, np.ndarray):
        first = int(chunk_times_ns.searchsorted(window_start_ns))
    else:
        first = bisect_left(chunk_times_ns, window_start_ns)
    first = max(first, 1, n - MAX_GAPS_PER_STREAM)  # a gap needs the chunk before it
    if first >= n:
        return []
    tail = chunk_times_ns[first - 1 :]
    if isinstance(tail, np.ndarray):
        tail = tail.tolist()
    return [later - earlier for earlier, later in zip(tail, tail[1:])]


def tokens_per_chunk(tokens: int, chunks: int) -> float:
    """What a streamed chunk is worth in tokens, from the requests that finished (1 before any)."""
    return tokens / chunks if tokens > 0 and chunks > 0 else 1.0
