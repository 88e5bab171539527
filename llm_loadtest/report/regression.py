"""The regression gate: is a run worse than a baseline run by more than a given percentage?

Levels are matched by their load (the same concurrency, or the same request rate); each
gated figure that both levels have is compared. Pure: results in, changes out.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import LevelSummary, RunResult
from llm_loadtest.report.presentation import FIGURES

# what a serving change can make worse: the rate of tokens, and the latency a user waits
GATED_FIGURES = ("output_throughput", "ttft_p50", "ttft_p99", "tpot_p50", "e2e_p99")
HIGHER_IS_BETTER = frozenset({"output_throughput"})
# what makes two runs the same workload (the load itself is matched level by level)
WORKLOAD_FIELDS = ("adapter", "endpoint", "input_len", "output_len", "stream", "ignore_eos", "burstiness")

LevelKey = tuple[int | None, float | None]


@dataclass(frozen=True, slots=True)
class Change:
    level: str  # the level's label, e.g. c=10
    figure: str  # a FIGURES key
    baseline: float
    value: float
    worse_pct: float  # how much worse than the baseline, in %; negative when better
    regressed: bool


def level_key(level: LevelSummary) -> LevelKey:
    return level.concurrency, level.request_rate


def planned_keys(config: RunConfig) -> list[LevelKey]:
    """The keys the levels of a run of `config` will have."""
    return [(spec.concurrency, spec.request_rate) for spec in config.levels()]


def workload_differences(baseline: RunConfig, config: RunConfig) -> list[str]:
    """What differs between two runs' workloads, as `name baseline -> this`; empty when none."""
    return [
        f"{name} {getattr(baseline, name)} -> {getattr(config, name)}"
        for name in WORKLOAD_FIELDS
        if getattr(baseline, name) != getattr(config, name)
    ]


def shared_levels(baseline: RunResult, keys: list[LevelKey]) -> list[LevelKey]:
    ran = {level_key(level) for level in baseline.levels}
    return [key for key in keys if key in ran]


@dataclass(frozen=True, slots=True)
class RegressionCheck:
    changes: list[Change]  # every gated figure both runs have, in the run's level order
    unchecked: list[str]  # labels of the run's levels that the baseline did not run

    @property
    def regressed(self) -> bool:
        return any(change.regressed for change in self.changes)


def regression_check(baseline: RunResult, result: RunResult, max_worse_pct: float) -> RegressionCheck:
    by_key = {level_key(level): level for level in baseline.levels}
    changes: list[Change] = []
    unchecked: list[str] = []
    for level in result.levels:
        base_level = by_key.get(level_key(level))
        if base_level is None:
            unchecked.append(level.label)
            continue
        for key in GATED_FIGURES:
            figure = FIGURES[key]
            base, value = figure.value(base_level), figure.value(level)
            if base is None or value is None or base <= 0:
                continue
            worse = (base - value if key in HIGHER_IS_BETTER else value - base) / base * 100
            changes.append(Change(level.label, key, base, value, worse, worse > max_worse_pct))
    return RegressionCheck(changes, unchecked)
