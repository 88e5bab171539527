"""Plain-text views for the store commands: the history list and the side-by-side comparison.

Pure functions of store rows and results, so that they are tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from llm_loadtest.cli.summary_table import level_label
from llm_loadtest.config import GoodputSLO
from llm_loadtest.results.model import LevelSummary, RunResult, Stats
from llm_loadtest.storage.store import RunRow

DASH = "-"
SHORT_ID = 8
STATUS_ORDER = ("running", "completed", "failed", "aborted")


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


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


def number(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def percent(fraction: float | None) -> str:
    return DASH if fraction is None else f"{100 * fraction:.1f}"


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


# (row label, figure of a level); a None figure shows as "-"
LEVEL_FIGURES: tuple[tuple[str, Callable[[LevelSummary], float | None], int], ...] = (
    ("out tok/s", lambda lv: lv.output_throughput, 1),
    ("total tok/s", lambda lv: lv.total_throughput, 1),
    ("req/s", lambda lv: lv.request_rate_achieved, 2),
    ("TTFT p50 ms", lambda lv: _stat(lv.ttft_ms, "p50"), 1),
    ("TTFT p99 ms", lambda lv: _stat(lv.ttft_ms, "p99"), 1),
    ("TPOT p50 ms", lambda lv: _stat(lv.tpot_ms, "p50"), 2),
    ("TPOT p99 ms", lambda lv: _stat(lv.tpot_ms, "p99"), 2),
    ("ITL p50 ms", lambda lv: _stat(lv.itl_ms, "p50"), 2),
    ("ITL p99 ms", lambda lv: _stat(lv.itl_ms, "p99"), 2),
    ("E2E p50 ms", lambda lv: _stat(lv.e2e_ms, "p50"), 1),
    ("E2E p99 ms", lambda lv: _stat(lv.e2e_ms, "p99"), 1),
    ("error %", lambda lv: None if lv.error_rate is None else 100 * lv.error_rate, 1),
    ("goodput %", lambda lv: lv.goodput.percent if lv.goodput else None, 1),
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
    about("input / output tokens", lambda r: f"{r.config.input_len} / {r.config.output_len}")
    about("goodput SLO", lambda r: slo_text(r.config.goodput))

    for key, label in _level_keys(results):
        rows.append([f"[{label}]"] + [""] * len(results))
        levels = [_level(r, key) for r in results]
        for name, figure, digits in LEVEL_FIGURES:
            values = [figure(lv) if lv is not None else None for lv in levels]
            rows.append([f"  {name}"] + [_with_delta(v, values[0], digits, i) for i, v in enumerate(values)])
    note = f"deltas are against the first run, {ids[results[0].run_id]}; times in ms"
    return text_table(headers, rows, right) + "\n\n" + note


def slo_text(slo: GoodputSLO | None) -> str:
    if slo is None or slo.is_empty():
        return DASH
    parts = [(n, getattr(slo, f"{n}_ms")) for n in ("ttft", "tpot", "e2e")]
    return ", ".join(f"{n}<{v:g}ms" for n, v in parts if v is not None)


def _stat(stats: Stats | None, key: str) -> float | None:
    return getattr(stats, key) if stats is not None else None


def _key(level: LevelSummary) -> tuple[int | None, float | None]:
    return level.concurrency, level.request_rate


def _level_keys(results: Sequence[RunResult]) -> list[tuple[tuple[int | None, float | None], str]]:
    seen: dict[tuple[int | None, float | None], str] = {}
    for result in results:
        for level in result.levels:
            seen.setdefault(_key(level), level_label(level))
    # rates after concurrencies, each in increasing order
    return sorted(seen.items(), key=lambda item: (item[0][1] is not None, item[0][1] or 0, item[0][0] or 0))


def _level(result: RunResult, key: tuple[int | None, float | None]) -> LevelSummary | None:
    return next((lv for lv in result.levels if _key(lv) == key), None)


def _with_delta(value: float | None, base: float | None, digits: int, column: int) -> str:
    text = number(value, digits)
    if column == 0 or value is None or base is None or base == 0:
        return text
    return f"{text} ({(value - base) / abs(base) * 100:+.0f}%)"
