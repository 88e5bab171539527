"""Unit tests of llm_loadtest.metrics: hand-built records with known times, every figure checked.

Times are given in milliseconds from an arbitrary base and turned into nanoseconds on a large
offset, as perf_counter_ns() values look in practice.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from llm_loadtest.metrics import (
    CLIENT_CPU_WARN_PERCENT,
    LOOP_LAG_P99_WARN_MS,
    SCHEDULING_DELAY_P99_WARN_MS,
    ClockFacts,
    client_health,
    compute_goodput,
    connect_ms,
    itl_ms,
    latencies,
    level_duration_s,
    recompute_goodput,
    scheduling_delay_ms,
    stats,
    summarize_level,
    token_totals,
    tpot_ms,
)
from llm_loadtest.model.config import GoodputSLO, LevelSpec
from llm_loadtest.model.records import Outcome, RequestRecord
from llm_loadtest.model.results import ClientHealth, LoopLag, Stats

BASE_NS = 7_000_000_000_000  # about two hours of uptime
CLOSED = LevelSpec(concurrency=4, request_rate=None)


def ns(ms: float) -> int:
    return BASE_NS + round(ms * 1_000_000)


_ids = iter(range(1_000_000))


def rec(
    start: float,
    end: float,
    chunks: list[float] | None = None,
    tokens: list[int] | None = None,
    *,
    out: int | None = None,
    inp: int | None = 100,
    outcome: Outcome = Outcome.SUCCESS,
    status: int | None = None,
    stream: bool = True,
    warmup: bool = False,
    connect: float = 0.0,
    scheduled: float | None = None,
) -> RequestRecord:
    chunks = chunks or []
    if tokens is None:
        tokens = [1] * len(chunks)
    if out is None and outcome is Outcome.SUCCESS:
        out = sum(tokens)
    return RequestRecord(
        request_id=f"r{next(_ids)}",
        t_start_ns=ns(start),
        t_end_ns=ns(end),
        outcome=outcome,
        t_scheduled_ns=None if scheduled is None else ns(scheduled),
        chunk_times_ns=np.array([ns(c) for c in chunks], dtype=np.int64),
        chunk_tokens=np.array(tokens, dtype=np.int32),
        output_tokens=out if outcome is Outcome.SUCCESS else None,
        input_tokens=inp if outcome is Outcome.SUCCESS else None,
        http_status=status,
        error=None if outcome is Outcome.SUCCESS else f"{outcome.value} error",
        connect_ns=round(connect * 1_000_000),
        stream=stream,
        warmup=warmup,
    )


def stats_of(values: list[float]) -> Stats:
    """Reference figures, computed the plain numpy way metrics.md names."""
    a = np.array(values, dtype=np.float64)
    p50, p90, p95, p99 = np.percentile(a, [50, 90, 95, 99])
    return Stats(min=a.min(), max=a.max(), mean=a.mean(), std=a.std(), p50=p50, p90=p90, p95=p95, p99=p99)


def assert_stats(got: Stats | None, values: list[float]) -> None:
    assert got is not None
    want = stats_of(values)
    for key, value in want.model_dump().items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-12, abs=1e-12), key


# Three successful streamed requests with known figures:
#   A: TTFT 100, chunks at 100/110/130, E2E 135, 3 tokens -> TPOT (135-100)/2 = 17.5, ITL 10, 20
#   B: TTFT 50, chunks at 60/80 carrying 1 and 4 tokens, E2E 70 -> TPOT (70-50)/4 = 5,
#      ITL 20, ITL per token 20/4 = 5
#   C: TTFT 50, one chunk, E2E 55, 1 token -> no TPOT, no ITL
def three_ok() -> list[RequestRecord]:
    return [
        rec(0, 135, [100, 110, 130]),
        rec(10, 80, [60, 80], [1, 4]),
        rec(20, 75, [70]),
    ]


def three_failed() -> list[RequestRecord]:
    return [
        rec(5, 30, outcome=Outcome.HTTP_5XX, status=500),
        rec(30, 200, outcome=Outcome.TIMEOUT),
        rec(40, 41, outcome=Outcome.HTTP_5XX, status=500),
    ]


def warmup_record() -> RequestRecord:
    # Would move every figure (duration, TTFT, throughput) if it were counted.
    return rec(-1000, 5000, [-900, 4000], [1, 1], inp=9999, warmup=True, connect=100)


# --- stats ---------------------------------------------------------------------------------


def test_stats_known_values():
    s = stats(np.array([4.0, 1.0, 3.0, 2.0]))
    assert s is not None
    assert s.model_dump() == pytest.approx(
        dict(min=1.0, max=4.0, mean=2.5, std=math.sqrt(1.25), p50=2.5, p90=3.7, p95=3.85, p99=3.97),
        rel=1e-15,
    )
    one = stats([7.5])
    assert one is not None and one.model_dump() == dict.fromkeys(one.model_dump(), 7.5) | {"std": 0.0}


def test_stats_empty_and_nan_give_none_not_zero():
    assert stats(np.array([])) is None
    assert stats(None) is None
    assert stats(np.array([np.nan, np.nan])) is None
    assert_stats(stats(np.array([np.nan, 3.0, 1.0])), [3.0, 1.0])


def test_stats_large_random_matches_numpy():
    values = np.random.default_rng(1).gamma(2.0, 10.0, 10_001)
    assert_stats(stats(values), values.tolist())


# --- per-request figures -------------------------------------------------------------------


def test_latencies_streamed():
    lat = latencies(three_ok())
    assert lat.count == 3
    assert lat.ttft_ms.tolist() == [100.0, 50.0, 50.0]
    assert lat.e2e_ms.tolist() == [135.0, 70.0, 55.0]
    assert lat.tpot_ms[:2].tolist() == [17.5, 5.0]
    assert math.isnan(lat.tpot_ms[2])  # one output token: no TPOT
    assert lat.output_tokens.tolist() == [3, 5, 1]
    # pooled over requests; the gap from A's last chunk to B's first is not an ITL
    assert lat.itl_ms.tolist() == [10.0, 20.0, 20.0]
    assert lat.itl_per_token_ms.tolist() == [10.0, 20.0, 5.0]


def test_latencies_skip_failed_and_warmup():
    lat = latencies(three_ok() + three_failed() + [warmup_record()])
    assert lat.ttft_ms.tolist() == [100.0, 50.0, 50.0]
    assert lat.itl_ms.tolist() == [10.0, 20.0, 20.0]


def test_latency_arrays_are_read_only():
    lat = latencies(three_ok())
    with pytest.raises(ValueError):
        lat.ttft_ms[0] = 0.0
    with pytest.raises(ValueError):
        lat.itl_ms[0] = 0.0


def test_non_streaming_ttft_is_e2e_and_no_tpot_no_itl():
    records = [rec(0, 400, out=50, stream=False), rec(100, 300, out=20, stream=False)]
    lat = latencies(records)
    assert lat.ttft_ms.tolist() == [400.0, 200.0]
    assert lat.e2e_ms.tolist() == [400.0, 200.0]
    assert np.isnan(lat.tpot_ms).all()
    assert lat.itl_ms.size == 0 and lat.itl_per_token_ms.size == 0
    summary = summarize_level(records, CLOSED, None)
    assert summary.tpot_ms is None
    assert summary.itl_ms is None
    assert summary.itl_per_token_ms is None
    assert summary.ttft_ms == summary.e2e_ms


def test_streamed_request_without_content_has_no_ttft():
    lat = latencies([rec(0, 10, [], out=0)])
    assert math.isnan(lat.ttft_ms[0]) and math.isnan(lat.tpot_ms[0])
    assert lat.e2e_ms.tolist() == [10.0]


def test_unknown_output_tokens_give_no_tpot():
    unknown = RequestRecord("x", ns(0), ns(100), chunk_times_ns=np.array([ns(50), ns(70)]), output_tokens=None)
    lat = latencies([unknown])
    assert math.isnan(lat.tpot_ms[0]) and lat.output_tokens.tolist() == [-1]
    assert lat.ttft_ms.tolist() == [50.0] and lat.itl_ms.tolist() == [20.0]
    s = summarize_level([unknown], CLOSED, None)
    assert s.output_tokens.total == 0 and s.output_tokens.mean is None and s.tpot_ms is None


def test_tpot_function_direct():
    got = tpot_ms(np.array([135_000_000, 70_000_000, 9]), np.array([100_000_000, 50_000_000, 1]), np.array([3, 5, 1]))
    assert got[:2].tolist() == [17.5, 5.0] and math.isnan(got[2])


def test_tpot_is_one_rounding_so_the_boundary_is_exact():
    # (E2E - TTFT) = 30.6 ms over 3 tokens is 10.2 ms exactly; converting to ms before dividing
    # would give 10.200000000000001 and let a `< 10.2` SLO pass by accident.
    lat = latencies([rec(0, 80.6, [50, 60, 80.6], out=4)])
    assert lat.tpot_ms.tolist() == [10.2]
    assert (30_600_000 / 1e6) / 3 != 10.2  # the trap this avoids


def test_itl_per_token_with_multi_token_zero_token_and_missing_counts():
    times = [
        np.array([0, 10, 40, 100], dtype=np.int64) * 1_000_000,  # tokens 1, 3, 0, 2
        np.array([], dtype=np.int64),
        np.array([500], dtype=np.int64) * 1_000_000,
        np.array([1000, 1006], dtype=np.int64) * 1_000_000,  # token counts not recorded
    ]
    tokens = [np.array([1, 3, 0, 2]), np.array([], dtype=np.int32), np.array([1]), np.array([], dtype=np.int32)]
    itl, per_token = itl_ms(times, tokens)
    assert itl.tolist() == [10.0, 30.0, 60.0, 6.0]
    # 10/3; the gap into the 0-token chunk has no per-token value; 60/2; no counts -> left out
    assert per_token.tolist() == pytest.approx([10 / 3, 30.0])
    itl2, per_token2 = itl_ms(times, None)
    assert itl2.tolist() == itl.tolist() and per_token2.size == 0


def test_itl_edge_cases():
    assert itl_ms([])[0].size == 0
    assert itl_ms([np.array([5], dtype=np.int64)])[0].size == 0
    assert itl_ms([np.array([], dtype=np.int64), np.array([], dtype=np.int64)])[0].size == 0
    # a trailing empty request must not mask a real gap (index past the end)
    itl, _ = itl_ms([np.array([0, 2_000_000]), np.array([], dtype=np.int64)], None)
    assert itl.tolist() == [2.0]


def test_itl_vectorised_matches_per_request_loop():
    rng = np.random.default_rng(7)
    times, tokens = [], []
    for _ in range(300):
        n = int(rng.integers(0, 12))
        start = int(rng.integers(0, 10**12))
        times.append(start + np.cumsum(rng.integers(1, 10**8, n)))
        tokens.append(rng.integers(0, 4, n).astype(np.int32))
    want_itl, want_pt = [], []
    for t, k in zip(times, tokens):
        for i in range(1, len(t)):
            gap = int(t[i] - t[i - 1])
            want_itl.append(gap / 1e6)
            if k[i] > 0:
                want_pt.append(gap / 1e6 / int(k[i]))
    itl, per_token = itl_ms(times, tokens)
    assert itl.tolist() == want_itl
    assert per_token.tolist() == pytest.approx(want_pt, rel=1e-15)


def test_one_token_chunks_share_the_itl_array():
    lat = latencies([rec(0, 100, [10, 20, 40]), rec(0, 100, [15, 30])])
    assert lat.itl_per_token_ms is lat.itl_ms
    summary = summarize_level([rec(0, 100, [10, 20, 40]), rec(0, 100, [15, 30])], CLOSED, None)
    assert summary.itl_per_token_ms == summary.itl_ms
    assert_stats(summary.itl_ms, [10.0, 20.0, 15.0])


def test_level_duration_includes_failures_excludes_warmup():
    records = three_ok() + three_failed() + [warmup_record()]
    assert level_duration_s(records) == pytest.approx(0.2)  # 0 ms -> the timeout's end at 200 ms
    assert level_duration_s([warmup_record()]) is None
    assert level_duration_s([]) is None


def test_connect_and_scheduling_delay():
    records = [
        rec(0, 10, [5], connect=2.0, scheduled=-1.5),
        rec(0, 10, outcome=Outcome.CONNECT, connect=3.0, scheduled=0),
        rec(0, 10, [5]),  # warm connection: not a 0 ms connect
        rec(0, 10, [5], warmup=True, connect=50.0, scheduled=-100),
    ]
    assert sorted(connect_ms(records).tolist()) == [2.0, 3.0]
    assert scheduling_delay_ms(records).tolist() == [1.5, 0.0]
    assert connect_ms([rec(0, 1, [1])]).size == 0


def test_token_totals():
    assert token_totals([3, 5, None, 1]) == token_totals([3, 5, 1])
    assert token_totals([3, 5, 1]).total == 9 and token_totals([3, 5, 1]).mean == 3.0
    empty = token_totals([])
    assert empty.total == 0 and empty.mean is None


# --- one level -----------------------------------------------------------------------------


def test_summarize_level_every_figure():
    records = three_ok() + three_failed() + [warmup_record()]
    s = summarize_level(records, CLOSED, None, input_len_requested=128)
    assert s.concurrency == 4 and s.request_rate is None
    assert s.requests.total == 6 and s.requests.succeeded == 3 and s.requests.failed == 3
    assert s.requests.errors == {"http_500": 2, "timeout": 1}
    assert s.error_rate == 0.5
    assert s.duration_s == pytest.approx(0.2)
    assert s.input_tokens.total == 300 and s.input_tokens.mean == 100.0
    assert s.output_tokens.total == 9 and s.output_tokens.mean == 3.0
    assert s.output_throughput == pytest.approx(9 / 0.2)
    assert s.total_throughput == pytest.approx((9 + 300) / 0.2)
    assert s.request_rate_achieved == pytest.approx(3 / 0.2)
    assert_stats(s.ttft_ms, [100.0, 50.0, 50.0])
    assert_stats(s.e2e_ms, [135.0, 70.0, 55.0])
    assert_stats(s.tpot_ms, [17.5, 5.0])
    assert_stats(s.itl_ms, [10.0, 20.0, 20.0])
    assert_stats(s.itl_per_token_ms, [10.0, 20.0, 5.0])
    assert s.goodput is None
    assert s.client is None
    assert s.connect_ms is None  # the warm-up's connect does not count
    assert s.input_len_requested == 128
    # spot-check the raw numbers too, not only against numpy
    assert s.ttft_ms.min == 50.0 and s.ttft_ms.max == 100.0 and s.ttft_ms.p50 == 50.0
    assert s.tpot_ms.mean == 11.25 and s.tpot_ms.std == 6.25
    # the result JSON shape of results.md
    dumped = s.model_dump(mode="json")
    assert dumped["tpot_ms"]["p99"] == pytest.approx(17.5 - 0.01 * 12.5)


def test_summarize_level_rate_mode_and_client_passthrough():
    health = client_health(np.array([0.1, 0.2]), 20.0, scheduling_delay_ms(three_ok()))
    s = summarize_level(three_ok(), LevelSpec(concurrency=None, request_rate=2.5), None, client=health)
    assert s.request_rate == 2.5 and s.concurrency is None
    assert s.client is health


def test_all_failed_level_gives_none_stats_not_zero():
    s = summarize_level(three_failed(), CLOSED, GoodputSLO(ttft_ms=100))
    for name in ("ttft_ms", "tpot_ms", "itl_ms", "itl_per_token_ms", "e2e_ms"):
        assert getattr(s, name) is None, name
    assert s.input_tokens.total == 0 and s.input_tokens.mean is None
    assert s.output_tokens.total == 0 and s.output_tokens.mean is None
    assert s.error_rate == 1.0
    # a measured zero over a real duration, not missing data
    assert s.duration_s == pytest.approx(0.195)
    assert s.output_throughput == 0.0 and s.request_rate_achieved == 0.0
    assert s.goodput is not None
    assert s.goodput.good == 0 and s.goodput.total == 3 and s.goodput.percent == 0.0
    assert s.goodput.rate == 0.0
    assert s.goodput.by_slo["ttft"].met == 0 and s.goodput.by_slo["ttft"].total == 3
    dumped = s.model_dump(mode="json")
    assert dumped["ttft_ms"] is None and dumped["tpot_ms"] is None


def test_empty_level():
    for records in ([], [warmup_record()]):
        s = summarize_level(records, CLOSED, GoodputSLO(e2e_ms=1000))
        assert s.requests.total == 0 and s.requests.errors == {}
        assert s.duration_s is None and s.error_rate is None
        assert s.output_throughput is None and s.total_throughput is None and s.request_rate_achieved is None
        assert s.ttft_ms is None and s.connect_ms is None
        assert s.goodput is not None and s.goodput.percent is None and s.goodput.rate is None


def test_summarize_level_accepts_a_generator_and_connect_stats():
    records = three_ok()
    records[0].connect_ns = 4_000_000
    s = summarize_level((r for r in records + three_failed()), CLOSED, None)
    assert s.requests.total == 6
    assert_stats(s.connect_ms, [4.0])


# --- goodput -------------------------------------------------------------------------------


def test_goodput_strict_boundary_and_failed_in_total():
    # A: TTFT 100 (on the boundary: not good), TPOT 17.5 (on the boundary: not met)
    # B: TTFT 50, TPOT 5 -> good;  C: TTFT 50, TPOT absent (1 token) -> not met
    records = three_ok() + three_failed() + [warmup_record()]
    slo = GoodputSLO(ttft_ms=100, tpot_ms=17.5)
    g = summarize_level(records, CLOSED, slo).goodput
    assert g is not None
    assert g.good == 1 and g.total == 6
    assert g.percent == pytest.approx(100 / 6)
    assert g.rate == pytest.approx(1 / 0.2)
    assert set(g.by_slo) == {"ttft", "tpot"}
    assert (g.by_slo["ttft"].met, g.by_slo["ttft"].total) == (2, 6)
    assert (g.by_slo["tpot"].met, g.by_slo["tpot"].total) == (1, 6)


def test_goodput_just_above_boundary_passes():
    records = three_ok()
    g = summarize_level(records, CLOSED, GoodputSLO(ttft_ms=100.000001, tpot_ms=17.500001)).goodput
    assert g is not None and g.good == 2 and g.total == 3  # C still lacks a TPOT


def test_goodput_e2e_only():
    g = summarize_level(three_ok() + three_failed(), CLOSED, GoodputSLO(e2e_ms=70)).goodput
    assert g is not None
    assert g.good == 1  # only C (55); B is exactly 70
    assert list(g.by_slo) == ["e2e"] and g.by_slo["e2e"].met == 1 and g.by_slo["e2e"].total == 6
    assert g.percent == pytest.approx(100 / 6)


def test_goodput_tpot_boundary_after_exact_division():
    records = [rec(0, 80.6, [50, 60, 80.6], out=4)]
    assert summarize_level(records, CLOSED, GoodputSLO(tpot_ms=10.2)).goodput.good == 0
    assert summarize_level(records, CLOSED, GoodputSLO(tpot_ms=10.200000000000001)).goodput.good == 1


def test_goodput_absent_tpot_counts_as_not_met_for_non_streaming():
    records = [rec(0, 100, out=10, stream=False)]
    g = summarize_level(records, CLOSED, GoodputSLO(ttft_ms=1000, tpot_ms=1000)).goodput
    assert g is not None and g.good == 0
    assert g.by_slo["ttft"].met == 1 and g.by_slo["tpot"].met == 0


def test_goodput_none_without_slo():
    assert summarize_level(three_ok(), CLOSED, None).goodput is None
    assert summarize_level(three_ok(), CLOSED, GoodputSLO()).goodput is None
    assert recompute_goodput(three_ok(), None, 1.0) is None
    assert recompute_goodput(three_ok(), GoodputSLO(), 1.0) is None


def test_recompute_goodput_matches_summary():
    records = three_ok() + three_failed() + [warmup_record()]
    slo = GoodputSLO(ttft_ms=100, tpot_ms=17.5, e2e_ms=136)
    summary = summarize_level(records, CLOSED, slo)
    assert recompute_goodput(records, slo, summary.duration_s) == summary.goodput
    assert recompute_goodput(records, slo) == summary.goodput  # duration from the records
    other = recompute_goodput(records, GoodputSLO(ttft_ms=101), 2.0)
    assert other is not None and other.good == 3 and other.rate == 1.5


def test_compute_goodput_validates_inputs():
    with pytest.raises(ValueError):
        compute_goodput(GoodputSLO(ttft_ms=1), np.zeros(2), np.zeros(3), np.zeros(2), total=3, duration_s=1)
    with pytest.raises(ValueError):
        compute_goodput(GoodputSLO(ttft_ms=1), np.zeros(2), np.zeros(2), np.zeros(2), total=1, duration_s=1)
    g = compute_goodput(GoodputSLO(ttft_ms=1), np.zeros(2), np.zeros(2), np.zeros(2), total=2, duration_s=0.0)
    assert g is not None and g.good == 2 and g.rate is None


# --- client health -------------------------------------------------------------------------


def test_client_health_quiet():
    h = client_health(np.array([0.1, 0.2, 0.3, 0.4]), 35.0, None)
    assert isinstance(h, ClientHealth)
    assert h.loop_lag_ms.p50 == pytest.approx(0.25)
    assert h.loop_lag_ms.p99 == pytest.approx(0.397)
    assert h.loop_lag_ms.max == 0.4
    assert h.cpu_percent == 35.0
    assert h.scheduling_delay_ms is None
    assert h.warnings == []


def test_client_health_no_samples():
    for lag in (None, np.array([])):
        h = client_health(lag, None, np.array([]))
        assert h.loop_lag_ms == LoopLag(p50=None, p99=None, max=None)
        assert h.cpu_percent is None and h.scheduling_delay_ms is None and h.warnings == []


def test_client_health_thresholds_are_strict():
    on_the_line = client_health(np.full(50, LOOP_LAG_P99_WARN_MS), CLIENT_CPU_WARN_PERCENT, np.full(10, SCHEDULING_DELAY_P99_WARN_MS))
    assert on_the_line.warnings == []
    over = client_health(np.full(50, 6.0), 97.0, np.full(10, 12.0))
    assert len(over.warnings) == 3
    lag, cpu, sched = over.warnings
    assert "loop lag" in lag and "6.0 ms" in lag
    assert "CPU" in cpu and "97" in cpu
    assert "scheduling delay" in sched and "12.0 ms" in sched
    assert all("\n" not in w for w in over.warnings)
    assert_stats(over.scheduling_delay_ms, [12.0] * 10)


def test_on_the_kernel_clock_coalesced_chunks_warn_and_loop_lag_does_not():
    lagging = np.full(50, 20.0)

    def facts(clock: str, coalesced: int, chunks: int = 1000) -> ClockFacts:
        return ClockFacts(clock=clock, send_delay_ms=np.zeros(4), coalesced_chunks=coalesced, chunks=chunks, clock_steps=0)

    # kernel stamps do not move with the loop: what it could not separate is the coalesced share
    assert client_health(lagging, 10.0, None, clock=facts("kernel", 10)).warnings == []  # 1.0 %: on the line
    [coalesced] = client_health(lagging, 10.0, None, clock=facts("kernel", 11)).warnings
    assert coalesced.startswith("11 of 1,000 chunks (over 1 %) were read together") and "ITL" in coalesced
    # the user clock's times are the loop's: its lag warns, coalesced chunks do not
    [lag] = client_health(lagging, 10.0, None, clock=facts("user", 500)).warnings
    assert "loop lag" in lag and "20.0 ms" in lag


def test_client_health_single_warning_each():
    lag_only = client_health(np.r_[np.zeros(90), np.full(10, 20.0)], 10.0, None)
    assert len(lag_only.warnings) == 1 and "loop lag" in lag_only.warnings[0]
    cpu_only = client_health(np.zeros(10), 95.0, None)
    assert len(cpu_only.warnings) == 1 and "CPU" in cpu_only.warnings[0]
    sched_only = client_health(None, None, np.r_[np.zeros(98), [50.0, 50.0]])
    assert len(sched_only.warnings) == 1 and "scheduling delay" in sched_only.warnings[0]


# --- speed ---------------------------------------------------------------------------------


def test_large_level_is_linear_and_correct():
    # 20,000 requests x 64 chunks: checks the vectorised path at size, cheaply.
    rng = np.random.default_rng(3)
    n, k = 20_000, 64
    starts = BASE_NS + np.arange(n, dtype=np.int64) * 1_000_000
    gaps = rng.integers(1_000_000, 20_000_000, (n, k))
    chunk = starts[:, None] + 30_000_000 + np.cumsum(gaps, axis=1)
    records = [
        RequestRecord(
            f"q{i}",
            int(starts[i]),
            int(chunk[i, -1]),
            chunk_times_ns=chunk[i],
            chunk_tokens=np.full(k, 2, dtype=np.int32),
            output_tokens=2 * k,
            input_tokens=10,
        )
        for i in range(n)
    ]
    s = summarize_level(records, CLOSED, GoodputSLO(ttft_ms=40))
    want_itl = (np.diff(chunk, axis=1) / 1e6).ravel()
    assert_stats(s.itl_ms, want_itl.tolist())
    assert_stats(s.itl_per_token_ms, (want_itl / 2).tolist())
    ttft = (chunk[:, 0] - starts) / 1e6
    assert s.goodput is not None and s.goodput.good == int((ttft < 40).sum())
    assert_stats(s.ttft_ms, ttft.tolist())
    assert_stats(s.tpot_ms, ((chunk[:, -1] - chunk[:, 0]) / ((2 * k - 1) * 1e6)).tolist())


def test_gaps_in_window_take_the_gap_into_the_first_chunk_inside_and_stay_bounded():
    from llm_loadtest.metrics.live import MAX_GAPS_PER_STREAM, gaps_in_window_ns

    times = [0, 10, 25, 45]
    assert gaps_in_window_ns(times, 20) == [15, 20]  # 10->25 and 25->45
    assert gaps_in_window_ns(np.array(times), 20) == [15, 20]
    assert gaps_in_window_ns(times, 0) == [10, 15, 20]
    assert gaps_in_window_ns(times, 50) == [] and gaps_in_window_ns([5], 0) == []
    assert gaps_in_window_ns(list(range(1000)), 0) == [1] * MAX_GAPS_PER_STREAM


def test_a_chunk_is_worth_what_finished_requests_chunks_were_worth():
    from llm_loadtest.metrics.live import live_figures, tokens_per_chunk

    assert tokens_per_chunk(0, 0) == 1.0 and tokens_per_chunk(0, 10) == 1.0
    assert tokens_per_chunk(400, 100) == 4.0  # a server that sends four tokens per chunk
    figures = live_figures(300.0, 1.5, np.array([20.0, 30.0]), np.array([]))
    assert figures["output_throughput"] == 200.0 and figures["ttft_p50_ms"] == 25.0 and figures["itl_p50_ms"] is None
