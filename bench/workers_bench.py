"""Does spreading the load over client processes (`--workers N`) make the figures truer?

    python3 bench/workers_bench.py [--streams 256,512] [--workers 1,2,4] [--repeats 3]

For each number of streams and workers, a fresh simulator (with its chunk log) serves one
level; the error is the reported p50 / p99 minus that of what the simulator logged it did
(TTFT: first chunk sent minus the client's t_start; ITL: gaps between chunks sent), and the
highest client CPU and loop-lag p99 of the level (the worst worker). Medians of --repeats
runs. The simulator shares the machine: on a box with fewer free cores than processes the
figures mostly measure the contention. Figures only; the exit status is 0.
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


async def one_level(url: str, streams: int, workers: int, output_len: int, ray: str | None = None):
    """One level of `streams` streams on `workers` client processes (or Ray actors: `ray`)."""
    config = RunConfig(
        server=url,
        model="auto",
        concurrency=[streams],
        num_prompts=streams * 3,
        input_len=64,
        output_len=output_len,
        warmup=0,
        workers=workers,
        ray=ray,
    )
    kept: dict = {}
    controller = RunController(config, gpu=False)
    controller.subscribe(lambda e: kept.__setitem__("records", e.records) if isinstance(e, LevelFinished) else None)
    result = await controller.run()
    return result.levels[0], kept["records"]


def errors(level, records, log) -> list[float]:
    ok = [r for r in records if r.ok]
    ttft = np.array([(log[r.request_id]["chunk_send_ns"][0] - r.t_start_ns) / 1e6 for r in ok])
    itl = np.concatenate([np.diff(log[r.request_id]["chunk_send_ns"]) for r in ok]) / 1e6
    return [
        level.ttft_ms.p50 - float(np.percentile(ttft, 50)),
        level.ttft_ms.p99 - float(np.percentile(ttft, 99)),
        level.itl_ms.p50 - float(np.percentile(itl, 50)),
        level.itl_ms.p99 - float(np.percentile(itl, 99)),
        level.client.cpu_percent or 0.0,
        level.client.loop_lag_ms.p99 or 0.0,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="256,512")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output-len", type=int, default=64)
    args = parser.parse_args()
    print(
        f"{'streams':>7} {'workers':>7}  {'TTFT p50 err':>12} {'TTFT p99 err':>12} {'ITL p50 err':>11} {'ITL p99 err':>11} {'CPU % max':>9} {'lag p99':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for streams in (int(s) for s in args.streams.split(",")):
            for workers in (int(w) for w in args.workers.split(",")):
                runs = []
                for repeat in range(args.repeats):
                    log_path = Path(tmp) / f"log-{streams}-{workers}-{repeat}.jsonl"
                    with SimulatorProcess(
                        ttft_ms=50, itl_ms=20, step_us_per_seq=10, prefill_us_per_token=0, max_seqs=streams, chunk_log=log_path
                    ) as sim:
                        level, records = asyncio.run(one_level(sim.url, streams, workers, args.output_len))
                        runs.append(errors(level, records, sim.read_chunk_log(*(r.request_id for r in records if r.ok))))
                m = np.median(np.array(runs), axis=0)
                print(
                    f"{streams:>7} {workers:>7}  {m[0]:>+12.2f} {m[1]:>+12.2f} {m[2]:>+11.2f} {m[3]:>+11.2f} {m[4]:>9.0f} {m[5]:>7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
