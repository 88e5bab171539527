"""`llm-loadtest recommend`: the search policy, the Pareto frontier, and the whole search
against the simulator, whose parameters imply the knee it must find."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fake_nvml import FakeGpu, FakeNvml

from llm_loadtest.capacity.gpus import serving_gpus
from llm_loadtest.capacity.policy import SearchPolicy
from llm_loadtest.capacity.probes import saturation_stop
from llm_loadtest.cli import main
from llm_loadtest.metrics.pareto import pareto_frontier
from llm_loadtest.model.request_ids import RequestKind, parse_request_id
from llm_loadtest.model.search import SearchProbe
from llm_loadtest.simulator.batching import implied_knee
from llm_loadtest.simulator.options import SimOptions
from llm_loadtest.storage.store import Store
from llm_loadtest.telemetry.nvml import GpuReader

# ---- the policy, over verdicts given by hand ---------------------------------------------------


def drive(policy: SearchPolicy, passes, limit: int = 60, pressure=None) -> list[tuple[float, str]]:
    """Run the policy against `passes(load, nth_time)` (and `pressure(load)`, the SLO pressure,
    when given); the probes it asked for."""
    asked: list[tuple[float, str]] = []
    while (step := policy.next_probe()) is not None:
        asked.append((step.load, step.phase))
        nth = sum(1 for load, _ in asked if load == step.load)
        policy.record(step.load, passes(step.load, nth), pressure(step.load) if pressure else None)
        assert len(asked) < limit, "the policy does not converge"
    return asked


def narrowing(asked: list[tuple[float, str]]) -> list[float]:
    return [load for load, phase in asked if phase == "bisect"]


def test_slo_pressure_lands_next_to_a_smooth_knee_in_fewer_probes():
    def tpot_over_slo(load):  # the simulator's TPOT = 60 + 10 C ms against an SLO of 155 ms
        return (60 + 10 * load) / 155

    halving = SearchPolicy(start=1)
    plain = drive(halving, lambda load, _: tpot_over_slo(load) < 1)
    guided = SearchPolicy(start=1)
    asked = drive(guided, lambda load, _: tpot_over_slo(load) < 1, pressure=tpot_over_slo)
    assert (guided.holds, guided.misses) == (halving.holds, halving.misses) == (9, 10)
    assert narrowing(asked) == [9, 10] and narrowing(plain) == [12, 10, 9]


def test_a_curve_that_bends_away_from_the_line_still_closes_like_halving():
    def queue(load):  # flat, then a wall just below the failing end: interpolation keeps landing low
        return 0.1 if load <= 60 else 50.0

    guided = SearchPolicy(start=1)
    asked = drive(guided, lambda load, _: queue(load) < 1, pressure=queue)
    assert guided.holds == 60 and guided.misses <= 63  # closed to 5 % of the load
    assert len(narrowing(asked)) <= 2 * len(narrowing(drive(SearchPolicy(start=1), lambda load, _: load <= 60)))


def test_policy_grows_bisects_and_confirms_both_ends():
    policy = SearchPolicy(start=1)
    asked = drive(policy, lambda load, _: load <= 19)
    assert (policy.holds, policy.misses, policy.done_because()) == (19, 20, "bracketed")
    assert [load for load, phase in asked if phase == "grow"] == [1, 2, 4, 8, 16, 32]
    assert len(policy.verdicts[19]) >= 2 and len(policy.verdicts[20]) >= 2


def test_one_noisy_probe_cannot_move_the_answer():
    # the first probe at 8 fails by chance (a hiccup); every other probe tells the truth
    policy = SearchPolicy(start=1)
    drive(policy, lambda load, nth: load <= 19 and not (load == 8 and nth == 1))
    assert (policy.holds, policy.misses) == (19, 20)
    # and a lucky pass just past the knee is outvoted too
    policy = SearchPolicy(start=1)
    drive(policy, lambda load, nth: load <= 19 or (load == 20 and nth == 1))
    assert (policy.holds, policy.misses) == (19, 20)


def test_policy_refuses_only_after_confirming_that_one_user_misses():
    policy = SearchPolicy(start=1)
    asked = drive(policy, lambda load, _: False)
    assert asked == [(1, "grow"), (1, "confirm")] and policy.done_because() == "refused"


def test_policy_stops_at_the_peak_asked_about():
    policy = SearchPolicy(start=1, cap=50)
    asked = drive(policy, lambda load, _: True)
    assert max(load for load, _ in asked) == 50 and policy.done_because() == "peak_holds"


def test_rate_policy_closes_the_bracket_to_five_percent():
    policy = SearchPolicy(start=2.0, integer=False)
    drive(policy, lambda load, _: load <= 13.3)
    assert policy.holds <= 13.3 < policy.misses <= policy.holds * 1.05


def probe_at(users: int, throughput: float, e2e_ms: float) -> SearchProbe:
    return SearchProbe(
        level_index=0, phase="grow", concurrency=users, request_rate=None, input_len=32, output_len=4, passed=True,
        goodput_percent=100.0, error_rate=0.0, requests=10, duration_s=1.0, output_throughput=throughput,
        interactivity=None, ttft_p50_ms=None, tpot_p50_ms=None, e2e_p50_ms=e2e_ms,
    )  # fmt: skip


def test_saturation_is_throughput_that_stops_growing_while_latency_grows():
    earlier = [probe_at(8, 1000.0, 100.0)]
    assert "saturated" in saturation_stop(probe_at(16, 1040.0, 190.0), earlier)
    assert saturation_stop(probe_at(16, 1800.0, 110.0), earlier) is None  # still scaling
    assert saturation_stop(probe_at(16, 1040.0, 104.0), earlier) is None  # flat, but no slower: not queueing


def test_pareto_frontier_keeps_only_undominated_points():
    points = [(10, 50), (20, 40), (15, 30), (30, 10), (None, 99), (20, 40), (5, 50)]
    assert pareto_frontier(points) == [0, 1, 3]


# ---- the command, against the simulator --------------------------------------------------------

# TPOT = itl_ms + step_us_per_seq * users / 1000 = 60 + 10 C ms: under 155 ms up to 9 users
TPOT_KNEE = dict(ttft_ms=10, itl_ms=60, step_us_per_seq=10_000, max_seqs=64, prefill_us_per_token=0)
# 4 slots: a fifth user waits for one, and that wait breaks a TTFT SLO of 150 ms
QUEUE_KNEE = dict(ttft_ms=20, itl_ms=20, step_us_per_seq=10_000, max_seqs=4, prefill_us_per_token=0)
FAST_PROBES = ["--probe-requests", "8", "--probe-seconds", "0.5", "--warmup", "1", "--in-process", "--gpu-interval", "0.2"]


def recommend(url: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llm_loadtest", "recommend", "--headless", "-s", url, "-m", "auto", *FAST_PROBES, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_recommend_finds_the_knee_the_simulator_parameters_imply(simulator, tmp_path, capsys):
    sim = simulator(**TPOT_KNEE)
    knee = implied_knee(SimOptions(**TPOT_KNEE), input_tokens=32, output_tokens=4, ttft_ms=None, tpot_ms=155)
    assert knee == 9
    out, db = tmp_path / "search.json", tmp_path / "runs.db"
    done = recommend(
        sim.url,
        "--goodput",
        "tpot:155",
        "--peak-concurrency",
        "100",
        "--input-len",
        "32",
        "--output-len",
        "4",
        "--gpus",
        "2",
        "--gpu-name",
        "H100",
        "-o",
        str(out),
        "--db",
        str(db),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    search = result["search"]
    answer = search["answer"]
    assert abs(answer["holds"] - knee) <= 1 and answer["misses"] == answer["holds"] + 1
    assert answer["stop"] == "bracketed"
    # 100 users at `holds` per replica, 2 GPUs a replica
    replicas = -(-100 // int(answer["holds"]))
    assert (answer["replicas"], answer["gpus_total"]) == (replicas, 2 * replicas)
    assert f"= {2 * replicas} × H100" in done.stdout and "TPOT gave out first" in done.stdout
    # each end of the bracket was probed at least twice
    loads = [p["concurrency"] for p in search["probes"]]
    assert loads.count(answer["holds"]) >= 2 and loads.count(answer["misses"]) >= 2
    # every probe is a level of one stored run, with its requests; the simulator served them all
    assert len(result["levels"]) == len(search["probes"])
    with Store.open(str(db)) as store:
        stored = store.get_result(result["run_id"])
        assert [level.concurrency for level in stored.levels] == loads
        assert stored.search.answer == stored.search.answers[0] and stored.search.answer.holds == answer["holds"]
        assert len(stored.search.probes) == len(loads)
        records = store.get_records(result["run_id"])
    # other SLOs re-derive the answer from the stored probes, with no new traffic: TPOT < 125 ms
    # holds to 6 users, and of the loads probed 4 meets it and 8 misses it
    assert main(["show", result["run_id"], "--goodput", "tpot:125", "--json", "--db", str(db)]) == 0
    again = json.loads(capsys.readouterr().out)["search"]["answer"]
    assert (again["holds"], again["misses"], again["stop"]) == (4, 8, "bracketed")
    served = sim.read_chunk_log(*(r.request_id for r in records), at_least=len(records) + 1 + len(loads))
    assert len(records) == sum(p["requests"] for p in search["probes"])
    full = [entry for entry in served.values() if entry["completion_tokens"] == 4]
    assert len(full) == len(records) + 1  # and the one warm-up request before the first probe
    assert len(served) - len(full) == len(loads)  # each probe's one-token preflight


@pytest.mark.slow
def test_peak_rate_asks_the_same_in_open_loop_arrivals(simulator, tmp_path):
    sim = simulator(**TPOT_KNEE)
    knee = implied_knee(SimOptions(**TPOT_KNEE), input_tokens=32, output_tokens=4, ttft_ms=None, tpot_ms=155)
    out = tmp_path / "search.json"
    done = recommend(sim.url, "--goodput", "tpot:155", "--peak-rate", "40", "--input-len", "32", "--output-len", "4",
                     "--probe-seconds", "2", "--no-save", "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    search = json.loads(out.read_text())["search"]
    answer = search["answer"]
    # one user calibrates the first rate; then every probe is open loop
    assert search["probes"][0]["phase"] == "calibrate" and search["probes"][0]["concurrency"] == 1
    assert all(p["request_rate"] is not None for p in search["probes"][1:])
    assert answer["holds"] < answer["misses"] <= answer["holds"] * 1.05 + 0.01
    # Little's law: the requests in flight at the answer's rate stay within the knee in users
    at_answer = [p for p in search["probes"] if p["request_rate"] == answer["holds"]]
    assert answer["holds"] * at_answer[-1]["e2e_p50_ms"] / 1000 <= knee + 1
    assert "req/s at ≥ 95 % goodput" in done.stdout and f"⌈40 / {answer['holds']:g}⌉" in done.stdout


@pytest.mark.slow
def test_recommend_names_the_queue_when_the_batch_is_full(simulator):
    sim = simulator(**QUEUE_KNEE)
    knee = implied_knee(SimOptions(**QUEUE_KNEE), input_tokens=32, output_tokens=8, ttft_ms=150, tpot_ms=None)
    assert knee == 4
    done = recommend(sim.url, "--goodput", "ttft:150", "--peak-concurrency", "64", "--input-len", "32", "--output-len", "8", "--no-save")
    assert done.returncode == 0, done.stderr
    holds = int(done.stdout.split(" holds ")[1].split()[0])
    assert abs(holds - knee) <= 1
    assert "queue started to grow" in done.stdout and "TTFT gave out first" in done.stdout


def test_recommend_describes_the_dataset_it_sent_as_run_does(simulator, tmp_path, capsys):
    sim = simulator(ttft_ms=5, itl_ms=2)
    dataset, db, out = tmp_path / "chats.jsonl", tmp_path / "runs.db", tmp_path / "search.json"
    dataset.write_text("".join(json.dumps({"prompt": "tell me " * (5 + i), "output_len": 3}) + "\n" for i in range(12)))
    done = recommend(
        sim.url, "--goodput", "ttft:1000", "--peak-concurrency", "2", "--dataset", str(dataset), "--db", str(db), "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    # what was sent: the dataset's prompts and lengths, never the default 256 / 128 tokens
    sent = [e for e in sim.read_chunk_log().values() if parse_request_id(e["request_id"]).kind is RequestKind.MEASURED]
    assert sent and all(e["completion_tokens"] == 3 and e["prompt_tokens"] < 64 for e in sent)
    described = "dataset " + str(dataset) + ", output fixed:128 where an item gives none"
    assert done.stdout.startswith(f"workload: {described} (sha256 ")  # `run`'s own line
    assert f"  - same workload: {described}, chat endpoint, streamed" in done.stdout
    assert "256/128" not in done.stdout and "256 prompt" not in done.stdout and "shape" not in done.stdout + done.stderr
    with Store.open(str(db)) as store:
        [row] = store.list_runs()
        stored = store.get_result(row.run_id)
    # the search's own configuration (the loads it probed), stored as -o writes it
    assert stored.config.model_dump(mode="json") == json.loads(out.read_text())["config"]
    assert stored.config.num_prompts == 8 and stored.config.concurrency == [1, 2]
    assert main(["show", "--db", str(db), row.run_id]) == 0
    shown = capsys.readouterr().out
    assert shown.count(f"\nworkload: {described}") == 1 and "256/128" not in shown  # said once, by `run`'s summary


@pytest.mark.slow
def test_recommend_stops_early_on_a_failing_server(simulator, tmp_path):
    sim = simulator(fail_rate_500=0.5, ttft_ms=5, itl_ms=2)
    out = tmp_path / "search.json"
    done = recommend(sim.url, "--goodput", "ttft:1000", "--peak-concurrency", "64", "--output-len", "4", "--no-save", "-o", str(out))
    assert done.returncode == 1
    answer = json.loads(out.read_text())["search"]["answer"]
    assert answer["stop"] == "server_errors" and answer["holds"] is None
    assert "http_500" in answer["reason"] and "cannot be met" in done.stderr.splitlines()[-1]
    # the warm-up, one preflight and one probe: no search past a failing server
    assert len(sim.read_chunk_log(at_least=1 + 1 + 8)) == 1 + 1 + 8


@pytest.mark.slow
def test_recommend_refuses_when_one_user_already_misses(simulator, tmp_path):
    sim = simulator(ttft_ms=5, itl_ms=20)
    out = tmp_path / "search.json"
    done = recommend(sim.url, "--goodput", "tpot:5", "--peak-concurrency", "64", "--output-len", "4", "--no-save", "-o", str(out))
    assert done.returncode == 1
    search = json.loads(out.read_text())["search"]
    assert search["answer"]["stop"] == "refused" and "even c=1 misses" in search["answer"]["reason"]
    assert [p["concurrency"] for p in search["probes"]] == [1, 1]


@pytest.mark.slow
def test_sigterm_stops_the_search_keeps_its_probes_and_exits_143(simulator, tmp_path):
    """As `timeout`, systemd and Docker stop a job; Ctrl+C is 130, SIGTERM 143 (docs/cli.md)."""
    sim = simulator(ttft_ms=5, itl_ms=20)
    out = tmp_path / "search.json"
    argv = ["--goodput", "ttft:1000", "--peak-concurrency", "512", "--output-len", "4", "--no-save", "-o", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_loadtest", "recommend", "--headless", "-s", sim.url, "-m", "auto", *FAST_PROBES, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (sim.chunk_log.exists() and len(sim.read_chunk_log()) >= 1 + 1 + 8 + 4):  # into the second probe
        assert time.monotonic() < deadline and proc.poll() is None, "the search never got to its second probe"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "SIGTERM" in stderr
    document = json.loads(out.read_text())
    assert document["status"] == "aborted" and document["search"]["answer"]["stop"] == "interrupted"
    assert document["levels"] and document["levels"][0]["requests"]["succeeded"] == 8
    # the probe the signal cut is kept, marked partial; the ones before it ran to their end (on
    # a busy machine the signal may come between two probes: the last then has all its requests)
    *whole, last = document["levels"]
    assert whole and not any(level["partial"] for level in whole)
    assert last["partial"] or last["requests"]["total"] >= 8


@pytest.mark.slow
def test_each_isl_osl_shape_gets_its_answer_and_all_probes_share_the_pareto_chart(simulator, tmp_path):
    sim = simulator(**TPOT_KNEE)
    out = tmp_path / "search.json"
    done = recommend(sim.url, "--goodput", "tpot:155", "--peak-concurrency", "4", "--isl-osl", "32/4,64/3", "--no-save", "-o", str(out))
    assert done.returncode == 0, done.stderr
    search = json.loads(out.read_text())["search"]
    # TPOT at 4 users is 100 ms whatever the lengths: both shapes hold the whole peak
    assert [(a["input_len"], a["output_len"], a["stop"], a["holds"]) for a in search["answers"]] == [
        (32, 4, "peak_holds", 4),
        (64, 3, "peak_holds", 4),
    ]
    assert {(p["input_len"], p["output_len"]) for p in search["probes"]} == {(32, 4), (64, 3)}
    assert "shape 64/3:" in done.stdout and "frontier, left to right:" in done.stdout


def test_missing_goodput_is_one_line_and_exit_2(capsys):
    code = main(["recommend", "--headless", "-s", "http://127.0.0.1:9", "-m", "x", "--peak-concurrency", "10", "--no-save"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--goodput" in err[0]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--goodput", "tpot:50"], "--peak-concurrency"),
        (["--goodput", "tpot:50", "--peak-concurrency", "10", "-c", "4"], "--concurrency"),
        (["--goodput", "tpot:50", "--peak-concurrency", "10", "--isl-osl", "128x128"], "--isl-osl"),
        (["--goodput", "tpot:50", "--peak-concurrency", "10", "--gpu-name", "H100"], "--gpus"),
    ],
)
def test_bad_recommend_arguments_get_one_line(capsys, args, fragment):
    code = main(["recommend", "--headless", "-s", "http://127.0.0.1:9", "-m", "x", "--no-save", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0]


# ---- which GPUs serve the model ----------------------------------------------------------------


def test_the_gpus_that_run_the_server_process_are_counted(simulator):
    sim = simulator()
    other = FakeGpu(name="NVIDIA H100 80GB HBM3", pids=[1])
    serving = [FakeGpu(name="NVIDIA H100 80GB HBM3", pids=[sim.pid]) for _ in range(2)]
    gpus, note = serving_gpus(sim.url, GpuReader(FakeNvml([other, *serving])))
    assert note is None and (gpus.count, gpus.name, gpus.source) == (2, "NVIDIA H100 80GB HBM3", "nvml")


def test_gpus_of_a_remote_server_or_of_other_processes_are_not_counted(simulator):
    sim = simulator()
    gpus, note = serving_gpus("http://10.0.0.1:8000", GpuReader(FakeNvml([FakeGpu(pids=[sim.pid])])))
    assert gpus is None and "not on this machine" in note
    gpus, note = serving_gpus(sim.url, GpuReader(FakeNvml([FakeGpu(pids=[1])])))
    assert gpus is None and "none of the local GPUs" in note
