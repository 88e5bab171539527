"""TelemetrySampler: a background thread over the stand-in NVML and real /metrics."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import httpx
import pytest
from fake_nvml import GPU_IS_LOST, LIBRARY_NOT_FOUND, NOT_SUPPORTED, FakeGpu, FakeNvml
from nvml_probe import nvml_library_loads

from llm_loadtest.telemetry.nvml import GpuReader
from llm_loadtest.telemetry.sampler import NOTE_METRICS_UNREACHABLE, NOTE_NO_GPU, NOTE_NO_METRICS, TelemetrySampler

FAST = 0.05


def _wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_samples_every_gpu_on_a_schedule() -> None:
    nvml = FakeNvml([FakeGpu(), FakeGpu(name="second", util_percent=80)])
    t0 = time.perf_counter_ns()
    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(nvml), t0_ns=t0)
    sampler.start()
    _wait_for(lambda: nvml.calls.get("nvmlDeviceGetName", 0) >= 8)
    gpu_samples, server_samples = sampler.stop()
    elapsed = (time.perf_counter_ns() - t0) / 1e9

    assert server_samples == []
    assert sampler.notes == []
    assert {s.gpu for s in gpu_samples} == {0, 1}
    per_gpu = [s for s in gpu_samples if s.gpu == 1]
    assert len(per_gpu) >= 4
    times = [s.t for s in per_gpu]
    assert times == sorted(times) and 0 <= times[0] < times[-1] <= elapsed
    # about one interval apart (loose: two shared cores can delay a thread)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert 0.8 * FAST <= sum(gaps) / len(gaps) <= 3 * FAST
    assert per_gpu[0].util == 80 and per_gpu[0].mem_total_mb == 81559


def test_t_counts_from_t0() -> None:
    t0 = time.perf_counter_ns() - 10_000_000_000  # the run began 10 s ago
    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(FakeNvml()), t0_ns=t0)
    sampler.start()
    _wait_for(lambda: sampler.latest()[0])
    gpu_samples, _ = sampler.stop()
    assert 10.0 <= gpu_samples[0].t < 15.0


def test_latest_is_the_newest_reading_per_gpu() -> None:
    nvml = FakeNvml([FakeGpu(util_percent=1), FakeGpu(util_percent=2)])
    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(nvml))
    assert sampler.latest() == ([], None)
    with sampler:
        _wait_for(lambda: len(sampler.latest()[0]) == 2)
        nvml.gpus[0].util_percent = 77
        _wait_for(lambda: sampler.latest()[0][0].util == 77)
        latest, server = sampler.latest()
    assert [s.gpu for s in latest] == [0, 1] and server is None


def test_not_supported_fields_become_none_in_samples() -> None:
    gpu = FakeGpu(errors={"nvmlDeviceGetPowerUsage": NOT_SUPPORTED, "nvmlDeviceGetUtilizationRates": NOT_SUPPORTED})
    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(FakeNvml([gpu])))
    with sampler:
        _wait_for(lambda: sampler.latest()[0])
    (sample, *_) = sampler.stop()[0]
    assert sample.util is None and sample.power_w is None and sample.temp_c == 38


def test_no_gpu_is_one_note_and_no_samples() -> None:
    nvml = FakeNvml(errors={"nvmlInit": LIBRARY_NOT_FOUND})
    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(nvml))
    sampler.start()
    _wait_for(lambda: sampler.notes)
    time.sleep(3 * FAST)
    gpu_samples, server_samples = sampler.stop()
    assert gpu_samples == [] and server_samples == []
    assert sampler.notes == [NOTE_NO_GPU]
    assert nvml.calls["nvmlInit"] == 1  # gave up, did not retry every tick


def test_nvml_failing_is_counted_and_sampling_goes_on() -> None:
    gpu = FakeGpu()
    nvml = FakeNvml([gpu])
    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(nvml))
    with sampler:
        _wait_for(lambda: sampler.latest()[0])
        gpu.errors["nvmlDeviceGetMemoryInfo"] = GPU_IS_LOST
        _wait_for(lambda: any("GPU reading" in n for n in sampler.notes))
        gpu.errors.clear()
        _wait_for(lambda: nvml.calls["nvmlDeviceGetMemoryInfo"] >= 6)
    gpu_samples, _ = sampler.stop()
    assert gpu_samples
    (note,) = sampler.notes
    assert "GPU reading(s) failed" in note and "GPU is lost" in note


def test_gpu_off_never_touches_nvml() -> None:
    nvml = FakeNvml()
    sampler = TelemetrySampler(FAST, gpu=False, gpu_reader=GpuReader(nvml))
    with sampler:
        time.sleep(3 * FAST)
    assert sampler.stop() == ([], [])
    assert nvml.calls == {} and sampler.notes == []


def test_runs_in_its_own_thread_and_start_does_not_block() -> None:
    seen: list[str] = []
    release = threading.Event()
    initialised = threading.Event()

    class SlowNvml(FakeNvml):
        def nvmlInit(self) -> None:
            seen.append(threading.current_thread().name)
            release.wait(30)  # NVML's first init can take long on a real machine: here, until told
            super().nvmlInit()
            initialised.set()

    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(SlowNvml()))
    sampler.start()
    # start() returned while NVML was still initialising (it would have waited 30 s otherwise)
    assert not initialised.is_set()
    release.set()
    _wait_for(lambda: sampler.latest()[0])
    sampler.stop()
    assert seen == ["llm-loadtest-telemetry"]


def test_stop_twice_and_start_twice() -> None:
    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(FakeNvml()))
    sampler.start()
    with pytest.raises(RuntimeError):
        sampler.start()
    first = sampler.stop()
    assert sampler.stop() == first
    assert TelemetrySampler(FAST, gpu=False).stop() == ([], [])  # never started


def test_owned_reader_is_closed(monkeypatch) -> None:
    nvml = FakeNvml()
    monkeypatch.setattr("llm_loadtest.telemetry.sampler.GpuReader", lambda: GpuReader(nvml))
    with TelemetrySampler(FAST) as sampler:
        _wait_for(lambda: sampler.latest()[0])
    assert nvml.calls["nvmlShutdown"] == 1 and not nvml.initialised


def test_bad_interval() -> None:
    with pytest.raises(ValueError):
        TelemetrySampler(0)


@pytest.mark.skipif(nvml_library_loads(), reason="this machine has the NVML library")
def test_the_real_nvml_here() -> None:
    """No stand-in, on a machine without libnvidia-ml (this one): one note, no sample, no retry."""
    sampler = TelemetrySampler(FAST)
    with sampler:
        _wait_for(lambda: sampler.notes)
        time.sleep(3 * FAST)
    assert sampler.stop() == ([], [])
    assert sampler.notes == [NOTE_NO_GPU]


# -- server metrics ----------------------------------------------------------------------


METRICS = "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 2\n"


class FlakyMetrics:
    """A real /metrics on loopback that answers each scrape as the script says, then "ok".

    "reset": the connection is closed without an answer; "hang": no answer for a second
    (longer than the sampler's timeout); "503", "404": that status; "html": a web page;
    "ok": vLLM's running-requests gauge. `requests` counts the scrapes that arrived.
    """

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.requests = 0
        flaky = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                with lock:
                    flaky.requests += 1
                    step = flaky.script.pop(0) if flaky.script else "ok"
                if step == "reset":
                    return
                if step == "hang":
                    time.sleep(1.0)
                    return
                status, body, kind = {
                    "503": ("503 Service Unavailable", "busy", "text/plain"),
                    "404": ("404 Not Found", "404 page not found", "text/plain"),
                    "html": ("200 OK", "<html><body>hello</body></html>", "text/html"),
                    "ok": ("200 OK", METRICS, "text/plain; version=0.0.4"),
                }[step]
                data = body.encode()
                self.wfile.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data
                )

        lock = threading.Lock()
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky():
    servers: list[FlakyMetrics] = []

    def start(*script: str) -> FlakyMetrics:
        servers.append(FlakyMetrics(list(script)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_refused_connections_are_tried_three_times_then_one_note() -> None:
    interval = 0.2
    sampler = TelemetrySampler(interval, gpu=False, metrics_url=f"http://127.0.0.1:{_closed_port()}")
    began = time.monotonic()
    with sampler:
        _wait_for(lambda: sampler.notes)
        gave_up = time.monotonic() - began
        time.sleep(3 * interval)
    assert sampler.stop() == ([], [])
    (note,) = sampler.notes
    assert note.startswith(NOTE_METRICS_UNREACHABLE) and "3 tries in a row" in note and "ConnectionRefusedError" in note
    assert gave_up >= 2 * interval * 0.9  # three tries on the schedule, not one


def test_a_metrics_endpoint_that_fails_at_first_is_sampled_once_it_answers(flaky) -> None:
    server = flaky("reset", "hang")  # a dropped connection, then a timeout (the sampler waits 0.25 s)
    sampler = TelemetrySampler(FAST, gpu=False, metrics_url=server.url)
    with sampler:
        _wait_for(lambda: sampler.latest()[1] is not None)
        _wait_for(lambda: server.requests >= 5)
    _, samples = sampler.stop()
    assert len(samples) == server.requests - 2 and all(s.running == 2 for s in samples)
    assert sampler.notes == ["2 server metric scrape(s) failed (last: " + f"{server.url}: TimeoutError: timed out)"]


def test_three_failures_in_a_row_before_any_answer_give_up(flaky) -> None:
    server = flaky("503", "503", "503")  # a fourth scrape would have been answered
    sampler = TelemetrySampler(FAST, gpu=False, metrics_url=server.url)
    with sampler:
        _wait_for(lambda: sampler.notes)
        time.sleep(4 * FAST)
    assert sampler.stop() == ([], [])
    assert server.requests == 3
    assert sampler.notes == [f"{NOTE_METRICS_UNREACHABLE} (3 tries in a row failed; last: {server.url}: HTTP 503)"]


@pytest.mark.parametrize(("answer", "words"), [("404", "HTTP 404"), ("html", "not Prometheus text")])
def test_a_definite_answer_gives_up_at_once(flaky, answer, words) -> None:
    server = flaky(answer)  # the next scrape would have been answered
    sampler = TelemetrySampler(FAST, gpu=False, metrics_url=server.url)
    with sampler:
        _wait_for(lambda: sampler.notes)
        time.sleep(4 * FAST)
    assert sampler.stop() == ([], [])
    assert server.requests == 1
    (note,) = sampler.notes
    assert note.startswith(NOTE_NO_METRICS) and words in note


def test_failures_after_the_first_answer_never_stop_sampling(flaky) -> None:
    server = flaky("ok", "503", "503", "503", "503")
    sampler = TelemetrySampler(FAST, gpu=False, metrics_url=server.url)
    with sampler:
        _wait_for(lambda: server.requests >= 8)
    _, samples = sampler.stop()
    assert len(samples) >= 3  # the first answer and those after the four failures
    assert sampler.notes == [f"4 server metric scrape(s) failed (last: {server.url}: HTTP 503)"]


# -- drain ---------------------------------------------------------------------------------


def test_drain_hands_each_sample_over_once(flaky) -> None:
    nvml = FakeNvml()
    server = flaky()
    sampler = TelemetrySampler(FAST, metrics_url=server.url, gpu_reader=GpuReader(nvml))
    assert sampler.drain() == ([], [])
    parts = []
    with sampler:
        for calls in (3, 6, 9):
            _wait_for(lambda calls=calls: nvml.calls.get("nvmlDeviceGetName", 0) >= calls and server.requests >= calls)
            parts.append(sampler.drain())
            assert parts[-1][0] and parts[-1][1]
        latest_gpu, latest_server = sampler.latest()
    rest = sampler.stop()
    assert sampler.stop() == rest  # stop again: the same rest
    gpu = [s for part in [*parts, rest] for s in part[0]]
    server_samples = [s for part in [*parts, rest] for s in part[1]]
    # nothing lost, nothing twice: one GPU sample per NVML reading, one server sample per scrape
    assert len(gpu) == nvml.calls["nvmlDeviceGetName"]
    assert len(server_samples) == server.requests
    for samples in (gpu, server_samples):
        times = [s.t for s in samples]
        assert times == sorted(times) and len(set(times)) == len(times)
    # latest() is untouched by drain()
    assert latest_gpu and latest_gpu[0] in gpu and latest_server in server_samples
    assert sampler.drain() == rest  # what stop() returned was still not drained
    assert sampler.drain() == ([], []) and sampler.stop() == ([], [])


def test_samples_the_simulator(simulator) -> None:
    sim = simulator(max_seqs=1, ttft_ms=5, itl_ms=10)
    sampler = TelemetrySampler(FAST, gpu=False, metrics_url=sim.url)  # base URL: /metrics added
    body = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40}
    with sampler, httpx.Client(timeout=30) as client:
        _wait_for(lambda: sampler.latest()[1] is not None)
        threads = [threading.Thread(target=client.post, args=(f"{sim.url}/v1/chat/completions",), kwargs={"json": body}) for _ in range(3)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: (sampler.latest()[1].waiting or 0) >= 1)
        for thread in threads:
            thread.join()
    _, server_samples = sampler.stop()
    assert sampler.notes == []
    assert server_samples[0].running == 0
    assert max(s.running for s in server_samples) == 1
    assert max(s.waiting for s in server_samples) >= 1
    assert all(0 <= s.kv_cache_usage <= 1 for s in server_samples)
    times = [s.t for s in server_samples]
    assert times == sorted(times)


def test_gpu_and_server_together(simulator) -> None:
    sim = simulator()
    sampler = TelemetrySampler(FAST, metrics_url=f"{sim.url}/metrics", gpu_reader=GpuReader(FakeNvml()))
    with sampler:
        _wait_for(lambda: all(sampler.latest()))
    gpu_samples, server_samples = sampler.stop()
    assert gpu_samples and server_samples and sampler.notes == []
