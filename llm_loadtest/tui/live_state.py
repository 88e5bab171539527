"""What the live screen shows, apart from how it draws it: a run's state, fed by the engine's
events and by the user's abort, read by the screen at its tick.

Plain Python, no Textual: the rules (which level an abort cut, which client health is the
one to show) are tested on their own. Taking an event is cheap (the engine sends a few a
second, in bursts): it stores, and notes what changed, so the screen redraws only that.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from llm_loadtest.engine.events import (
    EngineEvent,
    LevelFinished,
    LevelStarted,
    ProgressSnapshot,
    RunFailed,
    RunFinished,
    RunStarted,
    TelemetryUpdate,
    WarmupStarted,
)
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import ClientHealth, GpuSample, LevelSummary, RunResult, ServerSample

RunPhase = Literal["starting", "running", "aborting", "finished", "failed"]
LevelState = Literal["pending", "running", "done", "aborted"]
# what a redraw must cover: the lines on top, the title, and each group of charts
Change = Literal["title", "lines", "time", "levels", "gpu", "server"]


class Series:
    """Plain lists that events append to (cheap), read by the screen's tick."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.values: dict[str, list[float]] = defaultdict(list)

    def add(self, t: float, **values: float | None) -> None:
        self.t.append(t)
        for name, value in values.items():
            self.values[name].append(math.nan if value is None else float(value))


@dataclass(frozen=True)
class HealthView:
    """The client health to show: the level in progress, as the engine computed it so far, or
    the finished level's stored one; with every warning of the run's levels."""

    loop_lag_p99_ms: float | None = None
    cpu_percent: float | None = None
    warnings: list[str] = field(default_factory=list)
    clock: str | None = None  # kernel | user, once a level is summed up (docs/metrics.md)

    @property
    def distorted(self) -> bool:
        return bool(self.warnings)


class LiveRunState:
    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.model = config.model
        self.client_nodes = 1  # machines the client workers run on (--ray)
        self.run_id: str | None = None
        self.phase: RunPhase = "starting"
        self.result: RunResult | None = None
        self.message: str | None = None  # why the run failed
        self.exit_code: int | None = None  # a failed run's (docs/cli.md)
        self.events_seen = 0
        self.warmup_requests: int | None = None  # set while the warm-up runs
        self.snapshot: ProgressSnapshot | None = None
        self.progress = Series()  # the snapshots' figures over time
        self.levels: dict[int, LevelSummary] = {}
        self.level_labels = [spec.label for spec in config.levels()]
        self.gpu: dict[int, Series] = {}
        self.server = Series()
        self.latest_gpu: list[GpuSample] = []
        self.latest_server: ServerSample | None = None
        self._level_states: dict[int, LevelState] = {}
        self._cut: set[int] = set()  # levels running when the abort came
        self._changes: set[Change] = {"lines"}

    # --- what happens ----------------------------------------------------------------------
    def started(self, run_id: str) -> None:
        self.run_id = run_id
        self.phase = "running"
        self._changes.add("lines")

    def take(self, event: EngineEvent) -> None:
        self.events_seen += 1
        self._changes.add("lines")
        if isinstance(event, ProgressSnapshot):
            self.snapshot = event
            self.progress.add(
                event.t,
                tput=event.output_throughput,
                ttft_p50=event.ttft_p50_ms,
                ttft_p99=event.ttft_p99_ms,
                itl_p50=event.itl_p50_ms,
                itl_p99=event.itl_p99_ms,
            )
            self._level_states.setdefault(event.level_index, "running")
            self._changes.add("time")
        elif isinstance(event, LevelStarted):
            self._level_states[event.level_index] = "running"
            self.warmup_requests = None
        elif isinstance(event, WarmupStarted):
            self.warmup_requests = event.requests
        elif isinstance(event, RunStarted):
            self.model = event.model
            self.client_nodes = event.nodes
            self._changes.add("title")
        elif isinstance(event, LevelFinished):
            self._level_ended(event.level_index, event.summary)
        elif isinstance(event, TelemetryUpdate):
            self._telemetry(event.gpu, event.server)
        elif isinstance(event, RunFinished):
            self.finish(event.result)
        elif isinstance(event, RunFailed):
            self.fail(event.message, event.exit_code)

    def request_abort(self) -> bool:
        """The user stops the run: the level in progress is cut short. False when there is
        nothing to stop."""
        if self.phase not in ("starting", "running"):
            return False
        self.phase = "aborting"
        self._cut.update(index for index, state in self._level_states.items() if state == "running")
        self._changes.add("lines")
        return True

    def finish(self, result: RunResult) -> bool:
        """The run is over and kept; False when that was already said."""
        if self.phase == "finished":
            return False
        self.result = result
        self.run_id = result.run_id
        for index, level in enumerate(result.levels):
            self._level_ended(index, self.levels.get(index, level))
        if result.status == "aborted":  # stopped elsewhere too (a signal): what was going is cut
            self._cut.update(index for index, state in self._level_states.items() if state == "running")
            for index in self._cut:
                self._level_states[index] = "aborted"
        self.phase = "finished"
        self._changes.update(("lines", "levels"))
        return True

    def fail(self, message: str, exit_code: int) -> bool:
        """The run could not start or broke; False when its end was already said."""
        if self.phase in ("finished", "failed"):
            return False
        self.phase = "failed"
        self.message = message
        self.exit_code = exit_code
        self._changes.add("lines")
        return True

    def _level_ended(self, index: int, summary: LevelSummary) -> None:
        self.levels[index] = summary
        self._level_states[index] = "aborted" if index in self._cut else "done"
        self._changes.add("levels")

    def _telemetry(self, gpus: list[GpuSample], server: ServerSample | None) -> None:
        if gpus:
            self.latest_gpu = list(gpus)
            for sample in gpus:
                self.gpu.setdefault(sample.gpu, Series()).add(
                    sample.t,
                    util=sample.util,
                    mem_gib=None if sample.mem_used_mb is None else sample.mem_used_mb / 1024,
                    power=sample.power_w,
                )
            self._changes.add("gpu")
        if server is not None:
            self.latest_server = server
            self.server.add(
                server.t,
                running=server.running,
                waiting=server.waiting,
                kv=None if server.kv_cache_usage is None else server.kv_cache_usage * 100,
            )
            self._changes.add("server")

    # --- what is shown ---------------------------------------------------------------------
    def take_changes(self) -> set[Change]:
        """What changed since the last call."""
        changes, self._changes = self._changes, set()
        return changes

    @property
    def changed(self) -> bool:
        return bool(self._changes)

    @property
    def in_flight(self) -> bool:
        return self.phase in ("starting", "running", "aborting")

    @property
    def can_abort(self) -> bool:
        return self.phase in ("starting", "running")

    def level_state(self, index: int) -> LevelState:
        return self._level_states.get(index, "pending")

    def level_states(self) -> list[tuple[str, LevelState]]:
        """Each level's label and where it stands, in order."""
        return [(label, self.level_state(index)) for index, label in enumerate(self.level_labels)]

    def health(self) -> HealthView:
        snap = self.snapshot
        warnings = [w for _, level in sorted(self.levels.items()) if level.client for w in level.client.warnings]
        client: ClientHealth | None = None
        if snap is not None:
            finished = self.levels.get(snap.level_index)
            if finished is not None:
                client = finished.client
            else:
                client = snap.client
                warnings += client.warnings if client else []
        if client is None:
            return HealthView(warnings=warnings)
        return HealthView(loop_lag_p99_ms=client.loop_lag_ms.p99, cpu_percent=client.cpu_percent, warnings=warnings, clock=client.clock)
