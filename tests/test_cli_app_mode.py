"""`llm-loadtest run` without --headless: the app runs the benchmark with the command's
--output, --log-file, --fail-under-goodput and telemetry flags, as headless does."""

from __future__ import annotations

import fcntl
import json
import math
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading

import pytest
from test_cli_run import served, wait_until
from test_tui_e2e import wait_for

from llm_loadtest.cli.run_options import AppRuns, RunOptions
from llm_loadtest.model.config import GoodputSLO, RunConfig
from llm_loadtest.storage import Store
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.live_run import LiveRunScreen
from llm_loadtest.tui.screens.result_view import ResultScreen

pytestmark = pytest.mark.slow


async def test_the_app_writes_the_output_and_log_and_exits_by_the_goodput_floor(tui_env, simulator):
    sim = simulator(itl_ms=2, ttft_ms=20)
    output, log = tui_env / "result.json", tui_env / "run.jsonl"
    # every TTFT is above 1 ms: goodput 0 %, under the 50 % floor
    config = RunConfig(
        server=sim.url, model="auto", concurrency=[1, 2], num_prompts=4, input_len=16, output_len=4, warmup=0, goodput=GoodputSLO(ttft_ms=1)
    )
    runs = AppRuns(RunOptions(output=output, log_file=log, fail_under_goodput=50, gpu=False, metrics_url="http://127.0.0.1:9/metrics"))
    app = LoadTestApp(
        db=str(tui_env / "runs.db"),
        initial_config=config,
        start_live=True,
        controller_factory=runs.controller,
        gate=runs.options.gate_misses,
    )
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.phase in ("finished", "failed"), timeout=60
        )
        live = app.screen
        assert live.run_state.phase == "finished", live.run_state.message
        run_id = live.run_state.result.run_id
        # the app says which level missed, as the command line does on stderr
        await wait_for(pilot, lambda: len([n for n in app._notifications if n.title == "Gate missed"]) == 2)
        said = sorted(n.message for n in app._notifications if n.title == "Gate missed")
        assert said == [f"goodput gate missed: level c={c}: goodput 0.0 % is under the 50 % floor" for c in (1, 2)]
    assert app.run_exit_code == 0  # the run itself completed; the floor is the command's
    assert runs.finish(app.run_exit_code) == 1

    written = json.loads(output.read_text())
    assert written["run_id"] == run_id and [level["goodput"]["percent"] for level in written["levels"]] == [0.0, 0.0]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert {event["run_id"] for event in events} == {run_id}
    kinds = [event["event"] for event in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and kinds.count("level_end") == 2
    # the telemetry flags reached the controller: no GPU sampling, the given metrics URL tried
    assert live.run_state.result.gpu_samples == [] and live.run_state.result.server_samples == []


async def test_the_app_takes_an_infinite_rate_and_shows_its_result(tui_env, simulator):
    sim = simulator(itl_ms=2, ttft_ms=20)
    config = RunConfig(
        server=sim.url, model="auto", request_rate=[math.inf], max_concurrency=3, num_prompts=6, input_len=16, output_len=4, warmup=0
    )
    app = LoadTestApp(
        db=str(tui_env / "runs.db"), initial_config=config, start_live=True, controller_factory=AppRuns(RunOptions(gpu=False)).controller
    )
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.run_state.phase in ("finished", "failed"), timeout=60
        )
        live = app.screen
        assert live.run_state.phase == "finished", live.run_state.message
        [level] = live.run_state.result.levels
        assert level.label == "inf req/s (max 3)" and level.requests.succeeded == 6
        app.open_result(live.run_state.result.run_id)
        await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen) and bool(app.screen.query("#levels")))


def test_sigterm_ends_the_apps_run_keeping_it_and_exits_143(simulator, tmp_path):
    """The app on a terminal, as a user runs it; SIGTERM to its process group, as `timeout` sends it."""
    sim = simulator(ttft_ms=5, itl_ms=20, step_us_per_seq=0)
    out, log, db = tmp_path / "term.json", tmp_path / "term.jsonl", tmp_path / "runs.db"
    argv = ["run", "-s", sim.url, "-m", "auto", "-c", "4,2", "-n", "40", "--output-len", "10", "--warmup", "0", "--no-gpu"]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    screen = bytearray()
    reader = threading.Thread(target=_drain, args=(master, screen), daemon=True)
    reader.start()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llm_loadtest", *argv, "--db", str(db), "-o", str(out), "--log-file", str(log)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        wait_until(lambda: len(served(sim)) >= 42)  # the first level is over, the second under way
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 143, screen.decode(errors="replace")[-2000:]
    finally:
        os.close(slave)
    data = json.loads(out.read_text())
    assert data["status"] == "aborted"
    first, second = data["levels"]
    assert first["requests"]["succeeded"] == 40 and 0 < second["requests"]["succeeded"] < 40
    kept = first["requests"]["succeeded"] + second["requests"]["succeeded"]
    with Store.open(str(db), must_exist=True) as store:
        by_level = store.get_records_by_level(data["run_id"])
    kept_ids = [record.request_id for records in by_level.values() for record in records if record.ok]
    # the simulator logs a request after its last bytes went out: wait for the kept ones' lines
    assert kept <= len(served(sim, *kept_ids)) <= kept + 2
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[-1]["event"] == "run_end" and events[-1]["status"] == "aborted"
    with Store.open(str(db), must_exist=True) as store:
        stored = store.get_result(data["run_id"])
    assert stored.status == "aborted" and [level.partial for level in stored.levels] == [False, True]


def _drain(fd: int, into: bytearray) -> None:
    """Read what the app draws, so that it never blocks on a full terminal."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into.extend(chunk)
