"""How the engine's child process starts: the headless command, which has no other thread,
forks it (no second interpreter importing everything again); a process with threads spawns."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import psutil
import pytest

from llm_loadtest.engine.child import forking_is_safe
from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.event_loop import run_engine
from llm_loadtest.engine.events import LevelFinished, LevelStarted
from llm_loadtest.model.config import RunConfig
from tests.cli_helpers import headless_command


def engine_children(parent: psutil.Process) -> list[list[str]]:
    try:
        # an engine that has just ended reads as a zombie, with no command line
        return [cmdline for child in parent.children() if (cmdline := child.cmdline())]
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
                # an engine that has just ended reads as a zombie, with no command line
                engines.update({child.pid: cmdline for child in parent.children() if (cmdline := child.cmdline())})
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


async def a_level_larger_than_the_pipe_buffer(sim) -> tuple:
    """The engine's loop (uvloop) polls the pipe to its parent, and so may the parent's own loop:
    libuv makes a polled descriptor non-blocking, and a level's records pickled larger than the
    socket buffer were then lost half-way (EAGAIN in the child's sender thread, or in the
    parent's read of a message not wholly arrived): "the engine process ended unexpectedly"."""
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
    return await controller.run(), records


def assert_whole(result, records) -> None:
    assert result.status == "completed", result.warnings
    assert len(records) == 1200 and all(r.ok for r in records)
    assert sum(r.chunk_times_ns.nbytes for r in records) > 512 * 1024  # far more than a socket buffer holds


async def test_a_level_larger_than_the_pipe_buffer_reaches_the_parent(simulator) -> None:
    sim = simulator(ttft_ms=1, itl_ms=0, step_us_per_seq=0, prefill_us_per_token=0)
    assert_whole(*await a_level_larger_than_the_pipe_buffer(sim))


def test_the_pipe_stays_blocking_on_either_side_whatever_the_loop() -> None:
    """What the test above needs of the parent's side too, where a race decides whether a
    half-arrived message is read: the engine's pipe ends stay blocking under uvloop."""
    import multiprocessing
    import os

    from llm_loadtest.engine.child import _watch

    pytest.importorskip("uvloop")

    async def polled() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        plain, watched = multiprocessing.Pipe(duplex=True)
        try:
            loop.add_reader(plain.fileno(), lambda: None)
            _watch(loop, watched, lambda: None)
            blocking = os.get_blocking(plain.fileno()), os.get_blocking(watched.fileno())
            loop.remove_reader(plain.fileno())
            loop.remove_reader(watched.fileno())
            return blocking
        finally:
            plain.close()
            watched.close()

    assert run_engine(polled()) == (False, True)  # libuv made the plain one non-blocking
    assert run_engine(polled(), prefer_uvloop=False) == (True, True)
