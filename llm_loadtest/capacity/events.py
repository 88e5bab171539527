"""What a capacity search tells its listeners, beside every engine event of the probe in flight."""

from __future__ import annotations

from dataclasses import dataclass

from llm_loadtest.model.results import RunResult
from llm_loadtest.model.search import ProbePhase, SearchProbe


@dataclass(slots=True)
class ProbeStarted:
    number: int  # 1-based, across shapes
    phase: ProbePhase
    concurrency: int | None
    request_rate: float | None
    requests: int
    input_len: int
    output_len: int

    @property
    def label(self) -> str:
        load = f"c={self.concurrency}" if self.request_rate is None else f"{self.request_rate:g} req/s"
        return f"{load} ({self.requests} requests)"


@dataclass(slots=True)
class ProbeFinished:
    probe: SearchProbe
    holds: float | None  # the bracket after this probe
    misses: float | None


@dataclass(slots=True)
class SearchFinished:
    result: RunResult


SearchEvent = ProbeStarted | ProbeFinished | SearchFinished
