"""Plain-text views for the store commands: the history list, the side-by-side comparison and
the regression check.

Pure functions of store rows and results, so that they are tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from llm_loadtest.model.config import GoodputSLO
from llm_loadtest.model.redact import redact
from llm_loadtest.model.results import LevelSummary, RunResult
from llm_loadtest.report.presentation import DASH, FIGURES, Figure, number, percent, select, text_table
from llm_loadtest.report.regression import LevelKey, RegressionCheck, level_key
from llm_loadtest.report.workload_view import lengths_source

if TYPE_CHECKING:
    from llm_loadtest.storage.store import RunRow

SHORT_ID = 8
STATUS_ORDER = ("running", "completed", "failed", "aborted")


def short_ids(run_ids: Sequence[str]) -> dict[str, str]:
    """The shortest start of each id (at least 8 characters) that tells the listed runs apart."""
    length = SHORT_ID
    while length < max((len(i) for i in run_ids), default=0) and len({i[:length] for i in run_ids}) < len(set(run_ids)):
        length += 1
    return {run_id: run_id[:length] for run_id in run_ids}


def when(value: datetime | None) -> str:
    return DASH if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    minutes, secs = divmod(int(round(value)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def history_table(rows: Sequence[RunRow], counts: dict[str, int], where: str) -> str:
    ids = short_ids([row.run_id for row in rows])
    headers = ["run id", "started (UTC)", "status", "took", "server", "model", "preset", "levels", "best tok/s", "err %"]
    right = [False, False, False, True, False, False, False, True, True, True]
    body = [
        [
            ids[row.run_id],
            when(row.started_at),
            row.status,
            seconds(row.duration_s),
            row.server,
            row.model,
            row.preset or DASH,
            str(row.levels),
            number(row.best_output_throughput),
            percent(row.error_rate),
        ]
        for row in rows
    ]
    total = sum(counts.values())
    known = [s for s in STATUS_ORDER if counts.get(s)] + sorted(s for s in counts if s not in STATUS_ORDER)
    tally = ", ".join(f"{counts[s]} {s}" for s in known)
    footer = f"{len(rows)} of {total} runs shown ({tally}) in {where}" if total else f"no runs stored yet in {where}"
    if not rows:
        return footer
    return text_table(headers, body, right) + "\n\n" + footer


# the rows of each level in a comparison; times in ms
LEVEL_FIGURES = select(
    "output_throughput",
    "total_throughput",
    "request_rate_achieved",
    "ttft_p50",
    "ttft_p99",
    "tpot_p50",
    "tpot_p99",
    "itl_p50",
    "itl_p99",
    "e2e_p50",
    "e2e_p99",
    "error_rate",
    "goodput",
)


def compare_table(results: Sequence[RunResult]) -> str:
    """Runs side by side: one column per run, rows per level and figure; deltas vs the first run."""
    ids = short_ids([r.run_id for r in results])
    headers = [""] + [ids[r.run_id] for r in results]
    right = [False] + [True] * len(results)
    rows: list[list[str]] = []

    def about(label: str, cell: Callable[[RunResult], str]) -> None:
        rows.append([label] + [cell(r) for r in results])

    about("status", lambda r: r.status)
    about("started (UTC)", lambda r: when(r.started_at))
    about("server", lambda r: r.config.server)
    about("model", lambda r: r.config.model)
    about("preset", lambda r: r.config.preset or DASH)
    about("endpoint", lambda r: f"{r.config.endpoint}, {'stream' if r.config.stream else 'no stream'}")
    about("input / output tokens", _lengths)
    about("workload", lambda r: r.config.workload.label())
    about("client processes", lambda r: str(r.config.workers))
    about("goodput SLO", lambda r: slo_text(r.config.goodput))

    for key, label in _level_keys(results):
        rows.append([f"[{label}]"] + [""] * len(results))
        levels = [_level(r, key) for r in results]
        for figure in LEVEL_FIGURES:
            values = [figure.value(lv) if lv is not None else None for lv in levels]
            rows.append([f"  {figure.label}"] + [_with_delta(figure, v, values[0], i) for i, v in enumerate(values)])
    note = f"deltas are against the first run, {ids[results[0].run_id]}; times in ms"
    return text_table(headers, rows, right) + "\n\n" + note


def _lengths(result: RunResult) -> str:
    source = lengths_source(result.config)
    return f"from {source}" if source else f"{result.config.input_len} / {result.config.output_len}"


def slo_text(slo: GoodputSLO | None) -> str:
    if slo is None or slo.is_empty():
        return DASH
    parts = [(n, getattr(slo, f"{n}_ms")) for n in ("ttft", "tpot", "e2e")]
    return ", ".join(f"{n}<{v:g}ms" for n, v in parts if v is not None)


def regression_table(check: RegressionCheck, baseline_id: str, max_worse_pct: float) -> str:
    """Each gated figure against the baseline run; the last lines say what was left out and the verdict."""
    head = f"regression check against run {baseline_id[:SHORT_ID]} (a figure more than {max_worse_pct:g}% worse fails)"
    rows = [
        [
            c.level,
            FIGURES[c.figure].label,
            FIGURES[c.figure].format(c.baseline),
            FIGURES[c.figure].format(c.value),
            f"{c.worse_pct:+.1f}%",
            "WORSE" if c.regressed else "ok",
        ]
        for c in check.changes
    ]
    lines = [head, text_table(["level", "figure", "baseline", "this run", "worse by", ""], rows, [False, False, True, True, True, False])]
    if check.unchecked:
        lines.append(f"not checked (the baseline did not run them): {', '.join(check.unchecked)}")
    regressed = sum(c.regressed for c in check.changes)
    if not check.changes:
        lines.append("nothing to compare: no figure exists in both runs")
    else:
        lines.append(f"{regressed} figure(s) worse than allowed" if regressed else "no regression")
    return "\n".join(lines)


def _level_keys(results: Sequence[RunResult]) -> list[tuple[LevelKey, str]]:
    seen: dict[LevelKey, str] = {}
    for result in results:
        for level in result.levels:
            seen.setdefault(level_key(level), level.label)
    # rates after concurrencies, each in increasing order
    return sorted(seen.items(), key=lambda item: (item[0][1] is not None, item[0][1] or 0, item[0][0] or 0))


def _level(result: RunResult, key: LevelKey) -> LevelSummary | None:
    return next((lv for lv in result.levels if level_key(lv) == key), None)


def _with_delta(figure: Figure, value: float | None, base: float | None, column: int) -> str:
    text = figure.format(value)
    if column == 0 or value is None or base is None or base == 0:
        return text
    return f"{text} ({(value - base) / abs(base) * 100:+.0f}%)"


# the time series a run's JSON carries, left out where runs are listed side by side
SERIES = ("gpu_samples", "server_samples")


def run_json(result: RunResult) -> dict:
    """A run as `show --json` writes it (docs/results.md, no secret), without its time series."""
    document = redact(result.to_json_dict())
    return {key: value for key, value in document.items() if key not in SERIES}


def regression_json(check: RegressionCheck, baseline_id: str, run_id: str, max_worse_pct: float) -> dict:
    return {
        "run_id": run_id,
        "baseline": baseline_id,
        "max_regression_percent": max_worse_pct,
        "regressed": check.regressed,
        "changes": [asdict(change) for change in check.changes],
        "unchecked": check.unchecked,
    }
