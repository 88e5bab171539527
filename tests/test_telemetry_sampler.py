"""TelemetrySampler: a background thread over the stand-in NVML and real /metrics."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from llm_loadtest.telemetry.fake_nvml import GPU_IS_LOST, LIBRARY_NOT_FOUND, NOT_SUPPORTED, FakeGpu, FakeNvml
from llm_loadtest.telemetry.nvml import GpuReader
from llm_loadtest.telemetry.sampler import NOTE_NO_GPU, NOTE_NO_METRICS, TelemetrySampler

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

    class SlowNvml(FakeNvml):
        def nvmlInit(self) -> None:
            seen.append(threading.current_thread().name)
            time.sleep(0.3)  # NVML's first init can take this long on a real machine
            super().nvmlInit()

    sampler = TelemetrySampler(FAST, gpu_reader=GpuReader(SlowNvml()))
    began = time.perf_counter()
    sampler.start()
    assert time.perf_counter() - began < 0.1
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


def test_the_real_nvml_here() -> None:
    """No stand-in: on a machine without a GPU the sampler notes it and carries on."""
    sampler = TelemetrySampler(FAST)
    with sampler:
        _wait_for(lambda: sampler.notes or sampler.latest()[0])
    gpu_samples, _ = sampler.stop()
    assert gpu_samples or NOTE_NO_GPU in sampler.notes


# -- server metrics ----------------------------------------------------------------------


def test_server_without_metrics_is_skipped_with_one_note() -> None:
    sampler = TelemetrySampler(FAST, gpu=False, metrics_url=f"http://127.0.0.1:{_closed_port()}")
    with sampler:
        _wait_for(lambda: sampler.notes)
        time.sleep(3 * FAST)
    assert sampler.stop() == ([], [])
    (note,) = sampler.notes
    assert note.startswith(NOTE_NO_METRICS)


def test_samples_the_simulator(simulator) -> None:
    sim = simulator(max_seqs=1, ttft_ms=5, itl_ms=10)
    sampler = TelemetrySampler(FAST, gpu=False, metrics_url=sim.url)  # base URL: /metrics added
    body = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40}
    with sampler, httpx.Client(timeout=30) as client:
        _wait_for(lambda: sampler.latest()[1] is not None)
        threads = [threading.Thread(target=client.post, args=(f"{sim.url}/v1/chat/completions",),
                                    kwargs={"json": body}) for _ in range(3)]
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
