"""What the user reads when the server is not what we expect: nothing listening, no models
route, a request refused for its content. Each message is one plain line from the adapter
that knows its server, against real servers on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiohttp import web
from cli_helpers import headless
from tui_helpers import live_app, wait_for

from llm_loadtest.adapters import connection
from llm_loadtest.cli import main
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode, connect_failure
from llm_loadtest.model.request_ids import RequestKind, parse_request_id

NOTHING_LISTENS = "http://127.0.0.1:9"  # the discard port: nothing serves it here


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """`app` on a free loopback port, in a thread of its own (main() runs its own loop)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def last_error_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# ---- nothing listening -------------------------------------------------------------------------


def test_a_closed_port_reads_connection_refused_with_the_unreachable_exit_code(capsys):
    code = main(headless(NOTHING_LISTENS, "--no-save", "--in-process", "--no-gpu", model="m"))
    assert code == ExitCode.UNREACHABLE == 3
    assert last_error_line(capsys) == f"llm-loadtest: error: cannot connect to {NOTHING_LISTENS}: connection refused"


def test_recommend_says_the_same(capsys):
    args = ["recommend", "--headless", "-s", NOTHING_LISTENS, "-m", "m", "--goodput", "ttft:500", "--peak-concurrency", "2"]
    assert main([*args, "--no-save", "--in-process", "--no-gpu"]) == 3
    assert last_error_line(capsys) == f"llm-loadtest: error: cannot connect to {NOTHING_LISTENS}: connection refused"


async def test_the_apps_test_connection_and_list_models_say_the_same():
    for adapter in ("openai", "triton"):
        checked = await connection.check_connection(adapter, NOTHING_LISTENS)
        listed = await connection.list_models(adapter, NOTHING_LISTENS)
        assert checked.message == listed.message == f"cannot connect to {NOTHING_LISTENS}: connection refused"


def test_a_name_that_does_not_resolve_reads_host_not_found():
    # resolved without asking any name server: only a numeric host is accepted
    try:
        socket.getaddrinfo("no-such-host", 8000, flags=socket.AI_NUMERICHOST)
    except socket.gaierror as exc:
        assert connect_failure(exc) == "host not found"
    else:
        raise AssertionError("a name is not a numeric host")


# ---- no models route ---------------------------------------------------------------------------


def test_model_auto_on_a_server_without_a_models_route_names_the_404(capsys):
    with serving(web.Application()) as url:  # every path answers aiohttp's "404: Not Found"
        code = main(headless(url, "--no-save", "--in-process", "--no-gpu", model="auto"))
        listed = asyncio.run(connection.list_models("openai", url))
    assert code == 2
    assert last_error_line(capsys) == (
        f"llm-loadtest: error: --model auto: GET {url}/v1/models answered HTTP 404: Not Found; pass --model NAME explicitly"
    )
    assert not listed.ok and listed.message == f"GET {url}/v1/models answered HTTP 404: Not Found"


def test_a_json_error_body_is_quoted_by_its_message(capsys):
    async def models(request: web.Request) -> web.Response:
        return web.json_response({"detail": "Not Found"}, status=404)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    with serving(app) as url:
        assert main(headless(url, "--no-save", "--in-process", "--no-gpu", model="auto")) == 2
    assert last_error_line(capsys).endswith(f"GET {url}/v1/models answered HTTP 404: Not Found; pass --model NAME explicitly")


# ---- a request refused for its content ----------------------------------------------------------

CONTEXT_LIMIT = "HTTP 400: This model's maximum context length is 300 tokens."


def test_an_output_length_past_the_context_stops_the_run_with_the_servers_reason(simulator, capsys):
    sim = simulator(max_model_len=300, ttft_ms=1, itl_ms=1)
    code = main(headless(sim.url, "--output-len", "500", "-n", "3", "--warmup", "0", "--no-save", "--in-process", "--no-gpu"))
    assert code == 2
    assert last_error_line(capsys) == (
        f"llm-loadtest: error: {sim.url}/v1/chat/completions refused a request like the run's: {CONTEXT_LIMIT} However, you "
        "requested 501 tokens (1 in the prompt, 500 in the completion). Please reduce the length of the prompt or completion."
    )
    [entry] = sim.read_chunk_log().values()  # the pre-flight request, and no other
    assert parse_request_id(entry["request_id"]).kind is RequestKind.PREFLIGHT and entry["status"] == 400


