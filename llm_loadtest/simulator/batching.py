"""Continuous batching: one coroutine runs decode steps for every admitted sequence.

Model (deliberately simple, close to vLLM's scheduler):
- At most `max_seqs` sequences are admitted ("running"); the rest wait in FIFO order and are
  admitted as soon as a slot frees, at the step that freed it.
- An admitted sequence prefills for `ttft_ms + prefill_us_per_token * (prompt_tokens - cached_tokens)`
  (tokens the prefix cache holds cost nothing, as in vLLM); its
  first chunk comes out at the first decode step at or after that (as in a real engine,
  tokens leave at step boundaries). With nothing decoding, the step clock starts at the
  earliest prefill end, so a lone request sees exactly that TTFT.
- Each step emits one chunk of `tokens_per_chunk` tokens (the last may carry fewer) for every
  running sequence past prefill, then the next step lasts
  `itl_ms + step_us_per_seq * running` microseconds.
- Step times are absolute deadlines on the loop clock (CLOCK_MONOTONIC): a late wake-up
  shortens the next wait instead of shifting every later step, so no drift builds up.

The knee this implies (closed loop, C users, prompts of I tokens, O output tokens, one token
a chunk; M = max_seqs, step(n) = itl_ms + step_us_per_seq * n / 1000 ms):
- C <= M: everyone runs at once. TPOT = step(C), growing linearly with C; TTFT =
  ttft_ms + prefill_us_per_token * I / 1000 plus up to one step (the first token leaves at a
  step boundary).
- C > M: M run, C - M wait in the queue. TPOT stays step(M), throughput stops growing at
  M * O / E2E(M) tok/s, and each request waits about (C - M) / M * E2E(M) before its
  prefill, so TTFT climbs with every user added.
So under SLOs TTFT < T and TPOT < P the largest concurrency that still meets them is
    min(C_tpot, C_ttft, C_queue)
    C_tpot  = the largest C with step(C) < P
    C_ttft  = the largest C with ttft_ms + prefill + step(C) < T (a first token that just
              missed a step boundary)
    C_queue = M + the users whose average wait (C - M) / M * E2E(M) still fits in T - TTFT(M)
`implied_knee` computes it; the capacity tests check `recommend` against it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from llm_loadtest.simulator.options import SimOptions

# Put in a sequence's queue when the server shuts down: the handler stops streaming.
SHUTDOWN = -1
# Which share of the KV cache one token takes: capacity is max_seqs * this many tokens.
KV_TOKENS_PER_SEQ = 1024


@dataclass(eq=False, slots=True)
class Sequence:
    prompt_tokens: int
    max_tokens: int
    cached_tokens: int = 0  # found in the prefix cache: no prefill for them
    # pause `stall_s` once this many tokens were emitted (None: never)
    stall_after: int | None = None
    # tokens per chunk, in emission order; SHUTDOWN ends the stream
    chunks: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    t_admitted_ns: int | None = None
    emitted: int = 0
    ready_at: float = 0.0
    paused_until: float = 0.0
    stalled: bool = False
    # the step times (loop clock, CLOCK_MONOTONIC seconds) at which the stall began and the
    # sequence emitted again, for the chunk log: what the simulator did, not what a client saw
    stall_began: float | None = None
    stall_resumed: float | None = None
    # the planned time of each step that emitted tokens for it (same clock), for the chunk log
    step_times: list[float] = field(default_factory=list)
    done: bool = False


class BatchScheduler:
    def __init__(self, options: SimOptions):
        self._options = options
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # called with the tokens emitted by each step (for /metrics), one call per step
        self.on_tokens: Callable[[int], None] | None = None

    # ---- state for /metrics
    @property
    def num_running(self) -> int:
        return len(self._running)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    def cache_usage(self) -> float:
        held = sum(s.prompt_tokens + s.emitted for s in self._running)
        return min(1.0, held / (self._options.max_seqs * KV_TOKENS_PER_SEQ))

    # ---- life cycle
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-batch-scheduler")

    async def close(self) -> None:
        self._closed = True
        for seq in [*self._running, *self._waiting]:
            seq.chunks.put_nowait(SHUTDOWN)
        self._running.clear()
        self._waiting.clear()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    # ---- called by request handlers
    def submit(self, seq: Sequence) -> None:
        if self._closed:
            seq.chunks.put_nowait(SHUTDOWN)
            return
        self._waiting.append(seq)
        self._admit(asyncio.get_running_loop().time())
        self._wakeup.set()

    def cancel(self, seq: Sequence) -> None:
        """The client went away or the handler ended early: free the slot."""
        if seq.done:
            return
        seq.done = True
        if seq.t_admitted_ns is None:
            try:
                self._waiting.remove(seq)
            except ValueError:
                pass
        else:
            try:
                self._running.remove(seq)
            except ValueError:
                pass
            self._admit(asyncio.get_running_loop().time())
            self._wakeup.set()

    # ---- the model
    def _admit(self, now: float) -> None:
        opts = self._options
        while self._waiting and len(self._running) < opts.max_seqs:
            seq = self._waiting.popleft()
            seq.t_admitted_ns = time.perf_counter_ns()
            seq.ready_at = now + (opts.ttft_ms * 1e-3 + opts.prefill_us_per_token * 1e-6 * (seq.prompt_tokens - seq.cached_tokens))
            self._running.append(seq)

    def _step_seconds(self) -> float:
        return self._options.itl_ms * 1e-3 + self._options.step_us_per_seq * 1e-6 * len(self._running)

    def _next_active_at(self) -> float:
        """When the earliest running sequence can emit again (prefill done, not stalled)."""
        return min(max(s.ready_at, s.paused_until) for s in self._running)

    def _step(self, deadline: float) -> bool:
        """Emit one chunk for each sequence that can; True when some sequence can emit next step."""
        per_chunk = self._options.tokens_per_chunk
        stall_s = self._options.stall_s
        emitted = 0
        finished = False
        active_after = False
        for seq in self._running:
            if seq.ready_at > deadline or seq.paused_until > deadline:
                continue
            if seq.stall_after is not None and not seq.stalled and seq.emitted >= seq.stall_after:
                seq.stalled = True
                seq.paused_until = deadline + stall_s
                seq.stall_began = deadline
                continue
            if seq.stalled and seq.stall_resumed is None:
                seq.stall_resumed = deadline
            n = min(per_chunk, seq.max_tokens - seq.emitted)
            seq.step_times.append(deadline)
            seq.emitted += n
            emitted += n
            seq.chunks.put_nowait(n)
            if seq.emitted >= seq.max_tokens:
                seq.done = True
                finished = True
            else:
                active_after = True
        if finished:
            self._running = [s for s in self._running if not s.done]
            self._admit(deadline)
        if emitted and self.on_tokens is not None:
            self.on_tokens(emitted)
        return active_after

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_step: float | None = None  # None: no step clock; the batch is idle or all prefilling
        while True:
            if not self._running:
                next_step = None
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if next_step is None:
                # No step clock: wait for the first sequence that can emit, but wake for new
                # arrivals, whose shorter prefill may end sooner.
                target = self._next_active_at()
                self._wakeup.clear()
                delay = target - loop.time()
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), delay)
                        continue
                    except TimeoutError:
                        pass
                next_step = target
            else:
                # Sleep even when late (sleep(0)): the handlers must write the last step's
                # chunks before the next step, or a server behind schedule would only emit.
                await asyncio.sleep(max(next_step - loop.time(), 0.0))
            if not self._running:
                continue
            if self._step(next_step):
                # Behind schedule: run the next step now rather than a burst of catch-up steps.
                next_step = max(next_step + self._step_seconds(), loop.time())
            else:
                # Only prefilling or stalled sequences left: the clock restarts when one is ready.
                next_step = None


def implied_knee(options: SimOptions, *, input_tokens: int, output_tokens: int, ttft_ms: float | None, tpot_ms: float | None) -> int:
    """The largest closed-loop concurrency whose requests all meet TTFT < ttft_ms and TPOT <
    tpot_ms (None: no such SLO) under `options`, by the formula in this module's docstring;
    0 when even one user misses."""

    def step_ms(running: int) -> float:
        return options.itl_ms + options.step_us_per_seq * running / 1000

    prefill_ms = options.ttft_ms + options.prefill_us_per_token * input_tokens / 1000
    bound = options.max_seqs
    if tpot_ms is not None:
        bound = min(bound, _largest_below(options.itl_ms, options.step_us_per_seq / 1000, tpot_ms))
    if ttft_ms is not None:
        bound = min(bound, _largest_below(prefill_ms + options.itl_ms, options.step_us_per_seq / 1000, ttft_ms))
    if bound < options.max_seqs or ttft_ms is None:
        return max(bound, 0)
    full = options.max_seqs
    e2e_ms = prefill_ms + step_ms(full) * max(output_tokens, 1)
    slack_ms = ttft_ms - (prefill_ms + step_ms(full))
    queued = math.ceil(slack_ms * full / e2e_ms) - 1 if slack_ms > 0 else 0
    return full + max(queued, 0)


def _largest_below(base: float, per_user: float, limit: float) -> int:
    """The largest integer C with base + per_user * C < limit (a large number when per_user is 0)."""
    if per_user <= 0:
        return 1 << 30 if base < limit else 0
    return math.ceil((limit - base) / per_user) - 1
