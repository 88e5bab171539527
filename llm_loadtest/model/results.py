"""The result of a run, as docs/results.md promises it (JSON schema v1).

Every producer (engine, store, exports) and consumer (CLI tables, app) speaks these models.
A statistic with no data is None (JSON null), never 0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from llm_loadtest.model.config import RunConfig, json_rate
from llm_loadtest.model.levels import level_label
from llm_loadtest.model.search import SearchRecord

SCHEMA = "llm-loadtest/result/v1"

RunStatus = Literal["running", "completed", "failed", "aborted"]


class Stats(BaseModel):
    min: float
    max: float
    mean: float
    std: float
    p50: float
    p90: float
    p95: float
    p99: float


class RequestCounts(BaseModel):
    total: int
    succeeded: int
    failed: int
    errors: dict[str, int] = Field(default_factory=dict)


class TokenTotals(BaseModel):
    total: int
    mean: float | None


class SLOCount(BaseModel):
    met: int
    total: int


class Goodput(BaseModel):
    percent: float | None
    good: int
    total: int
    rate: float | None
    by_slo: dict[str, SLOCount]


class LoopLag(BaseModel):
    p50: float | None
    p99: float | None
    max: float | None


class Percentiles(BaseModel):
    p50: float | None
    p99: float | None


class ClientHealth(BaseModel):
    loop_lag_ms: LoopLag
    cpu_percent: float | None
    scheduling_delay_ms: Stats | None = None
    # "kernel": arrival times are the kernel's receive stamps; "user": this process's clock as
    # it read the bytes (https, platforms without stamps); None for results made before
    clock: Literal["kernel", "user"] | None = None
    # t_start - t_ready: how late requests were written after the load pattern wanted them
    send_delay_ms: Percentiles | None = None
    # content chunks read together with the one before them (they share its arrival time)
    coalesced_chunks: int | None = None
    clock_steps: int | None = None  # wall-clock steps seen during the level
    warnings: list[str] = Field(default_factory=list)


class TurnFigures(BaseModel):
    """One turn of multi-turn chats: its requests, TTFT and mean prompt tokens."""

    turn: int
    requests: int
    ttft_ms: Stats | None
    input_tokens_mean: float | None


class LevelSummary(BaseModel):
    concurrency: int | None
    request_rate: float | None
    requests: RequestCounts
    duration_s: float | None
    input_tokens: TokenTotals
    output_tokens: TokenTotals
    output_throughput: float | None
    total_throughput: float | None
    request_rate_achieved: float | None
    ttft_ms: Stats | None
    tpot_ms: Stats | None
    itl_ms: Stats | None
    itl_per_token_ms: Stats | None
    e2e_ms: Stats | None
    error_rate: float | None
    goodput: Goodput | None
    client: ClientHealth | None = None
    # the prompt length asked for, beside what the server says it saw (input_tokens.mean)
    input_len_requested: int | None = None
    connect_ms: Stats | None = None
    # The level did not run to its end: the run was stopped before it sent or finished every
    # request it planned (figures of those that finished), or its process was killed (figures
    # computed afterwards from the requests stored while it ran, client health unknown).
    partial: bool = False
    # the workload's (docs/results.md config.workload): null when it does not apply
    input_len_drawn: Stats | None = None  # the prompt lengths drawn or taken from a dataset
    output_len_drawn: Stats | None = None  # the max_tokens asked for
    ttft_answer_ms: Stats | None = None  # reasoning models: to the first answer token
    reasoning_tokens: TokenTotals | None = None
    turns: list[TurnFigures] | None = None  # multi-turn chats: figures by turn

    @field_serializer("request_rate", when_used="json")
    def _rate_as_json(self, value: float | None) -> float | str | None:
        return json_rate(value)

    @property
    def label(self) -> str:
        """The load level as every view writes it (see `results.presentation.level_label`)."""
        return level_label(self.concurrency, self.request_rate)

    @property
    def marked_label(self) -> str:
        """The label, marked `(partial)` for a level that did not run to its end (a stop, a kill):
        its figures are those of the requests that finished before."""
        return f"{self.label} (partial)" if self.partial else self.label


class TokenSourceInfo(BaseModel):
    """Where the token counts came from: server (usage), server_tokenize, tokenizer, mixed."""

    output: str | None = None
    input: str | None = None
    # which tokenize endpoint counted, when the server's did (e.g. "vLLM, SGLang: POST /tokenize")
    tokenize_endpoint: str | None = None


class GpuSample(BaseModel):
    t: float
    gpu: int
    util: float | None = None
    mem_used_mb: float | None = None
    mem_total_mb: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None


class ServerSample(BaseModel):
    t: float
    running: float | None = None
    waiting: float | None = None
    kv_cache_usage: float | None = None
    prefix_cache_hit_rate: float | None = None


class RunResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schema_: str = Field(default=SCHEMA, alias="schema")
    run_id: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    config: RunConfig
    token_source: TokenSourceInfo = Field(default_factory=TokenSourceInfo)
    environment: dict = Field(default_factory=dict)
    levels: list[LevelSummary] = Field(default_factory=list)
    gpu_samples: list[GpuSample] = Field(default_factory=list)
    server_samples: list[ServerSample] = Field(default_factory=list)
    # what may have distorted a figure (the client's health, a server that sent no usage)
    warnings: list[str] = Field(default_factory=list)
    # facts about the environment that distort nothing ("no NVIDIA GPU: GPU samples skipped")
    notes: list[str] = Field(default_factory=list)
    search: SearchRecord | None = None  # a `recommend` run's capacity search

    def to_json_dict(self) -> dict:
        data = self.model_dump(mode="json", by_alias=True)
        if data["search"] is None:  # results.md: only a recommend run has the key
            del data["search"]
        return data


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
