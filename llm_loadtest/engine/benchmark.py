"""One benchmark run inside one event loop: preflight, warm-up, then each load level.

This is the process that takes timestamps, so it does nothing else: no drawing, no database.
Whoever listens gets events through `emit` (the controller, directly or across a pipe).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from llm_loadtest import metrics
from llm_loadtest.adapters.base import Adapter
from llm_loadtest.adapters.exchange import SIDE_REQUEST_TIMEOUT_S, Chunks
from llm_loadtest.adapters.registry import make_adapter
from llm_loadtest.adapters.stamped import open_connections
from llm_loadtest.engine.arrivals import arrival_offsets, in_flight_estimate
from llm_loadtest.engine.errors import RunStartError
from llm_loadtest.engine.events import (
    EngineEvent,
    LevelFinished,
    LevelStarted,
    Phase,
    ProgressSnapshot,
    RequestsFinished,
    RunFailed,
    RunStarted,
    ServerTokenizeFound,
    WarmupStarted,
    WorkerEvent,
    WorkerLevelDone,
)
from llm_loadtest.engine.health import CpuMeter, LoopLagMonitor
from llm_loadtest.engine.requests import RequestSource
from llm_loadtest.engine.session import open_session
from llm_loadtest.engine.shares import LevelShare, level_share
from llm_loadtest.engine.token_accounting import account_tokens
from llm_loadtest.metrics.client_health import LevelHealthSoFar
from llm_loadtest.metrics.live import gaps_in_window_ns, live_figures, tokens_per_chunk
from llm_loadtest.model.config import ConfigError, LevelSpec, RunConfig
from llm_loadtest.model.errors import ExitCode, ServerConfigError, ServerUnreachable
from llm_loadtest.model.records import Outcome, Prompt, RequestRecord, TokenSource
from llm_loadtest.model.request_ids import RequestKind, make_request_id
from llm_loadtest.model.results import ClientHealth, LevelSummary
from llm_loadtest.tokens.tokenizer import get_tokenizer

SNAPSHOT_INTERVAL_S = 0.25
# finished requests go to the store about this often, so that a killed run loses at most these
REQUESTS_BATCH_S = 1.0
# and in events of at most this many: the sender thread pickles each in one call that holds
# the GIL (about 20 us a request), so that this loop never waits more than a millisecond or so
REQUESTS_PER_EVENT = 64
DEFAULT_E2E_ESTIMATE_S = 2.0
MAX_PREOPENED_CONNECTIONS = 1024
LIVE_WINDOW_S = 2.0
MIN_LIVE_TTFTS = 64
ARRIVAL_SEED_STRIDE = 1_000_003  # each worker's arrivals come from a seed of its own


def open_benchmark(config: RunConfig, *, emit: Callable[[EngineEvent | WorkerEvent], None], **options: Any) -> Benchmark | None:
    """A benchmark that emits to `emit`; None, once it emitted the RunFailed that says why,
    when the run cannot start (a tokenizer that cannot be loaded)."""
    try:
        return Benchmark(config, emit=emit, **options)
    except RunStartError as exc:
        emit(RunFailed(str(exc), exc.exit_code))
        return None


async def run_benchmark(bench: Benchmark) -> None:
    """Run it to its end; a failure becomes a RunFailed event, so that whoever listens keeps
    what was measured before it."""
    try:
        await bench.run()
    except RunStartError as exc:
        bench.emit(RunFailed(str(exc), exc.exit_code))
    except Exception as exc:
        bench.emit(RunFailed(f"engine error: {type(exc).__name__}: {exc}", ExitCode.FAILED))


class Benchmark:
    def __init__(
        self,
        config: RunConfig,
        *,
        api_key: str | None,
        run_id: str,
        emit: Callable[[EngineEvent | WorkerEvent], None],
        t0_ns: int | None = None,
        flush: Callable[[], Awaitable[None]] | None = None,
        worker: tuple[int, int] = (0, 1),
        gate: Callable[[int], Awaitable[None]] | None = None,
    ):
        """`emit` takes every event; `flush`, when given, waits until what was emitted has left
        (the child process's pipe), so that a level's records are not still being sent while
        the next level's clock runs. `worker` (index, count) and `gate` make this one of the
        client processes of `--workers N` (engine.pool): it runs its share of each level,
        starts a level when `gate(level)` returns, and reports its part, not a summary."""
        self.config = config
        self.run_id = run_id
        self.emit = emit
        self._flush = flush
        self.worker, self.workers = worker
        self._gate = gate
        # prompt openings stay unique across workers (request ids carry the worker)
        self._id_prefix = run_id[:8] if self.workers == 1 else f"{run_id[:8]}w{self.worker}"
        self.t0_ns = t0_ns or time.perf_counter_ns()
        try:
            self.tokenizer = get_tokenizer(config.tokenizer)
            self.adapter: Adapter = make_adapter(config, api_key)
        except ConfigError as exc:
            raise RunStartError(str(exc), exc.exit_code) from None
        try:
            self.prompts = RequestSource(config, self.tokenizer, self._id_prefix + "-", worker)
        except ConfigError as exc:  # a dataset or trace that changed or fits no filter
            raise RunStartError(str(exc), exc.exit_code) from None
        self._stopping = False
        self._stopped = asyncio.Event()
        self._workers: set[asyncio.Task] = set()
        self._warmup_e2e_s: float | None = None
        self._tokenize_told = False

    def abort(self) -> None:
        """Stop sending, cancel what is in flight; what finished is kept."""
        self._stopping = True
        self._stopped.set()
        for task in list(self._workers):
            task.cancel()

    async def run(self) -> None:
        levels = self.config.levels()
        async with open_session() as session:
            try:
                model = await self.adapter.preflight(session, self._request_id(0, 0, RequestKind.PREFLIGHT))
            except (ServerUnreachable, ServerConfigError) as exc:
                raise RunStartError(str(exc), exc.exit_code) from None
            self.emit(RunStarted(model=model))
            if self.config.warmup and self.worker == 0:  # one worker warms the server up
                self.emit(WarmupStarted(self.config.warmup))
                await self._warmup(session, levels[0])
            next_prompt = 0
            counted = self.config.num_prompts if self.config.duration is None else None
            for index, spec in enumerate(levels):
                if self._stopping:
                    break
                share = level_share(spec, counted, self.worker, self.workers)
                level = await self._run_level(session, index, len(levels), spec, share, next_prompt)
                next_prompt += level.prompts_used
                if not level.records and self._stopping:
                    break  # stopped before the level began: nothing to report
                if not self._stopping:
                    await self._count_with_server(session, level.records)
                self._finish_level(index, spec, level)
                if self._flush is not None:
                    await self._flush()

    # ---- warm-up ------------------------------------------------------------------------------

    async def _warmup(self, session: aiohttp.ClientSession, first: LevelSpec) -> None:
        count = self.config.warmup
        width = max(1, min(count, first.concurrency or 1))
        warm = RequestSource(self.config, self.tokenizer, f"{self._id_prefix}-warmup-", (self.worker, self.workers), self.prompts.items)
        queue = list(range(count))
        e2e: list[int] = []

        async def worker() -> None:
            while queue and not self._stopping:
                i = queue.pop()
                record = await self.adapter.send(
                    session, warm.get(i), self._request_id(0, i, RequestKind.WARMUP), timeout=self.config.timeout
                )
                if record.ok:
                    e2e.append(record.e2e_ns)

        await self._gather(worker() for _ in range(width))
        if e2e:
            self._warmup_e2e_s = float(np.mean(e2e)) / 1e9

    # ---- one level ---------------------------------------------------------------------------

    async def _run_level(
        self, session, index: int, n_levels: int, spec: LevelSpec, share: LevelShare | None, first_prompt: int
    ) -> _LevelRun:
        cfg = self.config
        offsets = None
        if share is not None and self.prompts.trace_length is not None:
            offsets = self.prompts.arrival_offsets(cfg.workload.trace_speed)
            if cfg.duration is not None:
                offsets = offsets[offsets < cfg.duration]
            expected = len(offsets)
        elif share is not None and share.request_rate is not None:
            seed = cfg.seed + index + ARRIVAL_SEED_STRIDE * self.worker
            offsets = arrival_offsets(
                share.request_rate,
                cfg.burstiness,
                count=share.num_prompts,
                duration=cfg.duration,
                seed=seed,
                first_at_once=self.worker == 0,
            )
            expected = len(offsets)
        elif share is not None:
            expected = share.num_prompts if share.num_prompts is not None else _expected_requests(share.concurrency)
        if share is not None:
            # everything the level needs is built before its clock starts
            self.prompts.prepare(expected, start=first_prompt)
            await _open_connections(session, self.adapter, self._connections_for(share))
        if self._gate is not None and not self._stopping:
            await self._gate(index)  # the other workers are ready too
        if self._stopping or share is None:
            return _LevelRun([], 0, np.empty(0), None)
        self.emit(LevelStarted(level_index=index, n_levels=n_levels, level_label=spec.label))
        # as vLLM's bench serve does: what exists now (tokenizer, prompts, earlier records) is
        # never garbage, so keep the collector from walking it in the middle of a level
        gc.collect()
        gc.freeze()

        live = _LiveLevel(index, n_levels, spec, share.num_prompts, cfg.duration)
        lag = LoopLagMonitor()
        cpu = CpuMeter()
        lag.start()
        reporter = asyncio.get_running_loop().create_task(self._report(live, lag, cpu))
        live.started_ns = time.perf_counter_ns()
        try:
            if offsets is None:
                used = await self._closed_loop(session, share, live, first_prompt)
            else:
                used = await self._open_loop(session, share, live, first_prompt, offsets)
        finally:
            reporter.cancel()
            lag.stop()
        cpu_percent = cpu.percent()
        live.phase = "done"
        self.emit(live.snapshot(self.t0_ns, lag, cpu_percent))
        records = [r for r in live.records if r.outcome is not Outcome.CANCELLED]
        cut = live.stopped_early or len(records) < len(live.records)  # a request in flight was cancelled
        return _LevelRun(records, used, lag.take(), cpu_percent, cut=cut)

    def _connections_for(self, share: LevelShare) -> int:
        """How many requests the level will have in flight at once, to open their connections."""
        if share.concurrency:
            return share.concurrency
        e2e_s = self._warmup_e2e_s or DEFAULT_E2E_ESTIMATE_S
        return min(MAX_PREOPENED_CONNECTIONS, in_flight_estimate(share.request_rate or 0.0, e2e_s, share.num_prompts))

    async def _count_with_server(self, session, records: list[RequestRecord]) -> None:
        """Output tokens by the server's own tokenizer, for servers that send no usage."""
        count = self.adapter.server_token_count
        missing = [r for r in records if r.ok and r.output_tokens is None and r.chunk_texts]
        if not missing:
            return
        limit = asyncio.Semaphore(8)

        async def one(record: RequestRecord) -> bool:
            async with limit:
                tokens = await count(session, "".join(record.chunk_texts or ()))
            if tokens is not None:
                record.output_tokens = tokens
                record.output_token_source = TokenSource.SERVER_TOKENIZE
            return tokens is not None

        if await one(missing[0]):  # a server without the endpoint is asked once, not per request
            await self._gather(one(r) for r in missing[1:])
            if not self._tokenize_told:
                self._tokenize_told = True
                self.emit(ServerTokenizeFound(self.adapter.tokenize_endpoint or "unknown"))

    def _finish_level(self, index: int, spec: LevelSpec, level: _LevelRun) -> None:
        records = level.records
        account_tokens(records, self.tokenizer)
        if self._gate is not None:  # a worker: the pool sums the level up from every part
            self.emit(WorkerLevelDone(index, records, level.loop_lag_ms, level.cpu_percent, cut=level.cut))
            return
        summary = level_summary(self.config, spec, records, level.loop_lag_ms, level.cpu_percent, partial=level.cut)
        self.emit(LevelFinished(level_index=index, summary=summary, records=records))

    async def _closed_loop(self, session, share: LevelShare, live: _LiveLevel, first_prompt: int) -> int:
        cfg = self.config
        deadline = live.started_ns + int(cfg.duration * 1e9) if cfg.duration is not None else None
        issued = 0
        chats = self.prompts.turns > 1

        async def worker() -> None:
            nonlocal issued
            chat = None
            ready_ns = live.started_ns  # a free worker wants to send: at the start, then as its request ends
            while True:
                if deadline is None and issued >= (share.num_prompts or 0):
                    return
                if deadline is not None and time.perf_counter_ns() >= deadline:
                    return
                if self._stopping:
                    live.stopped_early = True
                    return
                i = first_prompt + issued
                issued += 1
                if not chats:
                    record, _ = await self._send(session, live, i, t_ready_ns=ready_ns)
                    ready_ns = record.t_end_ns or time.perf_counter_ns()
                    continue
                # multi-turn: the worker's session goes on with the server's real answer
                if chat is None or chat.done:
                    chat = self.prompts.session(i)
                record, chunks = await self._send(session, live, i, t_ready_ns=ready_ns, prompt=chat.next_prompt(i))
                ready_ns = record.t_end_ns or time.perf_counter_ns()
                if record.ok:
                    chat.answered(chunks.answer_text())
                else:
                    chat = None  # a chat client would start over

        if await self._gather(worker() for _ in range(share.concurrency or 1)):
            live.stopped_early = True
        return issued

    async def _open_loop(self, session, share: LevelShare, live: _LiveLevel, first_prompt: int, offsets: np.ndarray) -> int:
        limit = asyncio.Semaphore(share.concurrency) if share.concurrency else None
        start = live.started_ns

        async def one(i: int, due_ns: int) -> None:
            if limit is None:
                await self._send(session, live, first_prompt + i, t_scheduled_ns=due_ns, t_ready_ns=due_ns)
                return
            async with limit:
                if self._stopping:
                    live.stopped_early = True
                    return
                # waiting for a free slot is the cap at work, not the client's delay
                ready_ns = max(due_ns, time.perf_counter_ns())
                await self._send(session, live, first_prompt + i, t_scheduled_ns=due_ns, t_ready_ns=ready_ns)

        tasks = []
        for i, offset in enumerate(offsets):
            due_ns = start + int(offset * 1e9)
            await self._wait_until(due_ns)
            if self._stopping:
                live.stopped_early = True
                break
            tasks.append(self._spawn(one(i, due_ns)))
        if await self._gather_tasks(tasks):
            live.stopped_early = True  # some were stopped before they could send
        return len(tasks)

    async def _wait_until(self, due_ns: int) -> None:
        """Never before `due_ns`, and soon after, unless an abort cuts the wait short. uvloop's
        timers count whole milliseconds from a cached clock and may fire up to one early: an
        early wake waits again for what is left (under half a millisecond, uvloop runs that
        timer at its next turn), rather than send before its time or a whole millisecond late."""
        while not self._stopping and (remaining_ns := due_ns - time.perf_counter_ns()) > 0:
            try:
                await asyncio.wait_for(self._stopped.wait(), remaining_ns / 1e9)
            except TimeoutError:
                pass

    async def _send(
        self,
        session,
        live: _LiveLevel,
        i: int,
        *,
        t_ready_ns: int,
        t_scheduled_ns: int | None = None,
        prompt: Prompt | None = None,
    ) -> tuple[RequestRecord, Chunks]:
        """Prompt `i` (or `prompt`, sent as request `i`) as one request, watched by the level's
        live figures while it goes. `t_ready_ns`: when the load pattern wanted it sent (the
        send delay runs from there)."""
        chunks = live.begin()
        try:
            record = await self.adapter.send(
                session,
                prompt or self.prompts.get(i),
                self._request_id(live.index, i),
                t_scheduled_ns=t_scheduled_ns,
                timeout=self.config.timeout,
                chunks=chunks,
            )
        finally:
            ttft_seen = live.end(chunks)
        record.t_ready_ns = t_ready_ns
        live.add(record, ttft_seen=ttft_seen)
        return record, chunks

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)
        return task

    async def _gather(self, coroutines) -> bool:
        return await self._gather_tasks([self._spawn(c) for c in coroutines])

    async def _gather_tasks(self, tasks: list[asyncio.Task]) -> bool:
        """Wait for all; a worker's unexpected error is the run's, not something to swallow.
        True when an abort cancelled some of them."""
        results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]
        return any(isinstance(r, asyncio.CancelledError) for r in results)

    async def _report(self, live: _LiveLevel, lag: LoopLagMonitor, cpu: CpuMeter) -> None:
        batched_at = time.monotonic()
        while True:
            await asyncio.sleep(SNAPSHOT_INTERVAL_S)
            self.emit(live.snapshot(self.t0_ns, lag, cpu.percent()))
            if time.monotonic() - batched_at >= REQUESTS_BATCH_S:
                batched_at = time.monotonic()
                # handed over as they are; the sender thread pickles them, not this loop
                finished = live.take_finished()
                for start in range(0, len(finished), REQUESTS_PER_EVENT):
                    self.emit(RequestsFinished(live.index, finished[start : start + REQUESTS_PER_EVENT]))

    def _request_id(self, level: int, i: int, kind: RequestKind = RequestKind.MEASURED) -> str:
        """A UUID that every server accepts, carrying the run, worker, level and index
        (model.request_ids.parse_request_id reads them back)."""
        return make_request_id(self.run_id, worker=self.worker, level=level, index=i, kind=kind)


