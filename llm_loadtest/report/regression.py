"""The regression gate: is a run worse than a baseline run by more than a given percentage?

Levels are matched by their load (the same concurrency, or the same request rate); each
gated figure that both levels have is compared. Pure: results in, changes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import LevelSummary, RunResult
from llm_loadtest.model.workload import Workload
from llm_loadtest.report.presentation import FIGURES

# what a serving change can make worse: the rate of tokens, and the latency a user waits
GATED_FIGURES = ("output_throughput", "ttft_p50", "ttft_p99", "tpot_p50", "e2e_p99")
HIGHER_IS_BETTER = frozenset({"output_throughput"})
# what makes two runs the same workload (the load itself is matched level by level)
WORKLOAD_FIELDS = ("adapter", "endpoint", "stream", "ignore_eos", "burstiness")
# and what they sent (config.workload): lengths as specs, so normal:256:32 is not fixed:256;
# files by their SHA-256, so the same file elsewhere is the same workload
WORKLOAD_SETTINGS = (
    "input_len",
    "output_len",
    "dataset_sha256",
    "dataset_min_input",
    "dataset_max_input",
    "shared_prefix",
    "prefix_groups",
    "turns",
    "trace_sha256",
    "trace_speed",
)

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
    differences = [
        f"{name} {getattr(baseline, name)} -> {getattr(config, name)}"
        for name in WORKLOAD_FIELDS
        if getattr(baseline, name) != getattr(config, name)
    ]
    before, after = baseline.workload, config.workload
    for name in WORKLOAD_SETTINGS:
        if getattr(before, name) != getattr(after, name):
            differences.append(f"{_setting_name(name)} {_setting_text(before, name)} -> {_setting_text(after, name)}")
    return differences


def _setting_name(name: str) -> str:
    return name.removesuffix("_sha256")


def _setting_text(workload: Workload, name: str) -> str:
    """A file as its name and the start of its digest; anything else as it is."""
    if name.endswith("_sha256"):
        path = getattr(workload, name.removesuffix("_sha256"))
        digest = getattr(workload, name)
        return f"{PurePath(path).name} ({digest[:8]})" if path and digest else "none"
    value = getattr(workload, name)
    if isinstance(value, str) and value.startswith("fixed:"):
        return value.removeprefix("fixed:")  # a fixed length reads as the number it is
    return "none" if value is None else str(value)


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
