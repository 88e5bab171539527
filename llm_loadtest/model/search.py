"""A capacity search (`llm-loadtest recommend`) as the result JSON carries it: results.md's
`"search": {"target", "probes", "answer"}`.

Every probe is also one of the run's levels (`level_index`), so the requests behind each
figure stay in the database like any run's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llm_loadtest.model.config import GoodputSLO

SearchMode = Literal["concurrency", "rate"]
ProbePhase = Literal["calibrate", "grow", "bisect", "confirm"]
# why the search ended: the bracket closed, the peak asked about holds, or an early stop
StopReason = Literal["bracketed", "peak_holds", "server_errors", "saturated", "refused", "probe_limit", "unreachable", "interrupted"]


class SearchTarget(BaseModel):
    """What was asked: the largest load that keeps `goodput_percent` of requests within `slo`."""

    model_config = ConfigDict(extra="forbid")

    mode: SearchMode
    slo: GoodputSLO
    goodput_percent: float
    peak_concurrency: int | None = None
    peak_rate: float | None = None
    min_requests: int
    min_seconds: float
    max_probes: int
    shapes: list[tuple[int, int]] = Field(default_factory=list)  # (input_len, output_len) pairs searched


class ServerSignals(BaseModel):
    """What the server's /metrics said during one probe (None: it said nothing)."""

    waiting_max: float | None = None
    waiting_grew: bool = False
    running_max: float | None = None
    kv_cache_max: float | None = None


class SearchProbe(BaseModel):
    level_index: int
    phase: ProbePhase
    concurrency: int | None
    request_rate: float | None
    input_len: int
    output_len: int
    passed: bool
    goodput_percent: float | None
    error_rate: float | None
    requests: int
    duration_s: float | None
    output_throughput: float | None
    # output tokens per second one user sees: 1000 / TPOT p50, or tokens / E2E without streaming
    interactivity: float | None
    ttft_p50_ms: float | None
    tpot_p50_ms: float | None
    e2e_p50_ms: float | None
    # the latency at the target's percentile over its SLO, the highest of the SLOs (1 = the edge)
    slo_pressure: float | None = None
    server: ServerSignals = Field(default_factory=ServerSignals)


class GpuCount(BaseModel):
    count: int
    name: str | None
    source: Literal["nvml", "flags"]
    note: str | None = None


class SearchAnswer(BaseModel):
    """The largest load that met the target (`holds`) and the smallest that missed (`misses`)."""

    input_len: int
    output_len: int
    stop: StopReason
    reason: str
    holds: float | None = None
    misses: float | None = None
    limiter: str | None = None
    gpus: GpuCount | None = None
    replicas: int | None = None
    gpus_total: int | None = None
    headroom_percent: float | None = None
    headline: str = ""
    assumptions: list[str] = Field(default_factory=list)


class SearchRecord(BaseModel):
    target: SearchTarget
    probes: list[SearchProbe] = Field(default_factory=list)
    answer: SearchAnswer | None = None
    # one answer per --isl-osl shape, the first being `answer`
    answers: list[SearchAnswer] = Field(default_factory=list)
