"""Store figures: bytes per request and per streamed chunk, storing and reloading a
100,000-request run of 128-token streams, and `history` over 1,000 runs.

    python bench/store_bench.py [--requests 100000] [--chunks 128] [--runs 1000]

A live run hands its finished requests to the store about every second, then each level
whole (replacing them): the figures include both, and what one batch costs.

Prints figures only; runs in well under a minute on a laptop.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

# runnable from a checkout without installing it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_loadtest.cli import main as cli_main  # noqa: E402
from llm_loadtest.metrics import summarize_level  # noqa: E402
from llm_loadtest.model.config import RunConfig  # noqa: E402
from llm_loadtest.model.records import RequestRecord, TokenSource  # noqa: E402
from llm_loadtest.model.results import RunResult  # noqa: E402
from llm_loadtest.storage import Store  # noqa: E402

LEVELS = 10  # a sweep: the 100,000 requests arrive as ten levels of 10,000
BATCH = 500  # requests a level hands to the store each second as they finish (a fast server)


def build_records(n: int, chunks: int, stream: bool, seed: int = 0) -> list[RequestRecord]:
    rng = np.random.default_rng(seed)
    starts = 10**15 + np.cumsum(rng.integers(1_000_000, 5_000_000, size=n))
    ttft = rng.integers(30_000_000, 400_000_000, size=n)
    gaps = rng.integers(8_000_000, 60_000_000, size=(n, chunks))
    times = (starts + ttft)[:, None] + np.cumsum(gaps, axis=1) - gaps[:, :1]
    ones = np.ones(chunks, dtype=np.int32)
    empty_t, empty_c = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
    records = []
    for i in range(n):
        end = int(times[i, -1]) + 200_000
        records.append(
            RequestRecord(
                request_id=f"{i:08x}-5c1e-4a7e-9d3f-{i:012x}",  # uuid-sized, as the engine's
                t_start_ns=int(starts[i]),
                t_end_ns=end,
                chunk_times_ns=times[i] if stream else empty_t,
                chunk_tokens=ones if stream else empty_c,
                output_tokens=chunks,
                input_tokens=256,
                output_token_source=TokenSource.SERVER,
                input_token_source=TokenSource.SERVER,
                http_status=200,
                stream=stream,
            )
        )
    return records


def make_result(run_id: str, records: list[RequestRecord], levels: int, started: datetime) -> tuple[RunResult, list]:
    config = RunConfig(
        server="http://127.0.0.1:8000", model="bench", concurrency=[2**i for i in range(levels)], num_prompts=max(1, len(records) // levels)
    )
    size = len(records) // levels
    split = [records[i * size : (i + 1) * size] for i in range(levels)]
    summaries = [summarize_level(part, spec, None) for part, spec in zip(split, config.levels(), strict=True)]
    result = RunResult(
        run_id=run_id, status="completed", started_at=started, finished_at=started + timedelta(minutes=5), config=config, levels=summaries
    )
    return result, split


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def store_run(path: Path, run_id: str, records: list[RequestRecord]) -> tuple[float, float, float]:
    """Seconds to store as a live run does (each level's requests in batches as they finish,
    then the whole level, replacing them), to reload every request, and per batch."""
    result, split = make_result(run_id, records, LEVELS, datetime(2026, 11, 27, tzinfo=UTC))
    batch_s: list[float] = []
    with Store.open(str(path)) as store:
        t0 = time.perf_counter()
        store.begin_run(result)
        for index, part in enumerate(split):
            for start in range(0, len(part), BATCH):
                t_batch = time.perf_counter()
                store.add_requests(run_id, index, part[start : start + BATCH])
                batch_s.append(time.perf_counter() - t_batch)
            store.add_level(run_id, index, result.levels[index], part)
        store.finish_run(result)
        stored = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = store.get_records(run_id)
        loaded = time.perf_counter() - t0
    assert len(back) == len(records) and np.array_equal(back[-1].chunk_times_ns, records[-1].chunk_times_ns)
    return stored, loaded, float(np.median(batch_s)) if batch_s else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    n, chunks = args.requests, args.chunks

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        streamed = build_records(n, chunks, stream=True)
        t_store, t_load, t_batch = store_run(folder / "stream.db", "stream", streamed)
        del streamed
        plain = build_records(n, chunks, stream=False)
        store_run(folder / "plain.db", "plain", plain)
        del plain
        size_stream, size_plain = db_bytes(folder / "stream.db"), db_bytes(folder / "plain.db")

        print(f"requests: {n:,} in {LEVELS} levels, {chunks} one-token chunks each (SQLite, WAL)")
        print(f"database: {size_stream / 2**20:.1f} MiB streamed, {size_plain / 2**20:.1f} MiB without chunks")
        print(f"bytes per request (no chunks):     {size_plain / n:.1f}")
        print(f"bytes per request (streamed):      {size_stream / n:.1f}")
        print(f"bytes per streamed chunk:          {(size_stream - size_plain) / (n * chunks):.2f}")
        print(f"store {n:,} requests:            {t_store:.2f} s  ({n / t_store:,.0f} requests/s, batches then levels)")
        print(f"one batch of {BATCH} finished requests:  {t_batch * 1000:.1f} ms (median; the parent writes one a second)")
        print(f"reload {n:,} requests:           {t_load:.2f} s  ({n / t_load:,.0f} requests/s)")

        history_db = folder / "stream.db"  # the big run stays in: history must not pay for it
        base = datetime(2026, 1, 1, tzinfo=UTC)
        template, split = make_result("template", build_records(30, 8, stream=True, seed=1), 3, base)
        t0 = time.perf_counter()
        with Store.open(str(history_db)) as store:
            for i in range(args.runs):
                started = base + timedelta(minutes=i)
                result = template.model_copy(update={"run_id": f"{i:08x}-0000-4000-8000-000000000000", "started_at": started})
                store.save(result, split)
        t_fill = time.perf_counter() - t0
        with Store.open(str(history_db)) as store:
            timings = {}
            for label, call in (
                (f"list_runs() all {args.runs + 1}", lambda: store.list_runs()),
                ("list_runs(limit=20)", lambda: store.list_runs(limit=20)),
                ("list_runs(search='0000ab')", lambda: store.list_runs(search="0000ab")),
                ("status_counts()", store.status_counts),
            ):
                t0 = time.perf_counter()
                for _ in range(5):
                    call()
                timings[label] = (time.perf_counter() - t0) / 5
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(["history", "--db", str(history_db)])
        t_cli = time.perf_counter() - t0

        print(f"store {args.runs} small runs (3 levels, 30 requests): {t_fill:.2f} s ({t_fill / args.runs * 1000:.1f} ms a run)")
        for label, seconds in timings.items():
            print(f"history {label + ':':34} {seconds * 1000:.1f} ms")
        print(f"`llm-loadtest history` ({args.runs + 1} runs, open + query + print): {t_cli * 1000:.0f} ms")


if __name__ == "__main__":
    main()
