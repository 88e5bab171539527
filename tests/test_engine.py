"""The engine against the simulator over real HTTP on 127.0.0.1, checked with the simulator's
own log of when it sent each chunk."""

from __future__ import annotations

import numpy as np
import pytest
from chunk_truth import assert_percentile_between, gap_bounds_ms, ttft_bounds_ms
from engine_helpers import run_benchmark

from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import LevelFinished, ProgressSnapshot
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.records import Outcome, TokenSource


def delays_ms(records, log) -> np.ndarray:
    """Per chunk: client arrival time minus when the simulator began writing it."""
    out = []
    for record in records:
        entry = log[record.request_id]
        sent = np.array(entry["chunk_write_ns"], dtype=np.int64)
        assert len(sent) == len(record.chunk_times_ns), record.request_id
        out.append((record.chunk_times_ns - sent) / 1e6)
    return np.concatenate(out)


async def test_streamed_metrics_match_what_the_simulator_did(simulator):
    sim = simulator(ttft_ms=20, itl_ms=4, step_us_per_seq=0, prefill_us_per_token=0)
    run = await run_benchmark(sim.url, concurrency=[4], num_prompts=24, input_len=64, output_len=32)
    level = run.result.levels[0]
    records = run.records[0]
    log = sim.read_chunk_log(*(r.request_id for r in records))
    assert level.requests.total == 24 and level.requests.succeeded == 24 and level.requests.failed == 0
    # every chunk was read after it was sent, and soon after
    delay = delays_ms(records, log)
    assert delay.min() >= 0
    assert np.median(delay) < 2.0
    # the gaps the client saw are the gaps the simulator made
    seen_itl = np.concatenate([np.diff(r.chunk_times_ns) for r in records]) / 1e6
    assert level.itl_ms.p50 == pytest.approx(np.percentile(seen_itl, 50))
    assert_percentile_between(level.itl_ms.p50, *gap_bounds_ms(log[r.request_id] for r in records))
    # TTFT: the simulator's first write, seen from the client's clock
    assert_percentile_between(level.ttft_ms.p50, *ttft_bounds_ms(records, log))
    assert level.ttft_ms.min >= 20.0
    # tokens: the server's usage, as the simulator counted them
    assert all(r.output_tokens == 32 and r.output_token_source is TokenSource.SERVER for r in records)
    assert all(r.input_tokens == log[r.request_id]["prompt_tokens"] for r in records)
    assert level.output_tokens.total == 24 * 32
    # TPOT from the definition, per request
    tpot = [((r.t_end_ns - r.t_start_ns) - (r.chunk_times_ns[0] - r.t_start_ns)) / 31 / 1e6 for r in records]
    assert level.tpot_ms.p50 == pytest.approx(np.median(tpot))
    assert level.output_throughput == pytest.approx(24 * 32 / level.duration_s)
    # E2E ends at the last bytes: the usage event and [DONE], written right after the last chunk
    after_last_chunk = np.array([r.t_end_ns - log[r.request_id]["chunk_write_ns"][-1] for r in records]) / 1e6
    assert after_last_chunk.min() >= 0 and np.median(after_last_chunk) < 2.0
    assert level.e2e_ms.p50 == pytest.approx(np.median([(r.t_end_ns - r.t_start_ns) / 1e6 for r in records]))
    assert level.duration_s == pytest.approx((max(r.t_end_ns for r in records) - min(r.t_start_ns for r in records)) / 1e9)


