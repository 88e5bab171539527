"""Metrics: pure functions of request records, exactly as docs/metrics.md defines them."""

from llm_loadtest.metrics.client_clock import ClockFacts, clock_facts, coalesced_chunks
from llm_loadtest.metrics.client_health import (
    CLIENT_CPU_WARN_PERCENT,
    LOOP_LAG_P99_WARN_MS,
    SCHEDULING_DELAY_P99_WARN_MS,
    SEND_DELAY_P99_WARN_MS,
    client_health,
    level_client_health,
)
from llm_loadtest.metrics.goodput import compute_goodput, recompute_goodput
from llm_loadtest.metrics.latency import (
    Latencies,
    connect_ms,
    itl_ms,
    latencies,
    level_duration_s,
    measured,
    scheduling_delay_ms,
    tpot_ms,
)
from llm_loadtest.metrics.level import summarize_level, token_totals
from llm_loadtest.metrics.stats import stats

__all__ = [
    "CLIENT_CPU_WARN_PERCENT",
    "LOOP_LAG_P99_WARN_MS",
    "SCHEDULING_DELAY_P99_WARN_MS",
    "SEND_DELAY_P99_WARN_MS",
    "ClockFacts",
    "Latencies",
    "client_health",
    "clock_facts",
    "coalesced_chunks",
    "compute_goodput",
    "connect_ms",
    "itl_ms",
    "latencies",
    "level_client_health",
    "level_duration_s",
    "measured",
    "recompute_goodput",
    "scheduling_delay_ms",
    "stats",
    "summarize_level",
    "token_totals",
    "tpot_ms",
]
