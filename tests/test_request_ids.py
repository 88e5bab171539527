"""Request ids every server accepts (UUIDs that still carry run, worker, level and index), a
pre-flight request exactly like a measured one, and a server that refuses it stopping the run
before it starts, against a simulator as strict about X-Request-Id as llama-cpp-python."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest
from cli_helpers import headless
from engine_helpers import run_benchmark

from llm_loadtest.adapters.openai import OpenAIAdapter
from llm_loadtest.cli import main
from llm_loadtest.model.records import Outcome, Prompt
from llm_loadtest.model.request_ids import RequestKind, make_request_id, parse_request_id, run_prefix

RUN_ID = "50abe171-9c2f-4d3a-8e1b-0123456789ab"


def test_an_id_is_a_version_4_uuid_that_says_which_request_it_was():
    text = make_request_id(RUN_ID, worker=2, level=3, index=42)
    assert text == "50abe171-0002-4003-8000-00000000002a"
    value = uuid.UUID(text)
    assert value.version == 4 and value.variant == uuid.RFC_4122 and str(value) == text
    parts = parse_request_id(text)
    assert (parts.run_prefix, parts.worker, parts.level, parts.index, parts.kind) == ("50abe171", 2, 3, 42, RequestKind.MEASURED)
    for kind in RequestKind:
        assert parse_request_id(make_request_id(RUN_ID, level=4095, index=2**48 - 1, kind=kind)).kind is kind


def test_other_strings_are_not_read_as_ours():
    for text in ("50abe171-0-0", uuid.uuid4().hex, "req-1", "", str(uuid.uuid1()), "50abe171-0002-4003-c000-00000000002a"):
        assert parse_request_id(text) is None, text
    with pytest.raises(ValueError):
        make_request_id(RUN_ID, level=4096)
    # a run id that is not a UUID still gives 8 hex digits, the same each time
    assert run_prefix("my-run") == run_prefix("my-run") and len(run_prefix("my-run")) == 8
    assert parse_request_id(make_request_id("my-run")).run_prefix == run_prefix("my-run")


async def test_a_run_against_a_server_that_validates_request_ids(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1, strict_request_id=True)
    run = await run_benchmark(sim.url, run_id=RUN_ID, concurrency=[1, 2], num_prompts=3, input_len=8, output_len=4, warmup=2)
    assert run.result.status == "completed"
    assert [level.requests.succeeded for level in run.result.levels] == [3, 3]
    measured = [record.request_id for records in run.records.values() for record in records]
    log = sim.read_chunk_log(*measured, at_least=1 + 2 + 6)  # pre-flight, warm-up, measured
    kinds = {parse_request_id(request_id).kind for request_id in log}
    assert kinds == {RequestKind.PREFLIGHT, RequestKind.WARMUP, RequestKind.MEASURED}
    assert all(entry["status"] == 200 for entry in log.values())
    for index, records in run.records.items():  # the ids join records to the server's log
        for record in records:
            parts = parse_request_id(record.request_id)
            assert parts.level == index and parts.run_prefix == "50abe171" and parts.kind is RequestKind.MEASURED
            assert log[record.request_id]["completion_tokens"] == record.output_tokens == 4


async def test_a_strict_server_refuses_an_id_that_is_not_a_uuid_with_an_empty_400(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1, strict_request_id=True)
    adapter = OpenAIAdapter(server=sim.url, model="sim-model", output_len=2)
    async with aiohttp.ClientSession() as session:
        refused = await adapter.send(session, Prompt("Hi", 1), "50abe171-0-0")
        accepted = await adapter.send(session, Prompt("Hi", 1), make_request_id(RUN_ID))
        async with session.post(sim.url + "/v1/completions", json={}, headers={"X-Request-Id": "x"}) as resp:
            assert resp.status == 400 and await resp.read() == b""
    assert refused.outcome is Outcome.HTTP_4XX and refused.http_status == 400
    assert refused.error == "HTTP 400 (empty body)"
    assert accepted.ok and accepted.output_tokens == 2


def test_a_server_that_refuses_the_first_request_stops_the_run_before_it_starts(simulator, capsys, tmp_path):
    sim = simulator(ttft_ms=1, itl_ms=1)
    out = tmp_path / "out.json"
    # a body the server cannot take: each of the run's requests would be refused alike
    args = headless(sim.url, "-n", "5", "--warmup", "0", "--no-save", "--in-process")
    code = main([*args, "--extra-body", json.dumps({"stream": "yes"}), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].endswith("/v1/chat/completions refused a request like the run's: HTTP 400: `stream` must be true or false")
    assert "Traceback" not in "\n".join(err)
    # only the pre-flight request reached the server, with an id like the run's
    [entry] = sim.read_chunk_log(at_least=1).values()
    assert parse_request_id(entry["request_id"]).kind is RequestKind.PREFLIGHT and entry["status"] == 400
