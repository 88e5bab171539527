"""Our own figures for Prometheus: `--prometheus-port` serves them while a run goes, and
`--pushgateway URL` pushes each level's figures when it ends (for CI jobs nobody scrapes).

A listener of the controller's events. Finished levels are exported from their records (the
figures of record: outcomes, output tokens, latency histograms, goodput); the level in
progress from the engine's live snapshots (counts so far, in flight, live percentiles).
Nothing is computed at scrape time that the engine did not already say.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from llm_loadtest.engine.events import EngineEvent, LevelFinished, LevelStarted, ProgressSnapshot
from llm_loadtest.metrics.histogram import GAP_BUCKETS_S, LATENCY_BUCKETS_S, cumulative_buckets
from llm_loadtest.metrics.latency import latencies, measured
from llm_loadtest.model.config import LevelSpec, RunConfig
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import LevelSummary

PREFIX = "llm_loadtest_"
LEVEL_LABELS = ("level", "concurrency", "request_rate")
PUSH_JOB = "llm_loadtest"


def _level_labels(spec: LevelSpec) -> list[str]:
    return [
        spec.label,
        "" if spec.concurrency is None else str(spec.concurrency),
        "" if spec.request_rate is None else f"{spec.request_rate:g}",
    ]


@dataclass
class _FinishedLevel:
    labels: list[str]
    outcomes: dict[str, int]
    output_tokens: int
    ttft_s: np.ndarray
    itl_s: np.ndarray
    e2e_s: np.ndarray
    summary: LevelSummary


def _finished(labels: list[str], summary: LevelSummary, records: list[RequestRecord]) -> _FinishedLevel:
    kept = measured(records)
    outcomes: dict[str, int] = {}
    for record in kept:
        key = record.error_class or "success"
        outcomes[key] = outcomes.get(key, 0) + 1
    lat = latencies(kept)
    return _FinishedLevel(
        labels=labels,
        outcomes=outcomes,
        output_tokens=summary.output_tokens.total,
        ttft_s=lat.ttft_ms / 1000.0,
        itl_s=lat.itl_ms / 1000.0,
        e2e_s=lat.e2e_ms / 1000.0,
        summary=summary,
    )


@dataclass
class _State:
    specs: list[LevelSpec]
    finished: list[_FinishedLevel] = field(default_factory=list)
    live: ProgressSnapshot | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _RunCollector:
    """Builds the metric families from the state at each scrape (or push)."""

    def __init__(self, state: _State, *, live: bool):
        self._state = state
        self._live = live

    def collect(self) -> Iterator[Metric]:
        with self._state.lock:
            finished = list(self._state.finished)
            snapshot = self._state.live if self._live else None
            specs = self._state.specs
        requests = CounterMetricFamily(f"{PREFIX}requests", "Finished requests by outcome", labels=[*LEVEL_LABELS, "outcome"])
        tokens = CounterMetricFamily(f"{PREFIX}output_tokens", "Output tokens of successful requests", labels=LEVEL_LABELS)
        good = CounterMetricFamily(
            f"{PREFIX}goodput_requests", "Requests that met the SLO (slo=all: every SLO given)", labels=[*LEVEL_LABELS, "slo"]
        )
        throughput = GaugeMetricFamily(
            f"{PREFIX}output_throughput_tokens_per_second", "Output tokens per second of the level", labels=LEVEL_LABELS
        )
        histograms = {
            name: HistogramMetricFamily(f"{PREFIX}{name}", text, labels=LEVEL_LABELS)
            for name, text in (
                ("time_to_first_token_seconds", "Time to first token of successful requests"),
                ("inter_token_latency_seconds", "Gaps between content chunks"),
                ("request_latency_seconds", "End-to-end latency of successful requests"),
            )
        }
        for level in finished:
            for outcome, count in sorted(level.outcomes.items()):
                requests.add_metric([*level.labels, outcome], count)
            tokens.add_metric(level.labels, level.output_tokens)
            if level.summary.output_throughput is not None:
                throughput.add_metric(level.labels, level.summary.output_throughput)
            if (goodput := level.summary.goodput) is not None:
                good.add_metric([*level.labels, "all"], goodput.good)
                for slo, slo_count in goodput.by_slo.items():
                    good.add_metric([*level.labels, slo], slo_count.met)
            for name, values, bounds in (
                ("time_to_first_token_seconds", level.ttft_s, LATENCY_BUCKETS_S),
                ("inter_token_latency_seconds", level.itl_s, GAP_BUCKETS_S),
                ("request_latency_seconds", level.e2e_s, LATENCY_BUCKETS_S),
            ):
                counts, _, total = cumulative_buckets(values, bounds)
                buckets = [(f"{b:g}", c) for b, c in zip(bounds, counts)] + [("+Inf", counts[-1])]
                histograms[name].add_metric(level.labels, buckets, total)
        in_flight = GaugeMetricFamily(f"{PREFIX}requests_in_flight", "Requests sent and not yet finished", labels=LEVEL_LABELS)
        current = GaugeMetricFamily(f"{PREFIX}level_info", "1 for the level being measured", labels=LEVEL_LABELS)
        live_latency = GaugeMetricFamily(
            f"{PREFIX}live_latency_seconds",
            "Live indications over the last seconds (the level's histograms are the figures of record)",
            labels=[*LEVEL_LABELS, "figure", "quantile"],
        )
        if snapshot is not None and snapshot.phase != "done" and snapshot.level_index < len(specs):
            labels = _level_labels(specs[snapshot.level_index])
            current.add_metric(labels, 1)
            in_flight.add_metric(labels, snapshot.in_flight)
            errors = sum(snapshot.errors.values())
            requests.add_metric([*labels, "success"], snapshot.completed - snapshot.failed)
            for outcome, count in sorted(snapshot.errors.items()):
                requests.add_metric([*labels, outcome], count)
            if snapshot.failed > errors:  # failures whose class the snapshot did not name
                requests.add_metric([*labels, "other"], snapshot.failed - errors)
            tokens.add_metric(labels, snapshot.output_tokens)
            if snapshot.output_throughput is not None:
                throughput.add_metric(labels, snapshot.output_throughput)
            for figure, quantile, value in (
                ("ttft", "0.5", snapshot.ttft_p50_ms),
                ("ttft", "0.99", snapshot.ttft_p99_ms),
                ("itl", "0.5", snapshot.itl_p50_ms),
                ("itl", "0.99", snapshot.itl_p99_ms),
            ):
                if value is not None:
                    live_latency.add_metric([*labels, figure, quantile], value / 1000.0)
        yield from (requests, tokens, good, throughput, *histograms.values(), in_flight, current, live_latency)


class PrometheusPublisher:
    """One per process: `listener(config, run_id)` for each run, `close()` at the end.
    The endpoint keeps serving the last run's figures after it ends, until the next starts."""

    def __init__(self, *, port: int | None = None, host: str = "127.0.0.1", pushgateway: str | None = None):
        self._state = _State(specs=[])
        self._run_id = ""
        self._pushgateway = pushgateway
        self._pusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pushgateway") if pushgateway else None
        self.errors: list[str] = []
        self._server = None
        self.port: int | None = None
        if port is not None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_RunCollector(self._state, live=True))
            self._server, _ = start_http_server(port, addr=host, registry=registry)
            self.port = self._server.server_port

    def listener(self, config: RunConfig, run_id: str) -> PrometheusPublisher:
        """Start over for a new run; the result listens to its controller."""
        with self._state.lock:
            self._state.specs = config.levels()
            self._state.finished = []
            self._state.live = None
        self._run_id = run_id
        return self

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, ProgressSnapshot):
            with self._state.lock:
                self._state.live = event
        elif isinstance(event, LevelStarted):
            with self._state.lock:
                self._state.live = None
        elif isinstance(event, LevelFinished):
            level = _finished(_level_labels(self._state.specs[event.level_index]), event.summary, event.records)
            with self._state.lock:
                self._state.finished.append(level)
                self._state.live = None
            if self._pusher is not None:
                self._pusher.submit(self._push)

    def _push(self) -> None:
        """The figures of the finished levels, under this run's id (never on the engine's loop)."""
        gateway = self._pushgateway
        assert gateway is not None, "a pusher exists only with a gateway"
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_RunCollector(self._state, live=False))
        try:
            push_to_gateway(gateway, job=PUSH_JOB, grouping_key={"run_id": self._run_id}, registry=registry, timeout=10)
        except Exception as exc:  # a pushgateway that is down costs the push, never the run
            message = f"--pushgateway {gateway}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            if message not in self.errors:
                self.errors.append(message)
                print(f"llm-loadtest: warning: {message}", file=sys.stderr)

    def close(self) -> None:
        if self._pusher is not None:
            self._pusher.shutdown(wait=True)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
