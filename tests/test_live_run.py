"""The live run's state (tui.live_state) fed by engine events, and the live screen drawing it."""

from __future__ import annotations

import numpy as np
from tui_helpers import live_app, wait_for

from llm_loadtest.engine.benchmark import level_summary
from llm_loadtest.engine.events import LevelFinished, LevelStarted, ProgressSnapshot, RunFinished, RunStarted
from llm_loadtest.metrics.client_clock import ClockFacts
from llm_loadtest.metrics.client_health import level_client_health
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import ClientHealth, LevelSummary, RunResult, utc_now
from llm_loadtest.tui.live_state import LiveRunState
from llm_loadtest.tui.screens.live_run import LiveRunScreen
from llm_loadtest.tui.widgets.level_table import LevelTable

CONFIG = RunConfig(server="http://127.0.0.1:9", model="m", concurrency=[1, 2, 4], num_prompts=10, warmup=0)


def snapshot(level: int, *, client: ClientHealth | None = None, phase: str = "running") -> ProgressSnapshot:
    spec = CONFIG.levels()[level]
    return ProgressSnapshot(
        t=1.0 + level,
        level_index=level,
        n_levels=3,
        level_label=spec.label,
        phase=phase,
        completed=4,
        failed=0,
        in_flight=spec.concurrency or 1,
        target=10,
        level_elapsed_s=1.0,
        level_duration_s=None,
        output_tokens=64,
        output_throughput=100.0,
        client=client,
    )


def finished(level: int, lag_ms: float = 0.5) -> LevelFinished:
    """A level's end, its summary computed as the engine computes it (no requests needed)."""
    summary = level_summary(CONFIG, CONFIG.levels()[level], [], np.full(100, lag_ms), 20.0)
    return LevelFinished(level_index=level, summary=summary, records=[])


def result(status: str, levels: list[LevelSummary]) -> RunResult:
    return RunResult(run_id="run-1", status=status, started_at=utc_now(), config=CONFIG, levels=levels)


def run_into_level_1(state: LiveRunState) -> None:
    state.started("run-1")
    for event in (RunStarted("m"), LevelStarted(0, 3, "c=1"), snapshot(0), finished(0), LevelStarted(1, 3, "c=2"), snapshot(1)):
        state.take(event)


def test_the_level_an_abort_cuts_reads_aborted_and_the_others_keep_theirs():
    state = LiveRunState(CONFIG)
    run_into_level_1(state)
    assert state.level_states() == [("c=1", "done"), ("c=2", "running"), ("c=4", "pending")]
    assert state.request_abort() and state.phase == "aborting"
    cut = finished(1)  # what the level measured before the stop
    state.take(cut)
    state.take(RunFinished(result("aborted", [finished(0).summary, cut.summary])))
    assert state.phase == "finished" and state.result is not None and state.result.status == "aborted"
    assert state.level_states() == [("c=1", "done"), ("c=2", "aborted"), ("c=4", "pending")]
    assert not state.request_abort()  # nothing left to stop


def test_a_run_stopped_elsewhere_marks_the_level_it_was_in_aborted():
    state = LiveRunState(CONFIG)
    run_into_level_1(state)  # a signal stops it: no abort from this screen, no end for level 1
    state.take(RunFinished(result("aborted", [finished(0).summary])))
    assert state.level_states() == [("c=1", "done"), ("c=2", "aborted"), ("c=4", "pending")]


def test_a_completed_run_has_every_level_done():
    state = LiveRunState(CONFIG)
    run_into_level_1(state)
    state.take(finished(1))
    state.take(LevelStarted(2, 3, "c=4"))
    state.take(finished(2))
    state.take(RunFinished(result("completed", [finished(i).summary for i in range(3)])))
    assert [level for _, level in state.level_states()] == ["done", "done", "done"]


