"""The benchmark in the caller's own event loop (`in_process=True`): for tests and profiling,
where nothing else shares the loop with the timestamps. Runs otherwise go to a child process
(engine.child)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from llm_loadtest.engine.benchmark import Benchmark, open_benchmark, run_benchmark
from llm_loadtest.engine.events import EngineEvent, WorkerEvent
from llm_loadtest.model.config import RunConfig


class InProcessEngine:
    def __init__(self, config: RunConfig, *, api_key: str | None, run_id: str, t0_ns: int | None = None):
        self.config = config
        self._api_key = api_key
        self._run_id = run_id
        self._t0_ns = t0_ns or time.perf_counter_ns()
        self._bench: Benchmark | None = None
        self._abort_requested = False

    def abort(self) -> None:
        self._abort_requested = True
        if self._bench is not None:
            self._bench.abort()

    async def events(self) -> AsyncIterator[EngineEvent]:
        inbox: asyncio.Queue[EngineEvent | WorkerEvent | None] = asyncio.Queue()
        bench = open_benchmark(self.config, api_key=self._api_key, run_id=self._run_id, emit=inbox.put_nowait, t0_ns=self._t0_ns)
        if bench is None:
            inbox.put_nowait(None)
        else:
            self._bench = bench
            if self._abort_requested:
                bench.abort()

        async def drive(bench: Benchmark) -> None:
            try:
                await run_benchmark(bench)
            finally:
                inbox.put_nowait(None)

        task = asyncio.get_running_loop().create_task(drive(bench)) if bench is not None else None
        try:
            while (event := await inbox.get()) is not None:
                if not isinstance(event, WorkerEvent):  # only a pool's workers send those
                    yield event
        finally:
            if task is not None:
                if not task.done():  # a listener that stopped early must not leave the run going
                    self.abort()
                await asyncio.gather(task, return_exceptions=True)
