"""The parent side of a run: starts the engine, samples telemetry, stores and assembles the result.

It lives in the caller's event loop (the app's, or the headless command's) and tells its
listeners everything the engine says, plus telemetry. The requests themselves run in a child
process (`in_process=False`, the default) so that this loop's other work never touches them.
"""

from __future__ import annotations

import platform
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from llm_loadtest import __version__
from llm_loadtest.adapters.registry import metrics_url, tokenizer_warning
from llm_loadtest.engine.child import EngineProcess
from llm_loadtest.engine.errors import RunStartError
from llm_loadtest.engine.events import (
    EngineEvent,
    LevelFinished,
    ProgressSnapshot,
    RequestsFinished,
    RunFailed,
    RunFinished,
    RunStarted,
    ServerTokenizeFound,
    TelemetryUpdate,
)
from llm_loadtest.engine.level_batches import counted_copies
from llm_loadtest.engine.protocols import EngineRunner, EventListener, RunStore
from llm_loadtest.engine.store_writes import write_safely
from llm_loadtest.engine.threads import in_passing_thread
from llm_loadtest.engine.workload_files import resolve_config
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError, ExitCode
from llm_loadtest.model.records import RequestRecord, TokenSource
from llm_loadtest.model.results import GpuSample, RunResult, ServerSample, TokenSourceInfo, utc_now

if TYPE_CHECKING:
    from llm_loadtest.telemetry.sampler import TelemetrySampler

TELEMETRY_PUBLISH_S = 1.0

__all__ = ["RunController", "RunStartError"]


