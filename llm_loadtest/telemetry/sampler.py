"""Samples the GPUs and the server's /metrics on a schedule, in a background thread.

NVML calls and the HTTP scrape block; in a thread they never delay the engine's event loop
or a request's timestamps. The engine calls `start()`, `latest()` (a live display),
`drain()` (to store samples as the run goes) and `stop()`.
"""

from __future__ import annotations

import threading
import time

from llm_loadtest.model.results import GpuSample, ServerSample
from llm_loadtest.telemetry.nvml import GpuError, GpuReader, GpuUnavailable
from llm_loadtest.telemetry.prometheus import (
    DEFAULT_TIMEOUT_S,
    ServerMetricsScraper,
    ServerMetricsUnavailable,
    metrics_url_for,
)

NOTE_NO_GPU = "no NVIDIA GPU; GPU samples skipped"
NOTE_NO_METRICS = "server exposes no /metrics; server samples skipped"
NOTE_METRICS_UNREACHABLE = "server /metrics did not answer; server samples skipped"
# Tries of a /metrics that has not answered yet before it is given up, when each failure may
# pass (refused, timed out, 5xx); a definite answer (404, not Prometheus text) is given up at once.
FIRST_SCRAPE_TRIES = 3


class TelemetrySampler:
    """Collects `GpuSample`s and `ServerSample`s every `interval_s` until `stop()`.

    `t` in every sample is seconds since `t0_ns` (a `time.perf_counter_ns()` value; the
    run's start, so samples line up with the levels), or since `start()` when not given.
    `metrics_url` may be the server's base URL or its /metrics URL.
    """

    def __init__(
        self,
        interval_s: float = 1.0,
        *,
        gpu: bool = True,
        metrics_url: str | None = None,
        t0_ns: int | None = None,
        gpu_reader: GpuReader | None = None,
        scraper: ServerMetricsScraper | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self._gpu_enabled = gpu
        self._metrics_url = metrics_url_for(metrics_url) if metrics_url else None
        self._t0_ns = t0_ns
        self._reader = gpu_reader
        self._own_reader = gpu_reader is None
        self._scraper = scraper
        self._own_scraper = scraper is None

        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpu_samples: list[GpuSample] = []
        self._server_samples: list[ServerSample] = []
        self._latest_gpu: list[GpuSample] = []
        self._latest_server: ServerSample | None = None
        self._notes: list[str] = []
        self._gpu_live = gpu
        self._server_live = metrics_url is not None
        self._server_ever_ok = False
        self._first_failures = 0  # failed tries in a row before /metrics first answered
        self._scrape_failures = 0
        self._last_scrape_error = ""
        self._gpu_failures = 0
        self._last_gpu_error = ""

    # -- public API ------------------------------------------------------------------

    @property
    def notes(self) -> list[str]:
        with self._lock:
            notes = list(self._notes)
            if self._scrape_failures:
                notes.append(f"{self._scrape_failures} server metric scrape(s) failed (last: {self._last_scrape_error})")
            if self._gpu_failures:
                notes.append(f"{self._gpu_failures} GPU reading(s) failed (last: {self._last_gpu_error})")
            return notes

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        if self._t0_ns is None:
            self._t0_ns = time.perf_counter_ns()
        self._thread = threading.Thread(target=self._run, name="llm-loadtest-telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> tuple[list[GpuSample], list[ServerSample]]:
        """Stop sampling and return what was collected and not yet drained. Safe to call
        more than once (each call returns the same, unless `drain()` came between)."""
        self._stop.set()
        if self._thread is not None:
            # a scrape in flight ends within its timeout; NVML calls take milliseconds
            self._thread.join(timeout=DEFAULT_TIMEOUT_S + self.interval_s + 1.0)
        with self._lock:
            return list(self._gpu_samples), list(self._server_samples)

    def drain(self) -> tuple[list[GpuSample], list[ServerSample]]:
        """The samples gathered since the last drain (or the start), in the order taken; they
        are handed over once, so that they can be stored as the run goes. Sampling goes on."""
        with self._lock:
            gpu, server = self._gpu_samples, self._server_samples
            self._gpu_samples, self._server_samples = [], []
        return gpu, server

    def latest(self) -> tuple[list[GpuSample], ServerSample | None]:
        """The most recent reading of each GPU and of the server, for a live display."""
        with self._lock:
            return list(self._latest_gpu), self._latest_server

    def __enter__(self) -> TelemetrySampler:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._open()
            # a fixed schedule (t0 + k * interval) so slow ticks do not make samples drift
            begin = time.perf_counter()
            tick = 0
            while not self._stop.is_set():
                self._sample_once()
                tick += 1
                delay = begin + tick * self.interval_s - time.perf_counter()
                if delay < 0:  # fell behind (a slow scrape): skip the missed ticks
                    tick += int(-delay // self.interval_s) + 1
                    delay = begin + tick * self.interval_s - time.perf_counter()
                if self._stop.wait(max(0.0, delay)):
                    break
        except Exception as exc:  # noqa: BLE001 - a thread's traceback would tear the live display
            self._add_note(f"telemetry sampling stopped: {type(exc).__name__}: {exc}")
        finally:
            self._close()

    def _open(self) -> None:
        if self._gpu_enabled and self._reader is None:
            self._reader = GpuReader()
        if self._server_live and self._scraper is None:
            timeout = max(0.25, min(DEFAULT_TIMEOUT_S, self.interval_s))
            self._scraper = ServerMetricsScraper(self._metrics_url or "", timeout_s=timeout)

    def _close(self) -> None:
        if self._own_reader and self._reader is not None:
            self._reader.close()
        if self._own_scraper and self._scraper is not None:
            self._scraper.close()

    def _now(self) -> float:
        assert self._t0_ns is not None
        return (time.perf_counter_ns() - self._t0_ns) / 1e9

    def _sample_once(self) -> None:
        if self._gpu_live:
            self._sample_gpus()
        if self._server_live:
            self._sample_server()

    def _sample_gpus(self) -> None:
        assert self._reader is not None
        t = self._now()
        try:
            samples = [r.to_sample(t) for r in self._reader.read()]
        except GpuUnavailable:
            self._gpu_live = False
            self._add_note(NOTE_NO_GPU)
            return
        except GpuError as exc:
            with self._lock:
                self._gpu_failures += 1
                self._last_gpu_error = str(exc)
            return
        with self._lock:
            self._gpu_samples.extend(samples)
            self._latest_gpu = samples

    def _sample_server(self) -> None:
        assert self._scraper is not None
        t = self._now()
        try:
            sample = self._scraper.scrape(t)
        except ServerMetricsUnavailable as exc:
            if self._server_ever_ok:
                # it did answer before: a busy server timing out a scrape is not a verdict
                with self._lock:
                    self._scrape_failures += 1
                    self._last_scrape_error = str(exc)
            elif not exc.transient:
                # a definite answer: this server has no usable /metrics, stop asking
                self._server_live = False
                self._add_note(f"{NOTE_NO_METRICS} ({exc})")
            else:
                # not up yet, or too busy to answer in time: try again, a few times
                self._first_failures += 1
                with self._lock:
                    self._last_scrape_error = str(exc)
                if self._first_failures >= FIRST_SCRAPE_TRIES:
                    self._server_live = False
                    self._add_note(f"{NOTE_METRICS_UNREACHABLE} ({self._first_failures} tries in a row failed; last: {exc})")
            return
        with self._lock:
            if not self._server_ever_ok:
                # the tries that failed before the first answer are worth a mention
                self._scrape_failures += self._first_failures
            self._server_samples.append(sample)
            self._latest_server = sample
        self._server_ever_ok = True

    def _add_note(self, note: str) -> None:
        with self._lock:
            if note not in self._notes:
                self._notes.append(note)
