"""Figures for a progress display, over a short window of recent requests.

Called a few times a second inside the engine's loop, so it takes small bounded arrays
that the engine keeps as requests finish, never the whole level.
"""

from __future__ import annotations

import numpy as np


def live_figures(output_tokens: int, window_s: float, ttft_ms: np.ndarray, itl_ms: np.ndarray) -> dict[str, float | None]:
    """Output throughput and TTFT / ITL p50 and p99 (ms) over the window."""
    figures: dict[str, float | None] = dict.fromkeys(
        ("output_throughput", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms")
    )
    if window_s > 0:
        figures["output_throughput"] = output_tokens / window_s
    if len(ttft_ms):
        figures["ttft_p50_ms"], figures["ttft_p99_ms"] = (float(v) for v in np.percentile(ttft_ms, [50, 99]))
    if len(itl_ms):
        figures["itl_p50_ms"], figures["itl_p99_ms"] = (float(v) for v in np.percentile(itl_ms, [50, 99]))
    return figures
