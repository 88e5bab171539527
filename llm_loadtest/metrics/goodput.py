"""Goodput: the share of requests that met every SLO given (docs/metrics.md, "Goodput").

A request is good when it succeeded and every threshold given holds with a strict `<`.

A threshold whose figure is ABSENT for a request counts as NOT met: a TPOT SLO on a request
with a single output token, a non-streamed request (no TPOT), or a streamed request that sent no
content (no TTFT). This is the strict, safe reading: a goodput figure must never be flattered by
what was not measured, and a user who sets a TPOT SLO on a non-streaming run sees 0 % rather than
a TPOT promise nobody checked. (It falls out of NaN: `NaN < x` is False.)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from llm_loadtest.metrics.latency import latencies, level_duration_s, measured
from llm_loadtest.model.config import GoodputSLO
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import Goodput, SLOCount


def _active(slo: GoodputSLO | None) -> bool:
    return slo is not None and not slo.is_empty()


def compute_goodput(
    slo: GoodputSLO | None,
    ttft_ms: np.ndarray,
    tpot_ms: np.ndarray,
    e2e_ms: np.ndarray,
    *,
    total: int,
    duration_s: float | None,
) -> Goodput | None:
    """Goodput from aligned per-request arrays of the SUCCESSFUL requests (NaN = absent).

    `total` counts every measured request, failed ones included: a failure is a request the user
    did not get served within the SLO, so it must lower the percentage, not vanish from it.
    `by_slo` is keyed "ttft" / "tpot" / "e2e", only for the thresholds given, each over the same
    total. Returns None when no SLO was given.
    """
    if not _active(slo):
        return None
    assert slo is not None
    ttft = np.asarray(ttft_ms, dtype=np.float64)
    tpot = np.asarray(tpot_ms, dtype=np.float64)
    e2e = np.asarray(e2e_ms, dtype=np.float64)
    if not (ttft.shape == tpot.shape == e2e.shape):
        raise ValueError("ttft_ms, tpot_ms and e2e_ms must be aligned per request")
    if total < e2e.size:
        raise ValueError(f"total ({total}) cannot be below the number of successful requests ({e2e.size})")

    good = np.ones(e2e.shape, dtype=bool)
    by_slo: dict[str, SLOCount] = {}
    for name, values, threshold in (
        ("ttft", ttft, slo.ttft_ms),
        ("tpot", tpot, slo.tpot_ms),
        ("e2e", e2e, slo.e2e_ms),
    ):
        if threshold is None:
            continue
        met = values < threshold
        by_slo[name] = SLOCount(met=int(met.sum()), total=total)
        good &= met

    n_good = int(good.sum())
    return Goodput(
        percent=n_good / total * 100.0 if total > 0 else None,
        good=n_good,
        total=total,
        rate=n_good / duration_s if duration_s else None,
        by_slo=by_slo,
    )


def recompute_goodput(
    records: Iterable[RequestRecord],
    goodput: GoodputSLO | None,
    duration_s: float | None = None,
) -> Goodput | None:
    """Goodput of one level's records under a (possibly new) SLO, for re-analysis of a stored run.

    Warm-up records are ignored. `duration_s` is the level's duration as stored; None measures it
    from the records (first t_start to last t_end), which gives the same number when all the
    level's records are passed.
    """
    if not _active(goodput):
        return None
    kept = measured(records)
    lat = latencies(kept)
    if duration_s is None:
        duration_s = level_duration_s(kept)
    return compute_goodput(goodput, lat.ttft_ms, lat.tpot_ms, lat.e2e_ms, total=len(kept), duration_s=duration_s)
