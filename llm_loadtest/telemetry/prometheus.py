"""What the server says it is doing, from its Prometheus `/metrics`.

vLLM, SGLang and Triton each name the same few facts differently; this module maps them
onto one vocabulary, the fields of `ServerSample`: requests running, requests waiting,
KV-cache usage (0..1) and prefix-cache hit rate (0..1). Parsing is prometheus_client's; the
scrape is one plain GET a second, by the standard library's urllib (an HTTP client library's
import and first client cost a run's parent process about 0.2 CPU-s).
"""

from __future__ import annotations

import http.client
import math
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.parser import text_string_to_metric_families

from llm_loadtest.model.results import ServerSample

DEFAULT_TIMEOUT_S = 2.0


class ServerMetricsUnavailable(Exception):
    """The server has no usable /metrics (404, not Prometheus text, unreachable, unknown names).

    `transient` is True when another try may succeed (refused or timed-out connection, a 5xx,
    a 408/429, known metrics with no finite value yet) and False for a definite answer (a
    404 or other 4xx, not Prometheus text, none of the metrics we read, a URL that cannot be).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class _Source:
    """One metric that can supply a field, optionally only its samples with given labels."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()

    def matches(self, sample_name: str, sample_labels: dict[str, str]) -> bool:
        # Counters may or may not carry `_total` depending on the client library's
        # version and whether the server sent a TYPE line, so accept both spellings.
        if sample_name != self.name and sample_name != self.name + "_total":
            return False
        return all(sample_labels.get(k) == v for k, v in self.labels)


# For each field, the first source the server exposes wins: a server in the middle of a
# rename (vLLM's gpu_cache_usage_perc -> kv_cache_usage_perc) may publish both, and adding
# them would count the same thing twice.
_RUNNING = (
    _Source("vllm:num_requests_running"),
    _Source("sglang:num_running_reqs"),
    # Triton's TensorRT-LLM backend: requests in flight in the batch manager
    _Source("nv_trt_llm_request_metrics", (("request_type", "active"),)),
)
_WAITING = (
    _Source("vllm:num_requests_waiting"),
    _Source("sglang:num_queue_reqs"),
    # Triton's generic queue, per model; with an ensemble the composing models queue too,
    # so this is best-effort
    _Source("nv_inference_pending_request_count"),
)
_KV_USAGE = (
    _Source("vllm:kv_cache_usage_perc"),
    _Source("vllm:gpu_cache_usage_perc"),
    _Source("sglang:token_usage"),
    _Source("nv_trt_llm_kv_cache_block_metrics", (("kv_cache_block_type", "fraction"),)),
)
# Counters: the hit rate over an interval is Δhits / Δqueries.
_PREFIX_HITS = (_Source("vllm:prefix_cache_hits"), _Source("vllm:gpu_prefix_cache_hits"))
_PREFIX_QUERIES = (_Source("vllm:prefix_cache_queries"), _Source("vllm:gpu_prefix_cache_queries"))
# Gauges where the server computed the rate itself (SGLang; vLLM's V0 engine).
_HIT_RATE_GAUGES = (_Source("sglang:cache_hit_rate"), _Source("vllm:gpu_prefix_cache_hit_rate"))


@dataclass(frozen=True)
class MetricSnapshot:
    """The known metrics from one scrape, already summed across label sets."""

    running: float | None = None
    waiting: float | None = None
    kv_cache_usage: float | None = None
    prefix_hits: float | None = None
    prefix_queries: float | None = None
    prefix_hit_rate_gauge: float | None = None

    def knows_anything(self) -> bool:
        return any(
            v is not None
            for v in (
                self.running,
                self.waiting,
                self.kv_cache_usage,
                self.prefix_hits,
                self.prefix_queries,
                self.prefix_hit_rate_gauge,
            )
        )


Samples = list[tuple[str, dict[str, str], float]]


def _values(samples: Samples, sources: Iterable[_Source]) -> list[float] | None:
    for source in sources:
        found = [v for name, labels, v in samples if source.matches(name, labels)]
        if found:
            return found
    return None


def _sum(values: list[float] | None) -> float | None:
    # several models or data-parallel engines behind one endpoint: requests add up
    return sum(values) if values else None


def _max(values: list[float] | None) -> float | None:
    # a fraction per engine cannot be added; the fullest engine is the one that stalls
    return max(values) if values else None


def _mean(values: list[float] | None) -> float | None:
    return sum(values) / len(values) if values else None


