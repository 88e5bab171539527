"""Cumulative histogram buckets, as Prometheus counts them (`le`: less than or equal)."""

from __future__ import annotations

import numpy as np

# seconds; TTFT and E2E of LLM requests run from milliseconds to minutes
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# seconds; the gap between two chunks of a stream
GAP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


def cumulative_buckets(values: np.ndarray, bounds: tuple[float, ...]) -> tuple[list[int], int, float]:
    """(count of values <= each bound, then +Inf), count and sum; NaN values are left out."""
    kept = np.sort(values[~np.isnan(values)])
    counts = np.searchsorted(kept, np.asarray(bounds, dtype=np.float64), side="right")
    return [int(c) for c in counts] + [int(kept.size)], int(kept.size), float(kept.sum())
