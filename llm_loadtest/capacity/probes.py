"""One probe's size, its figures as the search keeps them, and the early stops they can call."""

from __future__ import annotations

import math

from llm_loadtest.model.results import LevelSummary, ServerSample
from llm_loadtest.model.search import ProbePhase, SearchProbe, SearchTarget, ServerSignals
from llm_loadtest.telemetry.hints import queue_grew_throughout

PERCENTILES = (50, 90, 95, 99)  # those a level's statistics carry
ROUNDS = 3  # each user sends at least this many requests: past the first wave, the load is steady
MAX_PROBE_REQUESTS = 20_000
# saturation: a load step this much larger ...
SATURATION_LOAD_STEP = 1.5
# ... that gains less than this in throughput, while the median request takes this much longer
SATURATION_GAIN = 1.1
SATURATION_LATENCY = 1.5


def probe_requests(target: SearchTarget, concurrency: int | None, request_rate: float | None, expected_rate: float | None) -> int:
    """Long enough by requests (the minimum, and ROUNDS per user) and by time (the minimum
    seconds at the request rate expected)."""
    n = target.min_requests
    if concurrency is not None and request_rate is None:
        n = max(n, ROUNDS * concurrency)
    rate = request_rate if request_rate is not None else expected_rate
    if rate:
        n = max(n, math.ceil(rate * target.min_seconds))
    return min(n, MAX_PROBE_REQUESTS)


def expected_rate(previous: list[tuple[int, LevelSummary]], concurrency: int) -> float | None:
    """The request rate a closed-loop level of `concurrency` users should reach, scaled from
    the nearest probe below it (an overestimate once the server saturates: the probe then
    runs longer, never shorter, than the minimum)."""
    below = [(c, s.request_rate_achieved) for c, s in previous if c <= concurrency and s.request_rate_achieved]
    if not below:
        return None
    c, rate = max(below, key=lambda pair: pair[0])
    return rate * concurrency / c


def interactivity(summary: LevelSummary) -> float | None:
    """Output tokens per second one user sees: 1000 / TPOT p50 when streaming, else output
    tokens per request over the median request time."""
    if summary.tpot_ms is not None and summary.tpot_ms.p50 > 0:
        return 1000.0 / summary.tpot_ms.p50
    if summary.e2e_ms is not None and summary.e2e_ms.p50 > 0 and summary.output_tokens.mean:
        return summary.output_tokens.mean / (summary.e2e_ms.p50 / 1000.0)
    return None


def slo_pressure(summary: LevelSummary, target: SearchTarget) -> float | None:
    """How close the probe ran to its SLOs: the latency at the target's percentile (p95 for a
    95 % target) over its threshold, the highest of the SLOs given; 1 is the edge."""
    percentile = next((p for p in PERCENTILES if p >= target.goodput_percent), PERCENTILES[-1])
    ratios = []
    for name in ("ttft", "tpot", "e2e"):
        threshold = getattr(target.slo, f"{name}_ms")
        if threshold is None:
            continue
        stats = getattr(summary, f"{name}_ms")
        if stats is None:
            return None
        ratios.append(getattr(stats, f"p{percentile}") / threshold)
    return max(ratios, default=None)


def server_signals(samples: list[ServerSample]) -> ServerSignals:
    waiting = [s.waiting for s in samples if s.waiting is not None]
    running = [s.running for s in samples if s.running is not None]
    kv = [s.kv_cache_usage for s in samples if s.kv_cache_usage is not None]
    return ServerSignals(
        waiting_max=max(waiting, default=None),
        waiting_grew=queue_grew_throughout(waiting),
        running_max=max(running, default=None),
        kv_cache_max=max(kv, default=None),
    )


def make_probe(
    level_index: int,
    phase: ProbePhase,
    summary: LevelSummary,
    target: SearchTarget,
    input_len: int,
    output_len: int,
    samples: list[ServerSample],
) -> SearchProbe:
    goodput = summary.goodput.percent if summary.goodput is not None else None
    return SearchProbe(
        level_index=level_index,
        phase=phase,
        concurrency=summary.concurrency,
        request_rate=summary.request_rate,
        input_len=input_len,
        output_len=output_len,
        passed=goodput is not None and goodput >= target.goodput_percent,
        goodput_percent=goodput,
        error_rate=summary.error_rate,
        requests=summary.requests.total,
        duration_s=summary.duration_s,
        output_throughput=summary.output_throughput,
        interactivity=interactivity(summary),
        ttft_p50_ms=summary.ttft_ms.p50 if summary.ttft_ms else None,
        tpot_p50_ms=summary.tpot_ms.p50 if summary.tpot_ms else None,
        e2e_p50_ms=summary.e2e_ms.p50 if summary.e2e_ms else None,
        slo_pressure=slo_pressure(summary, target),
        server=server_signals(samples),
    )


def error_stop(probe: SearchProbe, summary: LevelSummary, target: SearchTarget) -> str | None:
    """Errors alone miss the target: bisecting a failing server would measure its failures."""
    allowed = 1.0 - target.goodput_percent / 100.0
    if probe.error_rate is None or probe.error_rate <= allowed:
        return None
    kinds = ", ".join(f"{name}: {count}" for name, count in sorted(summary.requests.errors.items()))
    return (
        f"the server failed {probe.error_rate * 100:.0f} % of requests at {load_label(probe)} ({kinds}); "
        f"errors alone miss the {target.goodput_percent:g} % target, so the search stopped"
    )


def saturation_stop(probe: SearchProbe, earlier: list[SearchProbe]) -> str | None:
    """Throughput stopped growing while latency did: more load only queues."""
    if not probe.passed or probe.output_throughput is None or probe.e2e_p50_ms is None:
        return None
    below = [p for p in earlier if p.passed and load_of(p) < load_of(probe) and p.output_throughput and p.e2e_p50_ms]
    if not below:
        return None
    base = max(below, key=load_of)
    assert base.output_throughput and base.e2e_p50_ms, "`below` holds only probes with both"
    step = load_of(probe) / load_of(base)
    gain = probe.output_throughput / base.output_throughput
    slower = probe.e2e_p50_ms / base.e2e_p50_ms
    if step >= SATURATION_LOAD_STEP and gain < SATURATION_GAIN and slower >= SATURATION_LATENCY:
        return (
            f"the server saturated: from {load_label(base)} to {load_label(probe)} output throughput changed "
            f"{(gain - 1) * 100:+.0f} % while E2E p50 grew {(slower - 1) * 100:.0f} %; more load only queues"
        )
    return None


def load_of(probe: SearchProbe) -> float:
    return float(probe.request_rate if probe.request_rate is not None else probe.concurrency or 0)


def load_label(probe: SearchProbe) -> str:
    if probe.request_rate is not None:
        return f"{probe.request_rate:g} req/s"
    return f"c={probe.concurrency}"
