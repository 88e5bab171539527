"""Engine figures against the simulator in its own process: client CPU, fidelity, memory.

    python3 bench/engine_bench.py [--quick]

Prints, per number of concurrent streams:
- client CPU seconds per 1,000 streamed chunks (this process: the engine runs in-process here);
- reported TTFT and ITL p50 / p99 against what the simulator logged it did (target: within
  max(1 ms, 2 %));
- bytes held per streamed chunk by the records.
Figures only; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_loadtest.engine.controller import RunController  # noqa: E402
from llm_loadtest.engine.events import LevelFinished  # noqa: E402
from llm_loadtest.model.config import RunConfig  # noqa: E402
from llm_loadtest.simulator.process import SimulatorProcess  # noqa: E402


async def one_level(url: str, streams: int, requests: int, output_len: int):
    config = RunConfig(server=url, model="auto", concurrency=[streams], num_prompts=requests, input_len=64, output_len=output_len, warmup=0)
    controller = RunController(config, in_process=True, gpu=False)
    kept = {}
    controller.subscribe(lambda e: kept.update(level=e) if isinstance(e, LevelFinished) else None)
    result = await controller.run()
    level = result.levels[0]
    # the level's own CPU: start-up (tokenizer, preflight, prompts) is left out
    cpu = (level.client.cpu_percent or 0) / 100 * level.duration_s
    return level, kept["level"].records, cpu


def record_bytes(records) -> int:
    total = 0
    for r in records:
        total += sys.getsizeof(r) + sys.getsizeof(r.request_id)
        total += sys.getsizeof(r.chunk_times_ns) + sys.getsizeof(r.chunk_tokens)  # numpy: header + data
    return total


def truth(records, log):
    ttft = np.array([(log[r.request_id]["chunk_send_ns"][0] - r.t_start_ns) / 1e6 for r in records])
    itl = np.concatenate([np.diff(log[r.request_id]["chunk_send_ns"]) for r in records]) / 1e6
    return ttft, itl


def within(reported: float, true: float) -> str:
    error = reported - true
    ok = abs(error) <= max(1.0, 0.02 * abs(true))
    return f"{reported:8.2f} vs {true:8.2f} ({error:+.2f}{' ok' if ok else ' OUT'})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests, 1,000 streams skipped")
    args = parser.parse_args()
    stream_counts = [1, 64, 256] if args.quick else [1, 64, 256, 1000]
    output_len = 64 if args.quick else 128
    with tempfile.TemporaryDirectory() as folder:
        for streams in stream_counts:
            log_path = Path(folder) / f"log-{streams}.jsonl"
            # the simulator's step grows with the batch like a real server's; 20 ms + 10 us/seq
            with SimulatorProcess(
                ttft_ms=50, itl_ms=20, step_us_per_seq=10, prefill_us_per_token=0, max_seqs=max(streams, 1), chunk_log=log_path
            ) as sim:
                requests = max(8, streams * (1 if args.quick else 2))
                level, records, cpu = asyncio.run(one_level(sim.url, streams, requests, output_len))
                log = sim.read_chunk_log(*(r.request_id for r in records if r.ok))
            chunks = sum(len(r.chunk_times_ns) for r in records)
            true_ttft, true_itl = truth([r for r in records if r.ok], log)
            print(f"== {streams} streams, {len(records)} requests, {chunks} chunks ({level.requests.failed} failed)")
            print(
                f"   client CPU: {1000 * cpu / max(chunks, 1):.3f} s per 1,000 chunks ({cpu:.2f} s total, {level.client.cpu_percent or 0:.0f} % of a core during the level)"
            )
            print(f"   loop lag p99: {level.client.loop_lag_ms.p99} ms; warnings: {level.client.warnings or 'none'}")
            print(
                f"   TTFT p50 {within(level.ttft_ms.p50, np.percentile(true_ttft, 50))}   p99 {within(level.ttft_ms.p99, np.percentile(true_ttft, 99))}"
            )
            print(
                f"   ITL  p50 {within(level.itl_ms.p50, np.percentile(true_itl, 50))}   p99 {within(level.itl_ms.p99, np.percentile(true_itl, 99))}"
            )
            print(f"   memory: {record_bytes(records) / max(chunks, 1):.1f} bytes held per streamed chunk")


if __name__ == "__main__":
    main()
