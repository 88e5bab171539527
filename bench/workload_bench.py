"""Workload figures: how long building what a level sends takes before its clock starts.

    python bench/workload_bench.py [--requests 5000] [--dataset-items 50000]

- synthetic prompts of fixed and drawn lengths (per prompt);
- a JSONL dataset read, checked and digested, and its prompts built (per item);
- shared-prefix prompts (per prompt), Mooncake-style trace prompts from hash ids (per entry).

Prints figures only; runs in well under a minute on a laptop.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

# runnable from a checkout without installing it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_loadtest.engine.requests import RequestSource  # noqa: E402
from llm_loadtest.engine.workload_files import resolve_config  # noqa: E402
from llm_loadtest.model.config import RunConfig  # noqa: E402
from llm_loadtest.tokens.tokenizer import get_tokenizer  # noqa: E402

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "rivers", "run", "to", "the", "sea"]


def per_item_us(label: str, count: int, build) -> None:
    started = time.perf_counter()
    build()
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed * 1e6 / count:10.1f} us each  ({count:,} in {elapsed:.2f} s)")


def prompts(config: RunConfig, count: int) -> None:
    source = RequestSource(config, get_tokenizer(config.tokenizer), "bench-")
    source.prepare(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--dataset-items", type=int, default=50_000)
    args = parser.parse_args()
    n = args.requests
    base = {"server": "http://127.0.0.1:8000", "model": "m"}
    per_item_us("synthetic, fixed 512 tokens", n, lambda: prompts(RunConfig(**base, input_len=512), n))
    per_item_us("synthetic, normal:512:128", n, lambda: prompts(RunConfig(**base, input_len="normal:512:128"), n))
    per_item_us(
        "shared prefix 1024 x 8 groups + 512 tokens",
        n,
        lambda: prompts(RunConfig(**base, input_len=512, workload={"shared_prefix": 1024, "prefix_groups": 8}), n),
    )
    with tempfile.TemporaryDirectory() as folder:
        rng = random.Random(0)
        dataset = Path(folder) / "d.jsonl"
        with dataset.open("w", encoding="utf-8") as out:
            for _ in range(args.dataset_items):
                out.write(json.dumps({"prompt": " ".join(rng.choices(WORDS, k=rng.randint(20, 400)))}) + "\n")
        items = args.dataset_items
        config = RunConfig(**base, workload={"dataset": str(dataset)})
        per_item_us(f"dataset: read, check, digest ({dataset.stat().st_size / 1e6:.0f} MB)", items, lambda: resolve_config(config))
        per_item_us("dataset: prompts built", n, lambda: prompts(resolve_config(config), n))
        trace = Path(folder) / "t.jsonl"
        with trace.open("w", encoding="utf-8") as out:
            for i in range(n):
                blocks = rng.randint(1, 16)
                start = rng.randint(0, 64)
                out.write(
                    json.dumps(
                        {
                            "timestamp": i * 10,
                            "input_length": blocks * 512 - 100,
                            "output_length": 50,
                            "hash_ids": list(range(start, start + blocks)),
                        }
                    )
                    + "\n"
                )
        traced = resolve_config(RunConfig(**base, workload={"trace": str(trace)}))
        per_item_us("trace with hash ids: prompts built", n, lambda: prompts(traced, n))


if __name__ == "__main__":
    main()
