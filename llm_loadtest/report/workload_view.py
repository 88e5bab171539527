"""What a result says about its workload, in a few lines for the summary and `show`: what was
sent, the server's prefix-cache hit rate beside a shared prefix, answer TTFT and reasoning
tokens of reasoning models, and TTFT by turn of multi-turn chats."""

from __future__ import annotations

from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import RunResult


def lengths_source(config: RunConfig) -> str | None:
    """The file a run's prompt lengths came from ("the dataset", "the trace"), None when they
    are `--input-len` / `--output-len` (then the config's numbers are what was asked for)."""
    if config.workload.trace is not None:
        return "the trace"
    if config.workload.dataset is not None:
        return "the dataset"
    return None


def requested_lengths(config: RunConfig) -> str:
    """`input 256 / output 128 tokens`, or `lengths from the dataset`: a dataset's or a trace's
    run never asked for the config's default numbers, so they are not shown as if it had."""
    source = lengths_source(config)
    return f"lengths from {source}" if source else f"input {config.input_len} / output {config.output_len} tokens"


def prefix_cache_hit_rate(result: RunResult) -> float | None:
    """The mean of the server's prefix-cache hit rate samples, None when it reported none."""
    rates = [s.prefix_cache_hit_rate for s in result.server_samples if s.prefix_cache_hit_rate is not None]
    return sum(rates) / len(rates) if rates else None


def shape_text(config: RunConfig, input_len: int, output_len: int) -> str | None:
    """A searched shape as `256/128` (prompt / output tokens); None when the prompts' lengths
    came from a file, where those numbers were not what was sent (`workload_line` says what was)."""
    return None if lengths_source(config) else f"{input_len}/{output_len}"


def workload_line(config: RunConfig) -> str | None:
    """`workload: dataset prompts.jsonl, ... (sha256 ...)`: what was sent, unless it was plain
    synthetic prompts of fixed lengths (the lengths shown elsewhere say it all)."""
    workload = config.workload
    plain = workload.dataset is None and workload.trace is None and workload.shared_prefix is None and workload.turns == 1
    if plain and (workload.input_len or "").startswith("fixed:") and (workload.output_len or "").startswith("fixed:"):
        return None
    line = f"workload: {workload.label()}"
    if workload.dataset_sha256 or workload.trace_sha256:
        line += f" (sha256 {(workload.dataset_sha256 or workload.trace_sha256 or '')[:12]})"
    return line


def workload_lines(result: RunResult) -> list[str]:
    workload = result.config.workload
    lines = []
    if (line := workload_line(result.config)) is not None:
        lines.append(line)
    if workload.shared_prefix:
        rate = prefix_cache_hit_rate(result)
        lines.append("server prefix-cache hit rate (mean of its samples): " + ("not reported" if rate is None else f"{rate * 100:.1f}%"))
    for level in result.levels:
        if level.ttft_answer_ms is not None:
            reasoning = level.reasoning_tokens.mean if level.reasoning_tokens is not None else None
            lines.append(
                f"{level.label}: time to first answer token p50 {level.ttft_answer_ms.p50:.1f} / p99 {level.ttft_answer_ms.p99:.1f} ms"
                + (f", reasoning tokens {reasoning:.1f} per request" if reasoning is not None else "")
            )
        if level.turns:
            by_turn = ", ".join(f"{t.turn}: {t.ttft_ms.p50:.1f}" if t.ttft_ms else f"{t.turn}: -" for t in level.turns)
            lines.append(f"{level.label}: TTFT p50 by turn (ms) {by_turn}")
    return lines
