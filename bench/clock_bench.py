"""How far the client's figures are from what the simulator did, kernel clock beside the fallback.

    python3 bench/clock_bench.py [--quick] [--streams 1,64,256] [--with-1000] [--asyncio-loop]

For each number of concurrent streams, the same level twice against a fresh simulator
(TTFT 50 ms, ITL 20 ms growing 10 us per sequence in the batch, 64 output tokens): once on
the kernel clock (the client's own sockets, kernel send and receive stamps), once on the
fallback (aiohttp, the process's clock; LLM_LOADTEST_USER_CLOCK=1). Each prints:
- TTFT, ITL and E2E p50 / p99 as reported, against the truth from the simulator's log (target:
  within max(1 ms, 2 %); max(2 ms, 2 %) at 1,000 streams);
- client CPU seconds per 1,000 chunks, loop lag p99, send delay p50 / p99, coalesced chunks.
The truth: TTFT from the kernel's arrival of the request at the simulator (t_recv_ns) to the
write of its first chunk; ITL the gaps between its chunk writes; E2E to the write of its last.
`--with-1000` adds 1,000 streams with --workers 2 (client processes). Last, one stream read
while something else holds the loop 50 ms at a time: how far chunk times fall outside the
log's bracket of each write (target: within 0.5 ms). The client runs on the engine's event loop
(uvloop where installed); `--asyncio-loop` runs the one-process levels on asyncio's, to compare.
Figures only; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_loadtest.engine.controller import RunController  # noqa: E402
from llm_loadtest.engine.event_loop import run_engine  # noqa: E402
from llm_loadtest.engine.events import LevelFinished  # noqa: E402
from llm_loadtest.engine.session import USER_CLOCK_ENV  # noqa: E402
from llm_loadtest.model.config import RunConfig  # noqa: E402
from llm_loadtest.simulator.process import SimulatorProcess  # noqa: E402

OUTPUT_LEN = 64
ASYNCIO_LOOP = False  # --asyncio-loop: the one-process levels on asyncio's loop, not the engine's (uvloop)


async def one_level(url: str, streams: int, requests: int, workers: int):
    config = RunConfig(
        server=url,
        model="auto",
        concurrency=[streams],
        num_prompts=requests,
        input_len=64,
        output_len=OUTPUT_LEN,
        warmup=0,
        workers=workers,
    )
    controller = RunController(config, in_process=workers == 1, gpu=False)
    kept: dict = {}
    controller.subscribe(lambda e: kept.update(level=e) if isinstance(e, LevelFinished) else None)
    result = await controller.run()
    if not result.levels or "level" not in kept:
        raise SystemExit(f"the {streams}-stream level did not finish ({result.status}): {'; '.join(result.warnings)}")
    return result.levels[0], kept["level"].records


def truth(records, log) -> dict[str, np.ndarray]:
    """From the simulator's log. A chunk left when its write began (chunk_write_ns): the kernel
    delivers during the write, and a busy server is preempted at the write's return (the write
    wakes the client) far more often than just before it, which would move chunk_send_ns."""
    ok = [r for r in records if r.ok]
    return {
        "TTFT": np.array([log[r.request_id]["chunk_write_ns"][0] - log[r.request_id]["t_recv_ns"] for r in ok]) / 1e6,
        "ITL": np.concatenate([np.diff(log[r.request_id]["chunk_write_ns"]) for r in ok]) / 1e6,
        # to the write of the last chunk: the end events follow it at once
        "E2E": np.array([log[r.request_id]["chunk_write_ns"][-1] - log[r.request_id]["t_recv_ns"] for r in ok]) / 1e6,
    }


def error(reported: float, true: float, floor_ms: float) -> str:
    diff = reported - true
    ok = abs(diff) <= max(floor_ms, 0.02 * abs(true))
    return f"{diff:+7.2f}{' ' if ok else '!'}"


def run_path(streams: int, workers: int, kernel: bool, requests: int, folder: Path) -> dict:
    if kernel:
        os.environ.pop(USER_CLOCK_ENV, None)
    else:
        os.environ[USER_CLOCK_ENV] = "1"
    log_path = folder / f"log-{streams}-{'kernel' if kernel else 'user'}.jsonl"
    with SimulatorProcess(
        ttft_ms=50, itl_ms=20, step_us_per_seq=10, prefill_us_per_token=0, max_seqs=max(streams, 1), chunk_log=log_path
    ) as sim:
        level, records = run_engine(one_level(sim.url, streams, requests, workers), prefer_uvloop=not ASYNCIO_LOOP)
        log = sim.read_chunk_log(*(r.request_id for r in records if r.ok))
    os.environ.pop(USER_CLOCK_ENV, None)
    chunks = sum(len(r.chunk_times_ns) for r in records)
    client = level.client
    cpu_s = (client.cpu_percent or 0) / 100 * (level.duration_s or 0) * workers
    true = truth(records, log)
    reported = {"TTFT": level.ttft_ms, "ITL": level.itl_ms, "E2E": level.e2e_ms}
    return {
        "clock": client.clock,
        "failed": level.requests.failed,
        "chunks": chunks,
        "cpu": 1000 * cpu_s / max(chunks, 1),
        "lag": client.loop_lag_ms.p99,
        "send": client.send_delay_ms,
        "coalesced": client.coalesced_chunks,
        "errors": {
            name: (reported[name].p50, np.percentile(values, 50), reported[name].p99, np.percentile(values, 99))
            for name, values in true.items()
        },
    }


async def _level_with_the_loop_held(url: str):
    """One stream read while a task holds the loop for 50 ms every 70 ms."""
    stop = False

    async def hold() -> None:
        while not stop:
            time.sleep(0.05)
            await asyncio.sleep(0.02)

    holder = asyncio.get_running_loop().create_task(hold())
    try:
        return await one_level(url, 1, 4, 1)
    finally:
        stop = True
        await holder


def held_loop(kernel: bool, folder: Path) -> str:
    """Chunk gaps against the log's while the loop is held: the worst error, ms."""
    os.environ.pop(USER_CLOCK_ENV, None) if kernel else os.environ.update({USER_CLOCK_ENV: "1"})
    with SimulatorProcess(
        ttft_ms=60, itl_ms=60, step_us_per_seq=0, prefill_us_per_token=0, chunk_log=folder / f"held-{kernel}.jsonl"
    ) as sim:
        level, records = run_engine(_level_with_the_loop_held(sim.url), prefer_uvloop=not ASYNCIO_LOOP)
        log = sim.read_chunk_log(*(r.request_id for r in records if r.ok))
    os.environ.pop(USER_CLOCK_ENV, None)
    errors = np.concatenate([_outside_the_write(r.chunk_times_ns, log[r.request_id]) for r in records if r.ok]) / 1e6
    return (
        f"   {level.client.clock:7} chunk times outside the simulator's write: worst {errors.max():6.2f} ms, p99 "
        f"{np.percentile(errors, 99):6.2f} ms, over {len(errors)} chunks that ended their read "
        f"({level.client.coalesced_chunks} coalesced; loop lag max {level.client.loop_lag_ms.max:.0f} ms)"
    )


