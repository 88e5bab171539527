"""What `recommend` spends to reach an answer, against a plain sweep 1, 2, 4, ..., 512.

    python3 bench/recommend_bench.py [--quick]

The simulator is given a knee (TPOT = itl_ms + step_us_per_seq * users / 1000 under an SLO,
see simulator/batching.py); the search runs against it, then the sweep does, each level
sized as a search probe would be (at least --probe-requests, 3 per user, --probe-seconds at
the expected rate). Prints the time and requests each spent, and what each can say about the
knee: the search brackets it to one user, the sweep only to a factor of two. Figures only;
nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_loadtest.capacity.probes import expected_rate, probe_requests  # noqa: E402
from llm_loadtest.capacity.search import CapacitySearch  # noqa: E402
from llm_loadtest.engine.controller import RunController  # noqa: E402
from llm_loadtest.model.config import GoodputSLO, RunConfig  # noqa: E402
from llm_loadtest.model.search import SearchTarget  # noqa: E402
from llm_loadtest.simulator.batching import implied_knee  # noqa: E402
from llm_loadtest.simulator.options import SimOptions  # noqa: E402
from llm_loadtest.simulator.process import SimulatorProcess  # noqa: E402

SIM = dict(ttft_ms=10, itl_ms=20, step_us_per_seq=2000, max_seqs=1024, prefill_us_per_token=0)
TPOT_SLO_MS = 101.0  # 20 + 2 C < 101: the knee is 40 users
INPUT_LEN, OUTPUT_LEN = 32, 8


def controller_for(config: RunConfig) -> RunController:
    return RunController(config, in_process=True, gpu=False)


async def search(url: str, target: SearchTarget) -> tuple[float, int, float | None, float | None, int]:
    config = RunConfig(server=url, model="auto", input_len=INPUT_LEN, output_len=OUTPUT_LEN, warmup=1)
    started = time.perf_counter()
    result = await CapacitySearch(config, target, make_controller=controller_for).run()
    elapsed = time.perf_counter() - started
    answer = result.search.answer
    return elapsed, sum(p.requests for p in result.search.probes), answer.holds, answer.misses, len(result.search.probes)


async def sweep(url: str, target: SearchTarget, levels: list[int]) -> tuple[float, int, int | None, int | None]:
    """Each level as its own run, sized as a probe; the last level that met the target and the first that missed."""
    base = RunConfig(server=url, model="auto", input_len=INPUT_LEN, output_len=OUTPUT_LEN, warmup=1, goodput=target.slo)
    done = []
    spent = 0
    started = time.perf_counter()
    holds = misses = None
    for users in levels:
        n = probe_requests(target, users, None, expected_rate(done, users))
        config = base.model_copy(update={"concurrency": [users], "num_prompts": n, "warmup": base.warmup if not done else 0})
        level = (await controller_for(config).run()).levels[0]
        done.append((users, level))
        spent += level.requests.total
        if level.goodput.percent >= target.goodput_percent:
            holds = users if misses is None else holds
        elif misses is None:
            misses = users
    return time.perf_counter() - started, spent, holds, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller probes, and the sweep up to 128 only")
    args = parser.parse_args()
    min_requests, min_seconds = (16, 1.0) if args.quick else (40, 3.0)
    top = 128 if args.quick else 512
    target = SearchTarget(
        mode="concurrency",
        slo=GoodputSLO(tpot_ms=TPOT_SLO_MS),
        goodput_percent=95,
        peak_concurrency=500,
        min_requests=min_requests,
        min_seconds=min_seconds,
        max_probes=24,
    )
    knee = implied_knee(SimOptions(**SIM), input_tokens=INPUT_LEN, output_tokens=OUTPUT_LEN, ttft_ms=None, tpot_ms=TPOT_SLO_MS)
    levels = [2**i for i in range(int(math.log2(top)) + 1)]
    with SimulatorProcess(**SIM) as sim:
        s_time, s_requests, s_holds, s_misses, s_probes = asyncio.run(search(sim.url, target))
        w_time, w_requests, w_holds, w_misses = asyncio.run(sweep(sim.url, target, levels))
    print(
        f"simulator knee implied by its parameters: {knee} users (TPOT SLO {TPOT_SLO_MS:g} ms, probes >= {min_requests} requests, >= {min_seconds:g} s)"
    )
    print(f"{'':24}{'wall s':>8}{'requests':>10}  knee bracket")
    print(f"{'recommend (' + str(s_probes) + ' probes)':24}{s_time:8.1f}{s_requests:10d}  meets {s_holds:g}, misses {s_misses:g}")
    print(
        f"{'sweep 1..' + str(top) + ' (' + str(len(levels)) + ' levels)':24}{w_time:8.1f}{w_requests:10d}  meets {w_holds}, misses {w_misses}"
    )
    print(f"recommend spent {s_time / w_time * 100:.0f} % of the sweep's time and {s_requests / w_requests * 100:.0f} % of its requests")


if __name__ == "__main__":
    main()
