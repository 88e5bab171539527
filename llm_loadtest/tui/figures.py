"""Which stored figure to show where. These functions pick among LevelSummary values; they
never compute a metric (no sums, ratios or percentiles: those belong to `metrics/`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from llm_loadtest.results.model import LevelSummary, RunResult


def _pick(levels: list[LevelSummary], value: Callable[[LevelSummary], float | None], best: Callable) -> LevelSummary | None:
    candidates = [level for level in levels if value(level) is not None]
    if not candidates:
        return None
    return best(candidates, key=value)


def best_throughput_level(result: RunResult) -> LevelSummary | None:
    """The level with the highest output throughput."""
    return _pick(result.levels, lambda lv: lv.output_throughput, max)


def ttft_p50(level: LevelSummary) -> float | None:
    return level.ttft_ms.p50 if level.ttft_ms else None


def itl_p50(level: LevelSummary) -> float | None:
    return level.itl_per_token_ms.p50 if level.itl_per_token_ms else None


def best_ttft_level(result: RunResult) -> LevelSummary | None:
    """The level with the lowest median TTFT."""
    return _pick(result.levels, ttft_p50, min)


def worst_error_level(result: RunResult) -> LevelSummary | None:
    """The level with the highest error rate."""
    return _pick(result.levels, lambda lv: lv.error_rate, max)


def goodput_percent(level: LevelSummary | None) -> float | None:
    if level is None or level.goodput is None:
        return None
    return level.goodput.percent


def best_goodput_level(result: RunResult) -> LevelSummary | None:
    return _pick(result.levels, goodput_percent, max)


@dataclass(frozen=True)
class LatencyMetric:
    """A latency series that by-concurrency charts can show."""

    key: str
    title: str
    value: Callable[[LevelSummary], float | None]


def _stat(field: str, pct: str) -> Callable[[LevelSummary], float | None]:
    def get(level: LevelSummary) -> float | None:
        stats = getattr(level, field)
        return getattr(stats, pct) if stats is not None else None

    return get


LATENCY_METRICS = [
    LatencyMetric("ttft_p50", "TTFT p50 (ms)", _stat("ttft_ms", "p50")),
    LatencyMetric("ttft_p99", "TTFT p99 (ms)", _stat("ttft_ms", "p99")),
    LatencyMetric("itl_p50", "ITL/token p50 (ms)", _stat("itl_per_token_ms", "p50")),
    LatencyMetric("itl_p99", "ITL/token p99 (ms)", _stat("itl_per_token_ms", "p99")),
    LatencyMetric("tpot_p50", "TPOT p50 (ms)", _stat("tpot_ms", "p50")),
    LatencyMetric("e2e_p50", "E2E p50 (ms)", _stat("e2e_ms", "p50")),
]