@dataclass(slots=True)
class _LevelRun:
    records: list[RequestRecord]  # cancelled ones left out: the user stopped them, not the server
    prompts_used: int
    loop_lag_ms: np.ndarray
    cpu_percent: float | None
    # the run was stopped before the level sent (or finished) every request it planned
    cut: bool = False


class _LiveLevel:
    """Counters and a short window of what the streams delivered, for progress snapshots.

    The window counts chunks as they arrive, in requests still going too, so a display never
    reads zero while long streams flow. Bounded: a snapshot reads each stream's chunk count
    and at most MAX_GAP_STREAMS streams' last chunks, so it cannot delay the reads it shares
    the loop with.
    """

    MAX_WINDOW_ITEMS = 2048
    MAX_GAP_STREAMS = 128
    # the client health covers the whole level so far (percentiles of every lag sample, the
    # clock facts of every request): its cost grows with the level, so it is taken once a
    # second, and at the level's end, where it must equal the summary's
    HEALTH_EVERY_S = 1.0

    def __init__(self, index: int, n_levels: int, spec: LevelSpec, target: int | None, duration: float | None):
        self.index = index
        self.n_levels = n_levels
        self.spec = spec
        self.target = target
        self.duration = duration
        self.phase: Phase = "running"
        self.stopped_early = False  # a stop left requests of the level's plan unsent
        self.started_ns = time.perf_counter_ns()
        self.records: list[RequestRecord] = []
        self._batched = 0  # records already handed out by take_finished
        self.streaming: dict[int, Chunks] = {}  # the requests in flight, by id of their chunks
        self._ttft_seen: set[int] = set()  # those whose first chunk is in first_tokens already
        self.first_tokens: deque[tuple[int, float]] = deque(maxlen=self.MAX_WINDOW_ITEMS)  # (arrival, TTFT ms)
        self.recent: deque[tuple[int, np.ndarray]] = deque(maxlen=self.MAX_WINDOW_ITEMS)  # (t_end, chunk times)
        self.completed = 0
        self.failed = 0
        self.output_tokens = 0  # of the successful requests, by the server's count where known
        self._streamed_tokens = 0  # of those that streamed chunks,
        self._streamed_chunks = 0  # and their chunks: what a chunk is worth in tokens
        self._whole_tokens = 0  # of those that came whole (not streamed): counted as they end
        self._ended_chunks = 0  # chunks of every ended request
        # (time, chunks so far, tokens of whole responses so far)
        self._totals: deque[tuple[int, int, int]] = deque([(self.started_ns, 0, 0)])
        self.errors: dict[str, int] = {}
        self.first_errors: dict[str, str] = {}
        self.health = LevelHealthSoFar(spec)
        self._health_taken = 0  # records already in self.health
        self._client: ClientHealth | None = None
        self._client_at_ns = 0

    @property
    def in_flight(self) -> int:
        return len(self.streaming)

    def begin(self) -> Chunks:
        chunks = Chunks()
        self.streaming[id(chunks)] = chunks
        return chunks

    def end(self, chunks: Chunks) -> bool:
        """The request is over; True when a snapshot already took its first chunk's TTFT."""
        key = id(chunks)
        del self.streaming[key]
        self._ended_chunks += len(chunks.times)
        seen = key in self._ttft_seen
        self._ttft_seen.discard(key)
        return seen

    def add(self, record: RequestRecord, *, ttft_seen: bool = False) -> None:
        self.records.append(record)
        if record.outcome is Outcome.CANCELLED:
            return
        self.completed += 1
        if record.ok:
            tokens = _tokens_so_far(record)
            self.output_tokens += tokens
            if len(record.chunk_times_ns):
                self._streamed_tokens += tokens
                self._streamed_chunks += len(record.chunk_times_ns)
            else:
                self._whole_tokens += tokens
            ttft = record.ttft_ns
            if ttft is not None and not ttft_seen:
                self.first_tokens.append((record.t_start_ns + ttft, ttft / 1e6))
            self.recent.append((record.t_end_ns, record.chunk_times_ns))
        else:
            self.failed += 1
            error = record.error_class or record.outcome.value
            self.errors[error] = self.errors.get(error, 0) + 1
            if record.error:
                self.first_errors.setdefault(error, record.error)

    def take_finished(self) -> list[RequestRecord]:
        """The requests that ended since the last call, cancelled ones left out."""
        finished = self.records[self._batched :]
        self._batched = len(self.records)
        return [r for r in finished if r.outcome is not Outcome.CANCELLED]

    def client_health(self, now_ns: int, lag: LoopLagMonitor, cpu_percent: float | None) -> ClientHealth | None:
        """The level's client health so far (the last one within HEALTH_EVERY_S); the requests
        that ended since it was taken are added to it, never the whole level again."""
        if self.phase != "done" and now_ns - self._client_at_ns < self.HEALTH_EVERY_S * 1e9:
            return self._client
        self._client_at_ns = now_ns
        ended = self.records[self._health_taken :]
        self._health_taken = len(self.records)
        self.health.add([r for r in ended if r.outcome is not Outcome.CANCELLED])
        self._client = self.health.health(lag.samples(), cpu_percent)
        return self._client

    def snapshot(self, t0_ns: int, lag: LoopLagMonitor, cpu_percent: float | None) -> ProgressSnapshot:
        now = time.perf_counter_ns()
        window_start = now - int(LIVE_WINDOW_S * 1e9)
        streamed = 0
        gaps: list[int] = []
        sampled = 0  # streams whose gaps were taken
        for key, chunks in self.streaming.items():
            times = chunks.times
            if not times:
                continue
            streamed += len(times)
            if key not in self._ttft_seen:
                self._ttft_seen.add(key)
                self.first_tokens.append((times[0], (times[0] - chunks.started_ns) / 1e6))
            if sampled < self.MAX_GAP_STREAMS:
                sampled += 1
                gaps += gaps_in_window_ns(times, window_start)
        while self.recent and self.recent[0][0] < window_start:
            self.recent.popleft()
        # TTFT: the first chunks of the window, or the level's latest ones when few came in
        # it (long streams start new requests seldom: the figure must not blink to nothing)
        while len(self.first_tokens) > MIN_LIVE_TTFTS and self.first_tokens[0][0] < window_start:
            self.first_tokens.popleft()
        for _, times in reversed(self.recent):
            if sampled >= self.MAX_GAP_STREAMS:
                break
            sampled += 1
            gaps += gaps_in_window_ns(times, window_start)
        # chunks delivered in the window, worth what finished requests' chunks were worth, and
        # the tokens of whole responses that ended in it
        totals = self._totals
        totals.append((now, self._ended_chunks + streamed, self._whole_tokens))
        while len(totals) > 1 and totals[1][0] <= window_start:
            totals.popleft()
        since_ns, chunks_then, whole_then = totals[0]
        per_chunk = tokens_per_chunk(self._streamed_tokens, self._streamed_chunks)
        tokens = (totals[-1][1] - chunks_then) * per_chunk + totals[-1][2] - whole_then
        figures = live_figures(
            tokens,
            (now - since_ns) / 1e9,
            np.fromiter((ttft for _, ttft in self.first_tokens), dtype=float, count=len(self.first_tokens)),
            np.array(gaps, dtype=float) / 1e6,
        )
        return ProgressSnapshot(
            t=(now - t0_ns) / 1e9,
            level_index=self.index,
            n_levels=self.n_levels,
            level_label=self.spec.label,
            phase=self.phase,
            completed=self.completed,
            failed=self.failed,
            in_flight=self.in_flight,
            target=self.target,
            level_elapsed_s=(now - self.started_ns) / 1e9,
            level_duration_s=self.duration,
            output_tokens=self.output_tokens,
            error_rate=self.failed / self.completed if self.completed else None,
            client=self.client_health(now, lag, cpu_percent),
            errors=dict(self.errors),
            first_errors=dict(self.first_errors),
            **figures,
        )


