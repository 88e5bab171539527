"""Is the client itself fast enough for its numbers to be believed? (docs/metrics.md, "Client health")

A load generator that lags inflates every latency it reports. These checks do not correct the
numbers; they put a visible one-line warning beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast

import numpy as np

from llm_loadtest.metrics.client_clock import ClockFacts, clock_facts
from llm_loadtest.metrics.latency import scheduling_delay_ms
from llm_loadtest.metrics.stats import stats
from llm_loadtest.model.config import LevelSpec
from llm_loadtest.model.records import ClockSource, RequestRecord
from llm_loadtest.model.results import ClientHealth, LoopLag, Percentiles

ClockName = Literal["kernel", "user"]

# A periodic 10 ms timer firing this late at p99 means chunk timestamps are late by as much,
# on the user clock; kernel stamps do not move with it (their limit is coalesced chunks).
LOOP_LAG_P99_WARN_MS = 5.0
# On the kernel clock: past this share of chunks read together with the one before them, ITL
# percentiles from p99 down are moved by up to one gap.
COALESCED_CHUNKS_WARN_PERCENT = 1.0
# The asyncio client is single-threaded: past this, its one core is saturated and reads queue up.
CLIENT_CPU_WARN_PERCENT = 90.0
# Open-loop: requests leaving this late at p99 means the offered rate is not the one asked for.
SCHEDULING_DELAY_P99_WARN_MS = 10.0
# Requests written this long after the load pattern wanted them: the offered load is lower.
SEND_DELAY_P99_WARN_MS = 10.0


def _clean(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.empty(0, dtype=np.float64)
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[~np.isnan(arr)]


def client_health(
    loop_lag_ms: np.ndarray | None,
    cpu_percent: float | None,
    scheduling_delay_ms: np.ndarray | None = None,
    *,
    warn_scheduling_delay: bool = True,
    clock: ClockFacts | None = None,
) -> ClientHealth:
    """Loop-lag p50/p99/max, client CPU %, scheduling-delay stats, and warnings (strict `>`).

    Loop-lag figures are None without samples; scheduling delay is None outside rate mode
    (pass None or an empty array). `warn_scheduling_delay=False` reports the delay without a
    warning: with a concurrency cap, waiting for a free slot is the cap at work.
    """
    lag = _clean(loop_lag_ms)
    if lag.size:
        p50, p99 = (float(v) for v in np.percentile(lag, [50.0, 99.0]))
        loop_lag = LoopLag(p50=p50, p99=p99, max=float(lag.max()))
    else:
        loop_lag = LoopLag(p50=None, p99=None, max=None)
    delay = stats(_clean(scheduling_delay_ms))

    warnings: list[str] = []
    kernel_clock = clock is not None and clock.clock == "kernel"
    if not kernel_clock and loop_lag.p99 is not None and loop_lag.p99 > LOOP_LAG_P99_WARN_MS:
        warnings.append(
            f"client event-loop lag p99 is {loop_lag.p99:.1f} ms (> {LOOP_LAG_P99_WARN_MS:g} ms): "
            "latencies may be overstated; spread the load over client processes (--workers) or lower it"
        )
    if cpu_percent is not None and cpu_percent > CLIENT_CPU_WARN_PERCENT:
        warnings.append(
            f"client CPU at {cpu_percent:.0f} % (> {CLIENT_CPU_WARN_PERCENT:g} %, one core saturated): "
            "the client may be the bottleneck, not the server; spread the load over client processes (--workers)"
        )
    if warn_scheduling_delay and delay is not None and delay.p99 > SCHEDULING_DELAY_P99_WARN_MS:
        warnings.append(
            f"scheduling delay p99 is {delay.p99:.1f} ms (> {SCHEDULING_DELAY_P99_WARN_MS:g} ms): "
            "the client sent requests later than the arrival pattern asked, so the offered rate is lower"
        )
    health = ClientHealth(loop_lag_ms=loop_lag, cpu_percent=cpu_percent, scheduling_delay_ms=delay, warnings=warnings)
    if clock is not None:
        _add_clock(health, clock)
    return health


def _add_clock(health: ClientHealth, clock: ClockFacts) -> None:
    """The clock's source, the send delay p50/p99, coalesced chunks and wall-clock steps."""
    health.clock = cast(ClockName | None, clock.clock)  # clock_facts names one of the two
    health.coalesced_chunks = clock.coalesced_chunks
    health.clock_steps = clock.clock_steps
    send = _clean(clock.send_delay_ms)
    if send.size:
        p50, p99 = (float(v) for v in np.percentile(send, [50.0, 99.0]))
        health.send_delay_ms = Percentiles(p50=p50, p99=p99)
        if p99 > SEND_DELAY_P99_WARN_MS:
            health.warnings.append(
                f"client send delay p99 is {p99:.1f} ms (> {SEND_DELAY_P99_WARN_MS:g} ms): requests were written later than "
                "the load pattern wanted, so the offered load is lower (no latency includes it); spread the load over "
                "client processes (--workers) or lower it"
            )
    if clock.clock == "kernel" and clock.chunks and 100 * clock.coalesced_chunks / clock.chunks > COALESCED_CHUNKS_WARN_PERCENT:
        # counts, not a rounded share: "1.0 % (> 1 %)" read as a contradiction
        health.warnings.append(
            f"{clock.coalesced_chunks:,} of {clock.chunks:,} chunks (over {COALESCED_CHUNKS_WARN_PERCENT:g} %) were read together with the one before them "
            "and share its time: ITL percentiles may be off by up to one gap; spread the load over client processes "
            "(--workers) or lower it"
        )
    if clock.clock_steps:
        health.warnings.append(
            f"the wall clock stepped {clock.clock_steps} time(s) during the level: kernel receive stamps taken across a "
            "step are off by its size"
        )


