"""Workloads against the simulator over real HTTP on 127.0.0.1: datasets, length distributions,
shared prefixes, multi-turn chats, trace replay and reasoning models, each checked with the
simulator's own log of what it received and sent."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from cli_helpers import headless
from engine_helpers import run_benchmark

from llm_loadtest.cli import main
from llm_loadtest.cli.summary_table import result_report
from llm_loadtest.engine.requests import LengthDraws
from llm_loadtest.engine.workload_files import resolve_config
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.workload import parse_length
from llm_loadtest.report.regression import workload_differences
from llm_loadtest.settings.presets import load_preset, save_user_preset
from llm_loadtest.simulator.prefix_cache import BLOCK_TOKENS
from llm_loadtest.tokens.tokenizer import get_tokenizer

TOKENIZER = get_tokenizer("tiktoken:cl100k_base")

JSONL_PROMPTS = [
    {"prompt": "Tell me about rivers and the sea.", "output_len": 7},
    {"prompt": "What is the capital of France?", "output_len": 9},
    {"messages": [{"role": "system", "content": "You are terse. "}, {"role": "user", "content": "Name three colours."}], "output_len": 5},
]
SHAREGPT = [
    {"conversations": [{"from": "human", "value": "Why is the sky blue?"}, {"from": "gpt", "value": "Rayleigh scattering."}]},
    {"conversations": [{"from": "system", "value": "Be brief. "}, {"from": "human", "value": "Count to five."}]},
]
TEXT_PROMPTS = ["Write a haiku about autumn.", "Explain recursion to a child.", "List four prime numbers."]


def _write(path, rows) -> str:
    path.write_text(rows if isinstance(rows, str) else "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def _sent_text(item: dict) -> str:
    """What the engine sends for a dataset item, joined as the simulator counts a chat prompt."""
    if "prompt" in item:
        return item["prompt"]
    if "messages" in item:
        return "".join(m["content"] for m in item["messages"] if m["role"] in ("system", "user"))
    turns = item["conversations"]
    system = "".join(m["value"] for m in turns if m["from"] == "system")
    return system + next(m["value"] for m in turns if m["from"] == "human")


@pytest.mark.parametrize("layout", ["jsonl", "sharegpt", "text"])
async def test_each_dataset_layout_is_sent_as_written(simulator, tmp_path, layout):
    if layout == "jsonl":
        items, path = JSONL_PROMPTS, _write(tmp_path / "d.jsonl", JSONL_PROMPTS)
    elif layout == "sharegpt":
        items, path = SHAREGPT, str(tmp_path / "d.json")
        (tmp_path / "d.json").write_text(json.dumps(SHAREGPT), encoding="utf-8")
    else:
        items, path = [{"prompt": p} for p in TEXT_PROMPTS], _write(tmp_path / "d.txt", "\n\n".join(TEXT_PROMPTS))
    sim = simulator(ttft_ms=1, itl_ms=1)
    run = await run_benchmark(sim.url, num_prompts=len(items), output_len=4, workload={"dataset": path})
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    records = run.records[0]
    assert all(r.ok for r in records)
    # a seeded sample without repeats: each item once, every token count the server's own
    expected = sorted(TOKENIZER.count(_sent_text(item)) for item in items)
    assert sorted(log[r.request_id]["prompt_tokens"] for r in records) == expected
    assert all(r.input_tokens == log[r.request_id]["prompt_tokens"] for r in records)
    # output_len from the file where it gives one; ShareGPT's reply length otherwise is not used
    wanted = sorted(item.get("output_len", 4) for item in items)
    assert sorted(log[r.request_id]["completion_tokens"] for r in records) == wanted
    assert sorted(r.output_len_requested for r in records) == wanted


async def test_dataset_filters_and_seeded_sampling(simulator, tmp_path):
    rows = [{"prompt": " word" * n} for n in (3, 10, 20, 40, 80)]
    path = _write(tmp_path / "d.jsonl", rows)
    sim = simulator(ttft_ms=1, itl_ms=1)
    run = await run_benchmark(
        sim.url, num_prompts=6, output_len=2, seed=5, workload={"dataset": path, "dataset_min_input": 10, "dataset_max_input": 40}
    )
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    counts = [log[r.request_id]["prompt_tokens"] for r in run.records[0]]
    assert set(counts) == {10, 20, 40} and sorted(counts) == [10, 10, 20, 20, 40, 40]  # two passes, each item once a pass
    again = await run_benchmark(
        sim.url, num_prompts=6, output_len=2, seed=5, workload={"dataset": path, "dataset_min_input": 10, "dataset_max_input": 40}
    )
    log = sim.read_chunk_log(*(r.request_id for r in again.records[0]))
    assert [log[r.request_id]["prompt_tokens"] for r in again.records[0]] == counts


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("d.jsonl", '{"prompt": "a"}\n{"prompt": "b"\n', "d.jsonl line 2: not valid JSON"),
        ("d.jsonl", '{"prompt": "a"}\n\n{"text": "b"}\n', "d.jsonl line 3: needs `prompt`"),
        ("d.jsonl", '{"prompt": "a", "output_len": -1}\n', "d.jsonl line 1: `output_len` must be a positive integer"),
        ("d.jsonl", '{"messages": [{"role": "robot", "content": "x"}]}\n', "d.jsonl line 1: message 1 has `role` 'robot'"),
        ("d.json", '[{"conversations": [{"from": "gpt", "value": "hi"}]}]', "d.json item 1: no user message"),
        ("d.jsonl", "", "no prompt in the file"),
    ],
)
def test_a_bad_dataset_gets_one_line_naming_the_line_and_exit_2(tmp_path, capsys, name, content, fragment):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code = main(headless("http://127.0.0.1:9", "--no-save", "--dataset", str(path), model="x"))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--dataset", "/nonexistent/d.jsonl"], "cannot read it"),
        (["--input-len", "normal:100"], "normal:MEAN:STD"),
        (["--output-len", "uniform:9:3"], "LOW <= HIGH"),
        (["--turns", "0"], "--turns"),
        (["--prefix-groups", "2"], "--shared-prefix"),
        (["--turns", "2", "--request-rate", "5"], "--turns"),
        (["--trace-speed", "0"], "--trace-speed"),
    ],
)
def test_bad_workload_flags_get_one_line_and_exit_2(capsys, args, fragment):
    code = main(headless("http://127.0.0.1:9", "--no-save", *args, model="x"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err


def test_a_bad_trace_line_is_named(tmp_path, capsys):
    path = _write(tmp_path / "t.jsonl", [{"timestamp": 0, "input_length": 10}, {"input_length": 5}])
    code = main(headless("http://127.0.0.1:9", "--no-save", "--trace", path, model="x"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "t.jsonl line 2: needs `timestamp`" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "spec, mean, std, low, high",
    [("normal:300:40", 300, 40, 180, 420), ("uniform:50:150", 100, np.sqrt((101**2 - 1) / 12), 50, 150), ("64", 64, 0, 64, 64)],
)
def test_length_draws_follow_their_parameters_within_their_clip(spec, mean, std, low, high):
    draws = LengthDraws(parse_length(spec), seed=7, name="input")
    values = np.array([draws(i) for i in range(20_000)])
    assert values.min() >= low and values.max() <= high
    assert abs(values.mean() - mean) < 0.02 * mean
    assert abs(values.std() - std) < 0.05 * std + 1e-9
    # seeded: the same seed and name give the same lengths, another seed others
    assert [draws(i) for i in range(50)] == [LengthDraws(parse_length(spec), 7, "input")(i) for i in range(50)]
    if std:
        assert [draws(i) for i in range(50)] != [LengthDraws(parse_length(spec), 8, "input")(i) for i in range(50)]


def test_length_specs_and_the_config():
    config = RunConfig(server="http://h", model="m", input_len="normal:300:40", output_len="uniform:10:20")
    assert (config.input_len, config.output_len) == (300, 15)
    assert config.workload.input_len == "normal:300:40" and config.workload.output_len == "uniform:10:20"
    assert RunConfig.model_validate(config.model_dump(mode="json")) == config
    assert RunConfig(server="http://h", model="m").workload.input_len == "fixed:256"
    with pytest.raises(ConfigError):
        parse_length("normal:-5:2", "input_len")


async def test_drawn_lengths_are_what_the_server_was_asked_for(simulator):
    sim = simulator(ttft_ms=1, itl_ms=0)
    run = await run_benchmark(sim.url, concurrency=[4], num_prompts=40, input_len="uniform:40:120", output_len="normal:12:4", seed=3)
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    records = run.records[0]
    assert all(r.ok for r in records)
    inputs = [r.input_len_requested for r in records]
    outputs = [r.output_len_requested for r in records]
    assert len(set(inputs)) > 10 and all(40 <= n <= 120 for n in inputs)
    assert len(set(outputs)) > 3 and all(1 <= n <= 24 for n in outputs)
    for r in records:  # synthetic prompts are cut to exactly the drawn length
        assert log[r.request_id]["prompt_tokens"] == r.input_len_requested
        assert log[r.request_id]["completion_tokens"] == r.output_len_requested
    level = run.result.levels[0]
    assert level.input_len_drawn.mean == pytest.approx(np.mean(inputs))
    assert level.output_len_drawn.max == max(outputs)


async def test_shared_prefix_requests_share_their_first_tokens_and_hit_the_cache(simulator):
    prefix, groups = 64, 3
    sim = simulator(ttft_ms=1, itl_ms=0)
    run = await run_benchmark(
        sim.url, concurrency=[1], num_prompts=12, input_len=48, output_len=2, workload={"shared_prefix": prefix, "prefix_groups": groups}
    )
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    records = run.records[0]
    shared_blocks = prefix // BLOCK_TOKENS
    by_group: dict[tuple, list[dict]] = {}
    for r in records:
        entry = log[r.request_id]
        assert entry["prompt_tokens"] == prefix + 48 == r.input_tokens
        by_group.setdefault(tuple(entry["block_hashes"][:shared_blocks]), []).append(entry)
    # three groups of four, each sharing its first 64 tokens and nothing after them
    assert sorted(len(v) for v in by_group.values()) == [4] * groups
    for entries in by_group.values():
        assert len({tuple(e["block_hashes"][shared_blocks:]) for e in entries}) == len(entries)
        # the first of a group prefilled everything; the others found the prefix cached
        assert [e["cached_tokens"] for e in entries] == [0] + [prefix] * (len(entries) - 1)
    async with httpx.AsyncClient(base_url=sim.url) as client:
        text = (await client.get("/metrics")).text
    hits = sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("vllm:prefix_cache_hits_total"))
    assert hits == prefix * (12 - groups)


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
async def test_turns_carry_the_servers_real_answers(simulator, endpoint):
    sim = simulator(ttft_ms=1, itl_ms=0, reasoning_tokens=2 if endpoint == "chat" else 0)
    # one session at a time, so that the 12 requests are exactly 4 sessions of 3 turns
    run = await run_benchmark(
        sim.url, endpoint=endpoint, concurrency=[1], num_prompts=12, input_len=20, output_len=6, workload={"turns": 3}
    )
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    records = run.records[0]
    assert sorted(r.turn for r in records) == [1] * 4 + [2] * 4 + [3] * 4
    level = run.result.levels[0]
    assert [t.turn for t in level.turns] == [1, 2, 3] and all(t.requests == 4 for t in level.turns)
    assert level.turns[0].input_tokens_mean < level.turns[1].input_tokens_mean < level.turns[2].input_tokens_mean
    if endpoint == "completions":
        # the whole conversation goes as one prompt, longer by each answer and question
        assert all(log[r.request_id]["prompt_tokens"] == r.input_tokens for r in records)
        return
    answers = {tuple(map(tuple, log[r.request_id]["message_hashes"])): log[r.request_id]["answer_hash"] for r in records}
    for r in records:
        messages = log[r.request_id]["message_hashes"]
        assert [role for role, _ in messages] == ["user", "assistant"] * (r.turn - 1) + ["user"]
        if r.turn > 1:
            # the conversation so far is an earlier request's, and its answer (content only,
            # the reasoning left out) is what the server really answered it
            before = tuple(map(tuple, messages[: 2 * r.turn - 3]))
            assert answers[before] == messages[-2][1]


async def test_a_trace_is_replayed_at_its_times_with_its_lengths(simulator, tmp_path):
    entries = [
        {"timestamp": 1000, "input_length": 600, "output_length": 3, "hash_ids": [1, 2]},
        {"timestamp": 1100, "input_length": 700, "output_length": 5, "hash_ids": [1, 2]},
        {"timestamp": 1300, "input_length": 40, "output_length": 2},
        {"timestamp": 1600, "input_length": 520, "output_length": 4, "hash_ids": [9, 10]},
    ]
    path = _write(tmp_path / "t.jsonl", entries)
    sim = simulator(ttft_ms=1, itl_ms=1)
    config = RunConfig(server=sim.url, model="auto", warmup=0, workload={"trace": path, "trace_speed": 2.0})
    resolved = resolve_config(config)
    assert resolved.num_prompts == 4 and resolved.workload.trace_sha256
    assert resolved.levels()[0].request_rate == pytest.approx(4 / 0.3, rel=1e-3)
    # the engine reads the files of a configuration made without them (the app's form) itself
    run = await run_benchmark(sim.url, workload={"trace": path, "trace_speed": 2.0})
    assert run.result.config.workload == resolved.workload and run.result.levels[0].request_rate == resolved.levels()[0].request_rate
    assert "chat, streaming, lengths from the trace, 4 requests per level" in result_report(run.result)
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    records = sorted(run.records[0], key=lambda r: r.t_scheduled_ns)
    origin = records[0].t_scheduled_ns
    offsets_ns = [r.t_scheduled_ns - origin for r in records]
    assert offsets_ns == [0, 50_000_000, 150_000_000, 300_000_000]  # the trace's times, twice as fast
    delays = []
    for r, entry in zip(records, entries, strict=True):
        logged = log[r.request_id]
        assert logged["prompt_tokens"] == entry["input_length"] and logged["completion_tokens"] == entry["output_length"]
        # sent when due, late by exactly the scheduling delay reported, and received after it
        assert r.t_start_ns >= r.t_scheduled_ns and logged["t_recv_ns"] >= r.t_start_ns
        delays.append((r.t_start_ns - r.t_scheduled_ns) / 1e6)
    delay = run.result.levels[0].client.scheduling_delay_ms
    assert delay.max == pytest.approx(max(delays)) and delay.min == pytest.approx(min(delays))
    # shared hash ids: the same first 512 tokens (32 logged blocks), others not
    first, second, _, fourth = (log[r.request_id]["block_hashes"] for r in records)
    assert first[:32] == second[:32] and first[:32] != fourth[:32]


async def test_reasoning_and_answer_ttft_against_the_simulators_log(simulator):
    k = 5
    sim = simulator(ttft_ms=5, itl_ms=3, reasoning_tokens=k)
    run = await run_benchmark(sim.url, concurrency=[2], num_prompts=6, input_len=32, output_len=12)
    log = sim.read_chunk_log(*(r.request_id for r in run.records[0]))
    level = run.result.levels[0]
    for r in run.records[0]:
        sent = log[r.request_id]["chunk_write_ns"]
        assert log[r.request_id]["reasoning_tokens"] == k == r.reasoning_tokens == r.reasoning_chunks
        assert r.output_tokens == 12
        # the first token of any kind is chunk 0, the first answer token chunk k, as the server sent them
        assert r.chunk_times_ns[0] >= sent[0] and r.t_first_answer_ns == r.chunk_times_ns[k] >= sent[k]
        assert r.ttft_answer_ns > r.ttft_ns
    ttft_answer = np.array([r.ttft_answer_ns for r in run.records[0]]) / 1e6
    assert level.ttft_answer_ms.p50 == pytest.approx(np.percentile(ttft_answer, 50))
    assert level.reasoning_tokens.total == 6 * k
    plain = await run_benchmark(simulator(ttft_ms=1, itl_ms=0).url, num_prompts=2, input_len=16, output_len=3)
    assert plain.result.levels[0].ttft_answer_ms is None and plain.result.levels[0].reasoning_tokens is None


def test_different_workloads_are_told_apart_and_the_same_file_elsewhere_is_not(tmp_path):
    rows = [{"prompt": "one"}, {"prompt": "two"}]
    here, there = _write(tmp_path / "a.jsonl", rows), _write(tmp_path / "b.jsonl", rows)
    other = _write(tmp_path / "c.jsonl", rows[:1])

    def config(**workload) -> RunConfig:
        return resolve_config(RunConfig(server="http://h", model="m", workload=workload))

    assert workload_differences(config(dataset=here), config(dataset=there)) == []
    assert workload_differences(config(dataset=here), config(dataset=other)) == [
        f"dataset a.jsonl ({config(dataset=here).workload.dataset_sha256[:8]}) -> c.jsonl ({config(dataset=other).workload.dataset_sha256[:8]})"
    ]
    assert workload_differences(config(), config(turns=2)) == ["turns 1 -> 2"]
    assert workload_differences(config(), config(shared_prefix=32)) == ["shared_prefix none -> 32"]
    normal = RunConfig(server="http://h", model="m", input_len="normal:256:32")
    assert workload_differences(config(), normal) == ["input_len 256 -> normal:256:32"]


def test_the_workload_is_stored_shown_exported_and_gates_the_baseline(simulator, tmp_path, capsys):
    dataset = _write(tmp_path / "d.jsonl", JSONL_PROMPTS)
    db = str(tmp_path / "runs.db")
    sim = simulator(ttft_ms=1, itl_ms=2, reasoning_tokens=2)
    base = headless(sim.url, "--warmup", "0", "--db", db, "-n", "3")
    assert main([*base, "--dataset", dataset, "--turns", "2", "-o", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "workload: dataset" in out and "2 turns" in out and "TTFT p50 by turn" in out and "first answer token" in out
    # the lengths were the file's: the defaults (256 / 128) were never asked for, so not shown
    assert "chat, streaming, lengths from the dataset, 3 requests per level" in out and "input 256" not in out
    document = json.loads((tmp_path / "r.json").read_text())
    run_id = document["run_id"]
    assert document["config"]["workload"]["dataset_sha256"] and document["config"]["workload"]["turns"] == 2
    # stored: show, and the per-request export, carry it
    assert main(["show", run_id, "--db", db]) == 0
    assert "workload: dataset" in capsys.readouterr().out
    csv_path = tmp_path / "requests.csv"
    assert main(["export", run_id, "--format", "csv", "--requests", "-o", str(csv_path), "--db", db]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(csv_path.open()))
    assert sorted(row["turn"] for row in rows) == ["1", "1", "2"]
    assert all(row["reasoning_tokens"] == "2" and float(row["ttft_answer_ms"]) >= float(row["ttft_ms"]) for row in rows)
    assert {row["output_len_requested"] for row in rows} <= {"7", "9", "5"}
    # the level export numbers the turns' figures
    levels_path = tmp_path / "levels.csv"
    assert main(["export", run_id, "--format", "csv", "-o", str(levels_path), "--db", db]) == 0
    capsys.readouterr()
    (level_row,) = csv.DictReader(levels_path.open())
    turns = document["levels"][0]["turns"]
    assert [level_row[f"turns_{t['turn']}_requests"] for t in turns] == ["2", "1"]
    assert float(level_row["turns_2_ttft_ms_p50"]) == turns[1]["ttft_ms"]["p50"]
    assert float(level_row["ttft_answer_ms_p50"]) == document["levels"][0]["ttft_answer_ms"]["p50"]
    assert main(["compare", run_id, run_id, "--db", db]) == 0
    (lengths_row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("input / output tokens")]
    assert lengths_row.split()[-3:] == ["from", "the", "dataset"] and "256" not in lengths_row
    # the gate refuses a baseline of another workload, before any request
    assert main([*base, "--baseline", run_id, "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "a different workload" in err and "turns 2 -> 1" in err


def test_a_preset_names_a_workload_and_the_app_can_save_one(simulator, tmp_path, monkeypatch, capsys):
    dataset = _write(tmp_path / "d.jsonl", JSONL_PROMPTS)
    preset = tmp_path / "chats.toml"
    preset.write_text(
        f'name = "chats"\nconcurrency = [1]\nnum_prompts = 4\noutput_len = "uniform:3:6"\n\n[workload]\ndataset = "{dataset}"\nturns = 2\n',
        encoding="utf-8",
    )
    sim = simulator(ttft_ms=1, itl_ms=0)
    out = tmp_path / "r.json"
    assert main(headless(sim.url, "--warmup", "0", "--no-save", "--preset", str(preset), "-o", str(out))) == 0
    capsys.readouterr()
    workload = json.loads(out.read_text())["config"]["workload"]
    assert workload["dataset"] == dataset and workload["turns"] == 2 and workload["output_len"] == "uniform:3:6"
    assert workload["dataset_sha256"] == hashlib.sha256(Path(dataset).read_bytes()).hexdigest()
    # a saved preset keeps the lengths' specs and the workload's settings, not the file's digest
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    config = resolve_config(RunConfig(server="http://h", model="m", input_len="normal:300:30", workload={"dataset": dataset, "turns": 2}))
    save_user_preset("mine", config.model_dump(mode="json", exclude={"server", "model", "preset"}))
    again = RunConfig(server="http://h", model="m", **load_preset("mine").values)
    assert again.workload.input_len == "normal:300:30" and again.workload.turns == 2 and again.workload.dataset == dataset
    assert again.workload.dataset_sha256 is None and resolve_config(again).workload == config.workload


def test_the_summary_shows_the_servers_prefix_cache_hit_rate_beside_a_shared_prefix(simulator, tmp_path, capsys):
    sim = simulator(ttft_ms=10, itl_ms=5)
    out = tmp_path / "r.json"
    args = headless(sim.url, "--no-save", "--warmup", "0", "-o", str(out), "--gpu-interval", "0.2")
    assert main([*args, "--shared-prefix", "256", "--prefix-groups", "2", "-n", "40", "-c", "4", "--output-len", "24"]) == 0
    summary = capsys.readouterr().out
    rates = [s["prefix_cache_hit_rate"] for s in json.loads(out.read_text())["server_samples"]]
    # past each group's first request, half of every 512-token prompt is the cached prefix
    assert 0.5 in rates and all(r is None or 0 <= r <= 0.5 for r in rates)
    assert "shared prefix 256 tokens x 2 group(s)" in summary
    assert "server prefix-cache hit rate (mean of its samples): " in summary and "not reported" not in summary


@pytest.mark.parametrize(
    "flags, named",
    [
        (["-c", "4"], "--concurrency"),
        (["-n", "5"], "--num-prompts"),
        (["--input-len", "30"], "--input-len"),
        (["--burstiness", "2"], "--burstiness"),
        (["--request-rate", "3"], "--request-rate"),
        (["-c", "2", "--input-len", "30"], "--concurrency, --input-len"),
    ],
)
def test_what_a_trace_sets_itself_is_refused_not_ignored(tmp_path, capsys, flags, named):
    path = _write(tmp_path / "t.jsonl", [{"timestamp": 0, "input_length": 10}])
    assert main(headless("http://127.0.0.1:9", "--no-save", "--trace", path, *flags, model="x")) == 2
    [err] = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("llm-loadtest: error: --trace: a trace sets its own") and f"drop {named} (" in err


def test_a_dataset_refuses_a_prompt_length_of_its_own(tmp_path, capsys):
    path = _write(tmp_path / "d.jsonl", [{"prompt": "hello"}])
    assert main(headless("http://127.0.0.1:9", "--no-save", "--dataset", path, "--input-len", "30", model="x")) == 2
    [err] = capsys.readouterr().err.strip().splitlines()
    assert "--dataset: a dataset's prompts have their own lengths: drop --input-len" in err
    recommend = ["recommend", "-s", "http://127.0.0.1:9", "-m", "x", "--goodput", "ttft:100", "--peak-concurrency", "4"]
    assert main([*recommend, "--no-save", "--dataset", path, "--isl-osl", "64/8"]) == 2
    [err] = capsys.readouterr().err.strip().splitlines()
    assert "--isl-osl: a dataset's prompts have their own lengths" in err


def test_chats_are_searched_by_concurrency(capsys):
    args = ["recommend", "-s", "http://127.0.0.1:9", "-m", "x", "--goodput", "ttft:100", "--no-save", "--turns", "2", "--peak-rate", "5"]
    assert main(args) == 2
    assert "--peak-concurrency" in capsys.readouterr().err
