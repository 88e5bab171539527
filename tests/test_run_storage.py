"""Headless runs and the database, end to end: what a run stores, and what a killed one leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from llm_loadtest.cli import main
from llm_loadtest.storage.store import Store


def test_a_headless_run_is_stored_and_recomputes_to_itself(simulator, tmp_path):
    from llm_loadtest import metrics

    sim = simulator(ttft_ms=5, itl_ms=1, fail_rate_500=0.1, seed=4)
    db = tmp_path / "runs.db"
    code = main(
        [
            "run",
            "--headless",
            "-s",
            sim.url,
            "-m",
            "auto",
            "-c",
            "1,3",
            "-n",
            "12",
            "--output-len",
            "8",
            "--goodput",
            "ttft:50",
            "--db",
            str(db),
            "--in-process",
        ]
    )
    assert code == 0
    with Store.open(str(db)) as store:
        [row] = store.list_runs()
        result = store.get_result(row.run_id)
        assert result.status == "completed" and len(result.levels) == 2
        for index, level in enumerate(result.levels):
            records = store.get_records(row.run_id, index)
            assert len(records) == 12
            again = metrics.summarize_level(
                records,
                result.config.levels()[index],
                result.config.goodput,
                input_len_requested=result.config.input_len,
                client=level.client,
            )
            assert again == level


@pytest.mark.slow
def test_sigkill_mid_level_leaves_an_aborted_run_with_every_finished_level(simulator, tmp_path):
    sim = simulator(ttft_ms=5, itl_ms=10, step_us_per_seq=0)
    db = tmp_path / "runs.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llm_loadtest",
            "run",
            "--headless",
            "-s",
            sim.url,
            "-m",
            "auto",
            "-c",
            "4,1",
            "-n",
            "16",
            "--output-len",
            "5",
            "--warmup",
            "0",
            "--db",
            str(db),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait for the first level to land, then kill the run in the middle of the second
    deadline = time.monotonic() + 30
    run_id = None
    while time.monotonic() < deadline:
        if db.exists():
            with Store.open(str(db)) as store:
                runs = store.list_runs()
                if runs and runs[0].levels >= 1:
                    run_id = runs[0].run_id
                    break
        time.sleep(0.05)
    assert run_id, "the first level never reached the database"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with Store.open(str(db)) as store:
        result = store.get_result(run_id)
        assert result.status == "aborted"
        assert len(result.levels) >= 1
        assert len(store.get_records(run_id, 0)) == 16
