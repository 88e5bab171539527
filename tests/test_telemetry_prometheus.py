"""Server metrics: name mapping on canned text, and scraping over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import time

import httpx
import pytest
from aiohttp import web

from llm_loadtest.telemetry.prometheus import (
    MetricSnapshot,
    ServerMetricsScraper,
    ServerMetricsUnavailable,
    metrics_url_for,
    parse_metrics,
    prefix_hit_rate,
)

VLLM_V1 = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="a"} 3.0
vllm:num_requests_running{engine="1",model_name="a"} 4.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="a"} 2.0
vllm:num_requests_waiting{engine="1",model_name="a"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="a"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="a"} 0.75
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="a"} 1000.0
vllm:prefix_cache_queries_total{engine="1",model_name="a"} 1000.0
# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="a"} 100.0
vllm:prefix_cache_hits_total{engine="1",model_name="a"} 300.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="a"} 5000.0
"""

# an older vLLM: gpu_* names, counters declared without `_total` in TYPE
VLLM_OLD = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 8.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 5.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.5
# TYPE vllm:gpu_prefix_cache_queries counter
vllm:gpu_prefix_cache_queries_total{model_name="m"} 200.0
vllm:gpu_prefix_cache_queries_created{model_name="m"} 1.7e9
# TYPE vllm:gpu_prefix_cache_hits counter
vllm:gpu_prefix_cache_hits_total{model_name="m"} 50.0
vllm:gpu_prefix_cache_hits_created{model_name="m"} 1.7e9
"""

SGLANG = """\
# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{dp_rank="0",model_name="qwen",tp_rank="0"} 12.0
sglang:num_running_reqs{dp_rank="1",model_name="qwen",tp_rank="0"} 10.0
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{dp_rank="0",model_name="qwen",tp_rank="0"} 7.0
sglang:num_queue_reqs{dp_rank="1",model_name="qwen",tp_rank="0"} 1.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{dp_rank="0",model_name="qwen",tp_rank="0"} 0.91
sglang:token_usage{dp_rank="1",model_name="qwen",tp_rank="0"} 0.42
# HELP sglang:cache_hit_rate The prefix cache hit rate.
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{dp_rank="0",model_name="qwen",tp_rank="0"} 0.6
sglang:cache_hit_rate{dp_rank="1",model_name="qwen",tp_rank="0"} 0.2
"""

TRITON = """\
# HELP nv_inference_pending_request_count Instantaneous number of pending requests awaiting execution per-model.
# TYPE nv_inference_pending_request_count gauge
nv_inference_pending_request_count{model="tensorrt_llm",version="1"} 6
nv_inference_pending_request_count{model="preprocessing",version="1"} 1
# HELP nv_trt_llm_request_metrics TRT LLM request metrics
# TYPE nv_trt_llm_request_metrics gauge
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="active",version="1"} 16
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="max",version="1"} 64
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="scheduled",version="1"} 16
# HELP nv_trt_llm_kv_cache_block_metrics TRT LLM KV cache block metrics
# TYPE nv_trt_llm_kv_cache_block_metrics gauge
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction",model="tensorrt_llm",version="1"} 0.3
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max",model="tensorrt_llm",version="1"} 6239
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-1"} 0.83
"""


# -- parsing and mapping ----------------------------------------------------------------


def test_vllm_v1_names_summed_across_engines() -> None:
    snap = parse_metrics(VLLM_V1)
    assert (snap.running, snap.waiting) == (7, 2)
    assert snap.kv_cache_usage == 0.75  # the fullest engine, not a meaningless sum
    assert (snap.prefix_hits, snap.prefix_queries) == (400, 2000)


def test_vllm_old_names_and_created_samples_ignored() -> None:
    snap = parse_metrics(VLLM_OLD)
    assert (snap.running, snap.waiting, snap.kv_cache_usage) == (8, 5, 0.5)
    assert (snap.prefix_hits, snap.prefix_queries) == (50, 200)


def test_both_kv_names_are_not_counted_twice() -> None:
    text = VLLM_OLD + '# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name="m"} 0.5\n'
    assert parse_metrics(text).kv_cache_usage == 0.5


def test_sglang_names() -> None:
    snap = parse_metrics(SGLANG)
    assert (snap.running, snap.waiting) == (22, 8)
    assert snap.kv_cache_usage == 0.91
    assert snap.prefix_hit_rate_gauge == pytest.approx(0.4)
    assert prefix_hit_rate(None, snap) == pytest.approx(0.4)  # a gauge needs no previous scrape


def test_triton_names_best_effort() -> None:
    snap = parse_metrics(TRITON)
    assert snap.running == 16  # only request_type="active"
    assert snap.waiting == 7
    assert snap.kv_cache_usage == 0.3  # only kv_cache_block_type="fraction"
    assert snap.prefix_hit_rate_gauge is None


NON_FINITE = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0"} 3.0
vllm:num_requests_running{engine="1"} NaN
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0"} +Inf
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0"} NaN
vllm:kv_cache_usage_perc{engine="1"} 0.4
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0"} 0.9
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate -Inf
"""


