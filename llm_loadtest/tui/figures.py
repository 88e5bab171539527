"""Which stored figure to show where. These functions pick among LevelSummary values; they
never compute a metric (no sums, ratios or percentiles: those belong to `metrics/`). How a
figure is read and written is `results.presentation`'s."""

from __future__ import annotations

from collections.abc import Callable

from llm_loadtest.model.results import LevelSummary, RunResult
from llm_loadtest.report.presentation import FIGURES, select


def _pick(levels: list[LevelSummary], value: Callable[[LevelSummary], float | None], best: Callable) -> LevelSummary | None:
    candidates = [level for level in levels if value(level) is not None]
    if not candidates:
        return None
    return best(candidates, key=value)


def best_throughput_level(result: RunResult) -> LevelSummary | None:
    """The level with the highest output throughput."""
    return _pick(result.levels, FIGURES["output_throughput"].value, max)


def best_ttft_level(result: RunResult) -> LevelSummary | None:
    """The level with the lowest median TTFT."""
    return _pick(result.levels, FIGURES["ttft_p50"].value, min)


def worst_error_level(result: RunResult) -> LevelSummary | None:
    """The level with the highest error rate."""
    return _pick(result.levels, FIGURES["error_rate"].value, max)


def best_goodput_level(result: RunResult) -> LevelSummary | None:
    return _pick(result.levels, FIGURES["goodput"].value, max)


# the latency series (ms) that by-level charts can show
LATENCY_METRICS = select("ttft_p50", "ttft_p99", "itl_per_token_p50", "itl_per_token_p99", "tpot_p50", "e2e_p50")