def test_the_preflight_of_a_streamed_run_asks_the_runs_length_and_generates_nothing_for_it(simulator, capsys):
    sim = simulator(max_model_len=300, ttft_ms=50, itl_ms=20)
    code = main(headless(sim.url, "--output-len", "200", "-n", "1", "--input-len", "16", "--warmup", "0", "--no-save", "--in-process"))
    assert code == 0, capsys.readouterr().err
    log = sim.read_chunk_log().values()
    [preflight] = [entry for entry in log if parse_request_id(entry["request_id"]).kind is RequestKind.PREFLIGHT]
    # accepted at its head, then left: the server stops before its first token
    assert preflight["status"] == 200 and preflight["client_gone"] and preflight["completion_tokens"] == 0


@pytest.mark.parametrize(
    "flags, asked",
    [
        # a prompt past the limit: the pre-flight's one line is short enough to pass
        (["--input-len", "400", "--output-len", "4"], "(400 in the prompt, 4 in the completion)"),
        # a whole answer's pre-flight asks for one token, so as not to wait for a whole answer
        (["--input-len", "16", "--output-len", "500", "--no-stream"], "(16 in the prompt, 500 in the completion)"),
    ],
)
def test_requests_refused_after_the_preflight_show_the_first_message_of_their_class(simulator, capsys, flags, asked):
    sim = simulator(max_model_len=300, ttft_ms=1, itl_ms=1)
    code = main(headless(sim.url, *flags, "-n", "3", "--warmup", "0", "--no-save", "--in-process", "--no-gpu"))
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and err[-1] == "llm-loadtest: run failed: level c=1: every request failed (http_400 3)"
    [sample] = [line for line in err if line.startswith("  http_400 (3): ")]
    assert sample.startswith(f"  http_400 (3): {CONTEXT_LIMIT}") and asked in sample


def test_an_api_key_the_server_quotes_back_never_reaches_the_message(capsys):
    key = "sk-test-0123456789"

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "m"}]})

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": f"no route for {request.headers['Authorization']}"}}, status=400)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", refuse)
    with serving(app) as url:
        code = main(headless(url, "--api-key", key, "--no-save", "--in-process", "--no-gpu", model="auto"))
    err = capsys.readouterr().err
    assert code == 2 and key not in err
    assert err.strip().endswith("refused a request like the run's: HTTP 400: no route for Bearer <redacted>")


async def test_the_apps_live_run_says_why_requests_of_the_level_fail(simulator, tui_env):
    sim = simulator(max_model_len=300, ttft_ms=5, itl_ms=5, step_us_per_seq=0, prefill_us_per_token=0)
    # about half the prompts are past the context limit, and the level goes on with the others
    config = RunConfig(server=sim.url, model="auto", concurrency=[2], num_prompts=400, input_len="uniform:16:580", output_len=16, warmup=0)
    async with live_app(config, tui_env, size=(200, 40)) as (pilot, live, _):

        def status() -> str:
            return str(live.query_one("#status-line").render())

        await wait_for(pilot, lambda: "http_400" in status(), what="a refused request", timeout=60)
        line = status()
        live.abort()
        await wait_for(pilot, lambda: live.run_state.phase == "finished", what="the end of the run", timeout=60)
    assert line.startswith("errors this level: http_400 ") and f" · {CONTEXT_LIMIT} However, you requested " in line


def test_under_each_level_the_headless_command_says_why_each_error_class_failed(simulator, tmp_path, capsys):
    """Errors by class say how many; the first message of each class (as the engine kept it)
    says why, under the level's progress line."""
    sim = simulator(fail_rate_500=0.3, fail_rate_429=0.2, seed=1, ttft_ms=5, itl_ms=1)
    out = tmp_path / "r.json"
    main([*headless(sim.url, "-c", "4", "-n", "30", "--output-len", "4", "--warmup", "0"), "--no-save", "-o", str(out)])
    err = capsys.readouterr().err.splitlines()
    [level] = json.loads(out.read_text())["levels"]
    assert set(level["requests"]["errors"]) == {"http_429", "http_500"}
    for error_class, count in level["requests"]["errors"].items():
        status = error_class.removeprefix("http_")
        [line] = [line for line in err if line.startswith(f"  {error_class} ({count}): ")]
        assert line.removeprefix(f"  {error_class} ({count}): ").startswith(f"HTTP {status}")


async def test_the_apps_live_run_that_failed_says_why(simulator, tui_env):
    sim = simulator(fail_rate_500=1.0, ttft_ms=1, itl_ms=1, step_us_per_seq=0)
    config = RunConfig(server=sim.url, model="auto", concurrency=[2], num_prompts=6, output_len=4, warmup=0)
    async with live_app(config, tui_env, size=(200, 40)) as (pilot, live, _):
        await wait_for(pilot, lambda: live.run_state.phase == "finished", what="the end of the run", timeout=60)
        await pilot.pause()
        line = str(live.query_one("#status-line").render())
    assert line.startswith("■ run failed: level c=2: every request failed (http_500 6)"), line
