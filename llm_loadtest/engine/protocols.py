"""The engine's seams, typed: what it needs from a results store, what its runners share, and
what a host (the app, the headless command) may ask of a run.

Protocols rather than base classes: `storage.Store` keeps a run without importing the engine,
and the app's tests may hand it any controller of this shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from llm_loadtest.engine.events import EngineEvent, WorkerEvent
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import GpuSample, LevelSummary, RunResult, ServerSample

EventListener = Callable[[EngineEvent], None]


class RunStore(Protocol):
    """Where a run is kept as it goes: begun, finished requests, levels and telemetry added as
    they come, finished."""

    def begin_run(self, result: RunResult) -> None: ...

    def add_requests(self, run_id: str, level_index: int, records: Sequence[RequestRecord]) -> None: ...

    def add_level(self, run_id: str, level_index: int, summary: LevelSummary, records: Sequence[RequestRecord]) -> None: ...

    def add_samples(self, run_id: str, gpu: Sequence[GpuSample] = (), server: Sequence[ServerSample] = ()) -> None: ...

    def finish_run(self, result: RunResult) -> None: ...


class EngineRunner(Protocol):
    """Runs the benchmark somewhere (this loop, a child process, a pool of them) and tells what
    happens as engine events; the controller drives every kind alike."""

    def events(self) -> AsyncIterator[EngineEvent]: ...

    def abort(self) -> None: ...


class PoolWorker(Protocol):
    """One of the workers that run a level together (engine.pool): an engine child process,
    or a Ray actor."""

    def worker_events(self) -> AsyncIterator[EngineEvent | WorkerEvent]: ...

    def go(self) -> None: ...

    def abort(self) -> None: ...


class RunControl(Protocol):
    """One run as its host sees it."""

    @property
    def run_id(self) -> str: ...

    def subscribe(self, listener: EventListener) -> None: ...

    def abort(self) -> None: ...

    async def run(self) -> RunResult: ...


class ControllerFactory(Protocol):
    """Makes the controller of a run the app starts (`RunOptions.controller` in `run`)."""

    def __call__(self, config: RunConfig, *, api_key: str | None = None, store: RunStore | None = None) -> RunControl: ...
