"""How the engine's child process starts: the headless command, which has no other thread,
forks it (no second interpreter importing everything again); a process with threads spawns."""

from __future__ import annotations

import subprocess
import threading
import time

import psutil

from llm_loadtest.engine.child import forking_is_safe
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
