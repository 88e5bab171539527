"""Several client processes run one benchmark together (`--workers N`), for loads that one
Python event loop cannot read without delaying its own timestamps.

Each worker is an engine child process that runs its share of every level
(`engine.shares`). The levels go in lock-step: a worker prepares a level (prompts,
connections), says it is ready and waits; when all are ready they start together, and the
next level starts only after every worker finished this one. The pool merges what they
report into the events one engine would send: a level's summary is computed here from
all the workers' records together (never by averaging their summaries). Live snapshots are
combined approximately (counts and rates add up; p50s are averaged, p99s the highest; the
client health is the worst worker's); the summary is exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from llm_loadtest.engine.benchmark import SNAPSHOT_INTERVAL_S, level_summary
from llm_loadtest.engine.child import EngineProcess
from llm_loadtest.engine.events import (
    EngineEvent,
    LevelFinished,
    LevelStarted,
    ProgressSnapshot,
    RequestsFinished,
    RunFailed,
    RunStarted,
    WorkerEvent,
    WorkerLevelDone,
    WorkerLost,
    WorkerReady,
)
from llm_loadtest.engine.protocols import PoolWorker
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode, LoadtestError
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import ClientHealth


class EnginePool:
    def __init__(self, config: RunConfig, *, api_key: str | None, run_id: str, t0_ns: int, workers: int):
        """The workers are engine child processes of this machine, or Ray actors spread over
        the cluster of `config.ray` (engine.ray_workers)."""
        self.config = config
        self._workers: list[PoolWorker]
        if config.ray is not None:
            from llm_loadtest.engine.ray_workers import RayWorker

            self._workers = [RayWorker(config, api_key=api_key, run_id=run_id, worker=(index, workers)) for index in range(workers)]
        else:
            self._workers = [
                EngineProcess(config, api_key=api_key, run_id=run_id, t0_ns=t0_ns, worker=(index, workers)) for index in range(workers)
            ]

    def abort(self) -> None:
        for worker in self._workers:
            worker.abort()

    async def events(self) -> AsyncIterator[EngineEvent]:
        if self.config.ray is not None:
            from llm_loadtest.engine.ray_workers import connect

            try:
                await asyncio.to_thread(connect, self.config.ray)
            except LoadtestError as exc:
                yield RunFailed(str(exc), exc.exit_code)
                return
        inbox: asyncio.Queue[tuple[int, EngineEvent | WorkerEvent | None]] = asyncio.Queue()

        async def pump(index: int, worker: PoolWorker) -> None:
            try:
                async for event in worker.worker_events():
                    inbox.put_nowait((index, event))
            except Exception as exc:  # a worker that cannot start: the others must not wait for it
                inbox.put_nowait((index, RunFailed(f"client worker {index + 1} failed: {type(exc).__name__}: {exc}", ExitCode.FAILED)))
            finally:
                inbox.put_nowait((index, None))

        tasks = [asyncio.get_running_loop().create_task(pump(i, w)) for i, w in enumerate(self._workers)]
        merger = _Merger(self.config, len(self._workers), nodes=lambda: len({getattr(w, "host", "") for w in self._workers}))
        running = len(tasks)
        try:
            while running:
                index, event = await inbox.get()
                if event is None:
                    running -= 1
                elif isinstance(event, WorkerReady):
                    if merger.ready(event.level_index, index):
                        for worker in self._workers:
                            worker.go()
                else:
                    if isinstance(event, RunFailed):
                        self.abort()  # one worker's failure ends the run for all
                    merged_events = merger.take(index, event)
                    if isinstance(event, WorkerLost) and not merged_events and not merger.lost_in_level(index):
                        self.abort()  # lost between levels: nothing to wait for
                    for merged in merged_events:
                        if isinstance(merged, LevelFinished) and merger.lost_in(merged.level_index):
                            self.abort()  # the level kept what the lost worker finished; the run stops here
                        yield merged
            for merged in merger.leftovers():
                yield merged
            if merger.lost:
                yield RunFailed(
                    f"the run stopped after losing {merger.lost_text()} (the level's warnings say what was kept)", ExitCode.FAILED
                )
        finally:
            self.abort()
            await asyncio.gather(*tasks, return_exceptions=True)


class _Merger:
    """Turns the workers' events into one engine's."""

    def __init__(self, config: RunConfig, workers: int, *, nodes: Callable[[], int] = lambda: 1):
        self.config = config
        self.workers = workers
        self.levels = config.levels()
        self._nodes = nodes
        self._started: dict[int, RunStarted] = {}
        self.lost: dict[int, tuple[int | None, str]] = {}  # worker -> (the level it was in, what it kept and lost)
        self._streamed: dict[tuple[int, int], list[RequestRecord]] = {}  # (level, worker) -> what it handed over
        self._current: dict[int, int] = {}  # worker -> the level it runs now
        self._ready: dict[int, set[int]] = {}
        self._done: dict[int, dict[int, WorkerLevelDone]] = {}
        self._finished: set[int] = set()
        self._said: set[tuple[type, int]] = set()  # (event type, level) told once
        self._snapshots: dict[int, ProgressSnapshot] = {}  # the latest of each worker, this level
        self._snapshot_at = 0.0

    def ready(self, level: int, worker: int) -> bool:
        """True once every worker is ready for `level`: time to start it."""
        ready = self._ready.setdefault(level, set())
        ready.add(worker)
        return len(ready) == self.workers - len(self.lost)

    def take(self, worker: int, event: EngineEvent | WorkerEvent) -> list[EngineEvent]:
        if isinstance(event, RunStarted):  # once every worker reached the server: they all know where they run
            self._started[worker] = event
            return [RunStarted(model=event.model, nodes=self._nodes())] if len(self._started) == self.workers else []
        if isinstance(event, RunFailed):
            return self._once(event, -1)
        if isinstance(event, WorkerLost):
            return self._lose(worker, event.reason)
        if isinstance(event, RequestsFinished):
            self._streamed.setdefault((event.level_index, worker), []).extend(event.records)
            return [event]
        if isinstance(event, LevelStarted):
            self._current[worker] = event.level_index
            started = self._once(event, event.level_index)
            if started:  # the first worker to start it: the last level's snapshots are over
                self._snapshots.clear()
            return started
        if isinstance(event, ProgressSnapshot):
            self._snapshots[worker] = event
            now = time.monotonic()
            all_done = all(s.phase == "done" for s in self._snapshots.values())
            if now - self._snapshot_at < SNAPSHOT_INTERVAL_S and not all_done:
                return []
            self._snapshot_at = now
            return [merge_snapshots(list(self._snapshots.values()), self._target())]
        if isinstance(event, WorkerLevelDone):
            done = self._done.setdefault(event.level_index, {})
            done[worker] = event
            if len(done) == self.workers:
                return self._level(event.level_index)
            return []
        if isinstance(event, WorkerReady):  # the pool's own business (ready()), never passed on
            return []
        return [event]  # WarmupStarted: only the first worker warms the server up

    def leftovers(self) -> list[EngineEvent]:
        """Levels that not every worker finished (a stop): what the others measured, partial."""
        events: list[EngineEvent] = []
        for level in sorted(set(self._done) - self._finished):
            events += self._level(level, cut=True)
        return events

    def lost_in_level(self, worker: int) -> bool:
        return self.lost.get(worker, (None, ""))[0] is not None

    def lost_in(self, level: int) -> bool:
        return any(at == level for at, _ in self.lost.values())

    def lost_text(self) -> str:
        return ", ".join(f"client worker {worker + 1}" for worker in sorted(self.lost))

    def _lose(self, worker: int, reason: str) -> list[EngineEvent]:
        """A worker died: the level it was in keeps what it had handed over, and says so."""
        level = self._current.get(worker)
        if level is None or level in self._finished:
            self.lost[worker] = (None, reason)
            return []
        kept = self._streamed.get((level, worker), [])
        last = self._snapshots.get(worker)
        missing = 0 if last is None else last.in_flight + max(0, last.completed - len(kept))
        self.lost[worker] = (level, f"{reason}: its {len(kept)} finished requests are kept, about {missing} were lost")
        self._done.setdefault(level, {})[worker] = WorkerLevelDone(level, kept, np.empty(0), None, cut=True)
        if len(self._done[level]) == self.workers:
            return self._level(level)
        return []

    def _once(self, event: EngineEvent, level: int) -> list[EngineEvent]:
        key = (type(event), level)
        if key in self._said:
            return []
        self._said.add(key)
        return [event]

    def _target(self) -> int | None:
        return self.config.num_prompts if self.config.duration is None else None

    def _level(self, index: int, *, cut: bool = False) -> list[EngineEvent]:
        self._finished.add(index)
        parts = list(self._done[index].values())
        cut = cut or any(part.cut for part in parts)
        records = sorted((r for part in parts for r in part.records), key=lambda r: r.t_start_ns)
        if not records:
            return []
        lag = np.concatenate([part.loop_lag_ms for part in parts]) if parts else np.empty(0)
        cpus = [part.cpu_percent for part in parts if part.cpu_percent is not None]
        summary = level_summary(self.config, self.levels[index], records, lag, max(cpus) if cpus else None, partial=cut)
        if summary.client is not None:
            summary.client.warnings += [f"client worker {w + 1} lost: {what}" for w, (at, what) in sorted(self.lost.items()) if at == index]
        return [LevelFinished(level_index=index, summary=summary, records=records)]


def merge_snapshots(snapshots: list[ProgressSnapshot], target: int | None) -> ProgressSnapshot:
    """One snapshot of the level from the workers' latest."""
    first = snapshots[0]

    def total(name: str) -> float | None:
        values = [getattr(s, name) for s in snapshots if getattr(s, name) is not None]
        return sum(values) if values else None

    def mean(name: str) -> float | None:
        values = [getattr(s, name) for s in snapshots if getattr(s, name) is not None]
        return sum(values) / len(values) if values else None

    def highest(name: str) -> float | None:
        values = [getattr(s, name) for s in snapshots if getattr(s, name) is not None]
        return max(values) if values else None

    completed = sum(s.completed for s in snapshots)
    failed = sum(s.failed for s in snapshots)
    errors: dict[str, int] = {}
    first_errors: dict[str, str] = {}
    for snapshot in snapshots:
        for name, count in snapshot.errors.items():
            errors[name] = errors.get(name, 0) + count
        for name, message in snapshot.first_errors.items():
            first_errors.setdefault(name, message)
    return ProgressSnapshot(
        t=max(s.t for s in snapshots),
        level_index=first.level_index,
        n_levels=first.n_levels,
        level_label=first.level_label,
        phase="done" if all(s.phase == "done" for s in snapshots) else "running",
        completed=completed,
        failed=failed,
        in_flight=sum(s.in_flight for s in snapshots),
        target=target,
        level_elapsed_s=max(s.level_elapsed_s for s in snapshots),
        level_duration_s=first.level_duration_s,
        output_tokens=sum(s.output_tokens for s in snapshots),
        output_throughput=total("output_throughput"),
        ttft_p50_ms=mean("ttft_p50_ms"),
        ttft_p99_ms=highest("ttft_p99_ms"),
        itl_p50_ms=mean("itl_p50_ms"),
        itl_p99_ms=highest("itl_p99_ms"),
        error_rate=failed / completed if completed else None,
        client=_worst_client(snapshots),
        errors=errors,
        first_errors=first_errors,
    )


def _worst_client(snapshots: list[ProgressSnapshot]) -> ClientHealth | None:
    """The health of the worker that warns most, then lags most: a pooled level's own health
    needs every worker's samples, which only its summary has."""
    healths = [s.client for s in snapshots if s.client is not None]
    if not healths:
        return None
    return max(healths, key=lambda h: (len(h.warnings), h.loop_lag_ms.p99 or 0.0))