def parse_metrics(text: str) -> MetricSnapshot:
    """Parse Prometheus text; raise `ServerMetricsUnavailable` if it is not, or knows nothing."""
    try:
        parsed = [(s.name, dict(s.labels), float(s.value)) for family in text_string_to_metric_families(text) for s in family.samples]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ServerMetricsUnavailable(f"/metrics is not Prometheus text ({exc})") from exc
    # NaN and ±Inf are valid Prometheus values (a gauge before its first update, a ratio of
    # 0/0) but no reading: NaN would beat every comparison (the KV-cache hint) and make the
    # result invalid JSON. A metric whose every sample is dropped has no reading this time.
    samples: Samples = [sample for sample in parsed if math.isfinite(sample[2])]
    snapshot = MetricSnapshot(
        running=_sum(_values(samples, _RUNNING)),
        waiting=_sum(_values(samples, _WAITING)),
        kv_cache_usage=_max(_values(samples, _KV_USAGE)),
        prefix_hits=_sum(_values(samples, _PREFIX_HITS)),
        prefix_queries=_sum(_values(samples, _PREFIX_QUERIES)),
        prefix_hit_rate_gauge=_mean(_values(samples, _HIT_RATE_GAUGES)),
    )
    if not snapshot.knows_anything():
        if len(samples) < len(parsed) and _knows_anything(parsed):
            # the names are there, only without a value yet: ask again later
            raise ServerMetricsUnavailable("/metrics has the metrics we read, but only NaN or Inf values", transient=True)
        raise ServerMetricsUnavailable("/metrics has none of the vLLM, SGLang or Triton metrics we read")
    return snapshot


def _knows_anything(samples: Samples) -> bool:
    sources = (*_RUNNING, *_WAITING, *_KV_USAGE, *_PREFIX_HITS, *_PREFIX_QUERIES, *_HIT_RATE_GAUGES)
    return _values(samples, sources) is not None


def prefix_hit_rate(previous: MetricSnapshot | None, current: MetricSnapshot) -> float | None:
    """The hit rate over the interval between two scrapes; None when nothing was looked up."""
    if current.prefix_hits is not None and current.prefix_queries is not None:
        # counters: the server's lifetime totals would mix in traffic from before the run
        if previous is None or previous.prefix_hits is None or previous.prefix_queries is None:
            return None
        hits = current.prefix_hits - previous.prefix_hits
        queries = current.prefix_queries - previous.prefix_queries
        if queries <= 0 or hits < 0:  # idle interval, or the server restarted
            return None
        return min(1.0, hits / queries)
    return current.prefix_hit_rate_gauge


def metrics_url_for(server_url: str) -> str:
    """`http://host:8000` or `http://host:8000/v1` -> `http://host:8000/metrics`.

    A URL that already ends in `/metrics` is kept as given, so a user can point at a
    metrics port that differs from the API's.
    """
    parts = urlsplit(server_url.strip())
    path = parts.path.rstrip("/")
    if path.endswith("/metrics"):
        return urlunsplit(parts._replace(query="", fragment=""))
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit(parts._replace(path=path + "/metrics", query="", fragment=""))


def _text(body: bytes, charset: str | None) -> str:
    """The body in the charset its Content-Type names: UTF-8 when it names none, or one Python
    does not know."""
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


class ServerMetricsScraper:
    """Scrapes one /metrics URL, keeping the previous scrape to turn counters into rates.

    Synchronous on purpose: it runs in the sampler's thread, never in the engine's loop.
    Not thread-safe; one sampler thread owns it.
    """

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self._timeout_s = timeout_s
        self._previous: MetricSnapshot | None = None

    def fetch_text(self) -> str:
        try:
            # redirects are followed; proxies are those of the environment
            with urllib.request.urlopen(
                urllib.request.Request(self.url, headers={"Accept": "text/plain"}), timeout=self._timeout_s
            ) as response:
                status = response.status
                body = response.read()
                charset = response.headers.get_content_charset()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (ValueError, http.client.InvalidURL) as exc:
            # no later try can reach a URL that cannot be requested
            raise ServerMetricsUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        except urllib.error.URLError as exc:
            # a scheme urllib cannot speak is as definite as a URL that cannot be requested
            if isinstance(exc.reason, str):
                raise ServerMetricsUnavailable(f"{self.url}: {exc.reason}") from exc
            # refused, reset, timed out: a server starting up or too busy to answer in time
            raise ServerMetricsUnavailable(f"{self.url}: {type(exc.reason).__name__}: {exc.reason}", transient=True) from exc
        except (OSError, http.client.HTTPException) as exc:
            # timed out or cut off while answering
            raise ServerMetricsUnavailable(f"{self.url}: {type(exc).__name__}: {exc}", transient=True) from exc
        if status != 200:
            transient = status >= 500 or status in (408, 429)
            raise ServerMetricsUnavailable(f"{self.url}: HTTP {status}", transient=transient)
        return _text(body, charset)

    def scrape(self, t: float) -> ServerSample:
        snapshot = parse_metrics(self.fetch_text())
        rate = prefix_hit_rate(self._previous, snapshot)
        self._previous = snapshot
        return ServerSample(
            t=t,
            running=snapshot.running,
            waiting=snapshot.waiting,
            kv_cache_usage=snapshot.kv_cache_usage,
            prefix_cache_hit_rate=rate,
        )

    def close(self) -> None:
        """Nothing stays open between scrapes; kept so that a scraper is a context manager."""

    def __enter__(self) -> ServerMetricsScraper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
