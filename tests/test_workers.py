"""`--workers N`: several client processes share each level, in lock-step, and their records
make one level's figures. Against the simulator over HTTP, with its log of what it sent."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np
import pytest
from chunk_truth import assert_percentile_between, gap_bounds_ms

from llm_loadtest.engine.benchmark import RunStartError
from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import LevelFinished, ProgressSnapshot
from llm_loadtest.engine.pool import merge_snapshots
from llm_loadtest.engine.shares import level_share
from llm_loadtest.model.config import LevelSpec, RunConfig
from llm_loadtest.model.request_ids import parse_request_id

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "spec, prompts, workers, expected",
    [
        (LevelSpec(concurrency=10, request_rate=None), 100, 4, [(3, None, 30), (3, None, 30), (2, None, 20), (2, None, 20)]),
        (LevelSpec(concurrency=1, request_rate=None), 50, 3, [(1, None, 50), None, None]),
        (LevelSpec(concurrency=4, request_rate=None), 2, 4, [(1, None, 1), (1, None, 1), None, None]),
        (LevelSpec(concurrency=None, request_rate=6.0), 10, 4, [(None, 1.5, 3), (None, 1.5, 3), (None, 1.5, 2), (None, 1.5, 2)]),
        (LevelSpec(concurrency=3, request_rate=6.0), None, 4, [(1, 2.0, None), (1, 2.0, None), (1, 2.0, None), None]),
        (LevelSpec(concurrency=7, request_rate=None), 9, 1, [(7, None, 9)]),
    ],
)
def test_a_level_is_dealt_out_and_nothing_is_lost(spec, prompts, workers, expected):
    shares = [level_share(spec, prompts, worker, workers) for worker in range(workers)]
    assert [None if s is None else (s.concurrency, s.request_rate, s.num_prompts) for s in shares] == expected
    active = [s for s in shares if s is not None]
    if spec.concurrency is not None and (prompts is None or prompts >= spec.concurrency):
        assert sum(s.concurrency for s in active) == spec.concurrency
    if spec.request_rate is not None:
        assert sum(s.request_rate for s in active) == pytest.approx(spec.request_rate)
    if prompts is not None:
        assert sum(s.num_prompts for s in active) == prompts


def test_snapshots_add_up_and_keep_the_worst_tail():
    def snapshot(completed, failed, tput, p50, p99, phase="running"):
        return ProgressSnapshot(
            t=1.0,
            level_index=0,
            n_levels=1,
            level_label="c=4",
            phase=phase,
            completed=completed,
            failed=failed,
            in_flight=2,
            target=None,
            level_elapsed_s=1.0,
            level_duration_s=5.0,
            output_tokens=10 * completed,
            output_throughput=tput,
            ttft_p50_ms=p50,
            ttft_p99_ms=p99,
            errors={"http_500": failed} if failed else {},
        )

    merged = merge_snapshots([snapshot(6, 1, 100.0, 20.0, 40.0), snapshot(4, 0, 80.0, 30.0, 90.0, "done")], target=20)
    assert (merged.completed, merged.failed, merged.in_flight, merged.output_tokens) == (10, 1, 4, 100)
    assert merged.output_throughput == 180.0 and merged.ttft_p50_ms == 25.0 and merged.ttft_p99_ms == 90.0
    assert merged.error_rate == 0.1 and merged.errors == {"http_500": 1} and merged.phase == "running" and merged.target == 20


def in_flight_at_most(records) -> int:
    edges = sorted([(r.t_start_ns, 1) for r in records] + [(r.t_end_ns, -1) for r in records], key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


async def test_three_workers_run_each_level_together_and_their_records_make_its_figures(simulator):
    sim = simulator(ttft_ms=20, itl_ms=4, step_us_per_seq=0, prefill_us_per_token=0, max_seqs=64)
    config = RunConfig(server=sim.url, model="auto", concurrency=[1, 6], num_prompts=12, input_len=32, output_len=16, warmup=2, workers=3)
    controller = RunController(config, gpu=False)
    events: list = []
    controller.subscribe(events.append)
    result = await controller.run()
    assert result.status == "completed" and result.config.workers == 3
    levels = {e.level_index: e.records for e in events if isinstance(e, LevelFinished)}
    assert [lv.requests.succeeded for lv in result.levels] == [12, 12]

    ids = [r.request_id for records in levels.values() for r in records]
    assert len(set(ids)) == 24
    assert Counter(parse_request_id(r.request_id).worker for r in levels[0]) == {0: 12}  # one stream: one worker
    assert Counter(parse_request_id(r.request_id).worker for r in levels[1]) == {0: 4, 1: 4, 2: 4}
    # lock-step: the second level started after every worker ended the first
    assert min(r.t_start_ns for r in levels[1]) > max(r.t_end_ns for r in levels[0])
    # never more in flight than the level's concurrency, each worker its share (how many ran
    # at the same moment is the scheduler's affair on a busy machine, not the engine's)
    assert in_flight_at_most(levels[0]) == 1 and in_flight_at_most(levels[1]) <= 6
    for worker in range(3):
        assert in_flight_at_most([r for r in levels[1] if parse_request_id(r.request_id).worker == worker]) <= 2

    # the level's figures are those of all the records together, and match what the simulator did
    log = sim.read_chunk_log(*ids)
    level = result.levels[1]
    ttft = np.array([r.ttft_ns for r in levels[1]]) / 1e6
    assert level.ttft_ms.p50 == pytest.approx(np.percentile(ttft, 50))
    assert_percentile_between(level.itl_ms.p50, *gap_bounds_ms(log[r.request_id] for r in levels[1]))
    assert level.duration_s == pytest.approx((max(r.t_end_ns for r in levels[1]) - min(r.t_start_ns for r in levels[1])) / 1e9)
    assert sum(1 for e in events if type(e).__name__ == "RunStarted") == 1


async def test_an_open_loop_level_is_shared_at_the_same_total_rate(simulator):
    sim = simulator(ttft_ms=5, itl_ms=1)
    config = RunConfig(server=sim.url, model="auto", request_rate=[40.0], num_prompts=40, output_len=4, warmup=0, workers=2)
    controller = RunController(config, gpu=False)
    ends: list = []
    controller.subscribe(lambda e: ends.append(e) if isinstance(e, LevelFinished) else None)
    result = await controller.run()
    level = result.levels[0]
    assert level.requests.succeeded == 40
    # the two workers' plans (seeded: the same on any machine) make one of 40/s together
    planned = np.sort([r.t_scheduled_ns for r in ends[0].records]) / 1e9
    assert (len(planned) - 1) / (planned[-1] - planned[0]) == pytest.approx(40, rel=0.5)
    assert level.request_rate_achieved == pytest.approx(40 / level.duration_s)


async def test_a_stop_keeps_what_every_worker_finished(simulator):
    sim = simulator(ttft_ms=5, itl_ms=20)
    config = RunConfig(server=sim.url, model="auto", concurrency=[4], num_prompts=400, output_len=10, warmup=0, workers=2)
    controller = RunController(config, gpu=False)

    def stop_soon(event) -> None:
        if isinstance(event, ProgressSnapshot) and event.completed >= 8:
            controller.abort()

    controller.subscribe(stop_soon)
    result = await asyncio.wait_for(controller.run(), timeout=30)
    assert result.status == "aborted"
    level = result.levels[0]
    assert 8 <= level.requests.total < 400 and level.requests.failed == 0


async def test_an_unreachable_server_is_one_failure_not_one_per_worker():
    config = RunConfig(server="http://127.0.0.1:9", model="m", num_prompts=2, warmup=0, workers=3)
    controller = RunController(config, gpu=False)
    failures: list = []
    controller.subscribe(lambda e: failures.append(e) if type(e).__name__ == "RunFailed" else None)
    with pytest.raises(RunStartError) as raised:
        await controller.run()
    assert raised.value.exit_code == 3 and len(failures) == 1


def test_workers_out_of_range_is_a_configuration_error():
    with pytest.raises(ValueError, match="must be 1 to 64 client processes"):
        RunConfig(server="http://127.0.0.1:9", model="m", workers=65)


async def test_a_worker_that_cannot_start_ends_the_run_instead_of_leaving_the_others_waiting(simulator, monkeypatch):
    import llm_loadtest.engine.child as child

    real_start, starts = child.start_process, []

    async def second_fails(process) -> None:
        starts.append(process)
        if len(starts) == 2:
            raise OSError(24, "Too many open files")
        await real_start(process)

    monkeypatch.setattr(child, "start_process", second_fails)
    sim = simulator(ttft_ms=5, itl_ms=1)
    config = RunConfig(server=sim.url, model="auto", concurrency=[2], num_prompts=4, output_len=4, warmup=0, workers=2)
    controller = RunController(config, gpu=False)
    try:
        result = await asyncio.wait_for(controller.run(), timeout=30)
    except RunStartError as exc:  # the failure came before the run was stored
        assert "client worker 2 failed" in str(exc)
    else:
        assert result.status == "failed" and any("client worker 2 failed" in w for w in result.warnings)


def test_only_the_first_worker_sends_at_once_so_that_a_pool_starts_like_one_process():
    from llm_loadtest.engine.arrivals import arrival_offsets

    for count, duration in ((20, None), (None, 30.0)):
        first = arrival_offsets(2.0, 1.0, count=count, duration=duration, seed=5)
        other = arrival_offsets(2.0, 1.0, count=count, duration=duration, seed=5, first_at_once=False)
        assert first[0] == 0.0 and other[0] > 0.0
