"""The client workers of a pool as Ray actors (`--ray ADDRESS`), spread over a cluster's nodes.

Each actor starts our engine child process on its node (`engine.child`, as `--workers` does):
it runs its share of every level with its own event loop and its own clock, in lock-step with
the others (the pool's ready / go), and its events go back to the driver, records in the store's compact rows (`storage.codec`), not
as pickled objects per request.

Clocks: a request's figures are differences of one clock, read on the actor's machine, so
they need nothing from the driver. To put the records of several machines on one time line
(a level's duration, its throughput), the driver shifts an actor's times by the gap between
the moment it said "go" and the moment that actor's clock read the "go": the readings of two
machines' clocks are never compared. An actor on the driver's own machine (the same boot)
shares its CLOCK_MONOTONIC and is not shifted.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_loadtest.engine.events import EngineEvent, RequestsFinished, RunFailed, WorkerEvent, WorkerLevelDone, WorkerLost
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError, ExitCode, ServerUnreachable
from llm_loadtest.storage.codec import records_from_rows, rows_for_level

FETCH_WAIT_S = 0.2  # how long the driver's fetch waits in the actor for something to say
_ENDED = "ended"  # the actor's engine ran to its end


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'llm-loadtest[ray]'") from None
    return ray


def boot_id() -> str:
    """Which running kernel this is: two processes of one boot share CLOCK_MONOTONIC."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Cluster:
    cpus: int
    nodes: int


def connect(address: str) -> Cluster:
    """Join the Ray cluster at `address` (`auto`: the one this machine belongs to; `local`: a
    new one on this machine); one that cannot be reached is exit 3."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, log_to_driver=False, include_dashboard=False)
        except ConnectionError as exc:
            raise ServerUnreachable(f"--ray {address}: cannot reach the Ray cluster ({str(exc).splitlines()[0]})") from None
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return Cluster(cpus=int(ray.cluster_resources().get("CPU", 1)), nodes=max(1, nodes))


# ---- in the actor --------------------------------------------------------------------------


class EngineActor:
    """One worker of the pool, in its Ray actor: the actor starts our engine child process on
    its node, exactly as `--workers` does on this machine (so that the engine's loop shares
    its process with none of Ray's threads), and relays: the driver's go and abort to it, its
    events into an outbox until the driver fetches them."""

    def __init__(self, config_data: dict, api_key: str | None, run_id: str, worker: tuple[int, int]):
        from llm_loadtest.engine.child import EngineProcess

        self._outbox: deque[Any] = deque()
        self._said = threading.Condition()
        self._engine = EngineProcess(
            RunConfig.model_validate(config_data), api_key=api_key, run_id=run_id, t0_ns=time.perf_counter_ns(), worker=worker
        )
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_until_complete, args=(self._relay(),), name="engine-relay", daemon=True).start()

    def where(self) -> tuple[str, str, int]:
        """(host, boot id, process id) of this actor."""
        import os

        return socket.gethostname(), boot_id(), os.getpid()

    def fetch(self) -> list[Any]:
        with self._said:
            self._said.wait_for(lambda: bool(self._outbox), timeout=FETCH_WAIT_S)
            items = list(self._outbox)
            self._outbox.clear()
        return items

    def go(self) -> int:
        """Start the level every worker is ready for; answers this node's clock at the go."""
        now = time.perf_counter_ns()
        self._loop.call_soon_threadsafe(self._engine.go)
        return now

    def abort(self) -> None:
        self._loop.call_soon_threadsafe(self._engine.abort)

    def _emit(self, event: Any) -> None:
        if isinstance(event, WorkerLevelDone):
            rows = rows_for_level(event.records, 0, event.level_index)
            event = ("done", event.level_index, rows, event.loop_lag_ms, event.cpu_percent, event.cut)
        elif isinstance(event, RequestsFinished):
            event = ("requests", event.level_index, rows_for_level(event.records, 0, event.level_index))
        with self._said:
            self._outbox.append(event)
            self._said.notify()

    async def _relay(self) -> None:
        try:
            async for event in self._engine.worker_events():
                self._emit(event)
        except Exception as exc:  # the engine could not start: the pool must hear it, not wait
            self._emit(RunFailed(f"the engine process could not start: {type(exc).__name__}: {exc}", ExitCode.FAILED))
        self._emit(_ENDED)


# ---- in the driver -------------------------------------------------------------------------


@functools.cache
def _actor_class() -> Any:
    # threaded: a fetch that waits must not hold up the go or the abort
    return _ray().remote(num_cpus=1, max_concurrency=4)(EngineActor)


class RayWorker:
    """The driver's side of one actor, shaped as a pool's worker (`worker_events`, `go`,
    `abort`), as `engine.child.EngineProcess` is."""

    def __init__(self, config: RunConfig, *, api_key: str | None, run_id: str, worker: tuple[int, int]):
        self._args = (config.model_dump(mode="json"), api_key, run_id, worker)
        self.name = f"llm-loadtest-{run_id[:8]}-w{worker[0]}"
        self.host = ""
        self._actor: Any = None
        self._abort_requested = False
        self._shift_ns: int | None = None  # None: the driver's own clock
        self._go_sent_ns = 0
        self._go_answer: Any = None

    async def worker_events(self) -> AsyncIterator[EngineEvent | WorkerEvent]:
        ray = _ray()
        self._actor = _actor_class().options(name=self.name, scheduling_strategy="SPREAD").remote(*self._args)
        try:
            self.host, actor_boot, _ = await self._actor.where.remote()
            same_clock = actor_boot == boot_id() and actor_boot != ""
            if self._abort_requested:
                self.abort()
            while True:
                try:
                    items = await self._actor.fetch.remote()
                except ray.exceptions.RayError as exc:
                    yield WorkerLost(f"the Ray actor on {self.host or 'its node'} was lost ({type(exc).__name__})")
                    return
                for item in items:
                    if item == _ENDED:
                        return
                    yield await self._unpacked(item, same_clock)
        finally:
            ray.kill(self._actor, no_restart=True)

    async def _unpacked(self, item: Any, same_clock: bool) -> EngineEvent | WorkerEvent:
        if not isinstance(item, tuple):
            return item
        kind, level, rows, *rest = item
        records = records_from_rows(rows)
        if not same_clock:
            records = [record.shifted(await self._shift()) for record in records]
        if kind == "requests":
            return RequestsFinished(level, records)
        loop_lag_ms, cpu_percent, cut = rest
        return WorkerLevelDone(level, records, loop_lag_ms, cpu_percent, cut=cut)

    async def _shift(self) -> int:
        """The driver's go minus the actor's reading of it (each level's own)."""
        if self._go_answer is not None:
            self._shift_ns = self._go_sent_ns - await self._go_answer
            self._go_answer = None
        return self._shift_ns or 0

    def go(self) -> None:
        if self._actor is not None:
            self._go_sent_ns = time.perf_counter_ns()
            self._go_answer = self._actor.go.remote()

    def abort(self) -> None:
        self._abort_requested = True
        if self._actor is not None:
            self._actor.abort.remote()
