"""Each adapter owns its server: the registry names them, and the CLI's choices, the app's list,
the connection checks and the metrics URL all come from the adapter registered under a name.
Server URLs: the `/v1` base URL OpenAI clients take is accepted, a URL without a host is not."""

from __future__ import annotations

import asyncio

import pytest
from cli_helpers import headless
from engine_helpers import run_benchmark

from llm_loadtest.adapters import connection, registry
from llm_loadtest.adapters.registry import adapter_choices, adapter_class, adapter_names, make_adapter, metrics_url
from llm_loadtest.cli import main
from llm_loadtest.engine.benchmark import RunStartError
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.results import TokenSourceInfo


def test_every_registered_adapter_carries_what_the_program_asks_of_it():
    assert adapter_names()[0] == registry.DEFAULT_ADAPTER == "openai"
    assert [name for _, name in adapter_choices()] == adapter_names()
    for name in adapter_names():
        cls = adapter_class(name)
        assert cls.label and isinstance(cls.endpoints, tuple)
        adapter = make_adapter(RunConfig(server="http://h:8000", model="m", adapter=name), None)
        for method in ("check_ready", "list_models", "preflight", "send", "headers"):
            assert callable(getattr(adapter, method)), (name, method)
        assert metrics_url(RunConfig(server="http://h:8000", model="m", adapter=name)).endswith("/metrics")


def test_one_registry_line_adds_an_adapter_to_the_cli(monkeypatch, capsys):
    monkeypatch.setitem(registry.ADAPTERS, "vendor", "llm_loadtest.adapters.openai:OpenAIAdapter")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "{openai,triton,trtllm,vendor}" in capsys.readouterr().out
    assert "vendor" in [name for _, name in adapter_choices()]
    with pytest.raises(SystemExit) as exit_:
        main(headless("http://127.0.0.1:9", "--no-save", "--adapter", "nope", model="x"))
    assert exit_.value.code == 2 and "vendor" in capsys.readouterr().err


def test_an_unknown_adapter_name_in_a_config_stops_the_run_with_exit_2():
    with pytest.raises(ConfigError, match="unknown adapter 'grpc'"):
        adapter_class("grpc")

    async def start() -> None:
        await run_benchmark("http://127.0.0.1:9", adapter="grpc", model="m")

    with pytest.raises(RunStartError, match="unknown adapter") as error:
        asyncio.run(start())
    assert error.value.exit_code == 2


def test_triton_keeps_its_metrics_on_their_own_port_and_the_others_on_the_server():
    def url(adapter: str, server: str) -> str:
        return metrics_url(RunConfig(server=server, model="m", adapter=adapter))

    assert url("triton", "http://gpu-1:8000") == "http://gpu-1:8002/metrics"
    assert url("triton", "https://[::1]:8000") == "https://[::1]:8002/metrics"
    assert url("openai", "http://gpu-1:8000") == "http://gpu-1:8000/metrics"
    assert url("trtllm", "http://gpu-1:8000/v1") == "http://gpu-1:8000/metrics"


# ---- the app's Test connection and List models ---------------------------------------------------


async def test_trtllm_is_checked_and_listed_as_the_openai_server_it_is(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1)
    check = await connection.check_connection("trtllm", sim.url)
    assert check.ok, check.message
    assert check.models == ["sim-model"] and check.message.startswith(f"connected to {sim.url}")
    assert (await connection.list_models("trtllm", sim.url + "/v1")).models == ["sim-model"]


async def test_triton_models_come_from_its_repository_index(simulator):
    sim = simulator(api="triton", model="ensemble", ttft_ms=1, itl_ms=1)
    assert (await connection.list_models("triton", sim.url)).models == ["ensemble"]
    assert (await connection.check_connection("triton", sim.url)).ok
    # the OpenAI adapter asks /v1/models, which Triton does not serve
    wrong = await connection.check_connection("openai", sim.url)
    assert not wrong.ok and "/v1/models answered HTTP 404" in wrong.message


async def test_a_model_that_is_not_ready_is_not_listed(simulator):
    sim = simulator(api="triton", model="ensemble", triton_not_ready=True, ttft_ms=1, itl_ms=1)
    listed = await connection.list_models("triton", sim.url)
    assert not listed.ok and listed.message == f"{sim.url} lists no ready model in /v2/repository/index"


async def test_connection_problems_are_one_line_each(simulator):
    down = await connection.check_connection("openai", "http://127.0.0.1:9", timeout=2.0)
    assert not down.ok and "127.0.0.1:9" in down.message and "\n" not in down.message
    assert "http://" in (await connection.check_connection("openai", "localhost:8000")).message
    assert "names no host" in (await connection.check_connection("openai", "http://")).message
    keyed = simulator(api_key="secret", ttft_ms=1, itl_ms=1)
    refused = await connection.check_connection("openai", keyed.url, api_key="wrong")
    assert not refused.ok and "refused the API key" in refused.message
    assert (await connection.check_connection("openai", keyed.url, api_key="secret")).ok


# ---- server URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, root",
    [
        ("http://host:8000/v1", "http://host:8000"),
        ("http://host:8000/v1/", "http://host:8000"),
        (" https://gw.example/llm/v1 ", "https://gw.example/llm"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_a_v1_base_url_names_the_servers_root(given, root):
    assert RunConfig(server=given, model="m").server == root


async def test_a_run_against_a_v1_base_url_asks_the_right_paths(simulator):
    sim = simulator(ttft_ms=1, itl_ms=1)
    run = await run_benchmark(sim.url + "/v1", concurrency=[1], num_prompts=2, input_len=8, output_len=3)
    assert run.result.status == "completed" and run.result.config.server == sim.url
    assert run.result.config.model == "sim-model"


@pytest.mark.parametrize(
    "server, fragment",
    [
        ("http://", "names no host"),
        ("https://:8000", "names no host"),
        ("http:", "must start with http:// or https://"),
        ("http://host:99999", "bad port"),
        ("", "give the server's base URL"),
    ],
)
def test_a_server_url_without_a_host_gets_a_clear_line(capsys, server, fragment):
    assert main(headless(server, "--no-save", model="x")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err
    assert "'http:'" not in err or server == "http:"  # the URL as given, not cut


def test_the_tokenizer_warning_names_the_figures_tiktoken_counted():
    config = RunConfig(server="http://h", model="m")
    output_by_server = registry.tokenizer_warning(config, TokenSourceInfo(output="server_tokenize", input="tokenizer"))
    assert output_by_server.startswith("input token counts come from tiktoken:cl100k_base")
    assert "no tokenize endpoint" not in output_by_server
    both = registry.tokenizer_warning(config, TokenSourceInfo(output="tokenizer", input="tokenizer"))
    assert both.startswith("output and input token counts") and "no tokenize endpoint of it answered" in both