def test_non_finite_samples_are_dropped() -> None:
    snap = parse_metrics(NON_FINITE)
    assert snap.running == 3  # the NaN engine is left out, not summed into NaN
    assert snap.waiting is None  # only +Inf: no reading at all
    # a NaN engine would win max() by position (NaN compares false): the finite one stands
    assert snap.kv_cache_usage == 0.4
    assert snap.prefix_hit_rate_gauge is None


def test_a_nan_first_engine_does_not_hide_the_full_one() -> None:
    text = '# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{e="0"} NaN\nvllm:kv_cache_usage_perc{e="1"} 0.99\n'
    assert parse_metrics(text).kv_cache_usage == 0.99


@pytest.mark.parametrize(
    "text",
    [
        "<!DOCTYPE html><html><body>404 page not found</body></html>",
        '{"detail": "Not Found"}',
        "hello world",
    ],
)
def test_not_prometheus_text(text: str) -> None:
    with pytest.raises(ServerMetricsUnavailable, match="not Prometheus text"):
        parse_metrics(text)


@pytest.mark.parametrize("text", ["", "# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total 12.5\n"])
def test_prometheus_text_without_known_metrics(text: str) -> None:
    with pytest.raises(ServerMetricsUnavailable, match="none of the"):
        parse_metrics(text)


def test_prefix_hit_rate_from_counter_deltas() -> None:
    first = MetricSnapshot(prefix_hits=100, prefix_queries=1000)
    assert prefix_hit_rate(None, first) is None  # lifetime totals include pre-run traffic
    second = MetricSnapshot(prefix_hits=400, prefix_queries=1400)
    assert prefix_hit_rate(first, second) == pytest.approx(0.75)
    assert prefix_hit_rate(second, second) is None  # idle interval: no lookups, no rate
    restarted = MetricSnapshot(prefix_hits=5, prefix_queries=10)
    assert prefix_hit_rate(second, restarted) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:8000", "http://h:8000/metrics"),
        ("http://h:8000/", "http://h:8000/metrics"),
        ("http://h:8000/v1", "http://h:8000/metrics"),
        ("http://h:8000/v1/", "http://h:8000/metrics"),
        ("https://h/proxy/vllm", "https://h/proxy/vllm/metrics"),
        ("http://h:9400/metrics", "http://h:9400/metrics"),
        (" http://h:8000?x=1 ", "http://h:8000/metrics"),
    ],
)
def test_metrics_url_for(given: str, expected: str) -> None:
    assert metrics_url_for(given) == expected


# -- over HTTP: a tiny aiohttp server on loopback -----------------------------------------