def _outside_the_write(times: np.ndarray, entry: dict) -> np.ndarray:
    """How far each chunk's time falls outside the log's bracket of its write (chunk_write_ns
    to chunk_send_ns, during which the kernel delivered it on loopback): 0 inside. Chunks a later
    one shared its read with are coalesced (counted apart), and the last chunk's read may hold
    the end events: both are left out. A chunk gap is off by at most its two chunks' figures."""
    times = np.asarray(times)
    if len(times) < 2:
        return np.empty(0, dtype=np.int64)
    before, after = np.asarray(entry["chunk_write_ns"]), np.asarray(entry["chunk_send_ns"])
    ends_read = np.append(times[1:] != times[:-1], False)
    outside = np.maximum(before - times, 0) + np.maximum(times - after, 0)
    return outside[ends_read]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", default="1,64,256", help="comma-separated stream counts (default 1,64,256)")
    parser.add_argument("--with-1000", action="store_true", help="add 1,000 streams with --workers 2")
    parser.add_argument("--quick", action="store_true", help="one wave of requests per level instead of two")
    parser.add_argument("--asyncio-loop", action="store_true", help="one-process levels on asyncio's loop, not uvloop's (to compare)")
    args = parser.parse_args()
    global ASYNCIO_LOOP
    ASYNCIO_LOOP = args.asyncio_loop
    plan = [(int(s), 1) for s in args.streams.split(",")]
    if args.with_1000:
        plan.append((1000, 2))
    with tempfile.TemporaryDirectory() as tmp:
        for streams, workers in plan:
            requests = max(16, streams * (1 if args.quick else 2))
            floor = 2.0 if streams >= 1000 else 1.0
            print(
                f"== {streams} streams, {requests} requests, {workers} client process(es): reported - true, ms (! = outside max({floor:g} ms, 2 %))"
            )
            print(
                f"   {'clock':7} {'TTFT p50':>9} {'p99':>9} {'ITL p50':>9} {'p99':>9} {'E2E p50':>9} {'p99':>9}  CPU s/1k chunks  lag p99  send p50/p99  coalesced"
            )
            for kernel in (True, False):
                row = run_path(streams, workers, kernel, requests, Path(tmp))
                errs = "".join(f" {error(r50, t50, floor):>9} {error(r99, t99, floor):>9}" for r50, t50, r99, t99 in row["errors"].values())
                send = f"{row['send'].p50:.2f}/{row['send'].p99:.2f}" if row["send"] else "-"
                lag = f"{row['lag']:.1f}" if row["lag"] is not None else "-"
                print(
                    f"   {row['clock'] or '-':7}{errs}  {row['cpu']:15.3f}  {lag:>7}  {send:>12}  {row['coalesced']:>9}"
                    + (f"  ({row['failed']} failed)" if row["failed"] else "")
                )
            truths = row["errors"]
            print("   truth p50/p99: " + ", ".join(f"{name} {t50:.1f}/{t99:.1f}" for name, (_, t50, _, t99) in truths.items()))
        print("== 1 stream, a chunk every 60 ms, the loop held 50 ms of every 70 by something else")
        for kernel in (True, False):
            print(held_loop(kernel, Path(tmp)))


if __name__ == "__main__":
    main()
