"""The store's portable cases against another SQLAlchemy database, e.g. PostgreSQL:

    LLM_LOADTEST_TEST_DATABASE_URL=postgresql+psycopg://user@127.0.0.1:5432/postgres pytest tests/test_storage_other_databases.py

Each case gets a database of its own, created and dropped through that URL's server (the
URL's database is only used to connect). Skipped when the variable is not set; `.ci/run`
starts a throwaway PostgreSQL and sets it, so CI runs them every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import test_storage as cases
from cli_helpers import headless, headless_command

from llm_loadtest import metrics
from llm_loadtest.cli import main
from llm_loadtest.storage import Store, StoreError

REPO = Path(__file__).resolve().parents[1]

URL = os.environ.get("LLM_LOADTEST_TEST_DATABASE_URL")

PORTABLE = [
    cases.test_result_and_records_round_trip_exactly,
    cases.test_recomputing_every_summary_from_stored_requests_gives_it_back,
    cases.test_open_loop_records_keep_their_schedule,
    cases.test_live_run_rows_appear_level_by_level,
    cases.test_finish_keeps_levels_that_were_never_stored,
    cases.test_samples_drained_as_the_run_goes_are_stored_once,
    cases.test_the_same_run_cannot_begin_twice,
    cases.test_a_killed_writer_leaves_an_aborted_run_with_its_finished_levels,
    cases.test_a_running_run_of_a_live_process_is_left_alone,
    cases.test_requests_of_a_level_in_progress_are_kept_and_replaced_when_it_ends,
    cases.test_a_reader_opened_before_its_writer_died_reads_the_run_aborted,
    cases.test_a_run_of_another_machine_reads_aborted_once_its_writer_has_long_been_silent,
    cases.test_two_threads_writing_at_once_both_land,
    cases.test_prefixes_resolve_to_one_run,
    cases.test_list_runs_newest_first_with_filters,
    cases.test_goodput_none_and_empty_levels_round_trip,
]

pytestmark = pytest.mark.skipif(not URL, reason="set LLM_LOADTEST_TEST_DATABASE_URL to a database server's URL")


@pytest.fixture
def fresh_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"llm_loadtest_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("case", PORTABLE, ids=[case.__name__.removeprefix("test_") for case in PORTABLE])
def test_on_another_database(case, fresh_database):
    case(fresh_database)


# -- the team's store, end to end: headless runs of the command line writing into it --------


def _run_command(url: str, db: str, *flags: str) -> list[str]:
    return headless_command(url, "--input-len", "16", "--output-len", "8", "--warmup", "0", "--db", db, *flags)


def _status(db: str) -> dict[str, str]:
    with Store.open(db) as store:
        return {row.run_id: row.status for row in store.list_runs()}


@pytest.mark.slow
def test_a_headless_run_is_stored_in_it_and_reads_back_as_measured(simulator, fresh_database, capsys):
    sim = simulator(ttft_ms=5, itl_ms=2, fail_rate_500=0.1, seed=5)
    code = main(headless(sim.url, "-c", "1,3", "-n", "12", "--output-len", "8", "--db", fresh_database))
    assert code == 0
    with Store.open(fresh_database) as store:
        [row] = store.list_runs()
        result = store.get_result(row.run_id)
        by_level = store.get_records_by_level(row.run_id)
    served = sim.read_chunk_log(*(record.request_id for records in by_level.values() for record in records))
    assert result.status == "completed" and [level.concurrency for level in result.levels] == [1, 3]
    for index, level in enumerate(result.levels):
        records = by_level[index]
        assert len(records) == 12 and not level.partial
        assert level == metrics.summarize_level(
            records, result.config.levels()[index], result.config.goodput, input_len_requested=result.config.input_len, client=level.client
        )
        for record in records:  # what the server says it did for each stored request
            entry = served[record.request_id]
            assert record.ok == (entry["fault"] is None)
            if record.ok:
                assert record.output_tokens == entry["completion_tokens"] and len(record.chunk_times_ns) == len(entry["chunk_send_ns"])
    capsys.readouterr()
    assert main(["history", "--db", fresh_database]) == 0
    assert row.run_id[:8] in capsys.readouterr().out


@pytest.mark.slow
def test_two_clients_write_runs_at_once_and_history_shows_both(simulator, fresh_database, capsys):
    """A team shares one store: a long run is still being written when a second client's run
    is written beside it, start to end."""
    sim = simulator(ttft_ms=5, itl_ms=5)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    long_run = subprocess.Popen(
        _run_command(sim.url, fresh_database, "-c", "2", "--duration", "600"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        first = _wait_for(lambda: _running_with_requests(fresh_database), "the first client's run to store requests")
        short_run = subprocess.run(
            _run_command(sim.url, fresh_database, "-c", "2", "-n", "8"), env=env, capture_output=True, text=True, timeout=240
        )
        assert short_run.returncode == 0, short_run.stderr
        statuses = _status(fresh_database)
        # the first run was written all through the second one
        assert statuses.pop(first) == "running" and list(statuses.values()) == ["completed"]
        [second] = statuses
    finally:
        long_run.send_signal(signal.SIGINT)  # what it measured is kept, the run reads aborted
        long_run.wait(timeout=60)
    assert long_run.returncode == 130, long_run.stderr.read()
    with Store.open(fresh_database) as store:
        assert store.get_result(second).levels[0].requests.total == 8
        kept = store.get_result(first)
        assert kept.status == "aborted" and kept.levels[0].requests.total > 0
    capsys.readouterr()
    assert main(["history", "--db", fresh_database]) == 0
    history = capsys.readouterr().out
    assert first[:8] in history and second[:8] in history
    assert "1 completed" in history and "1 aborted" in history


def _running_with_requests(db: str) -> str | None:
    """The id of a run still being written that has requests stored already."""
    with Store.open(db) as store:
        for row in store.list_runs(status="running"):
            if store.get_records(row.run_id):
                return row.run_id
    return None


def _wait_for(probe, what: str, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = probe()
        except StoreError:  # the schema is being created by the run
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
