"""Open-loop arrival times: Poisson, or gamma with a burstiness factor (as vLLM's bench serve).

Burstiness 1 gives exponential gaps (Poisson); below 1 burstier, above 1 more regular.
The mean gap is always 1 / rate.
"""

from __future__ import annotations

import numpy as np


def arrival_offsets(rate: float, burstiness: float, *, count: int | None, duration: float | None, seed: int) -> np.ndarray:
    """Seconds from the level's start at which each request is due."""
    rng = np.random.default_rng(seed)
    shape = burstiness
    scale = 1.0 / (rate * burstiness)
    if count is not None:
        gaps = rng.gamma(shape, scale, size=count)
        offsets = np.cumsum(gaps)
        return offsets - offsets[0]  # the first request goes at once
    assert duration is not None
    offsets: list[np.ndarray] = []
    last = 0.0
    while last <= duration:
        batch = last + np.cumsum(rng.gamma(shape, scale, size=max(64, int(rate * duration) + 1)))
        offsets.append(batch)
        last = float(batch[-1])
    all_offsets = np.concatenate(offsets)
    all_offsets -= all_offsets[0]
    return all_offsets[all_offsets < duration]
