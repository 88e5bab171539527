"""One load level's summary (docs/results.md `levels[]`), from its request records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from llm_loadtest.metrics.goodput import compute_goodput
from llm_loadtest.metrics.latency import connect_ms, latencies, level_duration_s, measured
from llm_loadtest.metrics.stats import stats
from llm_loadtest.metrics.workload import answer_ttft_ms, by_turn, reasoning_tokens, requested_lengths
from llm_loadtest.model.config import GoodputSLO, LevelSpec
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.results import ClientHealth, LevelSummary, RequestCounts, TokenTotals


def token_totals(counts: Iterable[int | None]) -> TokenTotals:
    """Total and mean of per-request token counts; an unknown count (None) is left out of both.

    The engine always fills counts (server usage, else a tokenizer), so None is a defect to show
    as a smaller total, not a reason to invent zeros that would drag the mean down.
    """
    known = [c for c in counts if c is not None]
    total = sum(known)
    return TokenTotals(total=total, mean=total / len(known) if known else None)


def _per_second(amount: int, duration_s: float | None) -> float | None:
    # No duration (no request) or a zero one (a single instantaneous record): a rate is undefined.
    return amount / duration_s if duration_s else None


def summarize_level(
    records: Iterable[RequestRecord],
    level: LevelSpec,
    goodput: GoodputSLO | None,
    *,
    input_len_requested: int | None = None,
    client: ClientHealth | None = None,
) -> LevelSummary:
    """Every figure of one level, as docs/metrics.md defines it. Warm-up records are ignored.

    Latency statistics are over successful requests and are None (not 0) when there is none.
    Throughputs and the achieved request rate are real measurements over the level's duration,
    so a level whose every request failed reports 0.0 tok/s, not None; they are None only when
    there is no duration to divide by (no measured request, or a zero-length level).
    """
    kept = measured(records)
    ok = [r for r in kept if r.ok]
    total, succeeded = len(kept), len(ok)
    errors = Counter(r.error_class for r in kept if not r.ok)

    duration_s = level_duration_s(kept)
    lat = latencies(ok)
    input_tokens = token_totals(r.input_tokens for r in ok)
    output_tokens = token_totals(r.output_tokens for r in ok)
    itl = stats(lat.itl_ms)
    # Same array when every chunk carried one token: skip a second pass over millions of gaps.
    itl_per_token = itl if lat.itl_per_token_ms is lat.itl_ms else stats(lat.itl_per_token_ms)

    return LevelSummary(
        concurrency=level.concurrency,
        request_rate=level.request_rate,
        requests=RequestCounts(
            total=total,
            succeeded=succeeded,
            failed=total - succeeded,
            errors={str(name): count for name, count in sorted(errors.items(), key=lambda kv: str(kv[0]))},
        ),
        duration_s=duration_s,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        output_throughput=_per_second(output_tokens.total, duration_s),
        total_throughput=_per_second(output_tokens.total + input_tokens.total, duration_s),
        request_rate_achieved=_per_second(succeeded, duration_s),
        ttft_ms=stats(lat.ttft_ms),
        tpot_ms=stats(lat.tpot_ms),
        itl_ms=itl,
        itl_per_token_ms=itl_per_token,
        e2e_ms=stats(lat.e2e_ms),
        error_rate=(total - succeeded) / total if total else None,
        goodput=compute_goodput(goodput, lat.ttft_ms, lat.tpot_ms, lat.e2e_ms, total=total, duration_s=duration_s),
        client=client,
        input_len_requested=input_len_requested,
        connect_ms=stats(connect_ms(kept)),
        input_len_drawn=requested_lengths(kept, "input_len_requested"),
        output_len_drawn=requested_lengths(kept, "output_len_requested"),
        ttft_answer_ms=answer_ttft_ms(ok),
        reasoning_tokens=reasoning_tokens(ok),
        turns=by_turn(ok),
    )
