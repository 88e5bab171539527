"""Plain-text tables of a result's levels, for terminals and CI logs."""

from __future__ import annotations

from collections import Counter

from llm_loadtest.results.model import LevelSummary, RunResult, Stats


def _ms(stats: Stats | None, key: str) -> str:
    value = getattr(stats, key) if stats else None
    return "-" if value is None else f"{value:.1f}"


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def level_label(level: LevelSummary) -> str:
    if level.request_rate is None:
        return f"c={level.concurrency}"
    cap = f" (max {level.concurrency})" if level.concurrency else ""
    return f"{level.request_rate:g}/s{cap}"


COLUMNS = (
    ("level", level_label),
    ("ok/total", lambda l: f"{l.requests.succeeded}/{l.requests.total}"),
    ("err %", lambda l: _num(None if l.error_rate is None else 100 * l.error_rate)),
    ("out tok/s", lambda l: _num(l.output_throughput)),
    ("req/s", lambda l: _num(l.request_rate_achieved, "{:.2f}")),
    ("TTFT p50", lambda l: _ms(l.ttft_ms, "p50")),
    ("TTFT p99", lambda l: _ms(l.ttft_ms, "p99")),
    ("TPOT p50", lambda l: _ms(l.tpot_ms, "p50")),
    ("ITL p50", lambda l: _ms(l.itl_ms, "p50")),
    ("ITL p99", lambda l: _ms(l.itl_ms, "p99")),
    ("E2E p50", lambda l: _ms(l.e2e_ms, "p50")),
    ("E2E p99", lambda l: _ms(l.e2e_ms, "p99")),
    ("goodput %", lambda l: _num(l.goodput.percent if l.goodput else None)),
)


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)
    return "\n".join(lines)


def levels_table(levels: list[LevelSummary]) -> str:
    return format_table([name for name, _ in COLUMNS], [[cell(level) for _, cell in COLUMNS] for level in levels])


def result_report(result: RunResult) -> str:
    cfg = result.config
    mode = f"{cfg.num_prompts} requests per level" if cfg.duration is None else f"{cfg.duration:g} s per level"
    head = [
        f"run {result.run_id}  {result.status}  {cfg.server}  model {cfg.model}",
        f"{cfg.endpoint}, {'streaming' if cfg.stream else 'not streaming'}, input {cfg.input_len} / output {cfg.output_len} tokens, {mode}"
        + f"; tokens from: output {result.token_source.output or '-'}, input {result.token_source.input or '-'}",
        "input tokens the server saw, mean per level: "
        + ", ".join("-" if level.input_tokens.mean is None else f"{level.input_tokens.mean:g}" for level in result.levels)
        + f" (asked for {cfg.input_len})",
        "times in ms",
    ]
    parts = ["\n".join(head), levels_table(result.levels)]
    errors = Counter()
    for level in result.levels:
        errors.update(level.requests.errors)
    if errors:
        parts.append("errors: " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items())))
    if result.warnings:
        parts.append("\n".join(f"warning: {w}" for w in result.warnings))
    return "\n\n".join(parts)
