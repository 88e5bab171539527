"""Hand-built runs for the storage and export tests: records with numpy chunk arrays, and
their summaries from llm_loadtest.metrics, so that a stored run looks like a measured one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from llm_loadtest.metrics import stats, summarize_level
from llm_loadtest.model.config import GoodputSLO, RunConfig
from llm_loadtest.model.records import ClockSource, Outcome, RequestRecord, TokenSource
from llm_loadtest.model.results import ClientHealth, GpuSample, LoopLag, RunResult, ServerSample, TokenSourceInfo

FAKE_KEY = "sk-test-DO-NOT-LEAK-7f3a9c1e"
T0 = 5_000_000_000_000  # a monotonic clock reading, in ns


def make_records(n: int, level: int, *, stream: bool = True, seed: int = 0, rate: bool = False) -> list[RequestRecord]:
    rng = np.random.default_rng(seed + 100 * level)
    records: list[RequestRecord] = []
    t = T0 + level * 60_000_000_000
    for i in range(n):
        start = t + i * 7_000_123
        outcome = Outcome.SUCCESS
        if i % 11 == 5:
            outcome = Outcome.HTTP_5XX
        elif i % 13 == 7:
            outcome = Outcome.TIMEOUT
        n_chunks = int(rng.integers(2, 40)) if stream and outcome is Outcome.SUCCESS else 0
        gaps = rng.integers(1_000, 60_000_000, size=n_chunks).astype(np.int64)
        if n_chunks and i % 17 == 3:
            gaps[n_chunks // 2] = 6_000_000_123  # a stall longer than 32 bits of ns
        first = int(rng.integers(20_000_000, 400_000_000))
        times = start + first + np.cumsum(gaps) if n_chunks else np.empty(0, dtype=np.int64)
        tokens = (rng.integers(1, 4, size=n_chunks) if i % 3 == 0 else np.ones(n_chunks)).astype(np.int32)
        end = int(times[-1]) + 1_000 if n_chunks else start + int(rng.integers(1_000_000, 900_000_000))
        records.append(
            RequestRecord(
                request_id=f"req-{level}-{i:05d}",
                t_start_ns=start,
                t_end_ns=end,
                outcome=outcome,
                t_scheduled_ns=start - int(rng.integers(0, 50_000)) if rate else None,
                chunk_times_ns=times.astype(np.int64),
                chunk_tokens=tokens if n_chunks else np.empty(0, dtype=np.int32),
                reasoning_chunks=2 if i % 19 == 0 and n_chunks else 0,
                output_tokens=int(tokens.sum()) if outcome is Outcome.SUCCESS and stream else (64 if outcome is Outcome.SUCCESS else None),
                input_tokens=256 if outcome is Outcome.SUCCESS else None,
                output_token_source=TokenSource.SERVER if outcome is Outcome.SUCCESS else None,
                input_token_source=TokenSource.TOKENIZER if outcome is Outcome.SUCCESS else None,
                http_status=503 if outcome is Outcome.HTTP_5XX else (200 if outcome is Outcome.SUCCESS else None),
                error="Service Unavailable"
                if outcome is Outcome.HTTP_5XX
                else ("timed out after 120 s" if outcome is Outcome.TIMEOUT else None),
                connect_ns=int(rng.integers(100_000, 900_000)) if i % 5 == 0 else 0,
                stream=stream,
                t_ready_ns=start - 1_000 * (i % 7) if i % 4 else None,
                clock=ClockSource.KERNEL if i % 2 else ClockSource.USER,
            )
        )
    return records


def warmup_records(n: int = 3) -> list[RequestRecord]:
    return [
        RequestRecord(
            request_id=f"warm-{i}",
            t_start_ns=T0 - 10**9,
            t_end_ns=T0 - 5 * 10**8,
            warmup=True,
            chunk_times_ns=np.array([T0 - 9 * 10**8], dtype=np.int64),
            chunk_tokens=np.ones(1, np.int32),
            output_tokens=1,
        )
        for i in range(n)
    ]


def make_run(
    run_id: str = "3f2b8c1e-0000-4000-8000-000000000001",
    *,
    concurrency: tuple[int, ...] = (1, 4, 16),
    n: int = 60,
    stream: bool = True,
    goodput: GoodputSLO | None = GoodputSLO(ttft_ms=300, tpot_ms=40),
    samples: bool = True,
    started_at: datetime | None = None,
    status: str = "completed",
    environment: dict | None = None,
) -> tuple[RunResult, list[list[RequestRecord]]]:
    config = RunConfig(
        server="http://127.0.0.1:8000",
        model="sim-model",
        concurrency=list(concurrency),
        num_prompts=n,
        stream=stream,
        goodput=goodput,
        preset="quick",
    )
    levels = config.levels()
    records = [make_records(n, i, stream=stream) for i in range(len(levels))]
    # client health on the second level only, so that exports meet both a null and a full one
    client = ClientHealth(
        loop_lag_ms=LoopLag(p50=0.1, p99=6.2, max=9.5),
        cpu_percent=35.0,
        scheduling_delay_ms=stats(np.array([0.01, 0.5, 2.0])),
        warnings=["loop lag p99 6.2 ms", "cpu 35 %"],
    )
    summaries = [
        summarize_level(recs, spec, goodput, input_len_requested=config.input_len, client=client if i == 1 else None)
        for i, (recs, spec) in enumerate(zip(records, levels, strict=True))
    ]
    started = started_at or datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    result = RunResult(
        run_id=run_id,
        status=status,
        started_at=started,
        finished_at=started + timedelta(seconds=190),
        config=config,
        token_source=TokenSourceInfo(output="server", input="tokenizer"),
        environment=environment
        if environment is not None
        else {"llm_loadtest": "0.1.0", "python": "3.11.7", "host": "bench-box", "gpus": []},
        levels=summaries,
        gpu_samples=[
            GpuSample(t=i * 0.5, gpu=g, util=50.0 + i, mem_used_mb=1000.0 + i, mem_total_mb=81920.0, temp_c=60.0, power_w=300.5)
            for i in range(6)
            for g in range(2)
        ]
        if samples
        else [],
        server_samples=[ServerSample(t=i * 0.5, running=float(i), waiting=0.0, kv_cache_usage=0.1 * i) for i in range(6)]
        if samples
        else [],
        warnings=["loop lag p99 6.2 ms > 5 ms: client-bound figures"],
    )
    return result, records
