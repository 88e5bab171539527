"""The store's portable cases against another SQLAlchemy database, e.g. PostgreSQL:

    LLM_LOADTEST_TEST_DATABASE_URL=postgresql+psycopg://user@127.0.0.1:5432/postgres pytest tests/test_storage_other_databases.py

Each case gets a database of its own, created and dropped through that URL's server (the
URL's database is only used to connect). Skipped when the variable is not set: CI has no
database server; SQLite runs every case in test_storage.py.
"""

from __future__ import annotations

import os
import uuid

import pytest
import test_storage as cases

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