def level_client_health(
    spec: LevelSpec,
    loop_lag_ms: np.ndarray | None,
    cpu_percent: float | None,
    scheduling_delay_ms: np.ndarray | None,
    clock: ClockFacts | None = None,
) -> ClientHealth:
    """A level's client health: what the live screen shows while the level runs (its samples so
    far) and what its summary keeps (all of them) are this one computation, so that the two
    never disagree about a warning. Scheduling delay counts in rate mode only, and warns only
    without a concurrency cap."""
    delays = scheduling_delay_ms if spec.request_rate is not None else None
    return client_health(loop_lag_ms, cpu_percent, delays, warn_scheduling_delay=spec.concurrency is None, clock=clock)


class LevelHealthSoFar:
    """A level's client health while it runs: the requests that ended are taken in batches
    (a progress snapshot's, never the whole level again), and `health` is level_client_health
    over them, equal to the summary's once every request is in."""

    def __init__(self, spec: LevelSpec) -> None:
        self.spec = spec
        self._delays: list[np.ndarray] = []
        self._clock = clock_facts([])

    def add(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        self._delays.append(scheduling_delay_ms(records))
        batch = clock_facts(records)
        seen = self._clock
        self._clock = ClockFacts(
            clock=_either_clock(seen.clock, batch.clock),
            send_delay_ms=np.concatenate([seen.send_delay_ms, batch.send_delay_ms]),
            coalesced_chunks=seen.coalesced_chunks + batch.coalesced_chunks,
            chunks=seen.chunks + batch.chunks,
            clock_steps=max(seen.clock_steps, batch.clock_steps),
        )

    def health(self, loop_lag_ms: np.ndarray | None, cpu_percent: float | None) -> ClientHealth:
        delays = np.concatenate(self._delays) if self._delays else np.empty(0)
        return level_client_health(self.spec, loop_lag_ms, cpu_percent, delays, clock=self._clock)


def _either_clock(seen: str | None, batch: str | None) -> str | None:
    """A level is on the kernel's clock only when every request was (as clock_facts says)."""
    if seen is None or batch is None:
        return seen or batch
    return seen if seen == batch else ClockSource.USER.value
