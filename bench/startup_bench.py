"""What starting the command costs: `llm-loadtest --help`, and a one-request headless run.

    python3 bench/startup_bench.py [--runs N]

Prints the median of N runs (default 7) of:
- `llm-loadtest --help`: wall and CPU seconds (goal: under 0.3 s);
- `llm-loadtest run --headless ... -n 1` against the simulator this script starts on loopback:
  wall seconds and CPU seconds (user + system, the command and the engine process it spawns;
  goal: 0.5 CPU-s);
- the same run with `--in-process` (the requests in the command's own process: what the
  engine's second process costs is the difference);
- what importing the libraries such a run needs costs alone (`python -c "import ..."`): the
  floor under the run's figure that no change of ours can lower.
Figures only; nothing here passes or fails. On a busy machine the wall figures grow, the CPU
figures much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llm_loadtest.simulator.process import SimulatorProcess  # noqa: E402

COMMAND = [sys.executable, "-m", "llm_loadtest"]
# the third-party libraries a headless run against an http:// server imports (--no-save: no
# sqlmodel); OPENBLAS_NUM_THREADS as the command sets it
RUN_LIBRARIES = ("pydantic", "numpy", "aiohttp", "httpx_sse", "tiktoken", "orjson", "httptools")


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one command (its own and its children's, once it has waited for them)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {"OPENBLAS_NUM_THREADS": "1", **os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs

    helps = [timed([*COMMAND, "--help"]) for _ in range(runs)]
    walls, cpus = zip(*helps, strict=True)
    print(
        f"llm-loadtest --help: {statistics.median(walls):.3f} s wall, {statistics.median(cpus):.3f} CPU-s (median of {runs}; goal < 0.3 s)"
    )

    # the simulator is a child of this process that is not waited for until the end, so its
    # CPU time is not in the run's figures
    with SimulatorProcess(ttft_ms=5, itl_ms=1) as simulator:
        run = [*COMMAND, "run", "--headless", "-s", simulator.url, "-m", "auto", "-n", "1", "--warmup", "0"]
        run += ["--output-len", "8", "--input-len", "32", "--no-save", "--no-gpu"]
        figures = [timed(run) for _ in range(runs)]
        in_process = [timed([*run, "--in-process"]) for _ in range(runs)]
    walls, cpus = zip(*figures, strict=True)
    print(
        f"one-request headless run: {statistics.median(walls):.3f} s wall, {statistics.median(cpus):.3f} CPU-s "
        f"(median of {runs}; goal 0.5 CPU-s)"
    )
    walls, cpus = zip(*in_process, strict=True)
    print(f"  the same, --in-process: {statistics.median(walls):.3f} s wall, {statistics.median(cpus):.3f} CPU-s (median of {runs})")
    floor = [timed([sys.executable, "-c", f"import {', '.join(RUN_LIBRARIES)}"]) for _ in range(runs)]
    walls, cpus = zip(*floor, strict=True)
    print(
        f"  importing {', '.join(RUN_LIBRARIES)} alone: {statistics.median(walls):.3f} s wall, "
        f"{statistics.median(cpus):.3f} CPU-s (median of {runs})"
    )


if __name__ == "__main__":
    main()
