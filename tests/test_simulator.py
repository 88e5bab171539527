"""The simulator over real HTTP on 127.0.0.1: protocol, batching, faults, timing, truth log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from llm_loadtest.simulator.chunklog import read_chunk_log
from llm_loadtest.simulator.process import SimulatorProcess, options_to_argv
from llm_loadtest.simulator.words import WORDS
from llm_loadtest.tokens.tokenizer import get_tokenizer

MODEL = "sim-model"
TOKENIZER = get_tokenizer("tiktoken:cl100k_base")


# ---------------------------------------------------------------- helpers


def chat_body(max_tokens: int = 5, stream: bool = False, content: str = "Say something.", **extra) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "stream": stream,
        **extra,
    }


def completion_body(max_tokens: int = 5, stream: bool = False, prompt: str = "Once upon a time", **extra) -> dict:
    return {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "stream": stream, **extra}


def sse_events(raw: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line[len("data: ") :] for line in raw.split("\n") if line.startswith("data: ")]


def content_of(event: dict) -> str | None:
    choice = event["choices"][0]
    return choice["delta"].get("content") if "delta" in choice else choice.get("text")


async def stream_events(client: httpx.AsyncClient, path: str, body: dict, **kw) -> tuple[int, list[str]]:
    async with client.stream("POST", path, json=body, **kw) as response:
        raw = (await response.aread()).decode()
    return response.status_code, sse_events(raw)


def metric(text: str, name: str) -> float:
    match = re.search(rf'^{re.escape(name)}\{{model_name="{MODEL}"\}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Iterator[SimulatorProcess]:
    """A fast simulator shared by the protocol tests."""
    log = tmp_path_factory.mktemp("sim") / "chunks.jsonl"
    with SimulatorProcess(ttft_ms=5, itl_ms=2, step_us_per_seq=10, chunk_log=log) as process:
        yield process


@pytest.fixture
async def client(sim) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as c:
        yield c


# ---------------------------------------------------------------- vocabulary


def test_every_word_is_one_token_alone_and_in_a_run():
    for word in WORDS:
        assert len(TOKENIZER.encode(word)) == 1, word
    run = "".join(WORDS[(i * 7) % len(WORDS)] for i in range(500))
    assert TOKENIZER.count(run) == 500


# ---------------------------------------------------------------- protocol


async def test_models_health_and_listening_line(sim, client):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.url)
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == [MODEL]
    assert models["data"][0]["object"] == "model"
    assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize("path, body", [("/v1/chat/completions", chat_body), ("/v1/completions", completion_body)])
async def test_non_streaming_has_usage_and_exact_token_count(client, path, body):
    response = await client.post(path, json=body(max_tokens=17))
    assert response.status_code == 200
    data = response.json()
    choice = data["choices"][0]
    text = choice["message"]["content"] if path.endswith("chat/completions") else choice["text"]
    assert choice["finish_reason"] == "length"
    assert data["object"] == ("chat.completion" if "chat" in path else "text_completion")
    prompt = "Say something." if "chat" in path else "Once upon a time"
    assert data["usage"] == {
        "prompt_tokens": TOKENIZER.count(prompt),
        "completion_tokens": 17,
        "total_tokens": TOKENIZER.count(prompt) + 17,
    }
    assert TOKENIZER.count(text) == 17


async def test_chat_stream_role_first_content_then_length_and_done(client):
    status, events = await stream_events(client, "/v1/chat/completions", chat_body(max_tokens=6, stream=True))
    assert status == 200
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    content = chunks[1:]
    assert len(content) == 6
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in content] == [None] * 5 + ["length"]
    assert TOKENIZER.count("".join(content_of(c) for c in content)) == 6


async def test_chat_stream_usage_only_when_asked(client):
    body = chat_body(max_tokens=4, stream=True, stream_options={"include_usage": True})
    _, events = await stream_events(client, "/v1/chat/completions", body)
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"] == []
    assert last["usage"] == {
        "prompt_tokens": TOKENIZER.count("Say something."),
        "completion_tokens": 4,
        "total_tokens": TOKENIZER.count("Say something.") + 4,
    }
    _, events = await stream_events(
        client, "/v1/chat/completions", chat_body(max_tokens=4, stream=True, stream_options={"include_usage": False})
    )
    assert all("usage" not in json.loads(e) for e in events[:-1])


async def test_completions_stream_with_usage(client):
    body = completion_body(max_tokens=5, stream=True, stream_options={"include_usage": True}, ignore_eos=True)
    _, events = await stream_events(client, "/v1/completions", body)
    chunks = [json.loads(e) for e in events[:-1]]
    assert events[-1] == "[DONE]"
    assert [c["object"] for c in chunks] == ["text_completion"] * 6
    assert [content_of(c) is not None for c in chunks[:-1]] == [True] * 5
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 5


async def test_max_completion_tokens_wins_for_chat(client):
    body = chat_body(max_tokens=3, max_completion_tokens=9)
    assert (await client.post("/v1/chat/completions", json=body)).json()["usage"]["completion_tokens"] == 9


async def test_errors_are_openai_json(client):
    response = await client.post("/v1/chat/completions", json={**chat_body(), "model": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFoundError"
    assert response.json()["error"]["code"] == 404
    response = await client.post("/v1/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "BadRequestError"
    response = await client.post("/v1/completions", json=completion_body(max_tokens=9000))
    assert response.status_code == 400


async def test_tokenize_like_vllm(client):
    text = "The quick brown fox jumps over the lazy dog."
    data = (await client.post("/tokenize", json={"prompt": text})).json()
    assert data["tokens"] == TOKENIZER.encode(text)
    assert data["count"] == len(data["tokens"])
    assert data["max_model_len"] == 8192
    assert (await client.post("/tokenize", json={"model": MODEL, "prompt": text})).json()["count"] == data["count"]
    assert (await client.post("/tokenize", json={"model": "nope", "prompt": text})).status_code == 404


async def test_metrics_use_vllm_names_and_count_tokens(client):
    before = (await client.get("/metrics")).text
    await client.post("/v1/completions", json=completion_body(max_tokens=7))
    after = (await client.get("/metrics")).text
    for gauge in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:gpu_cache_usage_perc"):
        assert f"# TYPE {gauge} gauge" in after
        metric(after, gauge)
    grown = metric(after, "vllm:generation_tokens_total") - metric(before, "vllm:generation_tokens_total")
    assert grown == 7
    prompt = metric(after, "vllm:prompt_tokens_total") - metric(before, "vllm:prompt_tokens_total")
    assert prompt == TOKENIZER.count("Once upon a time")


async def test_chunk_log_records_each_request(sim, client):
    request_id = f"test-{uuid.uuid4().hex}"
    t_before = time.perf_counter_ns()
    await stream_events(client, "/v1/chat/completions", chat_body(max_tokens=5, stream=True), headers={"X-Request-Id": request_id})
    entry = sim.read_chunk_log(request_id)[request_id]
    assert entry["endpoint"] == "chat" and entry["stream"] is True
    assert entry["fault"] is None and entry["status"] == 200
    assert entry["chunk_tokens"] == [1] * 5 and entry["completion_tokens"] == 5
    assert entry["prompt_tokens"] == TOKENIZER.count("Say something.")
    # one clock for both processes: the server's times fall inside the client's request
    times = [entry["t_recv_ns"], entry["t_first_sched_ns"], *entry["chunk_send_ns"], entry["t_done_ns"]]
    assert times == sorted(times)
    assert t_before < entry["t_recv_ns"] and entry["t_done_ns"] < time.perf_counter_ns()


def test_reading_the_chunk_log_waits_for_what_is_named_and_skips_a_line_being_written(simulator, tmp_path):
    sim = simulator()  # asked nothing: its log stays empty
    assert sim.read_chunk_log() == {}
    with pytest.raises(TimeoutError, match=r"logged no request 'never-sent' in 0\.1 s"):
        sim.read_chunk_log("never-sent", timeout_s=0.1)
    with pytest.raises(TimeoutError, match="logged 0 of 1 requests"):
        sim.read_chunk_log(at_least=1, timeout_s=0.1)
    # a line without its newline is one still being written: not there yet, not an error
    whole = json.dumps({"request_id": "a", "status": 200})
    (tmp_path / "log.jsonl").write_text(whole + "\n" + whole.replace('"a"', '"b"')[:-3], encoding="utf-8")
    assert list(read_chunk_log(tmp_path / "log.jsonl")) == ["a"]


# ---------------------------------------------------------------- batching


async def test_tokens_per_chunk_queueing_and_disconnect(simulator):
    sim = simulator(ttft_ms=5, itl_ms=5, step_us_per_seq=0, max_seqs=4, tokens_per_chunk=3)
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        # speculative decoding: chunks of 3 tokens, the last one shorter
        _, events = await stream_events(client, "/v1/completions", completion_body(max_tokens=10, stream=True))
        texts = [content_of(json.loads(e)) for e in events[:-1]]
        assert [TOKENIZER.count(t) for t in texts] == [3, 3, 3, 1]

        # 12 requests for 4 slots: 8 wait, and the metrics say so while they do
        bodies = [completion_body(max_tokens=40, stream=True) for _ in range(12)]
        ids = [f"q{i}-{uuid.uuid4().hex}" for i in range(12)]
        tasks = [asyncio.create_task(stream_events(client, "/v1/completions", b, headers={"X-Request-Id": i})) for b, i in zip(bodies, ids)]
        seen = []
        while not all(t.done() for t in tasks):
            text = (await client.get("/metrics")).text
            seen.append((metric(text, "vllm:num_requests_running"), metric(text, "vllm:num_requests_waiting")))
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        assert max(r for r, _ in seen) == 4
        assert max(w for _, w in seen) > 0
        logged = sim.read_chunk_log(*ids)
        log = [logged[i] for i in ids]
        # 8 of them waited for a slot (a request lasts 5 ms + 40 steps of 5 ms)
        waits_ms = sorted((e["t_first_sched_ns"] - e["t_recv_ns"]) / 1e6 for e in log)
        assert waits_ms[4] > 5, waits_ms
        # never more than 4 running: when one is admitted, count those admitted and not yet done
        # (up to their third-last chunk, a margin of two steps for the handlers' own delays)
        for entry in log:
            running = sum(o["t_first_sched_ns"] <= entry["t_first_sched_ns"] < o["chunk_send_ns"][-3] for o in log)
            assert running <= 4

        # a client that leaves frees its slot at once
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(4):
                body = completion_body(max_tokens=2000, stream=True)
                response = await stack.enter_async_context(client.stream("POST", "/v1/completions", json=body))
                await response.aiter_lines().__anext__()
        response = await client.post("/v1/completions", json=completion_body(max_tokens=2))
        assert response.status_code == 200
        # the simulator sees a client gone at its next write, whenever a busy machine runs it:
        # wait for what it says, not for a time
        deadline = time.monotonic() + 30
        while True:
            running = metric((await client.get("/metrics")).text, "vllm:num_requests_running")
            gone = [e for e in sim.read_chunk_log().values() if e["client_gone"]]
            if running == 0 and len(gone) >= 4:
                break
            assert time.monotonic() < deadline, f"{running:g} running, {len(gone)} gone"
            await asyncio.sleep(0.01)
        # their slots were freed when they left, not after their 2000 tokens (4 x 10 s)
        assert len(gone) == 4 and all(e["completion_tokens"] < 2000 for e in gone)


async def test_chunk_gaps_follow_the_step_model(simulator):
    itl_ms, step_us, batch, ttft_ms, prefill_us = 10.0, 500.0, 8, 20.0, 100.0
    sim = simulator(ttft_ms=ttft_ms, prefill_us_per_token=prefill_us, itl_ms=itl_ms, step_us_per_seq=step_us)
    prompt = " hello" * 200
    ids = [f"t{i}-{uuid.uuid4().hex}" for i in range(batch)]
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        await asyncio.gather(
            *(
                stream_events(
                    client, "/v1/completions", completion_body(max_tokens=40, stream=True, prompt=prompt), headers={"X-Request-Id": i}
                )
                for i in ids
            )
        )
    log = sim.read_chunk_log(*ids)
    # What the step model planned, by the simulator's own clock: a busy machine delays the
    # steps (the clock then restarts rather than bursting), it never makes them come sooner.
    # A step lasts itl_ms plus step_us per running sequence, at least those that emit at the
    # next step (the same planned times for all: one step clock).
    emitting = Counter(t for i in ids for t in log[i]["chunk_step_ns"])
    assert max(emitting.values()) == batch
    for i in ids:
        entry = log[i]
        steps = np.array(entry["chunk_step_ns"], dtype=np.int64)
        assert len(steps) == len(entry["chunk_send_ns"]) == 40
        least_ms = np.array([itl_ms + step_us * emitting[int(t)] / 1000 for t in steps[1:]])
        assert (np.diff(steps) / 1e6 >= least_ms - 1e-3).all(), (np.diff(steps) / 1e6, least_ms)
        # each chunk leaves at or after its step (1 µs: the loop clock is a float)
        assert (np.array(entry["chunk_send_ns"]) >= steps - 1_000).all()
        # admitted on arrival (the batch has room), then the prefill, then a step; the
        # admission is stamped just after the scheduler read its clock, hence the 1 ms. The
        # same prompt eight times: what the prefix cache holds costs no prefill
        prefill_ms = ttft_ms + prefill_us * (entry["prompt_tokens"] - entry["cached_tokens"]) / 1000
        assert (steps[0] - entry["t_first_sched_ns"]) / 1e6 >= prefill_ms - 1


# ---------------------------------------------------------------- faults


async def _classify_stream(client: httpx.AsyncClient, request_id: str) -> tuple[str, list[int]]:
    """What the client saw, from the content alone (a busy machine can make any stream look
    slow): complete, http_500, http_429, drop or malformed; and its chunks' arrival times."""
    body = chat_body(max_tokens=6, stream=True)
    times: list[int] = []
    lines: list[str] = []
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body, headers={"X-Request-Id": request_id}) as r:
            if r.status_code != 200:
                error = json.loads(await r.aread())["error"]
                assert error["code"] == r.status_code
                return f"http_{r.status_code}", times
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    lines.append(line[6:])
                    times.append(time.perf_counter_ns())
    except (httpx.RemoteProtocolError, httpx.ReadError):
        assert "[DONE]" not in lines
        return "drop", times
    assert lines[-1] == "[DONE]"
    if "{not json" in lines:
        return "malformed", times
    return "complete", times


