"""The regression gate: `run --baseline RUN_ID [--max-regression PCT]` and
`compare A B --max-regression PCT` exit 1 when a figure got worse than allowed (cli.md)."""

from __future__ import annotations

import pytest
from tui_helpers import make_level, make_result

from llm_loadtest.cli import main
from llm_loadtest.report.regression import regression_check
from llm_loadtest.storage.store import Store


def test_each_level_both_runs_have_is_checked_figure_by_figure():
    baseline = make_result(
        "a1a1a1a1-0000-4000-8000-000000000001", levels=[make_level(1, 100.0, 20.0, 10.0), make_level(5, 400.0, 25.0, 12.0)]
    )
    slower = make_result(
        "b2b2b2b2-0000-4000-8000-000000000002", levels=[make_level(5, 380.0, 30.0, 12.0), make_level(10, 700.0, 40.0, 14.0)]
    )
    check = regression_check(baseline, slower, 10)
    assert {c.level for c in check.changes} == {"c=5"} and check.unchecked == ["c=10"]  # c=1 and c=10 are in one run only
    by_figure = {c.figure: c for c in check.changes}
    assert set(by_figure) == {"output_throughput", "ttft_p50", "ttft_p99", "tpot_p50", "e2e_p99"}
    assert by_figure["output_throughput"].worse_pct == pytest.approx(5.0) and not by_figure["output_throughput"].regressed
    assert by_figure["ttft_p50"].worse_pct == pytest.approx(20.0) and by_figure["ttft_p50"].regressed
    assert by_figure["tpot_p50"].worse_pct == pytest.approx(0.0)
    # the other way round everything is better or the same
    assert not regression_check(slower, baseline, 0.001).regressed and check.regressed
    assert regression_check(slower, baseline, 10).changes[0].worse_pct == pytest.approx(-100 * 20 / 380)


def stored_run_ids(db: str) -> list[str]:
    with Store.open(db) as store:
        return [row.run_id for row in store.list_runs()]


def test_a_slower_server_fails_the_gate_and_a_wrong_baseline_costs_no_run(simulator, tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    fast, slow = simulator(ttft_ms=10, itl_ms=2), simulator(ttft_ms=80, itl_ms=2)
    args = ["run", "--headless", "-m", "auto", "-c", "2", "-n", "6", "--output-len", "8", "--warmup", "0", "--db", db, "--in-process"]
    assert main([*args, "-s", fast.url]) == 0
    (baseline,) = stored_run_ids(db)
    capsys.readouterr()

    assert main([*args, "-s", slow.url, "--baseline", baseline[:8]]) == 1
    out, err = capsys.readouterr()
    # the exit 1 says on stderr which level and which figure missed, one line each
    worse = [line.split()[:3] for line in out.splitlines() if line.rstrip().endswith("WORSE")]
    said = [line for line in err.splitlines() if line.startswith("llm-loadtest: regression gate missed: level c=2: ")]
    assert len(said) == len(worse) > 0 and any(" TTFT p50 " in line and f"in run {baseline[:8]}" in line for line in said), err
    assert f"regression check against run {baseline[:8]}" in out and "WORSE" in out
    assert any(line.split()[:3] == ["c=2", "TTFT", "p50"] and line.rstrip().endswith("WORSE") for line in out.splitlines()), out

    assert main([*args, "-s", fast.url, "--baseline", baseline[:8], "--max-regression", "10000"]) == 0
    assert "no regression" in capsys.readouterr().out

    runs = stored_run_ids(db)
    refusals = [
        (["--baseline", "ffffffff"], "no run id starts with"),
        (["-c", "3", "--baseline", baseline[:8]], "no level with this run's load (it ran: c=2)"),
        (["--output-len", "16", "--baseline", baseline[:8]], "a different workload (output_len 8 -> 16)"),
        (["--baseline", ""], "--baseline needs a run id"),
        (["--max-regression", "5"], "--max-regression needs --baseline"),
    ]
    for extra, message in refusals:
        assert main([*args, "-s", fast.url, *extra]) == 2, extra
        assert message in capsys.readouterr().err
    assert stored_run_ids(db) == runs  # refused before running

    slow_run = next(run_id for run_id in runs if run_id != baseline and run_id != runs[0])
    assert main(["compare", baseline[:8], slow_run[:8], "--max-regression", "10", "--db", db]) == 1
    assert "regression gate missed: level c=2: TTFT p50" in capsys.readouterr().err
    assert main(["compare", slow_run[:8], baseline[:8], "--max-regression", "40", "--db", db]) == 0  # all better
    with pytest.raises(SystemExit) as refused:
        main(["compare", baseline[:8], slow_run[:8], "--max-regression", "-3", "--db", db])
    assert refused.value.code == 2


def test_a_failed_baseline_cannot_pass_anything(simulator, tmp_path, capsys):
    db = str(tmp_path / "runs.db")
    broken, good = simulator(fail_rate_500=1.0), simulator(ttft_ms=5, itl_ms=1)
    args = ["run", "--headless", "-m", "auto", "-n", "3", "--output-len", "4", "--warmup", "0", "--db", db, "--in-process"]
    assert main([*args, "-s", broken.url]) == 1
    assert main([*args, "-s", good.url]) == 0
    failed, completed = reversed(stored_run_ids(db))  # newest first
    capsys.readouterr()
    assert main([*args, "-s", good.url, "--baseline", failed[:8]]) == 2
    assert "that run is failed" in capsys.readouterr().err
    assert main(["compare", failed[:8], completed[:8], "--max-regression", "10", "--db", db]) == 2
    captured = capsys.readouterr()
    assert "no figure to compare" in captured.err and captured.out == ""  # refused before printing
