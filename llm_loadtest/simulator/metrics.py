"""Prometheus metrics under vLLM's names, so telemetry code can be tested against the simulator."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from llm_loadtest.simulator.batching import BatchScheduler


class SimMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, model: str, scheduler: BatchScheduler):
        # A registry per server, not the global one: tests run several servers in one process.
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model_name"]
        # The gauges read the scheduler at scrape time; nothing to update on the hot path.
        Gauge("vllm:num_requests_running", "Requests in the running batch.", labels, registry=self.registry).labels(model).set_function(
            lambda: scheduler.num_running
        )
        Gauge("vllm:num_requests_waiting", "Requests waiting to be admitted.", labels, registry=self.registry).labels(model).set_function(
            lambda: scheduler.num_waiting
        )
        Gauge("vllm:gpu_cache_usage_perc", "Simulated KV-cache usage, 1 = full.", labels, registry=self.registry).labels(
            model
        ).set_function(scheduler.cache_usage)
        self._prompt_tokens = Counter("vllm:prompt_tokens", "Prefilled prompt tokens.", labels, registry=self.registry).labels(model)
        self._generation_tokens = Counter("vllm:generation_tokens", "Generated tokens.", labels, registry=self.registry).labels(model)
        self._requests = Counter("vllm:request_success", "Finished requests.", [*labels, "finished_reason"], registry=self.registry).labels(
            model, "length"
        )
        scheduler.on_tokens = self._generation_tokens.inc
        # in tokens, as vLLM counts them; telemetry's hit rate is Δhits / Δqueries
        self._prefix_queries = Counter("vllm:prefix_cache_queries", "Prompt tokens looked up.", labels, registry=self.registry).labels(
            model
        )
        self._prefix_hits = Counter("vllm:prefix_cache_hits", "Prompt tokens found cached.", labels, registry=self.registry).labels(model)

    def count_prompt(self, tokens: int) -> None:
        self._prompt_tokens.inc(tokens)

    def count_prefix_lookup(self, queried: int, hits: int) -> None:
        self._prefix_queries.inc(queried)
        self._prefix_hits.inc(hits)

    def count_success(self) -> None:
        self._requests.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
