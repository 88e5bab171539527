"""What Ray costs: the same level read by N client processes (`--workers N`) and by N Ray
actors (`--ray`), chunks read per second and the TTFT / ITL error against the simulator's log.

    python3 bench/ray_bench.py [--streams 256] [--workers 1,2,4] [--repeats 3]

Needs the `[ray]` extra. It runs itself in a network namespace of its own whose only interface
is loopback (as root, with `unshare`), so that the local Ray cluster it starts talks on
127.0.0.1. One fresh simulator per level, as bench/workers_bench.py does; medians of
--repeats runs. On a machine with fewer free cores than processes the figures mostly measure
the contention. Figures only; the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers_bench import errors, one_level  # noqa: E402

from llm_loadtest.simulator.process import SimulatorProcess  # noqa: E402

IN_NAMESPACE = "LLM_LOADTEST_BENCH_NETNS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=256)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output-len", type=int, default=64)
    args = parser.parse_args()
    if os.environ.get(IN_NAMESPACE) != "1":
        if shutil.which("unshare") is None:
            sys.exit("bench/ray_bench.py: needs unshare (util-linux), to keep Ray on loopback")
        script = 'ip link set lo up && exec "$@"'
        env = {**os.environ, IN_NAMESPACE: "1"}
        sys.exit(subprocess.call(["unshare", "--net", "sh", "-c", script, "sh", sys.executable, *sys.argv], env=env))

    import ray

    counts = [int(w) for w in args.workers.split(",")]
    ray.init(num_cpus=max(counts), include_dashboard=False, log_to_driver=False)
    print(
        f"{'engine':>9} {'workers':>7}  {'chunks/s':>9} {'TTFT p50 err':>12} {'TTFT p99 err':>12} {'ITL p50 err':>11} {'ITL p99 err':>11} {'CPU % max':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for workers in counts:
            for engine, address in (("processes", None), ("ray", "auto")):
                runs = []
                for repeat in range(args.repeats):
                    log_path = Path(tmp) / f"log-{engine}-{workers}-{repeat}.jsonl"
                    with SimulatorProcess(
                        ttft_ms=50, itl_ms=20, step_us_per_seq=10, prefill_us_per_token=0, max_seqs=args.streams, chunk_log=log_path
                    ) as sim:
                        level, records = asyncio.run(one_level(sim.url, args.streams, workers, args.output_len, address))
                        chunks = sum(len(r.chunk_times_ns) for r in records)
                        runs.append(
                            [
                                chunks / level.duration_s,
                                *errors(level, records, sim.read_chunk_log(*(r.request_id for r in records if r.ok)))[:5],
                            ]
                        )
                m = np.median(np.array(runs), axis=0)
                print(
                    f"{engine:>9} {workers:>7}  {m[0]:>9,.0f} {m[1]:>+12.2f} {m[2]:>+12.2f} {m[3]:>+11.2f} {m[4]:>+11.2f} {m[5]:>9.0f}",
                    flush=True,
                )
    ray.shutdown()


if __name__ == "__main__":
    main()
