"""Our figures for Prometheus: the endpoint scraped during and after a real run against the
simulator, parsed with prometheus_client's own parser; the Pushgateway push; the Grafana
dashboard's queries."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cli_helpers import headless_command
from prometheus_client.parser import text_string_to_metric_families

from llm_loadtest.engine.controller import RunController
from llm_loadtest.engine.events import ProgressSnapshot
from llm_loadtest.model.config import GoodputSLO, RunConfig
from llm_loadtest.publish.prometheus import PrometheusPublisher

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "llm-loadtest.json"


def _samples(text: str) -> list:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _value(samples, name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


async def test_the_endpoint_counts_what_the_run_counted(simulator):
    sim = simulator(ttft_ms=20, itl_ms=2, fail_rate_500=0.2, seed=3)
    publisher = PrometheusPublisher(port=0)
    url = f"http://127.0.0.1:{publisher.port}/metrics"
    config = RunConfig(
        server=sim.url, model="auto", concurrency=[2, 4], num_prompts=30, output_len=8, warmup=0, goodput=GoodputSLO(ttft_ms=200)
    )
    controller = RunController(config, in_process=True, gpu=False)
    controller.subscribe(publisher.listener(config, controller.run_id))
    live: list[list] = []

    def scrape_once_mid_level(event) -> None:
        if isinstance(event, ProgressSnapshot) and event.completed > 0 and not live:
            live.append(_samples(httpx.get(url).text))

    controller.subscribe(scrape_once_mid_level)
    try:
        result = await controller.run()
        samples = _samples(httpx.get(url).text)
    finally:
        publisher.close()

    assert live, "the endpoint was never scraped while a level ran"
    assert any(s.name == "llm_loadtest_level_info" and s.value == 1 for s in live[0])
    assert any(s.name == "llm_loadtest_requests_in_flight" for s in live[0])

    assert result.status == "completed"
    for level in result.levels:
        labels = {"level": level.label, "concurrency": str(level.concurrency)}
        assert _value(samples, "llm_loadtest_requests_total", outcome="success", **labels) == level.requests.succeeded
        for outcome, count in level.requests.errors.items():
            assert _value(samples, "llm_loadtest_requests_total", outcome=outcome, **labels) == count
        served = sum(s.value for s in samples if s.name == "llm_loadtest_requests_total" and s.labels["level"] == level.label)
        assert served == level.requests.total
        assert _value(samples, "llm_loadtest_output_tokens_total", **labels) == level.output_tokens.total
        assert level.goodput is not None
        assert _value(samples, "llm_loadtest_goodput_requests_total", slo="all", **labels) == level.goodput.good
        for name in ("time_to_first_token_seconds", "request_latency_seconds"):
            count = _value(samples, f"llm_loadtest_{name}_count", **labels)
            assert count == level.requests.succeeded
            assert _value(samples, f"llm_loadtest_{name}_bucket", le="+Inf", **labels) == count
            buckets = [s.value for s in samples if s.name == f"llm_loadtest_{name}_bucket" and s.labels["level"] == level.label]
            assert buckets == sorted(buckets)  # cumulative
        ttft_sum = _value(samples, "llm_loadtest_time_to_first_token_seconds_sum", **labels)
        assert ttft_sum / level.requests.succeeded == _approx_ms(level.ttft_ms.mean)
    # the run is over: nothing is in flight any more
    assert not any(s.name == "llm_loadtest_level_info" for s in samples)


def _approx_ms(mean_ms: float):
    import pytest

    return pytest.approx(mean_ms / 1000.0, rel=1e-9)


class _Pushgateway(BaseHTTPRequestHandler):
    pushes: list[tuple[str, str, str]] = []

    def _keep(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        type(self).pushes.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = _keep

    def log_message(self, *args) -> None:
        pass


async def test_each_level_is_pushed_when_it_ends(simulator):
    sim = simulator(ttft_ms=10, itl_ms=1)
    _Pushgateway.pushes = []
    gateway = ThreadingHTTPServer(("127.0.0.1", 0), _Pushgateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    publisher = PrometheusPublisher(pushgateway=f"http://127.0.0.1:{gateway.server_port}")
    config = RunConfig(server=sim.url, model="auto", concurrency=[1, 3], num_prompts=6, output_len=4, warmup=0)
    controller = RunController(config, in_process=True, gpu=False)
    controller.subscribe(publisher.listener(config, controller.run_id))
    try:
        result = await controller.run()
        publisher.close()  # waits for the pushes
    finally:
        gateway.shutdown()
    assert [(method, path) for method, path, _ in _Pushgateway.pushes] == [
        ("PUT", f"/metrics/job/llm_loadtest/run_id/{controller.run_id}")
    ] * 2
    assert publisher.errors == []
    first, last = (_samples(body) for _, _, body in _Pushgateway.pushes)
    assert {s.labels["level"] for s in first if s.name == "llm_loadtest_requests_total"} == {"c=1"}
    for level in result.levels:
        assert _value(last, "llm_loadtest_requests_total", outcome="success", level=level.label) == level.requests.succeeded


def test_a_pushgateway_that_is_down_costs_a_warning_not_the_run(capsys):
    publisher = PrometheusPublisher(pushgateway="http://127.0.0.1:9")  # discard port: nothing listens
    publisher._push()
    publisher.close()
    assert len(publisher.errors) == 1
    assert "--pushgateway http://127.0.0.1:9" in capsys.readouterr().err


async def test_every_metric_the_dashboard_asks_for_is_served(simulator):
    sim = simulator(ttft_ms=10, itl_ms=5)
    publisher = PrometheusPublisher(port=0)
    config = RunConfig(
        server=sim.url, model="auto", concurrency=[2], num_prompts=20, output_len=32, warmup=0, goodput=GoodputSLO(ttft_ms=500)
    )
    controller = RunController(config, in_process=True, gpu=False)
    controller.subscribe(publisher.listener(config, controller.run_id))
    served: set[str] = set()

    def scrape(event) -> None:  # mid-level too, for the live-only families
        if isinstance(event, ProgressSnapshot) and event.ttft_p50_ms is not None:
            served.update(s.name for s in _samples(httpx.get(f"http://127.0.0.1:{publisher.port}/metrics").text))

    controller.subscribe(scrape)
    try:
        await controller.run()
        served.update(s.name for s in _samples(httpx.get(f"http://127.0.0.1:{publisher.port}/metrics").text))
    finally:
        publisher.close()
    dashboard = json.loads(DASHBOARD.read_text())
    asked = {
        name for panel in dashboard["panels"] for target in panel["targets"] for name in re.findall(r"llm_loadtest_\w+", target["expr"])
    }
    assert asked, "the dashboard asks for none of our metrics"
    assert asked <= served, asked - served


def test_a_taken_prometheus_port_is_one_line_and_exit_2_before_any_traffic(simulator, tmp_path):
    import socket
    import subprocess

    sim = simulator()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            headless_command(sim.url, "-n", "2", "--no-save") + ["--prometheus-port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and f"--prometheus-port {port}" in done.stderr
    assert sim.read_chunk_log() == {}  # refused before the first request


def test_the_headless_run_says_where_its_endpoint_is_even_on_a_port_it_picked(simulator, capsys):
    from llm_loadtest.cli import main

    sim = simulator(ttft_ms=1, itl_ms=1)
    argv = ["run", "--headless", "-s", sim.url, "-m", "auto", "-n", "2", "--warmup", "0", "--no-save", "--in-process"]
    assert main([*argv, "--prometheus-port", "0"]) == 0
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Prometheus metrics at ")]
    found = re.fullmatch(r"Prometheus metrics at http://127\.0\.0\.1:(\d+)/metrics", line)
    assert found and int(found.group(1)) > 0
