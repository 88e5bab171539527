"""Servers that send no usage: the output tokens are counted by the server's own tokenize
endpoint, in the form of the server we face (the simulator serves each over HTTP), the result
says which one answered, and when none does the summary says the counts are our estimate."""

from __future__ import annotations

import pytest
from engine_helpers import run_benchmark

from llm_loadtest.cli.summary_table import result_report
from llm_loadtest.model.records import TokenSource


@pytest.mark.parametrize(
    "form, endpoint",
    [
        ("vllm", "vLLM, SGLang: POST /tokenize"),
        ("llama-server", "llama.cpp llama-server: POST /tokenize"),
        ("llama-cpp-python", "llama-cpp-python: POST /extras/tokenize/count"),
        ("lmdeploy", "LMDeploy: POST /v1/encode"),
    ],
)
async def test_the_servers_own_tokenize_endpoint_counts_the_output(simulator, form, endpoint):
    sim = simulator(ttft_ms=1, itl_ms=1, no_usage=True, tokenize=form, tokens_per_chunk=3)
    run = await run_benchmark(sim.url, concurrency=[2, 1], num_prompts=3, input_len=16, output_len=11)
    result = run.result
    assert result.token_source.output == "server_tokenize"
    assert result.token_source.tokenize_endpoint == endpoint
    log = sim.read_chunk_log(*(r.request_id for r in run.all_records))
    for record in run.all_records:
        # exactly what the server generated: special tokens a server adds are not output
        assert record.output_tokens == log[record.request_id]["completion_tokens"] == 11
        assert record.output_token_source is TokenSource.SERVER_TOKENIZE
    report = result_report(result)
    assert f"output tokens counted by the server's tokenize endpoint ({endpoint})" in report
    assert "input tokens by tiktoken cl100k, mean per level: 16, 16" in report
    assert "the server saw" not in report


async def test_without_a_tokenize_endpoint_the_summary_says_the_counts_are_estimated(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1, no_usage=True, tokenize="none")
    run = await run_benchmark(sim.url, concurrency=[2], num_prompts=3, input_len=16, output_len=7)
    result = run.result
    assert result.token_source.output == "tokenizer" and result.token_source.tokenize_endpoint is None
    assert all(r.output_tokens == 7 and r.output_token_source is TokenSource.TOKENIZER for r in run.all_records)
    report = result_report(result)
    assert "output tokens estimated by tiktoken cl100k" in report
    assert "input tokens the server saw" not in report
    assert any("--tokenizer" in warning for warning in result.warnings)


async def test_with_usage_the_summary_says_the_server_counted(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1)
    run = await run_benchmark(sim.url, concurrency=[1], num_prompts=2, input_len=16, output_len=5)
    report = result_report(run.result)
    assert run.result.token_source.tokenize_endpoint is None
    assert "output tokens from the server's usage" in report
    assert "input tokens the server saw, mean per level: 16 (asked for 16)" in report
    assert not any("--tokenizer" in warning for warning in run.result.warnings)
