"""The Ray scenarios of tests/test_ray.py, run in a network namespace of their own whose only
interface is loopback (so that Ray, which picks the machine's address for its node, talks on
127.0.0.1). Prints one JSON object: what the test asserts on.

    python tests/ray_scenario.py TMPDIR
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import ray
from chunk_truth import gap_bounds_ms

from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import LevelFinished, ProgressSnapshot, RunStarted
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.request_ids import parse_request_id
from llm_loadtest.simulator.process import SimulatorProcess


def run(config: RunConfig, on_event=None) -> tuple:
    controller = RunController(config, gpu=False)
    events: list = []
    controller.subscribe(events.append)
    if on_event is not None:
        controller.subscribe(lambda event: on_event(controller, event))
    result = asyncio.run(controller.run())
    records = [r for e in events if isinstance(e, LevelFinished) for r in e.records]
    return result, records, events


def figures(result, records, log) -> dict:
    level = result.levels[0]
    # a chunk's stamp against the simulator's write of it (one machine: one CLOCK_MONOTONIC)
    stamp_error = [
        (int(r.chunk_times_ns[0]) - log[r.request_id]["chunk_send_ns"][0]) / 1e6 for r in records if r.ok and r.request_id in log
    ]
    return {
        "status": result.status,
        "succeeded": level.requests.succeeded,
        "total": level.requests.total,
        "ids": len(records),
        "unique_ids": len({r.request_id for r in records}),
        "logged_ids": sum(1 for r in records if r.request_id in log),
        "workers": dict(Counter(parse_request_id(r.request_id).worker for r in records)),
        "itl_p50_ms": level.itl_ms.p50 if level.itl_ms else None,
        # what the simulator's log allows the p50 to be (chunk_truth)
        "itl_p50_bounds_ms": [float(np.percentile(gaps, 50)) for gaps in gap_bounds_ms(log[r.request_id] for r in records if r.ok)],
        "first_chunk_stamp_error_p50_ms": float(np.percentile(stamp_error, 50)) if stamp_error else None,
        "warnings": result.warnings,
        "client_nodes": result.environment.get("client_nodes"),
    }


def main(tmp: Path) -> dict:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out: dict = {"node_address": ray.util.get_node_ip_address()}
    with SimulatorProcess(ttft_ms=20, itl_ms=5, step_us_per_seq=0, prefill_us_per_token=0, chunk_log=tmp / "chunks.jsonl") as sim:
        base = dict(server=sim.url, model="auto", concurrency=[4], num_prompts=40, input_len=32, output_len=16, warmup=0, workers=2)
        for name, extra in (("processes", {}), ("ray", {"ray": "auto"})):
            result, records, events = run(RunConfig(**base, **extra))
            out[name] = figures(result, records, sim.read_chunk_log(*(r.request_id for r in records)))
            out[name]["run_started"] = [e.nodes for e in events if isinstance(e, RunStarted)]

        # an actor killed mid-level: the level says so and keeps what it had handed over
        killed: list[int] = []

        def kill_second_actor(controller, event) -> None:
            # well into the first level: the worker has handed over finished requests by now
            if isinstance(event, ProgressSnapshot) and event.level_index == 0 and event.completed >= 120 and not killed:
                actor = ray.get_actor(f"llm-loadtest-{controller.run_id[:8]}-w1")
                _, _, pid = ray.get(actor.where.remote())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        config = RunConfig(**{**base, "num_prompts": 400, "concurrency": [4, 8], "output_len": 32}, ray="auto")
        result, records, _ = run(config, kill_second_actor)
        log = sim.read_chunk_log(*(r.request_id for r in records))
        out["killed"] = {
            "status": result.status,
            "levels": len(result.levels),
            "killed": len(killed),
            "total": result.levels[0].requests.total if result.levels else 0,
            "by_worker": dict(Counter(parse_request_id(r.request_id).worker for r in records)),
            "logged": sum(1 for r in records if r.request_id in log),
            "unique_ids": len({r.request_id for r in records}),
            "ids": len(records),
            "level_warnings": result.levels[0].client.warnings if result.levels and result.levels[0].client else [],
            "warnings": result.warnings,
        }
    ray.shutdown()
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
