"""Find capacity in the app, from the keyboard, against the simulator over HTTP on 127.0.0.1
and a real SQLite file: the question asked from the new benchmark form, the search live,
its answer as the headline, its probes stored as a run."""

from __future__ import annotations

import pytest
from textual.widgets import Input
from tui_helpers import wait_for

from llm_loadtest.engine.controller import RunController
from llm_loadtest.model.config import RunConfig
from llm_loadtest.simulator.batching import implied_knee
from llm_loadtest.simulator.options import SimOptions
from llm_loadtest.storage.store import Store
from llm_loadtest.tui.app import LoadTestApp
from llm_loadtest.tui.screens.capacity import CapacityDialog, CapacityScreen
from llm_loadtest.tui.screens.result_view import ResultScreen
from llm_loadtest.tui.widgets.charts import Chart

pytestmark = pytest.mark.slow

# TPOT = 60 + 10 C ms: under 155 ms up to 9 users (see simulator/batching.py)
KNEE = dict(ttft_ms=10, itl_ms=60, step_us_per_seq=10_000, max_seqs=64, prefill_us_per_token=0)


def in_process(config: RunConfig, *, api_key: str | None = None, store=None) -> RunController:
    return RunController(config, api_key=api_key, store=store, in_process=True, gpu=False, telemetry_interval_s=0.2)


async def test_find_capacity_from_the_form_runs_live_and_headlines_the_answer(simulator, tui_env):
    sim = simulator(**KNEE)
    knee = implied_knee(SimOptions(**KNEE), input_tokens=32, output_tokens=4, ttft_ms=None, tpot_ms=155)
    config = RunConfig(server=sim.url, model="sim-model", input_len=32, output_len=4, warmup=1)
    with Store.open(str(tui_env / "runs.db")) as store:
        app = LoadTestApp(store=store, initial_config=config, controller_factory=in_process)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+f")
            await wait_for(pilot, lambda: isinstance(app.screen, CapacityDialog), 10, "the question")
            dialog = app.screen
            for key, value in (("slo", "tpot:155"), ("peak", "40"), ("requests", "8"), ("seconds", "0.5")):
                dialog.query_one(f"#cap-{key}", Input).value = value
            dialog.query_one("#cap-slo", Input).focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CapacityScreen), 10, "the capacity screen")
            screen = app.screen
            # live: the first probe's point appears before the search ends
            await wait_for(pilot, lambda: screen.state.probes, 60, "a first probe")
            await wait_for(pilot, lambda: screen.state.done, 240, "the end of the search")
            await pilot.pause(0.5)
            assert screen.state.failure is None, screen.state.failure
            answer = screen.state.result.search.answer
            assert abs(answer.holds - knee) <= 1 and answer.stop == "bracketed"
            headline = str(screen.query_one("#cap-answer").render())
            assert headline.startswith(f"one replica holds {answer.holds:g} concurrent users") and "replicas" in headline
            goodput = screen.query_one("#cap-goodput", Chart)
            # the target line, then the probes that met it and those that missed it
            assert sum(goodput.series_points()[1:]) == len(screen.state.probes)
            assert goodput._y_max == 105  # textual-plot's current top: goodput % keeps its fixed axis
            assert screen.query_one("#cap-pareto", Chart).series_points()[0] == len(screen.state.probes)
            assert app.run_exit_code == 0
            # the whole search fits the 80 x 24 screen
            for widget in ("#cap-title", "#cap-status", "#cap-answer", "#cap-goodput", "#cap-pareto"):
                region = screen.query_one(widget).region
                assert region.right <= 80 and region.bottom <= 24 and region.height > 0, widget
            # its probes are a stored run, opened like any other
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen), 10, "the result view")
        stored = store.get_result(screen.state.result.run_id)
        assert len(stored.levels) == len(screen.state.probes) and stored.search.answer.holds == answer.holds


async def test_the_question_refuses_a_missing_slo_in_one_line(tui_env):
    app = LoadTestApp(db="sqlite://", initial_config=RunConfig(server="http://127.0.0.1:9", model="m"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: isinstance(app.screen, CapacityDialog), 10, "the question")
        app.screen.query_one("#cap-slo", Input).value = ""
        app.screen.query_one("#cap-peak", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CapacityDialog)
        assert "--goodput" in str(app.screen.query_one("#cap-error").render())
