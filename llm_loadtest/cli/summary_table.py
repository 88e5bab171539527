"""Plain-text tables of a result's levels, for terminals and CI logs."""

from __future__ import annotations

from llm_loadtest.model.results import LevelSummary, RunResult
from llm_loadtest.report.presentation import clock_lines, select, text_table
from llm_loadtest.report.workload_view import requested_lengths, workload_lines

# Two tables, each within 80 columns: what came back (with the errors by class beside their
# level), then the latencies. Times in ms.
OUTCOME_FIGURES = select("error_rate", "output_throughput", "request_rate_achieved", "goodput")
LATENCY_FIGURES = select("ttft_p50", "ttft_p99", "tpot_p50", "itl_p50", "itl_p99", "e2e_p50", "e2e_p99")


def levels_table(levels: list[LevelSummary]) -> str:
    outcome = [
        [level.marked_label, f"{level.requests.succeeded}/{level.requests.total}", *(f.of(level) for f in OUTCOME_FIGURES), _errors(level)]
        for level in levels
    ]
    latency = [[level.marked_label, *(f.of(level) for f in LATENCY_FIGURES)] for level in levels]
    headers = ["level", "ok/total", *(f.label for f in OUTCOME_FIGURES), "errors by class"]
    right = [True] * (len(headers) - 1) + [False]
    return text_table(headers, outcome, right) + "\n\n" + text_table(["level", *(f.label for f in LATENCY_FIGURES)], latency)


def _errors(level: LevelSummary) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(level.requests.errors.items())) or "-"


def token_count_lines(result: RunResult) -> list[str]:
    """Who counted the tokens, in words: the server, its tokenize endpoint, or our estimate."""
    source, cfg = result.token_source, result.config
    estimate = tokenizer_words(cfg.tokenizer)
    output = {
        "server": "output tokens from the server's usage",
        "server_tokenize": f"output tokens counted by the server's tokenize endpoint ({source.tokenize_endpoint or 'unknown'})",
        "tokenizer": f"output tokens estimated by {estimate}",
        "mixed": f"output tokens from the server where it counted them, else estimated by {estimate}",
    }.get(source.output or "", "output tokens: none counted")
    seen = "input tokens the server saw" if source.input == "server" else f"input tokens by {estimate}"
    means = ", ".join("-" if level.input_tokens.mean is None else f"{level.input_tokens.mean:g}" for level in result.levels)
    asked = "lengths of the workload's file" if cfg.workload.uses_files else f"asked for {cfg.input_len}"
    if cfg.workload.shared_prefix:
        asked += f" after a shared prefix of {cfg.workload.shared_prefix}"
    return [output, f"{seen}, mean per level: {means} ({asked})"]


def tokenizer_words(tokenizer: str) -> str:
    """`tiktoken:cl100k_base` -> `tiktoken cl100k`; a path -> `the tokenizer at PATH`."""
    kind, _, name = tokenizer.partition(":")
    if kind == "tiktoken" and name:
        return f"tiktoken {name.removesuffix('_base')}"
    return f"the tokenizer at {tokenizer}"


def result_report(result: RunResult) -> str:
    cfg = result.config
    mode = f"{cfg.num_prompts} requests per level" if cfg.duration is None else f"{cfg.duration:g} s per level"
    if cfg.workers > 1:
        mode += f", {cfg.workers} client processes"
    if cfg.ray is not None:
        nodes = result.environment.get("client_nodes")
        mode += f" as Ray actors{f' on {nodes} nodes' if nodes and nodes > 1 else ''}"
    head = [
        f"run {result.run_id}  {result.status}  {cfg.server}  model {cfg.model}",
        f"{cfg.endpoint}, {'streaming' if cfg.stream else 'not streaming'}, {requested_lengths(cfg)}, {mode}",
        *token_count_lines(result),
        *clock_lines(result.levels),
        *workload_lines(result),
        "times in ms",
    ]
    parts = ["\n".join(head), levels_table(result.levels)]
    if result.warnings:
        parts.append("\n".join(f"warning: {w}" for w in result.warnings))
    if result.notes:
        parts.append("\n".join(f"note: {n}" for n in result.notes))
    return "\n\n".join(parts)
