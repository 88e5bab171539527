"""The Triton adapter against the simulator in Triton mode (`simulate --api triton`) over real
HTTP on 127.0.0.1, checked with the simulator's log of what it sent; and `--adapter trtllm`."""

from __future__ import annotations

import numpy as np
import pytest
from chunk_truth import assert_percentile_between, gap_bounds_ms, ttft_bounds_ms
from cli_helpers import headless
from engine_helpers import run_benchmark

from llm_loadtest.adapters.registry import tokenizer_warning
from llm_loadtest.adapters.triton import StreamText
from llm_loadtest.cli import main
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.records import Outcome, TokenSource
from llm_loadtest.model.results import TokenSourceInfo
from llm_loadtest.simulator.options import OptionsError, SimOptions


@pytest.mark.parametrize("cumulative", [False, True], ids=["deltas", "cumulative"])
async def test_streamed_metrics_match_what_the_simulator_did(simulator, cumulative):
    sim = simulator(api="triton", triton_cumulative=cumulative, ttft_ms=20, itl_ms=4, step_us_per_seq=0, prefill_us_per_token=0)
    run = await run_benchmark(sim.url, adapter="triton", concurrency=[4], num_prompts=16, input_len=48, output_len=24)
    level = run.result.levels[0]
    records = run.records[0]
    log = sim.read_chunk_log(*(r.request_id for r in records))
    assert run.result.config.model == "sim-model"  # "auto" from the repository index
    assert level.requests.succeeded == 16 and level.requests.failed == 0
    for record in records:
        entry = log[record.request_id]
        assert entry["endpoint"] == "generate" and entry["stream"] is True
        # one content chunk per event sent, whether the events carried deltas or the text so far
        assert len(record.chunk_times_ns) == len(entry["chunk_send_ns"]) == 24
        sent = np.array(entry["chunk_write_ns"], dtype=np.int64)
        delay_ms = (record.chunk_times_ns - sent) / 1e6
        assert delay_ms.min() >= 0 and np.median(delay_ms) < 5
        # no usage from Triton: the tokenizer counted what the simulator generated
        assert record.output_tokens == entry["completion_tokens"] == 24
        assert record.output_token_source is TokenSource.TOKENIZER
        assert list(record.chunk_tokens) == [1] * 24
        assert record.input_tokens == entry["prompt_tokens"] == 48
        assert record.input_token_source is TokenSource.TOKENIZER
    assert_percentile_between(level.itl_ms.p50, *gap_bounds_ms(log[r.request_id] for r in records))
    assert_percentile_between(level.ttft_ms.p50, *ttft_bounds_ms(records, log))
    assert level.ttft_ms.min >= 20.0
    tpot = [((r.t_end_ns - r.t_start_ns) - (r.chunk_times_ns[0] - r.t_start_ns)) / 23 / 1e6 for r in records]
    assert level.tpot_ms.p50 == pytest.approx(np.median(tpot))
    assert level.output_tokens.total == 16 * 24
    assert run.result.token_source.output == "tokenizer" and run.result.token_source.input == "tokenizer"
    assert any("--tokenizer" in w and "tiktoken:cl100k_base" in w for w in run.result.warnings)


@pytest.mark.parametrize("cumulative", [False, True], ids=["deltas", "cumulative"])
async def test_multi_token_chunks_are_split_by_the_tokenizer(simulator, cumulative):
    sim = simulator(api="triton", triton_cumulative=cumulative, ttft_ms=5, itl_ms=2, tokens_per_chunk=3)
    run = await run_benchmark(sim.url, adapter="triton", concurrency=[2], num_prompts=4, input_len=16, output_len=14)
    for record in run.records[0]:
        assert record.ok and record.output_tokens == 14
        assert list(record.chunk_tokens) == [3, 3, 3, 3, 2]


async def test_non_streaming_generate(simulator):
    sim = simulator(api="triton", ttft_ms=5, itl_ms=1)
    run = await run_benchmark(sim.url, adapter="triton", stream=False, concurrency=[2], num_prompts=6, input_len=32, output_len=10)
    level = run.result.levels[0]
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    assert level.requests.succeeded == 6
    assert level.ttft_ms == level.e2e_ms and level.itl_ms is None and level.tpot_ms is None
    for record in run.records[0]:
        assert log[record.request_id]["stream"] is False
        assert record.output_tokens == log[record.request_id]["completion_tokens"] == 10
        assert record.output_token_source is TokenSource.TOKENIZER