async def test_every_fault_class_is_counted_and_totals_add_up(simulator):
    sim = simulator(
        ttft_ms=5,
        itl_ms=1,
        step_us_per_seq=0,
        fail_rate_500=0.1,
        fail_rate_429=0.1,
        drop_rate=0.1,
        malformed_rate=0.1,
        stall_rate=0.1,
        stall_s=3,
        seed=7,
    )
    run = await run_benchmark(sim.url, concurrency=[8], num_prompts=120, input_len=16, output_len=16, timeout=1.5)
    level = run.result.levels[0]
    # a stalled request is logged only when its stall ends, after the client gave up on it
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0] if r.error_class != "timeout"))
    expected = {"http_500": "http_500", "http_429": "http_429", "drop": "stream_broken", "malformed": "malformed", "stall": "timeout"}
    by_fault: dict[str, int] = {}
    for record in run.records[0]:
        fault = log[record.request_id]["fault"] if record.request_id in log else "stall"
        if fault is None:
            assert record.ok, (record.request_id, record.error)
        else:
            assert record.error_class == expected[fault], (fault, record.error)
            by_fault[expected[fault]] = by_fault.get(expected[fault], 0) + 1
    assert level.requests.errors == by_fault
    assert set(by_fault) == set(expected.values())
    assert level.requests.total == 120
    assert level.requests.succeeded + level.requests.failed == 120
    assert sum(level.requests.errors.values()) == level.requests.failed
    assert level.error_rate == pytest.approx(level.requests.failed / 120)


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
async def test_non_streaming_has_ttft_equal_to_e2e_and_no_itl(simulator, endpoint):
    sim = simulator(ttft_ms=5, itl_ms=1)
    run = await run_benchmark(sim.url, endpoint=endpoint, stream=False, concurrency=[2], num_prompts=6, input_len=32, output_len=8)
    level = run.result.levels[0]
    assert level.requests.succeeded == 6
    assert level.tpot_ms is None and level.itl_ms is None and level.itl_per_token_ms is None
    assert level.ttft_ms == level.e2e_ms
    assert level.output_tokens.total == 6 * 8


async def test_completions_endpoint_streams(simulator):
    sim = simulator(ttft_ms=5, itl_ms=2)
    run = await run_benchmark(sim.url, endpoint="completions", concurrency=[2], num_prompts=4, input_len=32, output_len=10)
    assert run.result.levels[0].requests.succeeded == 4
    assert all(len(r.chunk_times_ns) == 10 for r in run.records[0])


async def test_multi_token_chunks_give_itl_per_token(simulator):
    sim = simulator(ttft_ms=5, itl_ms=8, step_us_per_seq=0, tokens_per_chunk=4)
    run = await run_benchmark(sim.url, concurrency=[2], num_prompts=4, input_len=16, output_len=30)
    level = run.result.levels[0]
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    for record in run.records[0]:
        assert record.output_tokens == 30
        assert list(record.chunk_tokens) == [4] * 7 + [2] == log[record.request_id]["chunk_tokens"]
    # per token: each gap over the tokens (as the simulator counted them) of the chunk that ended it
    gaps = [np.diff(r.chunk_times_ns) / 1e6 for r in run.records[0]]
    per_token = [g / np.array(log[r.request_id]["chunk_tokens"][1:]) for g, r in zip(gaps, run.records[0], strict=True)]
    assert level.itl_ms.p50 == pytest.approx(np.percentile(np.concatenate(gaps), 50))
    assert level.itl_per_token_ms.p50 == pytest.approx(np.percentile(np.concatenate(per_token), 50))
    assert level.itl_per_token_ms.p50 < level.itl_ms.p50


async def test_tokens_counted_by_the_servers_tokenize_endpoint_when_it_sends_no_usage(simulator):
    sim = simulator(ttft_ms=5, itl_ms=1, no_usage=True, tokens_per_chunk=3)
    run = await run_benchmark(sim.url, concurrency=[2], num_prompts=4, input_len=40, output_len=12)
    assert run.result.token_source.output == "server_tokenize"
    assert any("no token usage" in w for w in run.result.warnings)
    for record in run.records[0]:
        assert record.output_tokens == 12
        assert record.output_token_source is TokenSource.SERVER_TOKENIZE
        assert record.input_tokens == 40 and record.input_token_source is TokenSource.TOKENIZER
        assert list(record.chunk_tokens) == [3, 3, 3, 3]


async def test_server_rejecting_stream_options_gets_a_clean_retry(simulator):
    sim = simulator(ttft_ms=5, itl_ms=1, reject_stream_options=True)
    run = await run_benchmark(sim.url, concurrency=[2], num_prompts=4, input_len=16, output_len=6)
    level = run.result.levels[0]
    assert level.requests.succeeded == 4
    assert level.output_tokens.total == 24