class RunController:
    def __init__(
        self,
        config: RunConfig,
        *,
        api_key: str | None = None,
        store: RunStore | None = None,
        in_process: bool = False,
        run_id: str | None = None,
        gpu: bool = True,
        telemetry_interval_s: float = 1.0,
        metrics_url: str | None = None,
    ):
        self.config = config
        self.run_id = run_id or str(uuid.uuid4())
        self.store = store
        self.store_error: str | None = None
        self._api_key = api_key
        self._in_process = in_process
        self._gpu = gpu
        self._telemetry_interval_s = telemetry_interval_s
        self._metrics_url = metrics_url or _default_metrics_url(config)
        self._listeners: list[EventListener] = []
        self._abort_requested = False
        self._engine: EngineRunner | None = None
        self._stored_run = False
        self._sampler: TelemetrySampler | None = None
        self._last_telemetry = 0.0
        self._unstored_levels: list[LevelFinished] = []
        self._records_by_level: dict[int, list[RequestRecord]] = {}
        self._tokenize_endpoint: str | None = None
        self.result = RunResult(run_id=self.run_id, status="running", started_at=utc_now(), config=config.model_copy(deep=True))

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def abort(self) -> None:
        """Stop the run; every request that finished is kept and the run is marked aborted."""
        self._abort_requested = True
        if self._engine is not None:
            self._engine.abort()

    async def run(self) -> RunResult:
        self._read_workload_files()
        self.result.environment = await in_passing_thread(environment)  # NVML can take a while
        self.result.started_at = utc_now()
        t0_ns = time.perf_counter_ns()
        failure: RunFailed | None = None
        sampling = False
        try:
            async for event in self._engine_events(t0_ns):
                if not sampling:
                    # its thread starts once the engine process has: a process with no other
                    # thread can start the engine by fork (engine.child), the cheaper start
                    self._sampler, sampling = self._start_sampler(t0_ns), True
                if isinstance(event, RunFailed):
                    failure = event
                    continue
                await self._take(event)
                if isinstance(event, RequestsFinished):
                    continue  # for the store only
                self._publish(event)
                self._publish_telemetry(event)
        finally:
            leftover: tuple[list[GpuSample], list[ServerSample]] = ([], [])
            if self._sampler is not None:
                leftover = await in_passing_thread(self._sampler.stop)
        if failure is not None and not self._stored_run:
            self._publish(failure)
            raise RunStartError(failure.message, ExitCode(failure.exit_code))
        await self._keep_samples(*leftover)
        await self._finish(failure, t0_ns)
        if failure is not None:
            self._publish(failure)
        self._publish(RunFinished(self.result))
        return self.result

    def _read_workload_files(self) -> None:
        """A configuration made without its workload's files read (the app's form, a preset
        run from the app) gets their digests, and a trace its pace, before anything runs."""
        workload = self.config.workload
        if (workload.dataset and not workload.dataset_sha256) or (workload.trace and not workload.trace_sha256):
            try:
                self.config = resolve_config(self.config)
            except ConfigError as exc:
                raise RunStartError(str(exc), ExitCode.CONFIG) from None
            self.result.config = self.config.model_copy(deep=True)

    # ---- engine ---------------------------------------------------------------------------

    async def _engine_events(self, t0_ns: int) -> AsyncIterator[EngineEvent]:
        self._engine = self._runner(t0_ns)
        if self._abort_requested:
            self._engine.abort()
        async for event in self._engine.events():
            yield event

    def _runner(self, t0_ns: int) -> EngineRunner:
        # the other two runners are imported only when asked for: they import the benchmark
        # and its HTTP client, which the parent of one engine process never needs
        key, run_id = self._api_key, self.run_id
        if self._in_process:
            from llm_loadtest.engine.in_process import InProcessEngine

            return InProcessEngine(self.config, api_key=key, run_id=run_id, t0_ns=t0_ns)
        if self.config.workers > 1 or self.config.ray is not None:
            from llm_loadtest.engine.pool import EnginePool

            return EnginePool(self.config, api_key=key, run_id=run_id, t0_ns=t0_ns, workers=self.config.workers)
        return EngineProcess(self.config, api_key=key, run_id=run_id, t0_ns=t0_ns)

    async def _take(self, event: EngineEvent) -> None:
        if isinstance(event, RunStarted):
            self.result.config.model = event.model
            if self.config.ray is not None:
                self.result.environment["client_nodes"] = event.nodes
            self._stored_run = True
            await self._store(lambda store: store.begin_run(self.result))
        elif isinstance(event, RequestsFinished):
            await self._keep_requests(event)
        elif isinstance(event, ServerTokenizeFound):
            self._tokenize_endpoint = event.endpoint
        elif isinstance(event, LevelFinished):
            self.result.levels.append(event.summary)
            self._records_by_level[event.level_index] = event.records
            if not await self._store_level(event):
                self._unstored_levels.append(event)
            if self._sampler is not None:
                await self._keep_samples(*self._sampler.drain())

    async def _keep_requests(self, event: RequestsFinished) -> None:
        """Finished requests of the level in progress go to the database now, so that a killed
        run keeps them; the level's end replaces them with the engine's own, counted records."""
        if self.store is None or not self._stored_run:
            return
        records = await in_passing_thread(lambda: counted_copies(event.records, self.config.tokenizer))
        await self._store(lambda store: store.add_requests(self.run_id, event.level_index, records))

    async def _keep_samples(self, gpu: list[GpuSample], server: list[ServerSample]) -> None:
        """Samples go to the result, and to the database as the run goes, not only at its end."""
        self.result.gpu_samples.extend(gpu)
        self.result.server_samples.extend(server)
        if gpu or server:
            await self._store(lambda store: store.add_samples(self.run_id, gpu, server))

    def _publish(self, event: EngineEvent) -> None:
        for listener in self._listeners:
            listener(event)

    def _publish_telemetry(self, event: EngineEvent) -> None:
        if self._sampler is None or not isinstance(event, ProgressSnapshot):
            return
        if time.monotonic() - self._last_telemetry >= TELEMETRY_PUBLISH_S:
            self._last_telemetry = time.monotonic()
            gpu, server = self._sampler.latest()
            self._publish(TelemetryUpdate(gpu=gpu, server=server))

    # ---- the result -------------------------------------------------------------------------

    async def _finish(self, failure: RunFailed | None, t0_ns: int) -> None:
        result = self.result
        result.finished_at = utc_now()
        records = [r for level in self._records_by_level.values() for r in level]
        result.token_source = token_source(records)
        if result.token_source.output in ("server_tokenize", "mixed"):
            result.token_source.tokenize_endpoint = self._tokenize_endpoint
        warnings: list[str] = []
        if failure is not None:
            warnings.append(failure.message)
        for summary in result.levels:
            if summary.client:
                warnings.extend(f"{summary.label}: {w}" for w in summary.client.warnings)
        if (note := tokenizer_warning(self.config, result.token_source)) is not None:
            warnings.append(note)
        warnings.extend(_cause_hints(result, self._records_by_level, t0_ns))
        result.warnings = warnings
        result.notes = self._sampler.notes if self._sampler is not None else []
        if self._abort_requested:
            result.status = "aborted"
        elif failure is not None or not result.levels or any(level.requests.succeeded == 0 for level in result.levels):
            result.status = "failed"
        else:
            result.status = "completed"
        self.store_error = None  # judged again by the writes that settle the run
        for level in self._unstored_levels:  # a database that failed once may take them now
            await self._store_level(level)
        await self._store(lambda store: store.finish_run(result))
        if self.store_error:
            result.warnings.append(self.store_error)

    async def _store_level(self, level: LevelFinished) -> bool:
        return await self._store(lambda store: store.add_level(self.run_id, level.level_index, level.summary, level.records))

    async def _store(self, write: Callable[[RunStore], None]) -> bool:
        """A failing database never costs the run: the first error is reported (write_safely)."""
        written, error = await write_safely(self.store, write)
        self.store_error = self.store_error or error
        return written

    def _start_sampler(self, t0_ns: int) -> TelemetrySampler | None:
        try:
            from llm_loadtest.telemetry.sampler import TelemetrySampler
        except ImportError:
            return None
        sampler = TelemetrySampler(self._telemetry_interval_s, gpu=self._gpu, metrics_url=self._metrics_url, t0_ns=t0_ns)
        sampler.start()
        return sampler


