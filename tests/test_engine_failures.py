"""What a run keeps when something breaks: the engine process, the database, the user."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import LevelFinished, ProgressSnapshot, RunFailed
from llm_loadtest.model.config import RunConfig
from llm_loadtest.storage.store import Store


async def test_an_engine_process_that_dies_makes_a_failed_run_that_keeps_its_levels(simulator):
    sim = simulator(ttft_ms=5, itl_ms=5, step_us_per_seq=0)
    config = RunConfig(server=sim.url, model="auto", concurrency=[2, 2], num_prompts=6, output_len=40, warmup=0)
    controller = RunController(config, gpu=False)
    seen = []

    def on_event(event) -> None:
        seen.append(event)
        if isinstance(event, LevelFinished):
            for child in multiprocessing.active_children():
                if child.name == "llm-loadtest-engine":
                    os.kill(child.pid, signal.SIGKILL)

    controller.subscribe(on_event)
    result = await controller.run()
    assert result.status == "failed"
    assert len(result.levels) == 1 and result.levels[0].requests.succeeded == 6
    assert any("ended unexpectedly" in w for w in result.warnings)
    assert any(isinstance(e, RunFailed) for e in seen)


class FailingOnce:
    """A real store whose first level write fails, as a locked database would."""

    def __init__(self, store: Store):
        self.store = store
        self.failed = False

    def add_level(self, *args):
        if not self.failed:
            self.failed = True
            raise RuntimeError("database is locked")
        return self.store.add_level(*args)

    def __getattr__(self, name):
        return getattr(self.store, name)


async def test_a_failed_database_write_loses_nothing_else(simulator, tmp_path):
    sim = simulator(ttft_ms=5, itl_ms=1)
    config = RunConfig(server=sim.url, model="auto", concurrency=[1, 2], num_prompts=4, output_len=4, warmup=0)
    with Store.open(str(tmp_path / "runs.db")) as store:
        store = FailingOnce(store)
        controller = RunController(config, gpu=False, in_process=True, store=store)
        result = await controller.run()
        assert store.failed  # the first level's write did fail
        assert not any("not saved" in w for w in result.warnings)  # and was made good
        stored = store.store.get_result(controller.run_id)
        assert stored.status == "completed"
        assert [level.concurrency for level in stored.levels] == [1, 2]
        assert len(store.get_records(controller.run_id, 0)) == 4  # written again at the end
        assert len(store.get_records(controller.run_id, 1)) == 4


async def test_abort_stops_a_slow_rate_level_at_once(simulator):
    sim = simulator(ttft_ms=5, itl_ms=1)
    config = RunConfig(server=sim.url, model="auto", request_rate=[0.2], num_prompts=5, output_len=4, warmup=0)
    controller = RunController(config, gpu=False, in_process=True)

    def stop_after_first(event) -> None:
        if getattr(event, "completed", 0) >= 1:
            controller.abort()

    controller.subscribe(stop_after_first)
    result = await asyncio.wait_for(controller.run(), timeout=10)  # the next arrival is ~5 s away
    assert result.status == "aborted"
    assert result.levels[0].requests.total == 1
    assert result.levels[0].partial  # 4 of its 5 arrivals never came


async def test_a_level_an_abort_cuts_is_stored_partial_with_client_workers_too(simulator, tmp_path):
    sim = simulator(ttft_ms=5, itl_ms=20, step_us_per_seq=0)
    config = RunConfig(server=sim.url, model="auto", concurrency=[4, 8], num_prompts=400, output_len=10, warmup=0, workers=2)
    with Store.open(str(tmp_path / "runs.db")) as store:
        controller = RunController(config, gpu=False, store=store)

        def stop_once_going(event) -> None:
            if isinstance(event, ProgressSnapshot) and event.completed >= 4:
                controller.abort()

        controller.subscribe(stop_once_going)
        result = await controller.run()
        stored = store.get_result(controller.run_id)
    assert result.status == stored.status == "aborted"
    [level] = result.levels
    assert level.partial and 0 < level.requests.total < 400 and level.requests.failed == 0
    assert [level.partial for level in stored.levels] == [True]


PARENT_THAT_VANISHES = """
import asyncio, multiprocessing, os, sys
from llm_loadtest.model.config import RunConfig
from llm_loadtest.engine.controller import RunController

def main(url, workers):
    controller = RunController(
        RunConfig(server=url, model="auto", concurrency=[2, 2], num_prompts=5000, output_len=8, warmup=0, workers=workers),
        gpu=False,
    )
    def vanish(event):
        if type(event).__name__ == "ProgressSnapshot":
            print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
            os._exit(0)  # no cleanup at all, as a killed terminal
    controller.subscribe(vanish)
    asyncio.run(controller.run())

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_engine_processes_end_when_their_parent_vanishes_mid_level(simulator, tmp_path, workers):
    sim = simulator(ttft_ms=2, itl_ms=1)
    script = tmp_path / "parent.py"
    script.write_text(PARENT_THAT_VANISHES)
    out = subprocess.run([sys.executable, str(script), sim.url, str(workers)], capture_output=True, text=True, timeout=60)
    children = [int(pid) for pid in out.stdout.split()]
    assert len(children) == workers, out.stderr

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in children if alive(pid)]
    for pid in left:
        os.kill(pid, 9)
    assert not left, "engine processes outlived their parent"
