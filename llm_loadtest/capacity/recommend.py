"""From a finished search to the answer a user brings the question for: how many users one
replica holds, how many replicas (and GPUs) the peak needs, what limited it, and on which
assumptions."""

from __future__ import annotations

import math
from statistics import fmean

from llm_loadtest.capacity.policy import SearchPolicy
from llm_loadtest.capacity.probes import load_label, load_of
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode
from llm_loadtest.model.results import LevelSummary, RunResult, ServerSample
from llm_loadtest.model.search import GpuCount, SearchAnswer, SearchProbe, SearchRecord, SearchTarget, StopReason
from llm_loadtest.telemetry.hints import KV_FULL

SLO_NAMES = {"ttft": "TTFT", "tpot": "TPOT", "e2e": "E2E"}


def exit_code_for(result: RunResult, *, terminated: bool = False) -> ExitCode:
    """0 answered; 1 the target cannot be met at all; 130 interrupted, 143 when SIGTERM
    (`terminated`) stopped it (docs/cli.md)."""
    answer = result.search.answer if result.search is not None else None
    if result.status == "aborted" or (answer is not None and answer.stop == "interrupted"):
        return ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
    if answer is None or answer.holds is None:
        return ExitCode.FAILED
    return ExitCode.OK


def build_answer(
    *,
    config: RunConfig,
    target: SearchTarget,
    shape: tuple[int, int],
    probes: list[SearchProbe],
    summaries: dict[int, LevelSummary],
    holds: float | None,
    misses: float | None,
    stop: StopReason,
    reason: str,
    gpus: GpuCount | None,
    gpu_note: str | None,
    server_samples: list[ServerSample],
) -> SearchAnswer:
    answer = SearchAnswer(input_len=shape[0], output_len=shape[1], stop=stop, reason=reason, holds=holds, misses=misses, gpus=gpus)
    answer.limiter = limiter(target, probes, summaries, holds, misses)
    answer.assumptions = assumptions(config, target, shape, gpus, gpu_note, server_samples)
    unit = "concurrent users" if target.mode == "concurrency" else "req/s"
    peak = target.peak_concurrency if target.mode == "concurrency" else target.peak_rate
    replica = f"one replica ({gpus.count} × {gpus.name or 'GPU'})" if gpus else "one replica"
    if holds is None:
        answer.headline = f"the target cannot be met: {reason}"
        return answer
    held = f"{replica} holds {holds:g} {unit} at ≥ {target.goodput_percent:g} % goodput"
    if peak is None:
        answer.headline = held
        return answer
    answer.replicas = max(1, math.ceil(peak / holds - 1e-9))
    answer.headroom_percent = (answer.replicas * holds - peak) / peak * 100
    if gpus is not None:
        answer.gpus_total = answer.replicas * gpus.count
    if stop == "peak_holds":
        answer.headline = (
            f"{held}: all {peak:g} {unit} asked about fit in one replica (its limit lies higher; the search stopped at the peak)"
        )
        return answer
    need = f"{peak:g} {unit} need ⌈{peak:g} / {holds:g}⌉ = {answer.replicas} replica{'s' if answer.replicas > 1 else ''}"
    if gpus is not None:
        need += f" = {answer.gpus_total} × {gpus.name or 'GPU'}"
    answer.headline = f"{held}; {need} (headroom {answer.headroom_percent:.0f} %)"
    return answer


def limiter(
    target: SearchTarget, probes: list[SearchProbe], summaries: dict[int, LevelSummary], holds: float | None, misses: float | None
) -> str | None:
    """What gave out first at the smallest load that missed: the server's own signals (queue,
    KV cache) where /metrics showed them, and the SLO that most requests missed."""
    if misses is None:
        return None
    missing = [p for p in probes if load_of(p) == misses]
    holding = [p for p in probes if holds is not None and load_of(p) == holds]
    if not missing:
        return None
    probe = missing[-1]
    parts: list[str] = []
    kv = probe.server.kv_cache_max
    if kv is not None and kv >= KV_FULL:
        parts.append(f"the server's KV cache was full ({kv * 100:.0f} %) at {load_label(probe)}")
    waited_before = max((p.server.waiting_max or 0 for p in holding), default=0)
    if probe.server.waiting_max and (probe.server.waiting_grew or probe.server.waiting_max > waited_before):
        parts.append(
            f"the server's queue started to grow at {load_label(probe)} (up to {probe.server.waiting_max:g} waiting"
            + (f", {waited_before:g} at {load_label(holding[-1])})" if holding else ")")
        )
    slo_part = _worst_slo(target, probe, summaries.get(probe.level_index))
    if slo_part:
        parts.append(slo_part)
    return "; ".join(parts) or None


