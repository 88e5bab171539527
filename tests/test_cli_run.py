"""`llm-loadtest run --headless`: arguments, exit codes, outputs, Ctrl+C, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_helpers import headless, headless_command

from llm_loadtest.cli import main
from llm_loadtest.model.request_ids import RequestKind, parse_request_id


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llm_loadtest", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["-c", "0"], "concurrency"),
        (["-c", "-1"], "concurrency"),
        (["-c", "abc"], "concurrency"),
        (["--preset", "nope"], "unknown preset"),
        (["--goodput", "ttft"], "--goodput"),
        (["--request-rate", "0"], "request-rate"),
        (["--input-len", "0"], "input-len"),
        (["--extra-body", "[1]"], "extra-body"),
        (["--gpu-interval", "0"], "gpu-interval"),
        (["--workers", "0"], "--workers"),
        (["--gpu-interval", "nan"], "gpu-interval"),
        (["--output", "/proc/out.json"], "--output"),
        (["--log-file", "/proc/run.log"], "--log-file"),
        (["--tokenizer", "/nope/tokenizer.json", "--in-process"], "--tokenizer"),
        (["--metrics-url", "notaurl"], "--metrics-url: give an http:// or https:// URL"),
        (["--metrics-url", "http://[::1"], "--metrics-url: cannot read"),
        (["--pushgateway", "ftp://127.0.0.1:9091"], "--pushgateway: give an http:// or https:// URL"),
        (["--pushgateway", "http://127.0.0.1:99999"], "--pushgateway: cannot read"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(capsys, args, fragment):
    try:
        code = main(headless("http://127.0.0.1:9", "--no-save", *args, model="x"))
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, prog",
    [(["run", "--headless", "--bogus"], "llm-loadtest run"), (["history", "extra"], "llm-loadtest history"), (["--bogus"], "llm-loadtest")],
)
def test_a_stray_argument_is_refused_by_the_command_it_was_given_to(capsys, argv, prog):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    stray = argv[-1]
    assert capsys.readouterr().err == f"{prog}: error: unrecognized arguments: {stray} (see {prog} --help)\n"


def test_url_that_is_not_http_is_refused(capsys):
    assert main(headless("ftp://host", "--no-save", model="x")) == 2
    assert "http://" in capsys.readouterr().err
    assert main(headless("http://[::1", "--no-save", model="x")) == 2
    assert capsys.readouterr().err == "llm-loadtest: error: --server: server URL cannot be read: Invalid IPv6 URL (got 'http://[::1')\n"


def test_credentials_in_the_url_are_refused_so_they_are_never_written(capsys):
    assert main(headless("http://alice:pw@127.0.0.1:9", "--no-save", model="x")) == 2
    err = capsys.readouterr().err
    assert "API key on its own" in err and "pw@" not in err


def test_num_prompts_and_duration_exclude_each_other():
    result = run_cli(*headless("http://127.0.0.1:9", "-n", "5", "-d", "3", model="x"))
    assert result.returncode == 2
    assert "not allowed with" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_server_exits_3_without_traceback():
    result = run_cli(*headless("http://127.0.0.1:9", "--no-save", model="x"))
    assert result.returncode == 3
    assert result.stderr.strip() == "llm-loadtest: error: cannot connect to http://127.0.0.1:9: connection refused"
    assert "Traceback" not in result.stderr


def test_unknown_model_exits_2(simulator, capsys):
    sim = simulator()
    assert main(headless(sim.url, "--no-save", "--in-process", model="gpt-nope")) == 2
    err = capsys.readouterr().err
    assert "gpt-nope" in err and "sim-model" in err


def test_preset_with_flags_overriding_and_json_output(simulator, tmp_path, capsys):
    sim = simulator(ttft_ms=5, itl_ms=1, step_us_per_seq=0)
    out = tmp_path / "result.json"
    code = main(
        headless(
            sim.url,
            "--preset",
            "quick",
            "-c",
            "2",
            "-n",
            "6",
            "--output-len",
            "5",
            "--warmup",
            "1",
            "--goodput",
            "ttft:5000",
            "--no-save",
            "--in-process",
            "-o",
            str(out),
        )
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["schema"] == "llm-loadtest/result/v1" and data["status"] == "completed"
    assert data["config"]["preset"] == "quick" and data["config"]["input_len"] == 128  # from the preset
    assert data["config"]["concurrency"] == [2] and data["config"]["output_len"] == 5  # flags win
    assert data["config"]["model"] == "sim-model"
    [level] = data["levels"]
    assert level["requests"] == {"total": 6, "succeeded": 6, "failed": 0, "errors": {}}
    assert level["goodput"]["percent"] == 100.0
    assert data["started_at"].endswith("Z")
    stdout = capsys.readouterr().out
    assert "c=2" in stdout and "6/6" in stdout


def test_every_request_failing_exits_1(simulator, capsys):
    sim = simulator(fail_rate_500=1.0)
    assert main(headless(sim.url, "-c", "1,2", "-n", "3", "--warmup", "0", "--no-save", "--in-process")) == 1
    out, err = capsys.readouterr()
    assert "http_500 3" in out
    # every exit 1 says on stderr which level failed, and how (docs/cli.md)
    reasons = [line for line in err.splitlines() if line.startswith("llm-loadtest: ")]
    assert reasons == [f"llm-loadtest: run failed: level c={c}: every request failed (http_500 3)" for c in (1, 2)]


def test_fail_under_goodput_gate_says_which_level_missed(simulator, capsys):
    sim = simulator(ttft_ms=30, itl_ms=1)
    args = headless(sim.url, "-c", "1,2", "-n", "3", "--warmup", "0", "--no-save", "--in-process")
    assert main([*args, "--goodput", "ttft:1", "--fail-under-goodput", "50"]) == 1
    misses = [line for line in capsys.readouterr().err.splitlines() if "gate missed" in line]
    assert misses == [f"llm-loadtest: goodput gate missed: level c={c}: goodput 0.0 % is under the 50 % floor" for c in (1, 2)]
    assert main([*args, "--goodput", "ttft:5000", "--fail-under-goodput", "50"]) == 0
    assert "gate missed" not in capsys.readouterr().err


def test_api_key_is_sent_but_never_written(simulator, tmp_path):
    secret = "sk-test-0123456789-very-secret"
    sim = simulator(api_key=secret, ttft_ms=5, itl_ms=1, fail_rate_500=0.2, seed=2)
    out, log = tmp_path / "r.json", tmp_path / "log.jsonl"
    extra = '{"user": "bench", "api_key": "EXTRA-SECRET-42"}'  # a key a user put in the body
    args = headless(sim.url, "-n", "10", "-c", "2", "--no-save", "-o", str(out), "--log-file", str(log), "--extra-body", extra)
    refused = run_cli(*args)
    assert refused.returncode == 2 and "API key" in refused.stderr
    result = run_cli(*args, env={"LLM_LOADTEST_API_KEY": secret})
    assert result.returncode == 0, result.stderr
    written = out.read_text() + log.read_text() + result.stdout + result.stderr
    assert secret not in written and "EXTRA-SECRET-42" not in written
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    events = [line["event"] for line in lines if line["run_id"] == lines[-1]["run_id"]]  # the run that ran
    assert events[0] == "run_start" and events[1] == "warmup_start" and events[-1] == "run_end"
    assert "level_start" in events and "level_end" in events and "request_failed" in events
    failed = [json.loads(line) for line in log.read_text().splitlines() if '"request_failed"' in line]
    assert all(f["request_id"] and f["error"] == "http_500" for f in failed)


def served(sim, *request_ids: str, at_least: int = 0) -> list[dict]:
    """The measured requests the simulator answered to the end (not the pre-flight or warm-up),
    once the log holds `request_ids` and `at_least` entries of any kind (see read_chunk_log)."""
    if not sim.chunk_log.exists() and not request_ids and not at_least:
        return []
    entries = sim.read_chunk_log(*request_ids, at_least=at_least).values()
    return [e for e in entries if not e["client_gone"] and parse_request_id(e["request_id"]).kind is RequestKind.MEASURED]


def wait_until(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


@pytest.mark.slow
def test_ctrl_c_exits_130_and_writes_what_finished(simulator, tmp_path):
    sim = simulator(ttft_ms=5, itl_ms=20, step_us_per_seq=0)
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        headless_command(sim.url, "-c", "2,4", "-n", "400", "--output-len", "10", "--warmup", "0", "--no-save", "-o", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: len(served(sim)) >= 4)  # the first level is under way
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    data = json.loads(out.read_text())
    assert data["status"] == "aborted"
    [level] = data["levels"]
    assert 0 < level["requests"]["total"] < 400
    assert level["requests"]["failed"] == 0  # requests cut short by the user are not server failures
    assert level["partial"] is True  # it did not send all it planned
    assert "aborted" in stdout and "c=2 (partial)" in stdout


def test_sigterm_to_the_process_group_keeps_the_run_and_exits_143(simulator, tmp_path):
    """As `timeout`, systemd and Docker stop a job: SIGTERM to every process of the group."""
    sim = simulator(ttft_ms=5, itl_ms=20, step_us_per_seq=0)
    out, log, db = tmp_path / "term.json", tmp_path / "term.jsonl", tmp_path / "runs.db"
    argv = headless(sim.url, "-c", "4,2", "-n", "40", "--output-len", "10", "--warmup", "0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_loadtest", *argv, "--db", str(db), "-o", str(out), "--log-file", str(log), "--no-gpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_until(lambda: len(served(sim)) >= 42)  # the first level (40 requests) is over, the second under way
    os.killpg(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "SIGTERM" in stderr

    data = json.loads(out.read_text())
    assert data["status"] == "aborted"
    first, second = data["levels"]
    assert first["requests"] == {"total": 40, "succeeded": 40, "failed": 0, "errors": {}}
    assert second["requests"]["failed"] == 0 and 0 < second["requests"]["succeeded"] < 40
    assert first["partial"] is False and second["partial"] is True
    from llm_loadtest.storage import Store

    with Store.open(str(db), must_exist=True) as store:
        stored = store.get_result(data["run_id"])
        by_level = store.get_records_by_level(data["run_id"])
    kept_ids = [record.request_id for records in by_level.values() for record in records if record.ok]
    # what was kept is what the server answered, less at most the 2 streams it ended as the client left
    kept = first["requests"]["succeeded"] + second["requests"]["succeeded"]
    assert kept <= len(served(sim, *kept_ids)) <= kept + 2

    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[0]["event"] == "run_start" and events[-1] == {**events[-1], "event": "run_end", "status": "aborted"}
    assert [e["level"] for e in events if e["event"] == "level_end"] == [0, 1]
    assert stored.status == "aborted"
    assert [level.requests.succeeded for level in stored.levels] == [40, second["requests"]["succeeded"]]
    assert [level.partial for level in stored.levels] == [False, True]
    assert "aborted" in stdout and "c=2 (partial)" in stdout and "c=4 (partial)" not in stdout


def test_a_database_that_cannot_be_used_stops_the_run_before_any_traffic(simulator, tmp_path, capsys):
    sim = simulator()
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    for db in (tmp_path / "passwd" / "x.db", tmp_path / "no" / "dir" / "x.db"):
        for mode in (["--headless"], []):  # the app is not opened either
            code = main(["run", *mode, "-s", sim.url, "-m", "auto", "-n", "2", "--warmup", "0", "--in-process", "--db", str(db)])
            err = capsys.readouterr().err
            assert code == 2 and len(err.splitlines()) == 1 and "cannot create database" in err, err
    assert not (tmp_path / "no").exists()
    assert served(sim) == []  # not one request was sent


def most_in_flight(entries) -> int:
    """The most requests the simulator was serving at once, from its own log: from receipt to the
    last content chunk (the client sends its next request only after reading the end)."""
    moments = sorted([(e["t_recv_ns"], 1) for e in entries] + [(e["chunk_send_ns"][-1], -1) for e in entries])
    level = most = 0
    for _, step in moments:
        level += step
        most = max(most, level)
    return most


def test_an_infinite_rate_sends_every_request_at_once_up_to_the_cap(simulator, tmp_path, capsys):
    sim = simulator(ttft_ms=500, itl_ms=1, step_us_per_seq=0)
    out = tmp_path / "inf.json"
    args = headless(sim.url, "--request-rate", "inf", "--output-len", "2", "--warmup", "0")
    assert main([*args, "-n", "12", "--no-save", "--in-process", "-o", str(out)]) == 0
    sent = served(sim, at_least=1 + 12)  # the pre-flight request and the run's
    assert len(sent) == 12 and max(e["t_recv_ns"] for e in sent) < min(e["t_done_ns"] for e in sent)  # all sent at once
    data = json.loads(out.read_text())
    assert data["config"]["request_rate"] == ["inf"] and data["levels"][0]["request_rate"] == "inf"  # JSON has no infinity
    assert data["levels"][0]["requests"]["succeeded"] == 12 and "inf req/s" in capsys.readouterr().out

    first_run = {e["request_id"] for e in sent}
    assert main([*args, "-n", "9", "--max-concurrency", "3", "--no-save", "--in-process"]) == 0
    sent = [e for e in served(sim, at_least=(1 + 12) + (1 + 9)) if e["request_id"] not in first_run]
    assert len(sent) == 9 and most_in_flight(sent) == 3  # due at once, paced by the cap

    code = main([*args, "-d", "5", "--no-save"])
    assert code == 2 and "--request-rate: inf sends a level's requests all at once" in capsys.readouterr().err


def test_a_trace_takes_max_concurrency_as_its_cap_and_output_len_for_entries_that_name_none(simulator, tmp_path):
    sim = simulator(ttft_ms=5, itl_ms=5, step_us_per_seq=0)
    rows = [{"timestamp": 0, "input_length": 20, "output_length": 10}] * 5 + [{"timestamp": 0, "input_length": 20}]
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = headless(sim.url, "--trace", str(trace), "--max-concurrency", "2", "--output-len", "7", "--warmup", "0")
    assert main([*args, "--no-save", "--in-process"]) == 0
    sent = served(sim, at_least=1 + 6)  # the pre-flight request and the trace's
    assert len(sent) == 6 and most_in_flight(sent) == 2  # all due at once, paced by the cap
    assert sorted(e["completion_tokens"] for e in sent) == [7, 10, 10, 10, 10, 10]


def test_the_log_starts_a_run_once_the_server_answered_with_the_model_it_named(simulator, tmp_path):
    log = tmp_path / "run.jsonl"
    args = ["run", "--headless", "-m", "auto", "-n", "2", "--output-len", "2", "--warmup", "0", "--no-save", "--in-process"]
    assert main([*args, "-s", "http://127.0.0.1:9", "--log-file", str(log)]) == 3
    [line] = [json.loads(text) for text in log.read_text().splitlines()]
    assert line["event"] == "run_failed" and line["started"] is False and line["exit_code"] == 3  # no run_start: nothing stored

    log.unlink()
    sim = simulator()
    assert main([*args, "-s", sim.url, "--log-file", str(log)]) == 0
    events = [json.loads(text) for text in log.read_text().splitlines()]
    assert events[0]["event"] == "run_start" and events[0]["config"]["model"] == "sim-model"  # resolved, not "auto"
    assert events[-1]["event"] == "run_end"


def test_the_summary_tables_fit_80_columns_with_each_levels_errors_beside_it(simulator, tmp_path, capsys):
    sim = simulator(fail_rate_500=0.3, fail_rate_429=0.2, seed=1, ttft_ms=5, itl_ms=1)
    out = tmp_path / "r.json"
    args = headless(sim.url, "-c", "1,16", "-n", "30", "--output-len", "4", "--warmup", "0")
    main([*args, "--goodput", "ttft:1000", "--no-save", "--in-process", "-o", str(out)])
    text = capsys.readouterr().out
    tables = [block.splitlines() for block in text.split("\n\n") if block.startswith("level ")]
    assert len(tables) == 2 and all(len(line) <= 80 for table in tables for line in table), text
    levels = json.loads(out.read_text())["levels"]
    for row, level in zip(tables[0][2:], levels, strict=True):
        errors = ", ".join(f"{name} {count}" for name, count in sorted(level["requests"]["errors"].items()))
        assert errors and row.endswith(errors)  # by class, in the level's own row