def token_source(records: list[RequestRecord]) -> TokenSourceInfo:
    ok = [r for r in records if r.ok]

    def source(values: set[TokenSource]) -> str | None:
        if len(values) == 1:
            return next(iter(values)).value
        return "mixed" if values else None

    return TokenSourceInfo(
        output=source({r.output_token_source for r in ok if r.output_token_source}),
        input=source({r.input_token_source for r in ok if r.input_token_source}),
    )


def _cause_hints(result: RunResult, records_by_level: dict[int, list[RequestRecord]], t0_ns: int) -> list[str]:
    try:
        from llm_loadtest.telemetry.hints import cause_hints
    except ImportError:
        return []
    windows = []
    for index in sorted(records_by_level):
        level = records_by_level[index]
        if level:
            windows.append(((min(r.t_start_ns for r in level) - t0_ns) / 1e9, (max(r.t_end_ns for r in level) - t0_ns) / 1e9))
    sent_usage = result.token_source.output in (None, "server")
    return cause_hints(result.server_samples, windows, server_sent_usage=sent_usage)


def _default_metrics_url(config: RunConfig) -> str | None:
    """The server's metrics where its adapter says they usually are; none for an unknown
    adapter (the engine reports that one)."""
    try:
        return metrics_url(config)
    except ConfigError:
        return None


def environment() -> dict:
    gpus: list[str] = []
    try:
        from llm_loadtest.telemetry.nvml import GpuReader

        with GpuReader() as reader:
            gpus = [reading.name for reading in reader.read()] if reader.available() else []
    except Exception:  # no NVML, no GPU, or a failing driver: the run goes on without names
        gpus = []
    return {
        "llm_loadtest": __version__,
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "gpus": gpus,
    }