def _worst_slo(target: SearchTarget, probe: SearchProbe, summary: LevelSummary | None) -> str | None:
    if summary is None or summary.goodput is None or not summary.goodput.by_slo:
        return None
    name, count = min(summary.goodput.by_slo.items(), key=lambda item: item[1].met / max(item[1].total, 1))
    threshold = getattr(target.slo, f"{name}_ms")
    stats = getattr(summary, f"{name}_ms")
    p50 = f", p50 {stats.p50:.0f} ms" if stats is not None else ""
    share = count.met / max(count.total, 1) * 100
    return f"{SLO_NAMES[name]} gave out first: {share:.0f} % of requests under {threshold:g} ms at {load_label(probe)}{p50}"


def assumptions(
    config: RunConfig,
    target: SearchTarget,
    shape: tuple[int, int],
    gpus: GpuCount | None,
    gpu_note: str | None,
    server_samples: list[ServerSample],
) -> list[str]:
    slos = ", ".join(
        f"{SLO_NAMES[name]} < {getattr(target.slo, f'{name}_ms'):g} ms" for name in SLO_NAMES if getattr(target.slo, f"{name}_ms")
    )
    load = (
        "closed-loop users, each sending its next request when the last one ends"
        if target.mode == "concurrency"
        else f"open-loop arrivals (burstiness {config.burstiness:g}; 1 = Poisson)"
    )
    workload = shape_config(config, shape).workload
    hit_rates = [s.prefix_cache_hit_rate for s in server_samples if s.prefix_cache_hit_rate is not None]
    if hit_rates:
        caching = f"prefix caching as measured (hit rate {fmean(hit_rates) * 100:.0f} %)"
    elif workload.uses_files or workload.shared_prefix or workload.turns > 1:  # prompts that may share their openings
        caching = "prefix caching as measured: the server reported no hit rate"
    else:
        caching = "prefix caching as measured: each prompt had a unique prefix, and the server reported no hit rate"
    if gpus is not None and gpus.source == "nvml":
        gpu_line = f"GPUs per replica from NVML: {gpus.note}"
    elif gpus is not None:
        gpu_line = f"GPUs per replica as given: {gpus.count} × {gpus.name or 'GPU'}"
    else:
        gpu_line = f"GPUs per replica unknown ({gpu_note or 'not given'}): the answer is in replicas; give --gpus N --gpu-name NAME"
    return [
        f"same workload: {workload.label()}, {config.endpoint} endpoint, {'streamed' if config.stream else 'not streamed'}",
        f"good request: {slos}; target {target.goodput_percent:g} % of requests good; {load}",
        "replicas scale linearly behind a load balancer that spreads the load evenly",
        caching,
        gpu_line,
    ]


def shape_config(config: RunConfig, shape: tuple[int, int]) -> RunConfig:
    """The search's configuration at one of its shapes (prompt, output tokens): validated again,
    not copied, so that the workload's length specs follow the numbers."""
    return RunConfig.model_validate({**config.model_dump(), "input_len": shape[0], "output_len": shape[1]})


def rederive(result: RunResult) -> SearchRecord:
    """The search's answer again from its stored probes under the result's (new) SLOs, with no
    new traffic: each probe judged by its level's recomputed goodput, the bracket re-read. The
    answer can only be as fine as the probes that ran: a knee that moved outside them is said."""
    record = result.search
    assert record is not None, "only a capacity search's result is re-derived"
    target = record.target.model_copy(update={"slo": result.config.goodput})
    summaries = dict(enumerate(result.levels))
    probes = []
    for probe in record.probes:
        goodput = summaries[probe.level_index].goodput if probe.level_index in summaries else None
        percent = goodput.percent if goodput is not None else None
        probes.append(
            probe.model_copy(update={"goodput_percent": percent, "passed": percent is not None and percent >= target.goodput_percent})
        )
    answers = []
    old = {(a.input_len, a.output_len): a for a in record.answers}
    for shape in target.shapes:
        mine = [p for p in probes if (p.input_len, p.output_len) == shape]
        policy = SearchPolicy(start=1, integer=target.mode == "concurrency")
        for probe in mine:
            if probe.phase != "calibrate":
                policy.record(load_of(probe), probe.passed)
        holds, misses = policy.holds, policy.misses
        stop: StopReason
        if holds is None:
            stop, reason = "refused", "under these SLOs even the smallest load probed misses the target"
        elif misses is None:
            stop, reason = (
                "peak_holds",
                f"under these SLOs every load probed meets the target (up to {holds:g}); run recommend again to find its limit",
            )
        else:
            stop, reason = "bracketed", f"re-derived from the stored probes: {holds:g} meets the target and {misses:g} misses it"
        previous = old.get(shape)
        answers.append(
            build_answer(
                config=result.config,
                target=target,
                shape=shape,
                probes=mine,
                summaries=summaries,
                holds=holds,
                misses=misses,
                stop=stop,
                reason=reason,
                gpus=previous.gpus if previous is not None else None,
                gpu_note="as the search found it",
                server_samples=result.server_samples,
            )
        )
    return SearchRecord(target=target, probes=probes, answer=answers[0] if answers else None, answers=answers)
