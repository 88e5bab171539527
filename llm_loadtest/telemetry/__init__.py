"""GPU and server telemetry: NVML readings, Prometheus scrapes, a sampler thread, cause hints."""

from llm_loadtest.telemetry.hints import cause_hints
from llm_loadtest.telemetry.nvml import GpuError, GpuReader, GpuReading, GpuUnavailable
from llm_loadtest.telemetry.prometheus import ServerMetricsScraper, ServerMetricsUnavailable, metrics_url_for
from llm_loadtest.telemetry.sampler import TelemetrySampler

__all__ = [
    "GpuError",
    "GpuReader",
    "GpuReading",
    "GpuUnavailable",
    "ServerMetricsScraper",
    "ServerMetricsUnavailable",
    "TelemetrySampler",
    "cause_hints",
    "metrics_url_for",
]
