"""Cause hints: what the server's own metrics say about why the numbers look as they do.

Pure functions over `ServerSample`s, so the engine, the result view and tests share them.
"""

from __future__ import annotations

from statistics import fmean

from llm_loadtest.model.results import ServerSample

KV_FULL = 0.98  # "about 100 %": vLLM rarely reports a full 1.0 before it preempts
PREFIX_HIT_HIGH = 0.5
_MIN_QUEUE_SAMPLES = 3


def cause_hints(
    server_samples: list[ServerSample],
    level_windows: list[tuple[float, float]],
    *,
    server_sent_usage: bool,
) -> list[str]:
    """Warnings for the result, in a stable order.

    `level_windows` are (start, end) in the samples' clock (seconds since the run began),
    one per load level in run order. Without windows, every sample counts as one level.
    """
    windows = level_windows or ([(float("-inf"), float("inf"))] if server_samples else [])
    per_level = [[s for s in server_samples if start <= s.t <= end] for start, end in windows]
    hints: list[str] = []
    for number, samples in enumerate(per_level, start=1):
        hint = _saturation_hint(number, samples, labelled=bool(level_windows))
        if hint:
            hints.append(hint)
    measured = [s for samples in per_level for s in samples]
    for hint in (_kv_hint(per_level, labelled=bool(level_windows)), _prefix_hint(measured)):
        if hint:
            hints.append(hint)
    if not server_sent_usage:
        hints.append(
            "the server sent no token usage: token counts come from a tokenizer, not the "
            "server, and may differ from what the model produced"
        )
    return hints


def queue_grew_throughout(waiting: list[float]) -> bool:
    """True when the queue grew from the start of a level to its end and never drained.

    Compares the mean of each third so that a noisy but climbing queue still counts,
    while a queue that rose and then levelled off (the server caught up) does not.
    """
    if len(waiting) < _MIN_QUEUE_SAMPLES:
        return False
    if waiting[-1] <= waiting[0] or min(waiting[1:]) <= 0:
        return False
    third = len(waiting) / 3
    parts = [waiting[round(i * third) : round((i + 1) * third)] for i in range(3)]
    means = [fmean(p) for p in parts if p]
    return len(means) == 3 and means[0] < means[1] < means[2]


def _saturation_hint(number: int, samples: list[ServerSample], *, labelled: bool) -> str | None:
    waiting = [s.waiting for s in samples if s.waiting is not None]
    if not queue_grew_throughout(waiting):
        return None
    where = f"level {number}: " if labelled else ""
    return (
        f"{where}the server's waiting queue grew all through the level "
        f"({waiting[0]:g} -> {waiting[-1]:g} requests): the server was saturated, so "
        "latencies include time spent queued on the server"
    )


def _kv_hint(per_level: list[list[ServerSample]], *, labelled: bool) -> str | None:
    peak = None
    levels = []
    for number, samples in enumerate(per_level, start=1):
        usage = [s.kv_cache_usage for s in samples if s.kv_cache_usage is not None]
        if usage and max(usage) >= KV_FULL:
            levels.append(number)
            peak = max(usage) if peak is None else max(peak, max(usage))
    if peak is None:
        return None
    where = f" (level {', '.join(map(str, levels))})" if labelled else ""
    return f"the server's KV cache reached {peak * 100:.0f} %{where}: requests waited for cache space or were preempted and recomputed"


def _prefix_hint(samples: list[ServerSample]) -> str | None:
    rates = [s.prefix_cache_hit_rate for s in samples if s.prefix_cache_hit_rate is not None]
    if not rates or fmean(rates) <= PREFIX_HIT_HIGH:
        return None
    return (
        f"the server's prefix-cache hit rate was {fmean(rates) * 100:.0f} % on average: the "
        "prompts were largely cached, so TTFT is lower than fresh prompts would see"
    )
