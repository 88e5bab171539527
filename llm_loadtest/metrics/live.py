"""Figures for a progress display, over a short window of finished requests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_loadtest.engine.records import RequestRecord


def live_figures(window: Sequence[RequestRecord], window_s: float) -> dict[str, float | None]:
    """Output throughput and TTFT / ITL p50 and p99 (ms) of the successful requests given."""
    figures: dict[str, float | None] = dict.fromkeys(
        ("output_throughput", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms")
    )
    if not window or window_s <= 0:
        return figures
    tokens = sum(r.output_tokens if r.output_tokens is not None else len(r.chunk_times_ns) for r in window)
    figures["output_throughput"] = tokens / window_s
    ttfts = np.array([t for r in window if (t := r.ttft_ns) is not None], dtype=np.float64) / 1e6
    if len(ttfts):
        figures["ttft_p50_ms"], figures["ttft_p99_ms"] = (float(v) for v in np.percentile(ttfts, [50, 99]))
    gaps = [np.diff(r.chunk_times_ns) for r in window if len(r.chunk_times_ns) > 1]
    if gaps:
        itl = np.concatenate(gaps) / 1e6
        figures["itl_p50_ms"], figures["itl_p99_ms"] = (float(v) for v in np.percentile(itl, [50, 99]))
    return figures