async def test_error_events_and_error_statuses_are_failures_with_their_message(simulator):
    sim = simulator(api="triton", ttft_ms=2, itl_ms=1, error_event_rate=0.3, fail_rate_500=0.15, seed=5)
    run = await run_benchmark(sim.url, adapter="triton", concurrency=[4], num_prompts=40, input_len=16, output_len=10)
    level = run.result.levels[0]
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    seen = set()
    for record in run.records[0]:
        fault = log[record.request_id]["fault"]
        seen.add(fault)
        if fault is None:
            assert record.ok, record.error
        elif fault == "error_event":
            # the status was 200; the error came inside the stream, after half the tokens
            assert record.outcome is Outcome.STREAM_BROKEN
            assert record.error == "server error in stream: Simulated engine error mid-stream."
            assert len(record.chunk_times_ns) == 5
        else:
            assert record.error_class == "http_500"
            assert record.error == "HTTP 500: Simulated internal server error."
    assert seen == {None, "error_event", "http_500"}
    assert level.requests.succeeded + level.requests.failed == 40
    assert level.requests.errors == {
        "stream_broken": sum(1 for r in run.records[0] if log[r.request_id]["fault"] == "error_event"),
        "http_500": sum(1 for r in run.records[0] if log[r.request_id]["fault"] == "http_500"),
    }


