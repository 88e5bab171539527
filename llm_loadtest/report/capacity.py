"""A capacity search in plain text: the probes, the answer with its evidence, and the Pareto
chart of throughput per GPU against interactivity. Pure functions of the `SearchRecord`; the
headless command prints them and the app shows the same lines."""

from __future__ import annotations

from dataclasses import dataclass

from llm_loadtest.metrics.pareto import pareto_frontier
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import RunResult
from llm_loadtest.model.search import SearchAnswer, SearchProbe, SearchRecord
from llm_loadtest.report.presentation import number, text_table
from llm_loadtest.report.workload_view import lengths_source, shape_text

CHART_WIDTH = 56
CHART_HEIGHT = 12
FRONTIER_MARK = "*"
POINT_MARK = "·"


def probe_load(probe: SearchProbe) -> str:
    return f"{probe.request_rate:g}/s" if probe.request_rate is not None else f"c={probe.concurrency}"


def probe_line(number_: int, probe: SearchProbe, target_percent: float) -> str:
    """One line of progress, as each probe finishes."""
    verdict = "meets" if probe.passed else "misses"
    return (
        f"probe {number_:>2} {probe.phase:<9} {probe_load(probe):>9}  goodput {number(probe.goodput_percent, 1, ' %'):>8} "
        f"{verdict} {target_percent:g} %  out {number(probe.output_throughput, 0, ' tok/s')}  "
        f"TPOT p50 {number(probe.tpot_p50_ms, 1, ' ms')}  TTFT p50 {number(probe.ttft_p50_ms, 0, ' ms')}  ({probe.requests} requests)"
    )


def probes_table(record: SearchRecord, config: RunConfig) -> str:
    """A row per probe; the shape column only where the search's lengths were the numbers sent."""
    shaped = lengths_source(config) is None
    headers = ["#", "phase", *(["shape"] if shaped else []), "load", "goodput %", "ok", "err %", "out tok/s", "tok/s/user"]
    headers += ["TTFT p50", "TPOT p50", "waiting"]
    rows = [
        [
            str(i),
            p.phase,
            *([f"{p.input_len}/{p.output_len}"] if shaped else []),
            probe_load(p),
            number(p.goodput_percent, 1),
            "yes" if p.passed else "no",
            number(p.error_rate * 100 if p.error_rate is not None else None, 1),
            number(p.output_throughput, 0),
            number(p.interactivity, 1),
            number(p.ttft_p50_ms, 0),
            number(p.tpot_p50_ms, 1),
            number(p.server.waiting_max, 0),
        ]
        for i, p in enumerate(record.probes, start=1)
    ]
    return text_table(headers, rows, right=[True, False, *([False] if shaped else []), *([True] * 9)])


def answer_lines(answer: SearchAnswer) -> list[str]:
    lines = [answer.headline, f"why the search stopped: {answer.reason}"]
    if answer.limiter:
        lines.append(f"what limited it: {answer.limiter}")
    lines.append("assumptions:")
    lines.extend(f"  - {item}" for item in answer.assumptions)
    return lines


@dataclass(frozen=True)
class ParetoPoint:
    probe: SearchProbe
    per_gpu: float | None  # output tok/s per GPU (per replica when the GPUs are unknown)
    per_user: float | None  # interactivity: output tok/s one user sees
    frontier: bool


def pareto_points(record: SearchRecord) -> tuple[list[ParetoPoint], str]:
    """Every probe as a point, the frontier marked; the second value names the x unit."""
    gpus = record.answer.gpus.count if record.answer is not None and record.answer.gpus is not None else None
    per = (lambda t: t / gpus) if gpus else (lambda t: t)
    xs = [per(p.output_throughput) if p.output_throughput is not None else None for p in record.probes]
    ys = [p.interactivity for p in record.probes]
    on = set(pareto_frontier(list(zip(xs, ys))))
    points = [ParetoPoint(p, x, y, i in on) for i, (p, x, y) in enumerate(zip(record.probes, xs, ys))]
    return points, "output tok/s per GPU" if gpus else "output tok/s per replica"


def pareto_chart(record: SearchRecord, config: RunConfig, width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> str:
    """A text scatter: x throughput per GPU, y tok/s per user; `*` on the frontier."""
    points, x_unit = pareto_points(record)
    known = [(p.per_gpu, p.per_user, p.frontier) for p in points if p.per_gpu is not None and p.per_user is not None]
    if not known:
        return "Pareto: no probe with both throughput and interactivity"
    x_max = max(x for x, _, _ in known) or 1.0
    y_max = max(y for _, y, _ in known) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for x, y, on_frontier in sorted(known, key=lambda k: k[2]):  # the frontier drawn last, on top
        col = min(width - 1, round(x / x_max * (width - 1)))
        row = height - 1 - min(height - 1, round(y / y_max * (height - 1)))
        grid[row][col] = FRONTIER_MARK if on_frontier else POINT_MARK
    label_width = len(f"{y_max:.0f}")
    lines = [f"Pareto: tok/s per user (up) against {x_unit} (right); {FRONTIER_MARK} = frontier"]
    for i, cells in enumerate(grid):
        label = f"{y_max:.0f}" if i == 0 else ("0" if i == height - 1 else "")
        lines.append(f"{label:>{label_width}} |{''.join(cells).rstrip()}")
    lines.append(f"{'':>{label_width}} +{'-' * width}")
    lines.append(f"{'':>{label_width}}  0{f'{x_max:.0f}':>{width - 1}}")
    frontier = sorted((p for p in points if p.frontier), key=lambda p: p.per_gpu or 0.0)
    lines.append("frontier, left to right:")
    for p in frontier:
        shape = shape_text(config, p.probe.input_len, p.probe.output_len)
        lines.append(f"  {probe_load(p.probe):>9}  {shape + '  ' if shape else ''}{p.per_gpu:8.0f} tok/s  {p.per_user:6.1f} tok/s per user")
    return "\n".join(lines)


def search_report(result: RunResult) -> str:
    """A recommend run's search: the probes, each shape's answer and the Pareto chart (the
    workload it sent is `workload_line`'s, which `show` prints above it)."""
    record = result.search
    assert record is not None, "only a capacity search's result has a search report"
    parts = [probes_table(record, result.config), ""]
    for answer in record.answers or ([record.answer] if record.answer else []):
        shape = shape_text(result.config, answer.input_len, answer.output_len)
        if len(record.answers) > 1 and shape is not None:
            parts.append(f"shape {shape}:")
        parts.extend(answer_lines(answer))
        parts.append("")
    parts.append(pareto_chart(record, result.config))
    return "\n".join(parts)
