"""End-to-end check of the real NVML path, for a machine with an NVIDIA GPU.

    python bench/gpu_check.py [--seconds 10] [--no-run]

Steps, each printed as it goes:
  1. `llm-loadtest info` and `llm-loadtest gpu` as a user runs them (subprocess);
  2. GpuReader directly: driver, each GPU, and how long one read of all GPUs takes;
  3. a sampled run: TelemetrySampler for --seconds against the simulator, with load on it,
     printing every GPU and server sample and the notes;
  4. a real headless `llm-loadtest run` against the simulator, printing the samples and
     warnings its result JSON carries (skipped when `run` is not available).
Exit status: 0 when every step ran, 1 when one failed. Paste the whole output in the issue.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from llm_loadtest import __version__  # noqa: E402
from llm_loadtest.model.results import GpuSample, ServerSample  # noqa: E402
from llm_loadtest.telemetry.nvml import GpuError, GpuReader, GpuUnavailable  # noqa: E402
from llm_loadtest.telemetry.sampler import TelemetrySampler  # noqa: E402

failures: list[str] = []


def section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "llm_loadtest", *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    print(f"$ llm-loadtest {' '.join(argv)}   -> exit {done.returncode}")
    for line in (done.stdout + done.stderr).rstrip().splitlines():
        print(f"  {line}")
    if "Traceback" in done.stdout + done.stderr:
        failures.append(f"`{' '.join(argv)}` printed a traceback")
    return done


def step_commands() -> None:
    section("1. llm-loadtest info / gpu")
    for argv in (("info",), ("gpu",)):
        if cli(*argv).returncode != 0:
            failures.append(f"`{' '.join(argv)}` exited non-zero")


def step_reader() -> bool:
    section("2. GpuReader")
    with GpuReader() as reader:
        try:
            if not reader.available():
                print("  no NVIDIA GPU visible to NVML")
                return False
            print(f"  driver {reader.driver_version()}, {reader.device_count()} GPU(s)")
            began = time.perf_counter()
            readings = reader.read()
            first_ms = (time.perf_counter() - began) * 1e3
            began = time.perf_counter()
            for _ in range(20):
                reader.read()
            warm_ms = (time.perf_counter() - began) * 1e3 / 20
        except (GpuUnavailable, GpuError) as exc:
            print(f"  {type(exc).__name__}: {exc}")
            failures.append(f"GpuReader: {exc}")
            return False
    for r in readings:
        print(f"  {r}")
    print(f"  one read of all GPUs: first {first_ms:.1f} ms, then {warm_ms:.2f} ms on average")
    return True


def _load(url: str, stop: threading.Event, workers: int = 8) -> list[int]:
    """Keep `workers` chat requests in flight until `stop`; returns the status codes."""
    import httpx

    codes: list[int] = []
    body = {"model": "sim-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 64, "stream": True}

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                    for _ in response.iter_bytes():
                        pass
                    codes.append(response.status_code)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(timeout=30)
    return codes


def _print_gpu_samples(samples: list[GpuSample]) -> None:
    for s in samples:
        print(
            f"  t={s.t:6.2f} gpu{s.gpu} util={s.util} mem={s.mem_used_mb}/{s.mem_total_mb} MiB "
            f"temp={s.temp_c} C power={s.power_w}/{s.power_limit_w} W"
        )


def _print_server_samples(samples: list[ServerSample]) -> None:
    for s in samples:
        print(f"  t={s.t:6.2f} running={s.running} waiting={s.waiting} kv={s.kv_cache_usage} prefix_hit={s.prefix_cache_hit_rate}")


def step_sampling(seconds: float, has_gpu: bool) -> None:
    from llm_loadtest.simulator.process import SimulatorProcess

    section(f"3. TelemetrySampler for {seconds:g} s against the simulator, under load")
    with SimulatorProcess(max_seqs=4, itl_ms=10) as sim:
        print(f"  simulator at {sim.url}")
        stop = threading.Event()
        codes: list[int] = []
        loader = threading.Thread(target=lambda: codes.extend(_load(sim.url, stop)), daemon=True)
        sampler = TelemetrySampler(1.0, metrics_url=sim.url)
        sampler.start()
        loader.start()
        time.sleep(seconds)
        live_gpu, live_server = sampler.latest()
        gpu_samples, server_samples = sampler.stop()
        stop.set()
        loader.join(timeout=60)
    print(f"  requests completed: {len(codes)} (statuses {sorted(set(codes))})")
    print(f"  latest() at the end: {len(live_gpu)} GPU sample(s), server {live_server}")
    print(f"  GPU samples: {len(gpu_samples)}")
    _print_gpu_samples(gpu_samples)
    print(f"  server samples: {len(server_samples)}")
    _print_server_samples(server_samples)
    print(f"  notes: {sampler.notes}")
    expected = int(seconds) - 1
    if len(server_samples) < expected:
        failures.append(f"only {len(server_samples)} server samples in {seconds:g} s")
    if has_gpu and len({s.t for s in gpu_samples}) < expected:
        failures.append(f"only {len(gpu_samples)} GPU samples in {seconds:g} s")
    if not any(s.running for s in server_samples):
        failures.append("the server samples never saw a running request")


def step_headless_run() -> None:
    from llm_loadtest.simulator.process import SimulatorProcess

    section("4. headless llm-loadtest run against the simulator")
    probe = subprocess.run([sys.executable, "-m", "llm_loadtest", "run", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        print("  `run` is not available in this build; skipped")
        return
    with SimulatorProcess(max_seqs=8, itl_ms=10) as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        done = cli(
            "run",
            "--headless",
            "--server",
            sim.url,
            "--model",
            "auto",
            "-c",
            "2,16",
            "-n",
            "48",
            "--input-len",
            "64",
            "--output-len",
            "64",
            "--no-save",
            "--output",
            str(out),
            timeout=300,
        )
        if done.returncode != 0 or not out.exists():
            failures.append(f"headless run exited {done.returncode}")
            return
        result = json.loads(out.read_text())
    gpu = [GpuSample(**s) for s in result.get("gpu_samples", [])]
    server = [ServerSample(**s) for s in result.get("server_samples", [])]
    print(f"  environment: {result.get('environment')}")
    print(f"  gpu_samples: {len(gpu)}")
    _print_gpu_samples(gpu)
    print(f"  server_samples: {len(server)}")
    _print_server_samples(server)
    print(f"  warnings: {result.get('warnings')}")
    if not server:
        failures.append("the headless run's result has no server_samples")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the sampled run (default 10)")
    parser.add_argument("--no-run", action="store_true", help="skip the headless run")
    args = parser.parse_args()

    print(f"llm-loadtest {__version__}, Python {platform.python_version()}, host {socket.gethostname()}, {platform.platform()}")
    has_gpu = False
    try:
        step_commands()
        has_gpu = step_reader()
        step_sampling(args.seconds, has_gpu)
        if not args.no_run:
            step_headless_run()
    except Exception as exc:  # noqa: BLE001 - a check script reports, then fails
        import traceback

        traceback.print_exc()
        failures.append(f"{type(exc).__name__}: {exc}")

    section("verdict")
    if not has_gpu:
        print("  note: no GPU here, so the GPU half of this check was not exercised")
    for failure in failures:
        print(f"  FAILED: {failure}")
    print("  OK" if not failures else f"  {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
