"""history, show (and re-analysis), delete, export, compare through `llm_loadtest.cli.main`."""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from storage_samples import make_run

from llm_loadtest.cli import main
from llm_loadtest.storage import Store

REPO = Path(__file__).resolve().parents[1]
BASE = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
IDS = ("c0ffee11-1111-4111-8111-111111111111", "c0ffee22-2222-4222-8222-222222222222", "deadbeef-3333-4333-8333-333333333333")


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    for name in ("LLM_LOADTEST_DB", "DATABASE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    path = str(tmp_path / "bench.db")
    with Store.open(path) as store:
        for i, run_id in enumerate(IDS):
            result, records = make_run(
                run_id=run_id,
                n=30,
                started_at=BASE + timedelta(minutes=i),
                status="failed" if i == 1 else "completed",
                concurrency=(1, 4) if i == 2 else (1, 4, 16),
            )
            store.save(result, records)
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_history_lists_newest_first_with_counts(db, capsys):
    code, out, _ = run_cli(capsys, "history", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["run", "id", "started"]
    assert [line.split()[0] for line in lines[2:5]] == ["deadbeef", "c0ffee22", "c0ffee11"]
    assert "3 of 3 runs shown (2 completed, 1 failed)" in out
    assert "sim-model" in out and "quick" in out

    code, out, _ = run_cli(capsys, "history", "--db", db, "--status", "failed")
    assert code == 0 and "c0ffee22" in out and "deadbeef" not in out
    code, out, _ = run_cli(capsys, "history", "--db", db, "--limit", "1")
    assert "1 of 3 runs shown" in out


def test_history_and_compare_as_json_carry_what_show_json_does(db, capsys):
    code, out, _ = run_cli(capsys, "history", "--db", db, "--json")
    listed = json.loads(out)
    assert code == 0 and [run["run_id"] for run in listed] == [IDS[2], IDS[1], IDS[0]]  # newest first, as the table
    for run in listed:
        _, shown, _ = run_cli(capsys, "show", run["run_id"], "--json", "--db", db)
        full = json.loads(shown)
        assert full["gpu_samples"] and run == {k: v for k, v in full.items() if k not in ("gpu_samples", "server_samples")}
    code, out, _ = run_cli(capsys, "history", "--db", db, "--json", "--status", "failed")
    assert [run["run_id"] for run in json.loads(out)] == [IDS[1]]

    code, out, err = run_cli(capsys, "compare", "c0ffee11", "deadbeef", "--db", db, "--json", "--max-regression", "1000")
    compared = json.loads(out)
    assert code == 0 and [run["run_id"] for run in compared["runs"]] == [IDS[0], IDS[2]] and err == ""
    [check] = compared["regression"]
    assert check["run_id"] == IDS[2] and check["baseline"] == IDS[0] and check["regressed"] is False
    assert {change["level"] for change in check["changes"]} == {"c=1", "c=4"} and check["unchecked"] == []


def test_history_of_an_empty_database_via_the_environment(tmp_path, monkeypatch, capsys):
    Store.open(str(tmp_path / "x.db")).close()
    monkeypatch.setenv("LLM_LOADTEST_DB", str(tmp_path / "x.db"))
    code, out, _ = run_cli(capsys, "history")
    assert code == 0 and "no runs stored yet" in out


@pytest.mark.parametrize(
    "command",
    [["history"], ["show", "c0ffee"], ["export", "c0ffee", "-o", "-", "-f", "json"], ["compare", "a", "b"], ["delete", "c0ffee", "--yes"]],
)
def test_readers_never_create_a_database(tmp_path, monkeypatch, capsys, command):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for db in (["--db", str(tmp_path / "new.db")], ["--db", str(tmp_path / "no" / "such" / "x.db")], []):
        code, out, err = run_cli(capsys, *command, *db)
        assert code == 2 and out == "" and len(err.splitlines()) == 1, err
        assert "no database at" in err or "does not exist" in err
    assert list(tmp_path.rglob("*")) == []


def test_show_by_prefix_as_table_and_json(db, capsys):
    code, out, _ = run_cli(capsys, "show", "dead", "--db", db)
    assert code == 0
    assert IDS[2] in out and "c=4" in out and "TTFT p50" in out

    code, out, _ = run_cli(capsys, "show", "deadbeef", "--json", "--db", db)
    assert code == 0
    with Store.open(db) as store:
        assert json.loads(out) == store.get_result(IDS[2]).to_json_dict()


@pytest.mark.parametrize("prefix,needle", [("c0ffee", "ambiguous"), ("0000", "no run id starts with")])
def test_unknown_or_ambiguous_ids_exit_2_with_one_line(db, capsys, prefix, needle):
    for argv in (["show", prefix], ["delete", prefix, "--yes"], ["export", prefix, "-o", "x.json"], ["compare", prefix, IDS[2]]):
        code, out, err = run_cli(capsys, *argv, "--db", db)
        assert code == 2, argv
        assert needle in err and len(err.strip().splitlines()) == 1 and out == ""


def test_show_recomputes_goodput_with_new_thresholds(db, capsys):
    code, out, _ = run_cli(capsys, "show", "dead", "--json", "--goodput", "ttft:250,e2e:900", "--db", db)
    assert code == 0
    data = json.loads(out)
    assert data["config"]["goodput"] == {"ttft_ms": 250.0, "tpot_ms": None, "e2e_ms": 900.0}
    # the same requests the fixture stored, judged here by metrics.md's rule (succeeded, and
    # strictly under every threshold) straight from their timestamps
    _, records = make_run(run_id=IDS[2], n=30, concurrency=(1, 4))
    with Store.open(db) as store:
        stored = store.get_result(IDS[2])
        for index, level in enumerate(data["levels"]):
            recs = records[index]
            ttft_ok = [r.ok and (int(r.chunk_times_ns[0]) - r.t_start_ns) / 1e6 < 250 for r in recs]
            e2e_ok = [r.ok and (r.t_end_ns - r.t_start_ns) / 1e6 < 900 for r in recs]
            good = sum(a and b for a, b in zip(ttft_ok, e2e_ok, strict=True))
            duration_s = (max(r.t_end_ns for r in recs) - min(r.t_start_ns for r in recs)) / 1e9
            assert level["goodput"] == {
                "percent": pytest.approx(100 * good / 30, rel=1e-12),
                "good": good,
                "total": 30,
                "rate": pytest.approx(good / duration_s, rel=1e-12),
                "by_slo": {"ttft": {"met": sum(ttft_ok), "total": 30}, "e2e": {"met": sum(e2e_ok), "total": 30}},
            }
            # the new thresholds change the answer, or this would prove nothing
            assert 0 < good < 30 and level["goodput"]["good"] != stored.levels[index].goodput.good
            # everything else is the stored figure, untouched
            assert {k: v for k, v in level.items() if k != "goodput"} == {
                k: v for k, v in stored.levels[index].model_dump(mode="json").items() if k != "goodput"
            }
        # nothing re-run, nothing rewritten
        assert store.get_result(IDS[2]) == stored

    code, out, _ = run_cli(capsys, "show", "dead", "--goodput", "ttft:250", "--db", db)
    assert code == 0 and out.startswith("goodput recomputed from the stored requests with ttft<250ms")


def test_show_rejects_a_bad_goodput(db, capsys):
    code, _, err = run_cli(capsys, "show", "dead", "--goodput", "ttft:fast", "--db", db)
    assert code == 2 and "--goodput" in err


def test_delete_needs_yes_without_a_terminal(db, capsys):
    code, out, err = run_cli(capsys, "delete", "c0ffee11", "--db", db)
    assert code == 2 and out == ""
    assert err.splitlines() == [f"llm-loadtest: error: delete run {IDS[0]}: add --yes to delete without a terminal to confirm on"]
    with Store.open(db) as store:
        assert len(store.list_runs()) == 3  # nothing deleted
    code, out, _ = run_cli(capsys, "delete", "c0ffee11", "--yes", "--db", db)
    assert code == 0 and IDS[0] in out
    with Store.open(db) as store:
        assert [r.run_id for r in store.list_runs()] == [IDS[2], IDS[1]]


def _delete_on_a_terminal(db: str, prefix: str, keys: bytes) -> tuple[int, str, str]:
    """`llm-loadtest delete PREFIX` as typed at a terminal (stdin a real pty), answered with `keys`."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "llm_loadtest", "delete", prefix, "--db", db],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        os.write(master, keys)
        out, err = process.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("keys", "deleted"), [(b"y\n", True), (b"n\n", False), (b"\n", False), (b"\x04", False)])
def test_delete_asks_on_a_terminal(db, keys, deleted):
    code, out, err = _delete_on_a_terminal(db, "c0ffee11", keys)
    assert "Traceback" not in err
    assert f"delete run {IDS[0]} (completed, sim-model on http://127.0.0.1:8000, 3 levels)? [y/N]" in out
    with Store.open(db) as store:
        left = {row.run_id for row in store.list_runs()}
    if deleted:
        assert code == 0 and f"deleted run {IDS[0]}" in out and left == {IDS[1], IDS[2]}
    else:
        assert code == 1 and err.strip() == "nothing deleted" and left == set(IDS)


def test_export_each_format(db, capsys, tmp_path):
    code, _, _ = run_cli(capsys, "export", "dead", "--format", "json", "-o", str(tmp_path / "r.json"), "--db", db)
    assert code == 0
    with Store.open(db) as store:
        result = store.get_result(IDS[2])
        n_requests = len(store.get_records(IDS[2]))
    assert json.loads((tmp_path / "r.json").read_text()) == result.to_json_dict()

    assert run_cli(capsys, "export", "dead", "-o", str(tmp_path / "levels.csv"), "--db", db)[0] == 0
    with open(tmp_path / "levels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["output_throughput"]) for r in rows] == [lv.output_throughput for lv in result.levels]

    assert run_cli(capsys, "export", "dead", "-f", "csv", "--requests", "-o", str(tmp_path / "req.csv"), "--db", db)[0] == 0
    with open(tmp_path / "req.csv", newline="") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == n_requests

    assert run_cli(capsys, "export", "dead", "-o", str(tmp_path / "run.xlsx"), "--db", db)[0] == 0
    book = openpyxl.load_workbook(tmp_path / "run.xlsx")
    assert book.sheetnames == ["Summary", "Requests", "GPU", "Server"]
    assert book["Requests"].max_row == 1 + n_requests

    code, out, _ = run_cli(capsys, "export", "dead", "-f", "json", "-o", "-", "--db", db)
    assert code == 0 and json.loads(out)["run_id"] == IDS[2]


def test_export_samples_as_csv(db, capsys, tmp_path):
    with Store.open(db) as store:
        result = store.get_result(IDS[2])
    for kind, samples in (("gpu", result.gpu_samples), ("server", result.server_samples)):
        path = tmp_path / f"{kind}.csv"
        code, out, err = run_cli(capsys, "export", "dead", "--format", "csv", "--samples", kind, "-o", str(path), "--db", db)
        assert code == 0 and out == "" and f"wrote {kind} samples of run {IDS[2]}" in err
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(samples) > 0
        for row, sample in zip(rows, samples, strict=True):
            assert float(row["t"]) == sample.t
            assert {k: (float(v) if v else None) for k, v in row.items()} == sample.model_dump()
    # to stdout as well
    code, out, _ = run_cli(capsys, "export", "dead", "-f", "csv", "--samples", "server", "-o", "-", "--db", db)
    assert code == 0 and out.splitlines()[0] == "t,running,waiting,kv_cache_usage,prefix_cache_hit_rate"
    assert len(out.splitlines()) == 1 + len(result.server_samples)


def test_export_samples_of_a_run_without_samples_says_so(tmp_path, capsys):
    result, records = make_run(run_id="5a5a5a5a-0000-4000-8000-000000000000", samples=False, n=5)
    db = str(tmp_path / "none.db")
    with Store.open(db) as store:
        store.save(result, records)
    code, _, err = run_cli(capsys, "export", "5a5a", "--samples", "gpu", "-o", str(tmp_path / "g.csv"), "--db", db)
    assert code == 0 and "no gpu samples" in err
    assert len((tmp_path / "g.csv").read_text().splitlines()) == 1


def test_export_xlsx_of_errors_with_control_characters(tmp_path, capsys):
    result, records = make_run(run_id="e5c0e5c0-0000-4000-8000-000000000000", concurrency=(1,), n=20)
    records[0][5].error = "proxy: \x1b[1;31mupstream reset\x1b[0m\x00"
    db = str(tmp_path / "esc.db")
    with Store.open(db) as store:
        store.save(result, records)
    code, _, err = run_cli(capsys, "export", "e5c0", "-o", str(tmp_path / "esc.xlsx"), "--db", db)
    assert code == 0, err
    rows = list(openpyxl.load_workbook(tmp_path / "esc.xlsx")["Requests"].iter_rows(values_only=True))
    error = rows[0].index("error")
    assert rows[6][error] == "proxy: [1;31mupstream reset[0m"


@pytest.mark.parametrize("fmt,extra", [("csv", []), ("csv", ["--requests"]), ("json", []), ("xlsx", [])])
def test_an_export_that_fails_to_write_is_one_line_and_exit_2(db, capsys, fmt, extra):
    # /dev/full takes the open but fails every write with ENOSPC, as a full disk does
    code, out, err = run_cli(capsys, "export", "dead", "-f", fmt, *extra, "-o", "/dev/full", "--db", db)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["llm-loadtest: error: cannot write /dev/full: No space left on device"]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["-o", "run.txt"], "cannot tell the format"),
        (["-f", "xlsx", "-o", "-"], "stdout"),
        (["-f", "json", "--requests", "-o", "r.json"], "--requests is for csv"),
        (["-o", "/no/such/folder/r.json"], "not a file in an existing folder"),
        (["--samples", "gpu", "-o", "s.json"], "--samples is for csv"),
        (["--samples", "server", "-o", "s.xlsx"], "--samples is for csv"),
    ],
)
def test_export_argument_errors_exit_2(db, capsys, argv, needle):
    code, _, err = run_cli(capsys, "export", "dead", *argv, "--db", db)
    assert code == 2 and needle in err


def test_export_requests_and_samples_together_is_a_usage_error(db, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["export", "dead", "--requests", "--samples", "gpu", "-o", str(tmp_path / "x.csv"), "--db", db])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_compare_side_by_side(db, capsys):
    code, out, _ = run_cli(capsys, "compare", "c0ffee11", "c0ffee22", "dead", "--db", db)
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["c0ffee11", "c0ffee22", "deadbeef"]
    assert "[c=16]" in out and "out tok/s" in out and "goodput %" in out
    # the third run has no c=16 level: a dash, not a zero
    c16 = out.split("[c=16]")[1].splitlines()[1]
    assert c16.split()[-1] == "-"
    assert "%)" in out  # deltas against the first run


def test_show_and_compare_write_a_figure_alike(db, capsys):
    """One figure list and one formatter: the same ITL p50 reads the same in `show` and `compare`."""
    from llm_loadtest.report.presentation import FIGURES

    with Store.open(db) as store:
        level = store.get_result(IDS[0]).levels[0]
    itl = FIGURES["itl_p50"].of(level)
    assert itl != "-" and len(itl.split(".")[1]) == FIGURES["itl_p50"].digits
    _, shown, _ = run_cli(capsys, "show", IDS[0], "--db", db)
    _, compared, _ = run_cli(capsys, "compare", IDS[0], IDS[1], "--db", db)
    outcome, latency = [line for line in shown.splitlines() if line.strip().startswith("c=1 ")]  # the two level tables
    assert itl in latency.split()
    row = next(line for line in compared.split("[c=1]")[1].splitlines() if line.strip().startswith("ITL p50"))
    assert row.split()[:3] == ["ITL", "p50", itl]


def test_one_level_label_everywhere():
    from llm_loadtest.model.config import LevelSpec
    from llm_loadtest.model.levels import level_label

    assert level_label(10, None) == "c=10"
    assert level_label(None, 2.5) == "2.5 req/s"
    assert level_label(8, 5.0) == "5 req/s (max 8)"
    assert LevelSpec(concurrency=8, request_rate=5.0).label == level_label(8, 5.0)


@pytest.mark.parametrize("count", [1, 6])
def test_compare_takes_2_to_5_runs(db, capsys, count):
    code, _, err = run_cli(capsys, "compare", *([IDS[0]] * count), "--db", db)
    assert code == 2 and "2 to 5" in err


def test_a_database_folder_that_cannot_be_made_is_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "passwd"
    blocker.write_text("root:x:0:0\n")
    db = str(blocker / "x.db")
    for argv in (
        ["history"],
        ["show", "abc"],
        ["export", "abc", "-o", str(tmp_path / "r.json")],
        ["delete", "abc", "--yes"],
        ["compare", "abc", "def"],
    ):
        code, out, err = run_cli(capsys, *argv, "--db", db)
        assert code == 2, argv
        assert out == "" and len(err.strip().splitlines()) == 1, (argv, err)
        assert f"{blocker} is a file, not a folder" in err and "Traceback" not in err


def test_a_corrupt_database_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    code, out, err = run_cli(capsys, "history", "--db", str(bad))
    assert code == 2 and "corrupt" in err and len(err.strip().splitlines()) == 1