def test_health_is_the_engines_while_a_level_runs_then_the_stored_levels():
    state = LiveRunState(CONFIG)
    state.started("run-1")
    spec = CONFIG.levels()[0]
    live = level_client_health(spec, np.full(50, 9.0), 30.0, None)  # what the engine's snapshot carries
    state.take(snapshot(0, client=live))
    view = state.health()
    assert view.distorted and view.warnings == live.warnings and view.loop_lag_p99_ms == 9.0 and view.cpu_percent == 30.0
    # the level ends below the threshold: the stored health is the one shown, and it does not warn
    end = finished(0, lag_ms=4.5)
    state.take(snapshot(0, client=end.summary.client, phase="done"))
    state.take(end)
    view = state.health()
    assert not view.distorted and view.loop_lag_p99_ms == 4.5
    # a level that warned keeps its warning in view while the next one runs
    state.take(LevelStarted(1, 3, "c=2"))
    state.take(snapshot(1, client=level_client_health(CONFIG.levels()[1], np.full(50, 1.0), 30.0, None)))
    assert not state.health().distorted
    state.take(finished(1, lag_ms=8.0))
    assert state.health().warnings == state.levels[1].client.warnings != []


def test_changes_say_what_to_redraw_once():
    state = LiveRunState(CONFIG)
    assert state.take_changes() == {"lines"}
    state.take(RunStarted("resolved-model"))
    state.take(snapshot(0))
    assert state.take_changes() == {"title", "lines", "time"} and state.model == "resolved-model"
    assert not state.changed and state.take_changes() == set()
    state.take(finished(0))
    assert state.take_changes() == {"lines", "levels"}


# --- the screen, over a real engine and simulator --------------------------------------------


async def test_an_aborted_level_shows_as_aborted(simulator, tui_env):
    sim = simulator(ttft_ms=5, itl_ms=5, step_us_per_seq=0, prefill_us_per_token=0)
    config = RunConfig(server=sim.url, model="auto", concurrency=[1, 2, 4], num_prompts=400, input_len=16, output_len=32, warmup=0)
    async with live_app(config, tui_env) as (pilot, live, store):

        def some_requests_done() -> bool:
            snap = live.run_state.snapshot
            return snap is not None and snap.completed >= 3

        await wait_for(pilot, some_requests_done, what="requests of the first level", timeout=60)
        live.abort()
        await wait_for(pilot, lambda: live.run_state.phase == "finished", what="the end of the run", timeout=60)
        await wait_for(pilot, lambda: live.drawn, what="the last tick", timeout=60)
        progress = str(live.query_one("#progress").render())
        chips = str(live.query_one("#level-chips").render())
        table = live.query_one("#level-table", LevelTable)
        rows = [table.get_row_at(index) for index in range(table.row_count)]
        status = live.run_state.result.status
        [stored] = store.get_result(live.run_state.result.run_id).levels
    assert status == "aborted"
    assert stored.partial and 0 < stored.requests.total < 400  # the app's stop cuts it as a signal does
    assert "Level 1/3 c=1 (aborted)" in progress and "(done)" not in progress
    assert "c=1 ■" in chips and "✓" not in chips and "c=2 ·" in chips
    assert [row[0] for row in rows] == ["c=1 (partial)"]  # as `show` and the summary table write it


def test_health_names_the_clock_once_the_engine_summed_it_up():
    state = LiveRunState(CONFIG)
    state.started("run-1")
    spec = CONFIG.levels()[0]
    state.take(snapshot(0, client=level_client_health(spec, np.full(50, 1.0), 30.0, None)))
    assert state.health().clock is None  # a level's live health has no clock yet
    facts = ClockFacts(clock="kernel", send_delay_ms=np.array([0.2, 0.4]), coalesced_chunks=3, chunks=600, clock_steps=0)
    state.take(snapshot(0, client=level_client_health(spec, np.full(50, 1.0), 30.0, None, clock=facts)))
    assert state.health().clock == "kernel"


def test_the_title_says_on_how_many_nodes_the_ray_actors_run():

    config = CONFIG.model_copy(update={"workers": 4, "ray": "auto"})
    screen = LiveRunScreen(config)
    assert "4 client processes" in screen._title_text().plain and "nodes" not in screen._title_text().plain
    screen.run_state.take(RunStarted("m", nodes=2))
    assert "4 client processes on 2 nodes" in screen._title_text().plain