def _tokens_so_far(record: RequestRecord) -> int:
    if record.output_tokens is not None:
        return record.output_tokens
    return len(record.chunk_times_ns)


def _expected_requests(concurrency: int | None) -> int:
    """Prompts to build before a closed-loop timed level; more are built as needed, cheaply
    (see PromptFactory)."""
    return min(5000, max(4 * (concurrency or 1), 64))


def level_summary(
    config: RunConfig,
    spec: LevelSpec,
    records: list[RequestRecord],
    loop_lag_ms: np.ndarray,
    cpu_percent: float | None,
    *,
    partial: bool = False,
) -> LevelSummary:
    """A level's figures from its records and the client's health while it ran; `partial`
    when the run was stopped before the level ran to its end."""
    client = metrics.level_client_health(
        spec, loop_lag_ms, cpu_percent, metrics.scheduling_delay_ms(records), clock=metrics.clock_facts(records)
    )
    # a dataset's or a trace's prompts have their own lengths: no one length was asked for
    asked = None if config.workload.uses_files else config.input_len
    summary = metrics.summarize_level(records, spec, config.goodput, input_len_requested=asked, client=client)
    summary.partial = partial
    return summary


async def _open_connections(session: aiohttp.ClientSession, adapter: Adapter, count: int) -> None:
    """Open (and keep alive) as many connections as the level will use, before it starts."""

    async def touch() -> None:
        async with session.get(adapter.warm_url, headers=adapter.headers()) as resp:
            await resp.read()

    try:
        async with asyncio.timeout(SIDE_REQUEST_TIMEOUT_S):
            if await open_connections(session, adapter.warm_url, max(1, count)):
                return  # the measured requests go on the client's own sockets: those are opened
            await asyncio.gather(*(touch() for _ in range(max(1, count))), return_exceptions=True)
    except TimeoutError:
        pass  # the level itself will meet and record the problem
