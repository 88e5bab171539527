"""The app's thread gives way to the engine; the engine's child keeps the normal priority.

Each case runs in a thread of its own: a lowered priority cannot be raised back, and it must
not reach the simulators that later tests start from pytest's thread.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
import time

import pytest

from llm_loadtest.engine.priority import HOST_NICENESS, start_process, yield_cpu_to_engine
from llm_loadtest.tui.app import LoadTestApp

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")


def in_thread(function):
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - raised again below
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if "error" in out:
        raise out["error"]
    return out["value"]


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_caller_gives_way_and_a_process_it_starts_keeps_the_normal_priority():
    normal = own_niceness()

    def host() -> tuple[int, int, int]:
        assert yield_cpu_to_engine()
        lowered = own_niceness()
        child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,), daemon=True)
        asyncio.run(start_process(child))
        try:
            # a process's first thread has the process's id
            engine = os.getpriority(os.PRIO_PROCESS, child.pid)
        finally:
            child.kill()
            child.join()
        plain = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,), daemon=True)
        plain.start()  # started the usual way, from the lowered thread
        try:
            inherited = os.getpriority(os.PRIO_PROCESS, plain.pid)
        finally:
            plain.kill()
            plain.join()
        return lowered, engine, inherited

    lowered, engine, inherited = in_thread(host)
    assert lowered == min(normal + HOST_NICENESS, 19)
    assert engine == normal
    assert inherited == lowered  # what start_process avoids
    assert own_niceness() == normal  # pytest's thread is untouched


def test_the_app_lowers_its_thread_only_when_asked(tmp_path):
    normal = own_niceness()

    def open_app(yield_cpu: bool) -> int:
        async def drive() -> int:
            app = LoadTestApp(settings_file=tmp_path / "ui.toml", yield_cpu=yield_cpu, db=str(tmp_path / "runs.db"))
            async with app.run_test():
                return own_niceness()

        return asyncio.run(drive())

    assert in_thread(lambda: open_app(False)) == normal
    assert in_thread(lambda: open_app(True)) == min(normal + HOST_NICENESS, 19)