async def test_faults_appear_at_their_rates_and_in_their_form(simulator):
    rate = 0.1
    stall_s = 0.3
    sim = simulator(
        ttft_ms=1,
        itl_ms=1,
        step_us_per_seq=0,
        seed=3,
        stall_s=stall_s,
        fail_rate_500=rate,
        fail_rate_429=rate,
        drop_rate=rate,
        stall_rate=rate,
        malformed_rate=rate,
    )
    n = 300
    ids = [f"f{i}-{uuid.uuid4().hex}" for i in range(n)]
    limits = httpx.Limits(max_connections=30)
    async with httpx.AsyncClient(base_url=sim.url, timeout=10, limits=limits) as client:
        gate = asyncio.Semaphore(30)

        async def one(request_id: str) -> tuple[str, list[int]]:
            async with gate:
                return await _classify_stream(client, request_id)

        seen = dict(zip(ids, await asyncio.gather(*(one(i) for i in ids)), strict=True))
        # non-streaming requests only get the HTTP errors
        statuses = Counter([(await client.post("/v1/completions", json=completion_body(max_tokens=2))).status_code for _ in range(60)])
    assert set(statuses) <= {200, 500, 429} and statuses[500] > 0 and statuses[429] > 0

    log = sim.read_chunk_log(*ids)
    # what the client saw is exactly what the server says it did; a stall looks complete
    client_form = {"http_500": "http_500", "http_429": "http_429", "drop": "drop", "malformed": "malformed", "stall": "complete"}
    for request_id, (what, _) in seen.items():
        assert what == client_form.get(log[request_id]["fault"], "complete"), (request_id, what, log[request_id]["fault"])
    faults = Counter(log[i]["fault"] for i in ids)
    for fault in client_form:
        assert abs(faults[fault] / n - rate) < 0.06, (fault, faults)
    for request_id, (_, arrivals) in seen.items():
        entry = log[request_id]
        if entry["fault"] == "drop":
            assert entry["completion_tokens"] == 3  # about half of 6
        if entry["fault"] == "http_500":
            assert entry["status"] == 500 and entry["chunk_send_ns"] == []
        if entry["fault"] != "stall":
            assert entry["stall_ns"] is None
            continue
        # the simulator paused the stream after half its tokens for at least stall_s, by its
        # own step clock, and sent the chunks after the pause once it ended
        began, resumed = entry["stall_ns"]
        assert entry["completion_tokens"] == 6 and entry["chunk_tokens"] == [1] * 6
        assert resumed - began >= stall_s * 1e9 - 1  # rounding to whole ns
        assert all(t >= resumed - 1_000 for t in entry["chunk_send_ns"][3:])  # 1 µs: the loop clock is a float
        assert arrivals[-1] > entry["chunk_send_ns"][-1]  # [DONE] came after the last chunk