@pytest.fixture
async def canned_server():
    """Serves /sglang, /triton, /vllm (counters that move), /html, /moved (to /sglang) and a 404
    elsewhere."""
    counters = {"hits": 0, "queries": 0}

    async def vllm(request: web.Request) -> web.Response:
        counters["hits"] += 30
        counters["queries"] += 40
        text = (
            "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 2\n"
            "# TYPE vllm:prefix_cache_hits counter\n"
            f"vllm:prefix_cache_hits_total {counters['hits']}\n"
            "# TYPE vllm:prefix_cache_queries counter\n"
            f"vllm:prefix_cache_queries_total {counters['queries']}\n"
        )
        return web.Response(text=text, content_type="text/plain")

    def text(body: str, content_type: str = "text/plain"):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=body, content_type=content_type)

        return handler

    app = web.Application()
    app.router.add_get("/sglang/metrics", text(SGLANG))
    app.router.add_get("/triton/metrics", text(TRITON))
    app.router.add_get("/nan/metrics", text(NON_FINITE))
    app.router.add_get("/vllm/metrics", vllm)
    app.router.add_get("/html/metrics", text("<html><body>hi</body></html>", "text/html"))

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/sglang/metrics")

    app.router.add_get("/moved/metrics", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _scrape(url: str, t: float = 0.0, scraper: ServerMetricsScraper | None = None):
    # the scraper is synchronous (it lives in the sampler's thread); keep this loop free
    own = scraper is None
    scraper = scraper or ServerMetricsScraper(url, timeout_s=2.0)
    try:
        return await asyncio.to_thread(scraper.scrape, t)
    finally:
        if own:
            scraper.close()


async def test_scrape_sglang_over_http(canned_server: str) -> None:
    sample = await _scrape(f"{canned_server}/sglang/metrics", t=1.25)
    assert sample.model_dump() == {
        "t": 1.25,
        "running": 22.0,
        "waiting": 8.0,
        "kv_cache_usage": 0.91,
        "prefix_cache_hit_rate": pytest.approx(0.4),
    }


async def test_scrape_triton_over_http(canned_server: str) -> None:
    sample = await _scrape(f"{canned_server}/triton/metrics")
    assert (sample.running, sample.waiting, sample.kv_cache_usage) == (16, 7, 0.3)


async def test_scrape_turns_counters_into_a_rate(canned_server: str) -> None:
    with ServerMetricsScraper(f"{canned_server}/vllm/metrics") as scraper:
        first = await _scrape("", 0.0, scraper)
        second = await _scrape("", 1.0, scraper)
    assert first.prefix_cache_hit_rate is None
    assert second.prefix_cache_hit_rate == pytest.approx(0.75)  # +30 hits / +40 queries
    assert second.running == 2


async def test_scrape_of_non_finite_values_gives_valid_json(canned_server: str) -> None:
    sample = await _scrape(f"{canned_server}/nan/metrics", t=2.0)
    assert sample.model_dump() == {
        "t": 2.0,
        "running": 3.0,
        "waiting": None,
        "kv_cache_usage": 0.4,
        "prefix_cache_hit_rate": None,
    }
    json.loads(sample.model_dump_json(), parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


@pytest.mark.parametrize(("path", "words"), [("/nothing/metrics", "HTTP 404"), ("/html/metrics", "not Prometheus")])
async def test_scrape_without_metrics(canned_server: str, path: str, words: str) -> None:
    with pytest.raises(ServerMetricsUnavailable, match=words) as info:
        await _scrape(f"{canned_server}{path}")
    assert info.value.transient is False  # a definite answer: no point asking again


async def test_scrape_follows_a_redirect(canned_server: str) -> None:
    sample = await _scrape(f"{canned_server}/moved/metrics")
    assert (sample.running, sample.waiting) == (22.0, 8.0)  # the SGLang page's


@pytest.mark.parametrize("url", ["127.0.0.1:9/metrics", "gopher://127.0.0.1:9/metrics", "http://127.0.0.1:port/metrics"])
def test_a_url_that_cannot_be_requested_is_a_definite_answer(url: str) -> None:
    with ServerMetricsScraper(url, timeout_s=1.0) as scraper, pytest.raises(ServerMetricsUnavailable) as info:
        scraper.scrape(0.0)
    assert info.value.transient is False and str(info.value).startswith(url)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_scrape_connection_refused() -> None:
    with ServerMetricsScraper(f"http://127.0.0.1:{_closed_port()}/metrics", timeout_s=1.0) as scraper:
        with pytest.raises(ServerMetricsUnavailable, match="Connection refused") as info:
            scraper.scrape(0.0)
    assert info.value.transient is True  # a server starting up refuses too


def test_known_metrics_with_only_nan_values_are_worth_another_try() -> None:
    with pytest.raises(ServerMetricsUnavailable, match="only NaN or Inf") as info:
        parse_metrics("# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running NaN\n")
    assert info.value.transient is True
    with pytest.raises(ServerMetricsUnavailable, match="none of the") as info:
        parse_metrics("# TYPE process_open_fds gauge\nprocess_open_fds NaN\n")
    assert info.value.transient is False


# -- against the built-in simulator's real /metrics ---------------------------------------


def test_scrape_the_simulator_idle(simulator) -> None:
    sim = simulator()
    with ServerMetricsScraper(metrics_url_for(sim.url)) as scraper:
        sample = scraper.scrape(0.5)
    assert (sample.running, sample.waiting) == (0, 0)
    assert sample.kv_cache_usage == 0
    assert sample.prefix_cache_hit_rate is None  # the simulator has no prefix cache


def test_scrape_the_simulator_under_load(simulator) -> None:
    sim = simulator(max_seqs=2, ttft_ms=10, itl_ms=10)
    body = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40, "stream": False}

    def one_request() -> int:
        return httpx.post(f"{sim.url}/v1/chat/completions", json=body, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool, ServerMetricsScraper(metrics_url_for(sim.url)) as scraper:
        futures = [pool.submit(one_request) for _ in range(6)]
        seen = []
        for i in range(60):
            seen.append(scraper.scrape(i * 0.05))
            if any(s.waiting for s in seen) and any(s.running for s in seen):
                break
            if all(f.done() for f in futures):
                break
            time.sleep(0.05)
        assert [f.result() for f in futures] == [200] * 6
    assert max(s.running for s in seen) == 2
    assert max(s.waiting for s in seen) >= 1
    assert max(s.kv_cache_usage for s in seen) > 0
