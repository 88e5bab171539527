"""How the engine's child process starts: the headless command, which has no other thread,
forks it (no second interpreter importing everything again); a process with threads spawns."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psutil

from llm_loadtest.engine.child import forking_is_safe
from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import LevelFinished, LevelStarted
from llm_loadtest.model.config import RunConfig
from tests.cli_helpers import headless_command


def engine_children(parent: psutil.Process) -> list[list[str]]:
    try:
        return [child.cmdline() for child in parent.children()]
    except psutil.Error:
        return []


def test_the_headless_command_forks_its_engine(simulator, tmp_path) -> None:
    sim = simulator(ttft_ms=5, itl_ms=50, step_us_per_seq=0)
    command = headless_command(sim.url, "-n", "2", "--warmup", "0", "--output-len", "60", "--db", str(tmp_path / "runs.db"))
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        parent = psutil.Process(run.pid)
        own = parent.cmdline()
        seen: list[list[str]] = []
        deadline = time.monotonic() + 120
        while not seen and run.poll() is None and time.monotonic() < deadline:
            seen = engine_children(parent)
            time.sleep(0.02)
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, err
    # a fork runs the parent's command line; a spawn would be `-c "from multiprocessing.spawn
    # ..."`, with a resource tracker process beside it
    assert seen == [own]


def test_every_probe_of_recommend_forks_its_engine(simulator) -> None:
    """Work done off the loop between probes (the GPU count, the store, the sampler) leaves no
    thread behind, so each probe's engine is forked too, not only the first."""
    sim = simulator(ttft_ms=5, itl_ms=30, step_us_per_seq=0)
    command = [sys.executable, "-m", "llm_loadtest", "recommend", "--headless", "-s", sim.url, "-m", "auto", "--goodput", "ttft:1000"]
    command += [
        "--peak-concurrency",
        "4",
        "--output-len",
        "6",
        "--probe-requests",
        "6",
        "--probe-seconds",
        "0.5",
        "--warmup",
        "0",
        "--no-save",
    ]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    engines: dict[int, list[str]] = {}
    try:
        parent = psutil.Process(run.pid)
        own = parent.cmdline()
        deadline = time.monotonic() + 180
        while run.poll() is None and time.monotonic() < deadline:
            try:
                engines.update({child.pid: child.cmdline() for child in parent.children()})
            except psutil.Error:
                pass
            time.sleep(0.01)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert len(sim.read_chunk_log()) > 6  # more than one probe ran
    assert len(engines) >= 2 and all(cmdline == own for cmdline in engines.values()), engines


def test_a_process_with_another_thread_does_not_fork() -> None:
    assert forking_is_safe() == (threading.active_count() == 1)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not forking_is_safe()
    finally:
        release.set()
        other.join()


async def test_a_level_larger_than_the_pipe_buffer_reaches_the_parent(simulator) -> None:
    """The engine's loop (uvloop) polls the pipe to its parent, which libuv makes non-blocking;
    a level's records pickled larger than the socket buffer, sent while the parent was busy,
    were then lost (EAGAIN in the sender thread): "the engine process ended unexpectedly"."""
    sim = simulator(ttft_ms=1, itl_ms=0, step_us_per_seq=0, prefill_us_per_token=0)
    config = RunConfig(server=sim.url, model="auto", concurrency=[32], num_prompts=1200, input_len=16, output_len=64, warmup=0)
    controller = RunController(config, in_process=False, gpu=False)
    records = []

    def busy_parent(event) -> None:
        if isinstance(event, LevelStarted):
            # the parent reads nothing until the simulator has answered every request, and a
            # moment more: the child sends the level's records into a pipe nobody drains
            sim.read_chunk_log(at_least=1200)
            time.sleep(1.0)
        elif isinstance(event, LevelFinished):
            records.extend(event.records)

    controller.subscribe(busy_parent)
    result = await controller.run()
    assert result.status == "completed", result.warnings
    assert len(records) == 1200 and all(r.ok for r in records)
    assert sum(r.chunk_times_ns.nbytes for r in records) > 512 * 1024  # far more than a socket buffer holds
