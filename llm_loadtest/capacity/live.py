"""What a live view of a search draws from: the probes so far, the bracket, the probe in
flight and its progress, and the result at the end. Fed with the search's listener events."""

from __future__ import annotations

from dataclasses import dataclass, field

from llm_loadtest.capacity.events import ProbeFinished, ProbeStarted, SearchFinished
from llm_loadtest.engine.events import ProgressSnapshot
from llm_loadtest.model.results import RunResult
from llm_loadtest.model.search import SearchProbe, SearchTarget


@dataclass
class SearchState:
    target: SearchTarget
    probes: list[SearchProbe] = field(default_factory=list)
    holds: float | None = None
    misses: float | None = None
    current: ProbeStarted | None = None
    completed: int = 0  # requests of the probe in flight
    result: RunResult | None = None
    failure: str | None = None
    changes: int = 0  # bumped on every change, so a view redraws only when needed

    def take(self, event: object) -> None:
        if isinstance(event, ProbeStarted):
            self.current, self.completed = event, 0
        elif isinstance(event, ProgressSnapshot):
            self.completed = event.completed
        elif isinstance(event, ProbeFinished):
            self.probes.append(event.probe)
            self.holds, self.misses = event.holds, event.misses
            self.current = None
        elif isinstance(event, SearchFinished):
            self.result, self.current = event.result, None
        else:
            return
        self.changes += 1

    @property
    def done(self) -> bool:
        return self.result is not None or self.failure is not None

    def unit(self, load: float | None) -> str:
        if load is None:
            return "-"
        return f"c={load:g}" if self.target.mode == "concurrency" else f"{load:g} req/s"

    def status_line(self) -> str:
        bracket = f"meets {self.unit(self.holds)} · misses {self.unit(self.misses)}"
        if self.failure:
            return f"stopped: {self.failure}"
        if self.result is not None:
            return f"done: {len(self.probes)} probes · {bracket}"
        if self.current is None:
            return f"starting… · {bracket}"
        c = self.current
        return f"probe {c.number} · {c.phase} at {c.label.split(' (')[0]} · {self.completed}/{c.requests} requests · {bracket}"