async def test_api_key(simulator):
    sim = simulator(api_key="sekret")
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await client.get("/v1/models", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == 401
        response = await client.post("/v1/completions", json=completion_body(max_tokens=1))
        assert response.status_code == 401
        good = {"Authorization": "Bearer sekret"}
        assert (await client.get("/v1/models", headers=good)).status_code == 200
        response = await client.post("/v1/completions", json=completion_body(max_tokens=1), headers=good)
        assert response.status_code == 200
        assert (await client.get("/health")).status_code == 200


async def test_reject_stream_options_and_no_usage(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1, reject_stream_options=True, no_usage=True)
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        body = chat_body(max_tokens=3, stream=True, stream_options={"include_usage": True})
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == 400
        assert "stream_options" in response.json()["error"]["message"]
        status, events = await stream_events(client, "/v1/chat/completions", chat_body(max_tokens=3, stream=True))
        assert status == 200 and events[-1] == "[DONE]"
        assert all("usage" not in json.loads(e) for e in events[:-1])
        assert "usage" not in (await client.post("/v1/completions", json=completion_body())).json()


# ---------------------------------------------------------------- determinism


async def _script(url: str) -> list[tuple[int, str]]:
    out = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for _ in range(12):
            response = await client.post("/v1/completions", json=completion_body(max_tokens=8))
            text = response.json()["choices"][0]["text"] if response.status_code == 200 else ""
            out.append((response.status_code, text))
    return out


async def test_seed_fixes_words_and_faults(simulator):
    options = dict(ttft_ms=0, itl_ms=0, step_us_per_seq=0, prefill_us_per_token=0, fail_rate_500=0.3)
    a, b, c = (simulator(seed=seed, **options) for seed in (11, 11, 12))
    first, again, other = await asyncio.gather(_script(a.url), _script(b.url), _script(c.url))
    assert first == again
    assert first != other
    assert {status for status, _ in first} == {200, 500}
    texts = [t for s, t in first if s == 200]
    assert len(set(texts)) == len(texts)


# ---------------------------------------------------------------- process and command


def test_options_map_to_flags():
    options = {"itl_ms": 5, "max_seqs": 64, "no_usage": True, "reject_stream_options": False, "api_key": None}
    argv = options_to_argv(options)
    assert argv == ["--itl-ms", "5", "--max-seqs", "64", "--no-usage"]
    with pytest.raises(TypeError):
        options_to_argv({"itl": 5})
    with pytest.raises(ValueError, match="--drop-rate"):
        options_to_argv({"drop_rate": 2})


def test_simulate_subcommand_is_registered():
    from llm_loadtest.cli import build_parser
    from llm_loadtest.simulator import command

    args = build_parser().parse_args(["simulate", "--port", "0", "--itl-ms", "5", "--fail-rate-429", "0.2"])
    assert args.handler is command.handle
    assert (args.port, args.itl_ms, args.fail_rate_429, args.ttft_ms) == (0, 5.0, 0.2, 50.0)


@pytest.mark.parametrize(
    "command, sig",
    [
        # the full command once (slower to start: it imports every sub-command)
        (["-m", "llm_loadtest", "simulate"], signal.SIGINT),
        (["-m", "llm_loadtest.simulator"], signal.SIGTERM),
    ],
)
def test_signal_stops_cleanly(command, sig):
    argv = [sys.executable, *command, "--port", "0", "--itl-ms", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=SimulatorProcess().env)
    try:
        line = proc.stdout.readline()
        assert re.fullmatch(r"llm-loadtest simulator listening on http://127\.0\.0\.1:\d+\n", line)
        url = line.split()[-1]
        # a stream in flight does not hold the exit up
        with (
            httpx.Client(base_url=url, timeout=5) as client,
            client.stream("POST", "/v1/completions", json=completion_body(max_tokens=5000, stream=True)) as response,
        ):
            next(response.iter_lines())
            proc.send_signal(sig)
            assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in proc.stderr.read()
    assert proc.stdout.read() == ""


def test_bad_option_is_one_line_and_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "llm_loadtest.simulator", "--port", "0", "--drop-rate", "1.5"],
        capture_output=True,
        text=True,
        env=SimulatorProcess().env,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--drop-rate" in result.stderr