async def test_duration_mode_stops_on_time(simulator):
    sim = simulator(ttft_ms=10, itl_ms=2, step_us_per_seq=0)
    run = await run_benchmark(sim.url, concurrency=[4], num_prompts=None, duration=1.5, input_len=16, output_len=20)
    level = run.result.levels[0]
    records = run.records[0]
    starts = [r.t_start_ns for r in records]
    assert (max(starts) - min(starts)) / 1e9 < 1.5
    # every request in flight at the deadline finished and was counted: each one the simulator
    # served is a record, whole
    log = sim.read_chunk_log(*(r.request_id for r in records))
    assert all(log[r.request_id]["completion_tokens"] == r.output_tokens == 20 for r in records)
    assert sum(1 for entry in log.values() if entry["completion_tokens"] == 20) == len(records)
    assert level.duration_s == pytest.approx((max(r.t_end_ns for r in records) - min(starts)) / 1e9)
    assert level.requests.succeeded == len(records) > 20


@pytest.mark.parametrize("in_process", [True, False], ids=["asyncio-in-process", "uvloop-child"])
async def test_rate_mode_reaches_its_rate(simulator, in_process):
    sim = simulator(ttft_ms=5, itl_ms=1, step_us_per_seq=0)
    run = await run_benchmark(
        sim.url, in_process=in_process, concurrency=[1], request_rate=[40.0], num_prompts=120, input_len=16, output_len=4, seed=3
    )
    level = run.result.levels[0]
    assert level.request_rate == 40.0
    records = run.records[0]
    # the plan is a Poisson process at 40/s (seeded: the same plan on any machine), and each
    # request left no earlier than planned and reached the simulator after it left
    planned = np.sort([r.t_scheduled_ns for r in records]) / 1e9
    assert (len(planned) - 1) / (planned[-1] - planned[0]) == pytest.approx(40.0, rel=0.25)
    log = sim.read_chunk_log(*(r.request_id for r in records))
    assert all(r.t_scheduled_ns <= r.t_start_ns <= log[r.request_id]["t_recv_ns"] for r in records)
    assert level.request_rate_achieved == pytest.approx(120 / level.duration_s)
    assert level.client.scheduling_delay_ms is not None


async def test_child_process_gives_the_same_records_as_in_process(simulator):
    sim = simulator(ttft_ms=5, itl_ms=2, step_us_per_seq=0, seed=1)
    common = dict(concurrency=[1, 3], num_prompts=6, input_len=24, output_len=8, run_id="00000000-feed-4000-8000-000000000000")
    here = await run_benchmark(sim.url, in_process=True, **common)
    child = await run_benchmark(sim.url, in_process=False, **common)
    for a, b in ((here.all_records, child.all_records),):
        assert [r.request_id for r in a] != [] and sorted(r.request_id for r in a) == sorted(r.request_id for r in b)
        key = lambda r: r.request_id  # noqa: E731
        for x, y in zip(sorted(a, key=key), sorted(b, key=key)):
            assert (x.outcome, x.output_tokens, x.input_tokens, len(x.chunk_times_ns)) == (
                y.outcome,
                y.output_tokens,
                y.input_tokens,
                len(y.chunk_times_ns),
            )
            assert y.outcome is Outcome.SUCCESS
    assert [lvl.concurrency for lvl in child.result.levels] == [1, 3]
    assert child.result.status == "completed"


async def test_goodput_counts_failed_requests_in_the_total(simulator):
    sim = simulator(ttft_ms=5, itl_ms=1, fail_rate_500=0.25, seed=11)
    run = await run_benchmark(sim.url, concurrency=[4], num_prompts=40, input_len=16, output_len=4, goodput={"ttft_ms": 10_000})
    level = run.result.levels[0]
    assert 0 < level.requests.failed < 40
    assert level.goodput.good == level.requests.succeeded
    assert level.goodput.total == 40
    assert level.goodput.percent == pytest.approx(100 * level.requests.succeeded / 40)


