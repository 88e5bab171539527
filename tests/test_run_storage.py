"""Headless runs and the database, end to end: what a run stores, and what a killed one leaves."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest
from cli_helpers import headless, headless_command

from llm_loadtest import metrics
from llm_loadtest.cli import main
from llm_loadtest.storage.store import Store


def test_a_headless_run_is_stored_and_recomputes_to_itself(simulator, tmp_path):
    sim = simulator(ttft_ms=5, itl_ms=1, fail_rate_500=0.1, seed=4)
    db = tmp_path / "runs.db"
    code = main(headless(sim.url, "-c", "1,3", "-n", "12", "--output-len", "8", "--goodput", "ttft:50", "--db", str(db), "--in-process"))
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
def test_sigkill_mid_level_keeps_the_finished_requests_of_the_cut_level_and_reads_aborted(simulator, tmp_path, capsys):
    # level 2 (c=1) takes 16 requests of 20 chunks 20 ms apart: seconds, long enough to kill it
    sim = simulator(ttft_ms=5, itl_ms=20, step_us_per_seq=0)
    db = tmp_path / "runs.db"
    proc = subprocess.Popen(
        headless_command(sim.url, "-c", "4,1", "-n", "16", "--output-len", "20", "--warmup", "0", "--db", str(db)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait until requests of the second level are in the database while that level still runs
    deadline = time.monotonic() + 60
    cut_before_kill: set[str] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        cut_before_kill = _stored_ids(db, level_index=1)
        if len(cut_before_kill) >= 3:
            break
        time.sleep(0.05)
    assert len(cut_before_kill) >= 3, "no request of the level in progress reached the database before the level ended"
    assert not _level_rows(db, level_index=1), "the second level ended before it could be cut"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    assert main(["history", "--db", str(db)]) == 0
    history = capsys.readouterr().out
    assert "aborted" in history and "running" not in history
    with Store.open(str(db)) as store:
        [row] = store.list_runs()
        assert row.status == "aborted" and row.levels == 2
        result = store.get_result(row.run_id)
        records = store.get_records_by_level(row.run_id)
    assert result.status == "aborted" and result.token_source.output == "server"  # the simulator's usage
    first, cut = result.levels
    assert not first.partial and first.requests.total == 16 and len(records[0]) == 16
    # every request stored while the level ran is kept, and the level is summarised from them
    kept = {r.request_id for r in records[1]}
    assert cut_before_kill <= kept
    assert cut.partial and cut.concurrency == 1 and cut.requests.total == len(kept) < 16
    assert cut == metrics.summarize_level(
        records[1], result.config.levels()[1], result.config.goodput, input_len_requested=result.config.input_len
    ).model_copy(update={"partial": True})
    assert any("level 2 (c=1) cut" in warning for warning in result.warnings)
    assert main(["show", "--db", str(db), row.run_id[:8]]) == 0
    shown = capsys.readouterr().out
    assert "c=1 (partial)" in shown and "c=4 (partial)" not in shown
    # what was kept is what the simulator says it served: whole streams of 20 tokens
    served = sim.read_chunk_log(*(r.request_id for r in records[1]))
    for record in records[1]:
        assert record.ok and record.output_tokens == served[record.request_id]["completion_tokens"] == 20


def _stored_ids(db, level_index: int) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        try:
            rows = raw.execute("SELECT request_id FROM request WHERE level_index = ?", (level_index,)).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return set()
    return {row[0] for row in rows}


def _level_rows(db, level_index: int) -> list:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as raw:
        return raw.execute("SELECT level_index FROM level WHERE level_index = ?", (level_index,)).fetchall()


async def test_finished_requests_reach_the_store_in_small_batches_before_their_level_ends(simulator):
    """The engine hands them over at least every second, in events small enough that pickling
    one never holds its loop long; the level's end then carries them all again."""
    import uuid

    from llm_loadtest.engine.benchmark import REQUESTS_PER_EVENT, Benchmark
    from llm_loadtest.engine.events import LevelFinished, RequestsFinished
    from llm_loadtest.model.config import RunConfig

    sim = simulator(ttft_ms=20, itl_ms=20, step_us_per_seq=0)
    # 32 at once, each at least 100 ms by the simulator's model: at least 4.7 s of requests,
    # some 300 finishing in each second, however fast the machine
    config = RunConfig(server=sim.url, model="auto", concurrency=[32], num_prompts=1500, input_len=16, output_len=4, warmup=0)
    events: list = []
    await Benchmark(config, api_key=None, run_id=str(uuid.uuid4()), emit=events.append).run()
    [end] = [i for i, e in enumerate(events) if isinstance(e, LevelFinished)]
    batches = [e for e in events if isinstance(e, RequestsFinished)]
    assert batches and all(events.index(b) < end for b in batches)
    assert all(b.level_index == 0 and 0 < len(b.records) <= REQUESTS_PER_EVENT for b in batches)
    handed = [r.request_id for b in batches for r in b.records]
    assert len(handed) == len(set(handed))  # each once
    assert set(handed) < {r.request_id for r in events[end].records}  # all but the last second's
    assert len(batches) > 1500 / REQUESTS_PER_EVENT / 2  # sliced, not one event a second
