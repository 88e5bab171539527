"""What a gate that failed says: one line per level and figure that missed, so that an exit 1
is never silent (docs/cli.md). Pure: results in, lines out; the CLI prints them on stderr, the
app shows them as notifications."""

from __future__ import annotations

from llm_loadtest.model.results import RunResult
from llm_loadtest.report.presentation import FIGURES
from llm_loadtest.report.regression import RegressionCheck

SHORT_ID = 8


def run_failures(result: RunResult) -> list[str]:
    """Why a run that ran is `failed` (exit 1): each level whose every request failed, with its
    errors by class; else the engine's own reason, the first of the result's warnings."""
    lines = [
        f"run failed: level {level.label}: every request failed ({_errors(level.requests.errors)})"
        for level in result.levels
        if level.requests.succeeded == 0
    ]
    if not lines:
        lines.append(f"run failed: {result.warnings[0] if result.warnings else 'no level finished'}")
    return lines


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(errors.items())) or "no request was sent"


def goodput_misses(result: RunResult, floor_percent: float) -> list[str]:
    """Each level whose goodput is under `floor_percent` (or has none to check)."""
    lines = []
    for level in result.levels:
        percent = level.goodput.percent if level.goodput is not None else None
        if percent is None:
            lines.append(
                f"goodput gate missed: level {level.label}: no goodput to check (no SLO, or no request), floor {floor_percent:g} %"
            )
        elif percent < floor_percent:
            lines.append(f"goodput gate missed: level {level.label}: goodput {percent:.1f} % is under the {floor_percent:g} % floor")
    return lines


def regression_misses(check: RegressionCheck, baseline_id: str, max_worse_pct: float) -> list[str]:
    """Each figure worse than the baseline's by more than allowed; a check of nothing is a miss too."""
    short = baseline_id[:SHORT_ID]
    if not check.changes:
        return [f"regression gate missed: nothing to compare with run {short} (no figure exists in both runs)"]
    return [
        f"regression gate missed: level {c.level}: {FIGURES[c.figure].label} {FIGURES[c.figure].format(c.value)} against "
        f"{FIGURES[c.figure].format(c.baseline)} in run {short}, {c.worse_pct:.1f}% worse (at most {max_worse_pct:g}% allowed)"
        for c in check.changes
        if c.regressed
    ]
