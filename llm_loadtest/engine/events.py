"""What the engine tells its listeners (a progress bar, the app, the store).

These are plain picklable dataclasses: the same objects cross from the child process that
runs the requests to the parent that draws and stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import ClientHealth, GpuSample, LevelSummary, RunResult, ServerSample

Phase = Literal["preflight", "warmup", "running", "draining", "done"]


@dataclass(slots=True)
class ProgressSnapshot:
    """The state of the current level, published a few times a second."""

    t: float  # seconds since the run started
    level_index: int
    n_levels: int
    level_label: str
    phase: Phase
    completed: int  # finished requests of this level, failures included
    failed: int
    in_flight: int
    target: int | None  # num_prompts in count mode
    level_elapsed_s: float
    level_duration_s: float | None  # the time budget in duration mode
    output_tokens: int  # successful output tokens so far in this level
    # over the last window (about 2 s) of finished requests / chunks:
    output_throughput: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p99_ms: float | None = None
    error_rate: float | None = None
    # the level's client health so far (the same computation as its summary's, which it
    # equals in the level's last snapshot; approximate across the workers of a pool)
    client: ClientHealth | None = None
    errors: dict[str, int] = field(default_factory=dict)
    # each error class's first message: why it failed (the server's words for a refused request)
    first_errors: dict[str, str] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """Share of this level done, for a progress bar."""
        if self.target:
            return min(1.0, self.completed / self.target)
        if self.level_duration_s:
            return min(1.0, self.level_elapsed_s / self.level_duration_s)
        return None


@dataclass(slots=True)
class RunStarted:
    """The server answered the preflight; `model` is the name resolved (`auto` asks the server).
    `nodes`: the machines the client workers run on (more than one with `--ray`)."""

    model: str
    nodes: int = 1


@dataclass(slots=True)
class ServerTokenizeFound:
    """The server sent no usage and its tokenize endpoint counted the output tokens (adapters.tokenize)."""

    endpoint: str  # who answered, e.g. "llama-cpp-python: POST /extras/tokenize/count"


@dataclass(slots=True)
class WarmupStarted:
    """Warm-up requests are being sent before the first level (excluded from every figure)."""

    requests: int


@dataclass(slots=True)
class LevelStarted:
    level_index: int
    n_levels: int
    level_label: str


@dataclass(slots=True)
class RequestsFinished:
    """Requests of the level in progress that finished since the last batch (about every
    second), for the store to keep before the level ends; the level's own LevelFinished then
    carries them all again, with their tokens counted, and replaces them."""

    level_index: int
    records: list[RequestRecord]


@dataclass(slots=True)
class LevelFinished:
    level_index: int
    summary: LevelSummary
    records: list[RequestRecord]


@dataclass(slots=True)
class TelemetryUpdate:
    """The latest GPU and server samples (about once a second, from the parent's sampler)."""

    gpu: list[GpuSample]
    server: ServerSample | None


@dataclass(slots=True)
class RunFinished:
    result: RunResult


@dataclass(slots=True)
class RunFailed:
    """The run could not start or broke; `exit_code` follows docs/cli.md (2 config, 3 unreachable)."""

    message: str
    exit_code: int


EngineEvent = (
    RunStarted
    | ServerTokenizeFound
    | WarmupStarted
    | ProgressSnapshot
    | LevelStarted
    | RequestsFinished
    | LevelFinished
    | TelemetryUpdate
    | RunFinished
    | RunFailed
)


# Between the worker processes of `--workers N` and their pool (engine.pool); never published.


@dataclass(slots=True)
class WorkerReady:
    """A worker prepared the level and waits for the others to start it."""

    level_index: int


@dataclass(slots=True)
class WorkerLevelDone:
    """A worker's part of a level: the pool computes the level's summary from all parts."""

    level_index: int
    records: list[RequestRecord]
    loop_lag_ms: np.ndarray
    cpu_percent: float | None
    cut: bool = False  # stopped before it sent or finished every request of its share


@dataclass(slots=True)
class WorkerLost:
    """A worker died mid-run (a Ray actor whose node or process went away)."""

    reason: str


WorkerEvent = WorkerReady | WorkerLevelDone | WorkerLost
