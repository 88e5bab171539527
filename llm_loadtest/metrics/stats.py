"""Summary statistics of one metric, as docs/metrics.md defines them.

numpy's defaults on purpose (population std, ddof=0; linear percentile interpolation), so that
anyone can reproduce a figure with two lines of numpy and compare with vLLM's `bench serve`,
which uses the same defaults.
"""

from __future__ import annotations

import numpy as np

from llm_loadtest.model.results import Stats

# min and max ride along as the 0th and 100th percentiles: one partition pass instead of three
# full scans, which matters for the pooled ITL arrays (millions of values per level).
_QUANTILES = np.array([0.0, 50.0, 90.0, 95.0, 99.0, 100.0])


def stats(values_ms: np.ndarray | list[float] | None) -> Stats | None:
    """min, max, mean, std, p50/p90/p95/p99 of `values_ms`; None when there is no value.

    NaN means "absent" everywhere in this package, so NaNs are dropped first rather than allowed
    to poison every figure. An array with nothing left gives None, never zeros (docs/results.md).
    """
    if values_ms is None:
        return None
    values = np.asarray(values_ms, dtype=np.float64).ravel()
    if values.size == 0:
        return None
    nan = np.isnan(values)
    if nan.any():
        values = values[~nan]
        if values.size == 0:
            return None
    lo, p50, p90, p95, p99, hi = np.percentile(values, _QUANTILES)
    return Stats(
        min=float(lo),
        max=float(hi),
        mean=float(values.mean()),
        std=float(values.std()),
        p50=float(p50),
        p90=float(p90),
        p95=float(p95),
        p99=float(p99),
    )
