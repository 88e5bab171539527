"""cause_hints: what the server's metrics say about a run."""

from __future__ import annotations

from llm_loadtest.model.results import ServerSample
from llm_loadtest.telemetry.hints import cause_hints, queue_grew_throughout


def samples(field: str, values: list[float | None], start: float = 0.0) -> list[ServerSample]:
    return [ServerSample(t=start + i, **{field: v}) for i, v in enumerate(values)]


def test_nothing_to_say() -> None:
    assert cause_hints([], [], server_sent_usage=True) == []
    calm = samples("waiting", [0, 0, 1, 0, 0])
    assert cause_hints(calm, [(0, 4)], server_sent_usage=True) == []


def test_queue_growth_shapes() -> None:
    assert queue_grew_throughout([0, 3, 6, 9, 12, 15])
    assert queue_grew_throughout([1, 4, 3, 7, 6, 10, 9])  # noisy but climbing
    assert not queue_grew_throughout([0, 8, 10, 10, 10, 10])  # rose, then the server kept up
    assert not queue_grew_throughout([5, 4, 3, 2, 1])
    assert not queue_grew_throughout([0, 4, 0, 6, 9])  # drained in the middle
    assert not queue_grew_throughout([0, 5])  # too few samples to call it a trend
    assert not queue_grew_throughout([])


def test_saturated_level_is_named() -> None:
    level1 = samples("waiting", [0, 0, 0, 0], start=0)
    level2 = samples("waiting", [0, 4, 9, 15, 22], start=10)
    hints = cause_hints(level1 + level2, [(0, 3.5), (10, 14.5)], server_sent_usage=True)
    assert len(hints) == 1
    assert hints[0].startswith("level 2:")
    assert "saturated" in hints[0] and "0 -> 22" in hints[0]


def test_samples_outside_levels_do_not_count() -> None:
    # the queue a warm-up left behind, before the first level
    warmup = samples("kv_cache_usage", [1.0, 1.0], start=0)
    level = samples("kv_cache_usage", [0.2, 0.3], start=5)
    assert cause_hints(warmup + level, [(5, 6)], server_sent_usage=True) == []


def test_kv_cache_full() -> None:
    level1 = samples("kv_cache_usage", [0.5, 0.6], start=0)
    level2 = samples("kv_cache_usage", [0.9, 0.985, 0.97], start=10)
    (hint,) = cause_hints(level1 + level2, [(0, 1), (10, 12)], server_sent_usage=True)
    assert "KV cache reached 98 %" in hint and "(level 2)" in hint
    assert cause_hints(samples("kv_cache_usage", [0.97]), [(0, 1)], server_sent_usage=True) == []


def test_prefix_cache_high() -> None:
    rates = samples("prefix_cache_hit_rate", [None, 0.8, 0.7, 0.9])
    (hint,) = cause_hints(rates, [(0, 3)], server_sent_usage=True)
    assert "prefix-cache hit rate was 80 %" in hint and "cached" in hint
    low = samples("prefix_cache_hit_rate", [0.1, 0.5])
    assert cause_hints(low, [(0, 1)], server_sent_usage=True) == []


def test_no_usage_from_the_server() -> None:
    (hint,) = cause_hints([], [], server_sent_usage=False)
    assert "no token usage" in hint and "tokenizer" in hint


def test_without_windows_every_sample_is_one_level() -> None:
    rising = samples("waiting", [1, 2, 3, 4, 5, 6])
    (hint,) = cause_hints(rising, [], server_sent_usage=True)
    assert hint.startswith("the server's waiting queue grew")


def test_order_is_stable() -> None:
    mixed = [ServerSample(t=i, waiting=i * 2 + 1, kv_cache_usage=0.99, prefix_cache_hit_rate=0.9) for i in range(6)]
    hints = cause_hints(mixed, [(0, 5)], server_sent_usage=False)
    assert hints[0].startswith("level 1:")
    assert "KV cache" in hints[1] and "prefix-cache" in hints[2] and "usage" in hints[3]
