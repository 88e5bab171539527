"""The clock rules end to end (docs/metrics.md, "Per request"): the engine against the
simulator over real HTTP on 127.0.0.1, with the loop deliberately held busy, checked against
the simulator's log of what it did; and an https server, which the kernel cannot stamp for us."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import ssl
import time

import numpy as np
import pytest
from aiohttp import web
from cli_helpers import headless_command
from engine_helpers import run_benchmark

from llm_loadtest.cli.summary_table import result_report
from llm_loadtest.metrics import coalesced_chunks
from llm_loadtest.model.records import ClockSource
from llm_loadtest.transport.clock import kernel_stamps_available

MS = 1_000_000

kernel_only = pytest.mark.skipif(not kernel_stamps_available(), reason="kernel receive stamps are Linux's")


async def run_with_the_loop_held(url: str, hold_s: float, every_s: float, **config):
    """A run in this loop while a task holds the loop for `hold_s` every `every_s`, as a slow
    callback of the client would."""
    stop = asyncio.Event()

    async def hold() -> None:
        while not stop.is_set():
            time.sleep(hold_s)
            await asyncio.sleep(every_s)

    holder = asyncio.get_running_loop().create_task(hold())
    try:
        return await run_benchmark(url, **config)
    finally:
        stop.set()
        await holder


def reads(times: np.ndarray) -> list[tuple[int, int]]:
    """(index of the last chunk, chunks) of each read: chunks that share a time came in one read."""
    groups = []
    for i, t in enumerate(times.tolist()):
        if groups and times[groups[-1][0]] == t:
            groups[-1] = (i, groups[-1][1] + 1)
        else:
            groups.append((i, 1))
    return groups


def assert_each_read_is_stamped_at_its_arrival(record, entry) -> None:
    """The time of each read is when its last bytes arrived. On loopback the kernel delivers a
    chunk during the simulator's write, which the log brackets (chunk_write_ns, chunk_send_ns):
    the read's time lies in its last chunk's bracket, within 0.5 ms, however late the loop read
    it. A read that ends the stream may also hold the end events, written after the last chunk
    and before the simulator logged the request done."""
    last_chunk = len(record.chunk_times_ns) - 1
    for last, count in reads(record.chunk_times_ns):
        t = record.chunk_times_ns[last]
        latest = entry["t_done_ns"] if last == last_chunk else entry["chunk_send_ns"][last]
        assert entry["chunk_write_ns"][last] - MS / 2 <= t <= latest + MS / 2, (record.request_id, last, count)


@kernel_only
async def test_chunk_times_are_the_kernels_arrivals_however_late_the_loop_reads(simulator):
    # a chunk every 60 ms: a 50 ms hold delays reads of at most one chunk per stream
    sim = simulator(ttft_ms=60, itl_ms=60, step_us_per_seq=0, prefill_us_per_token=0)
    run = await run_with_the_loop_held(sim.url, 0.05, 0.02, concurrency=[2], num_prompts=4, input_len=16, output_len=12)
    level = run.result.levels[0]
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    assert level.requests.succeeded == 4 and level.client.clock == "kernel"
    assert "clock: kernel" in result_report(run.result)
    assert level.client.loop_lag_ms.max >= 30  # the holds did hold the loop
    for record in run.records[0]:
        entry = log[record.request_id]
        assert record.clock is ClockSource.KERNEL and len(record.chunk_times_ns) == 12
        assert_each_read_is_stamped_at_its_arrival(record, entry)
        # and the request reached the server as t_start says (the kernel's send stamp)
        assert abs(entry["t_recv_ns"] - record.t_start_ns) < MS / 2


@kernel_only
async def test_chunks_read_late_together_are_counted_as_coalesced(simulator):
    sim = simulator(ttft_ms=5, itl_ms=5, step_us_per_seq=0, prefill_us_per_token=0)
    run = await run_with_the_loop_held(sim.url, 0.05, 0.01, concurrency=[2], num_prompts=4, input_len=16, output_len=40)
    level = run.result.levels[0]
    records = run.records[0]
    log = sim.read_chunk_log(*(r.request_id for r in records))
    counted = sum(coalesced_chunks(r.chunk_times_ns) for r in records)
    assert level.client.coalesced_chunks == counted > 0
    for record in records:
        entry = log[record.request_id]
        # a read's chunks all get its time, the arrival of the last of them
        assert_each_read_is_stamped_at_its_arrival(record, entry)


async def test_the_send_delay_is_recorded_and_no_latency_includes_it(simulator):
    sim = simulator(ttft_ms=20, itl_ms=5, step_us_per_seq=0, prefill_us_per_token=0)
    # the holds come while requests end: the next ones are written late
    run = await run_with_the_loop_held(sim.url, 0.03, 0.005, concurrency=[4], num_prompts=24, input_len=16, output_len=8)
    level = run.result.levels[0]
    records = run.records[0]
    log = sim.read_chunk_log(*(r.request_id for r in records))
    delays = np.array([r.t_start_ns - r.t_ready_ns for r in records]) / MS
    assert delays.min() >= 0 and delays.max() > 5  # some requests waited for the loop
    assert level.client.send_delay_ms.p50 == pytest.approx(np.percentile(delays, 50))
    assert level.client.send_delay_ms.p99 == pytest.approx(np.percentile(delays, 99))
    for record in records:
        # TTFT runs from t_start, not from t_ready
        assert record.ttft_ns == record.chunk_times_ns[0] - record.t_start_ns
    if kernel_stamps_available():
        for record in records:
            entry = log[record.request_id]
            # t_start is when the request left: the server had it then, however late it was written
            assert abs(entry["t_recv_ns"] - record.t_start_ns) < MS / 2
            assert_each_read_is_stamped_at_its_arrival(record, entry)


# ---- https: the fallback ----------------------------------------------------------------------


def self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, made here."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_path), str(key_path)


async def serve_openai_over_tls(cert: str, key: str) -> tuple[web.AppRunner, str]:
    """A small OpenAI-compatible server on https: a model list and streamed chat completions."""

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        count = body.get("max_tokens", 4)
        for i in range(count):
            delta = {"choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": "length" if i == count - 1 else None}]}
            await response.write(f"data: {json.dumps(delta)}\n\n".encode())
            await asyncio.sleep(0.002)
        usage = {"choices": [], "usage": {"prompt_tokens": 16, "completion_tokens": count, "total_tokens": 16 + count}}
        await response.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


async def test_an_https_server_is_measured_on_the_fallback_path_and_the_result_says_user(tmp_path):
    cert, key = self_signed(tmp_path)
    runner, url = await serve_openai_over_tls(cert, key)
    output = tmp_path / "result.json"
    try:
        # a process of its own, so that its TLS trusts the certificate (SSL_CERT_FILE is read
        # when aiohttp makes its default context)
        process = await asyncio.create_subprocess_exec(
            *headless_command(
                url,
                "-c",
                "2",
                "-n",
                "6",
                "--input-len",
                "16",
                "--output-len",
                "5",
                "--warmup",
                "0",
                "--output",
                str(output),
                "--db",
                str(tmp_path / "runs.db"),
                model="m",
            ),
            env={**os.environ, "SSL_CERT_FILE": cert},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        await runner.cleanup()
    assert process.returncode == 0, err.decode()
    assert "clock: user" in out.decode()  # the summary says so too
    level = json.loads(output.read_text())["levels"][0]
    assert level["requests"]["succeeded"] == 6
    assert level["client"]["clock"] == "user"
    assert level["client"]["send_delay_ms"]["p50"] is not None


class SteppableTime:
    """The two clocks WallClock reads, moved by the test: perf_counter_ns and time_ns."""

    def __init__(self) -> None:
        self.perf_ns = 10 * 1_000 * MS
        self.wall_offset_ns = 1_700_000_000 * 1_000 * MS

    def perf_counter_ns(self) -> int:
        return self.perf_ns

    def time_ns(self) -> int:
        return self.perf_ns + self.wall_offset_ns


def test_the_wall_clock_map_follows_a_step_and_counts_it(monkeypatch):
    from llm_loadtest.transport import clock as clock_module

    fake = SteppableTime()
    monkeypatch.setattr(clock_module, "time", fake)
    clock = clock_module.WallClock()
    wall = fake.time_ns()
    assert clock.to_perf(wall) == fake.perf_ns and clock.steps == 0
    fake.wall_offset_ns += 5_000 * MS  # someone sets the wall clock 5 s ahead
    fake.perf_ns += MS // 10
    # within a millisecond of the last sample the old offset still maps (no sample taken)
    assert clock.to_perf(fake.time_ns()) == fake.perf_ns + 5_000 * MS and clock.steps == 0
    fake.perf_ns += MS
    assert clock.to_perf(fake.time_ns()) == fake.perf_ns and clock.steps == 1
    fake.perf_ns += 2 * MS
    fake.wall_offset_ns += 1_000  # a slew of 1 us is no step
    assert clock.to_perf(fake.time_ns()) == fake.perf_ns and clock.steps == 1