def test_model_not_ready_exits_3(simulator, capsys):
    sim = simulator(api="triton", triton_not_ready=True)
    code = main(
        headless(sim.url, "--adapter", "triton", "-n", "2", "--warmup", "0", "--no-save", "--in-process", "--no-gpu", model="sim-model")
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "model 'sim-model' is not ready" in err and "has no available versions" in err
    assert "Traceback" not in err


def test_unknown_model_exits_2_and_names_the_served_ones(simulator, capsys):
    sim = simulator(api="triton")
    code = main(
        headless(sim.url, "--adapter", "triton", "-n", "2", "--warmup", "0", "--no-save", "--in-process", "--no-gpu", model="llama")
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'llama' is not served" in err and "sim-model" in err


def test_unreachable_triton_server_exits_3(capsys):
    code = main(headless("http://127.0.0.1:9", "--adapter", "triton", "--no-save", "--in-process", "--no-gpu", model="m"))
    assert code == 3
    assert "cannot connect to http://127.0.0.1:9: connection refused" in capsys.readouterr().err


def test_headless_triton_run_completes(simulator, capsys):
    sim = simulator(api="triton", ttft_ms=2, itl_ms=1)
    code = main(
        headless(
            sim.url,
            "--adapter",
            "triton",
            "-n",
            "4",
            "-c",
            "2",
            "--output-len",
            "6",
            "--input-len",
            "16",
            "--warmup",
            "1",
            "--no-save",
            "--in-process",
            "--no-gpu",
            model="sim-model",
        )
    )
    assert code == 0, capsys.readouterr().err


async def test_trtllm_adapter_speaks_openai_with_server_usage(simulator):
    sim = simulator(ttft_ms=5, itl_ms=1)
    run = await run_benchmark(sim.url, adapter="trtllm", concurrency=[2], num_prompts=4, input_len=16, output_len=8)
    assert run.result.levels[0].requests.succeeded == 4
    assert run.result.config.adapter == "trtllm"
    assert all(r.output_tokens == 8 and r.output_token_source is TokenSource.SERVER for r in run.records[0])
    assert not any("--tokenizer" in w for w in run.result.warnings)


async def test_error_event_fault_in_openai_mode(simulator):
    sim = simulator(ttft_ms=2, itl_ms=1, error_event_rate=1.0)
    run = await run_benchmark(sim.url, concurrency=[1], num_prompts=2, input_len=16, output_len=8)
    for record in run.records[0]:
        assert record.outcome is Outcome.STREAM_BROKEN
        assert "Simulated engine error mid-stream." in record.error


# ---- deltas or cumulative text, without a server ----------------------------------------------


def split(events: list[str], prompt: str = "") -> tuple[list[str], list[int], str | None]:
    text = StreamText(prompt)
    for i, event in enumerate(events):
        text.add(event, i)
    text.finish()
    return text.texts, text.times, text.mode


def test_stream_text_deltas_and_cumulative_give_the_same_new_text():
    deltas = [" the", " cat", " sat", " on"]
    cumulative = [" the", " the cat", " the cat sat", " the cat sat on"]
    assert split(deltas) == (deltas, [0, 1, 2, 3], "delta")
    assert split(cumulative) == (deltas, [0, 1, 2, 3], "cumulative")


def test_stream_text_repeated_deltas_stay_deltas():
    assert split([" out", " out", " out"])[0] == [" out", " out", " out"]
    assert split([" a", " b", " a b"]) == ([" a", " b", " a b"], [0, 1, 2], "delta")


def test_stream_text_cumulative_events_without_new_text_are_not_chunks():
    texts, times, mode = split([" a", " a", " a b", " a b c", " a b c"])
    assert (texts, times, mode) == ([" a", " b", " c"], [0, 2, 3], "cumulative")


def test_stream_text_cuts_an_echoed_prompt():
    assert split(["Hi there you", " all"], prompt="Hi there")[0] == [" you", " all"]
    assert split(["Hi there you", "Hi there you all", "Hi there you all now"], prompt="Hi there")[0] == [" you", " all", " now"]
    assert split(["Hi there", " you"], prompt="Hi there") == ([" you"], [1], "delta")


def test_stream_text_two_event_edge_case_is_read_as_cumulative():
    # documented: two deltas where the second starts with the first cannot be told apart
    assert split([" I", " In"])[0] == [" I", "n"]


# ---- configuration ---------------------------------------------------------------------------


def test_tokenizer_warning_whenever_tiktoken_counted_what_the_server_did_not():
    base = dict(server="http://x", model="m")
    server = TokenSourceInfo(output="server", input="server")
    tokenizer = TokenSourceInfo(output="tokenizer", input="tokenizer")
    for adapter in ("openai", "triton", "trtllm"):
        assert tokenizer_warning(RunConfig(**base, adapter=adapter), server) is None
        assert "--tokenizer" in tokenizer_warning(RunConfig(**base, adapter=adapter), tokenizer)
    assert tokenizer_warning(RunConfig(**base, adapter="triton", tokenizer="/models/llama/tokenizer.json"), tokenizer) is None
    assert tokenizer_warning(RunConfig(**base, adapter="trtllm"), TokenSourceInfo(output="server_tokenize", input="server")) is None
    assert tokenizer_warning(RunConfig(**base, adapter="trtllm"), TokenSourceInfo(output="tokenizer", input="server"))


def test_triton_simulator_options_need_triton_mode():
    with pytest.raises(OptionsError, match="--triton-cumulative needs --api triton"):
        SimOptions(triton_cumulative=True)
    with pytest.raises(OptionsError, match="--api"):
        SimOptions(api="grpc")
    assert SimOptions(api="triton", triton_not_ready=True).triton_not_ready


@pytest.mark.parametrize("cumulative", [False, True])
async def test_live_figures_follow_a_triton_stream_before_it_ends(simulator, cumulative):
    from llm_loadtest.engine.controller import RunController
    from llm_loadtest.engine.events import LevelFinished, ProgressSnapshot
    from llm_loadtest.model.config import RunConfig

    sim = simulator(api="triton", triton_cumulative=cumulative, ttft_ms=20, itl_ms=10, step_us_per_seq=0, prefill_us_per_token=0)
    config = RunConfig(
        server=sim.url, model="sim-model", adapter="triton", concurrency=[2], num_prompts=2, input_len=16, output_len=150, warmup=0
    )
    controller = RunController(config, in_process=True, gpu=False)
    events: list = []
    controller.subscribe(events.append)
    await controller.run()
    snapshots = [e for e in events if isinstance(e, ProgressSnapshot)]
    streams = [r.request_id for e in events if isinstance(e, LevelFinished) for r in e.records]
    # about 200 tok/s from two streams, checked against what the simulator sent (a busy
    # machine slows it), loosely: a 2 s window is not the whole stream
    log = sim.read_chunk_log(*streams)
    sent = [log[request_id]["chunk_send_ns"] for request_id in streams]
    served_rate = sum(len(times) for times in sent) / ((max(t[-1] for t in sent) - min(t[0] for t in sent)) / 1e9)
    early = [s for s in snapshots if s.completed == 0 and s.level_elapsed_s >= 0.75]
    assert early and all(served_rate / 2 < s.output_throughput < served_rate * 2 and s.ttft_p50_ms is not None for s in early), (
        early,
        served_rate,
    )
