"""`llm-loadtest run` without --headless: the app runs the benchmark with the command's
--output, --log-file, --fail-under-goodput and telemetry flags, as headless does."""

from __future__ import annotations

import json

import pytest
from test_tui_e2e import wait_for

from llm_loadtest.cli.run_options import AppRuns, RunOptions
from llm_loadtest.model.config import GoodputSLO, RunConfig
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.live_run import LiveRunScreen

pytestmark = pytest.mark.slow


async def test_the_app_writes_the_output_and_log_and_exits_by_the_goodput_floor(tui_env, simulator):
    sim = simulator(itl_ms=2, ttft_ms=20)
    output, log = tui_env / "result.json", tui_env / "run.jsonl"
    # every TTFT is above 1 ms: goodput 0 %, under the 50 % floor
    config = RunConfig(
        server=sim.url, model="auto", concurrency=[1, 2], num_prompts=4, input_len=16, output_len=4, warmup=0, goodput=GoodputSLO(ttft_ms=1)
    )
    runs = AppRuns(RunOptions(output=output, log_file=log, fail_under_goodput=50, gpu=False, metrics_url="http://127.0.0.1:9/metrics"))
    app = LoadTestApp(db=str(tui_env / "runs.db"), initial_config=config, start_live=True, controller_factory=runs.controller)
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LiveRunScreen) and app.screen.state in ("finished", "failed"), timeout=60)
        live = app.screen
        assert live.state == "finished", live.message
        run_id = live.result.run_id
    assert app.run_exit_code == 0  # the app knows nothing of the floor
    assert runs.finish(app.run_exit_code) == 1

    written = json.loads(output.read_text())
    assert written["run_id"] == run_id and [level["goodput"]["percent"] for level in written["levels"]] == [0.0, 0.0]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert {event["run_id"] for event in events} == {run_id}
    kinds = [event["event"] for event in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and kinds.count("level_end") == 2
    # the telemetry flags reached the controller: no GPU sampling, the given metrics URL tried
    assert live.result.gpu_samples == [] and live.result.server_samples == []