async def test_connections_are_opened_before_a_level_so_its_first_wave_pays_no_connect(simulator):
    sim = simulator(ttft_ms=5, itl_ms=1)
    run = await run_benchmark(sim.url, concurrency=[8], num_prompts=16, input_len=16, output_len=4)
    assert all(r.connect_ns == 0 for r in run.records[0])
    assert run.result.levels[0].connect_ms is None


async def run_watching(url: str, **config) -> tuple:
    """A run in this process, with the snapshots and level ends it published."""
    events: list = []
    controller = RunController(RunConfig(server=url, model="auto", warmup=0, **config), in_process=True, gpu=False)
    controller.subscribe(events.append)
    result = await controller.run()
    return result, [e for e in events if isinstance(e, ProgressSnapshot)], [e for e in events if isinstance(e, LevelFinished)]


async def test_live_figures_follow_the_streams_before_any_request_ends(simulator):
    sim = simulator(ttft_ms=20, itl_ms=10, step_us_per_seq=0, prefill_us_per_token=0)
    result, snapshots, ends = await run_watching(sim.url, concurrency=[2], num_prompts=4, input_len=32, output_len=150)
    assert result.levels[0].requests.succeeded == 4
    records = ends[0].records
    first_wave = sorted(records, key=lambda r: r.t_start_ns)[:2]
    # two streams of about 100 tokens/s each, 1.5 s per request: the display shows the streams'
    # rate and the first wave's TTFT from the first second on, not nothing until a request ends.
    # The rate is checked against what the simulator sent (a busy machine slows it), loosely:
    # a 2 s window is not the whole wave.
    log = sim.read_chunk_log(*(r.request_id for r in first_wave))
    sent = [np.array(log[r.request_id]["chunk_send_ns"]) for r in first_wave]
    served_rate = sum(len(times) for times in sent) / ((max(t[-1] for t in sent) - min(t[0] for t in sent)) / 1e9)
    gaps = np.concatenate([np.diff(r.chunk_times_ns) / 1e6 for r in first_wave])
    early = [s for s in snapshots if s.completed == 0 and s.level_elapsed_s >= 0.75]
    assert early, [(s.level_elapsed_s, s.completed) for s in snapshots]
    for snap in early:
        assert served_rate / 2 < snap.output_throughput < served_rate * 2, (snap, served_rate)
        assert snap.ttft_p50_ms == pytest.approx(np.median([r.ttft_ns / 1e6 for r in first_wave])), snap
        assert gaps.min() <= snap.itl_p50_ms <= gaps.max(), snap
    steady = [s for s in snapshots if s.level_elapsed_s >= 0.75 and s.in_flight == 2]
    assert all(served_rate / 2 < s.output_throughput < served_rate * 2 for s in steady), [
        (s.level_elapsed_s, s.output_throughput, served_rate) for s in steady
    ]


async def test_live_throughput_counts_whole_responses_as_they_end(simulator):
    sim = simulator(ttft_ms=5, itl_ms=2, step_us_per_seq=0, prefill_us_per_token=0)
    result, snapshots, _ = await run_watching(sim.url, concurrency=[2], num_prompts=40, input_len=16, output_len=32, stream=False)
    level = result.levels[0]
    running = [s for s in snapshots if s.phase == "running" and s.completed >= 4]
    assert running and all(s.output_throughput > 0 for s in running)
    assert max(s.output_throughput for s in running) == pytest.approx(level.output_throughput, rel=0.5)


async def test_live_ttft_stays_on_screen_while_long_streams_start_no_new_request(simulator):
    sim = simulator(ttft_ms=10, itl_ms=10, step_us_per_seq=0, prefill_us_per_token=0)
    _, snapshots, _ = await run_watching(sim.url, concurrency=[2], num_prompts=2, input_len=16, output_len=300)
    # the two first tokens came at about 10 ms; 3 s later no request has started since
    late = [s for s in snapshots if s.level_elapsed_s > 2.5 and s.phase == "running"]
    assert late and all(s.ttft_p50_ms is not None for s in late)
