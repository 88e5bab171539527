"""The store on a real SQLite file: exact round trips, live writes, crashes, concurrency, errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from storage_samples import FAKE_KEY, make_records, make_run, warmup_records

from llm_loadtest.metrics import summarize_level
from llm_loadtest.model.config import GoodputSLO
from llm_loadtest.model.records import ClockSource, RequestRecord
from llm_loadtest.storage import AmbiguousRunError, Store, StoreError, UnknownRunError, migrations, resolve_database_url
from llm_loadtest.storage.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    for name in ("LLM_LOADTEST_DB", "DATABASE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def db(tmp_path) -> str:
    (tmp_path / "results").mkdir()
    return str(tmp_path / "results" / "benchmarks.db")


def assert_same_records(got: list[RequestRecord], expected: list[RequestRecord]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        for name in RequestRecord.__slots__:
            x, y = getattr(a, name), getattr(b, name)
            if isinstance(y, np.ndarray):
                assert x.dtype == y.dtype and np.array_equal(x, y), (b.request_id, name)
            else:
                assert x == y, (b.request_id, name, x, y)


# -- round trips ---------------------------------------------------------------------------


def test_result_and_records_round_trip_exactly(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, [warmup_records() + records[0], *records[1:]])
    with Store.open(db) as store:
        back = store.get_result(result.run_id)
        assert back.to_json_dict() == result.to_json_dict()
        assert back == result
        for index, expected in enumerate(records):
            assert_same_records(store.get_records(result.run_id, index), expected)
        # warm-up requests are never stored
        assert_same_records(store.get_records(result.run_id), [r for level in records for r in level])
        assert sorted(store.get_records_by_level(result.run_id)) == [0, 1, 2]


def test_recomputing_every_summary_from_stored_requests_gives_it_back(db):
    for stream in (True, False):
        result, records = make_run(run_id=f"run-stream-{stream}", stream=stream)
        with Store.open(db) as store:
            store.save(result, records)
            stored = store.get_result(result.run_id)
            for index, spec in enumerate(stored.config.levels()):
                again = summarize_level(
                    store.get_records(result.run_id, index),
                    spec,
                    stored.config.goodput,
                    input_len_requested=stored.config.input_len,
                    client=stored.levels[index].client,
                )
                assert again == stored.levels[index]


def test_open_loop_records_keep_their_schedule(db):
    records = make_records(40, 0, rate=True)
    result, _ = make_run(concurrency=(1,))
    result.levels[0] = summarize_level(records, result.config.levels()[0], None)
    with Store.open(db) as store:
        store.save(result, [records])
        assert_same_records(store.get_records(result.run_id), records)


def test_in_memory_url_works_through_the_same_code():
    result, records = make_run()
    with Store.open("sqlite://") as store:
        store.save(result, records)
        assert store.get_result(result.run_id) == result


# -- a run written as it happens -----------------------------------------------------------


def test_live_run_rows_appear_level_by_level(db):
    result, records = make_run()
    begin = result.model_copy(update={"levels": [], "gpu_samples": [], "server_samples": [], "status": "running", "finished_at": None})
    with Store.open(db) as store:
        store.begin_run(begin)
        live = store.get_result(result.run_id)
        assert live.status == "running" and live.levels == [] and live.finished_at is None
        assert store.list_runs()[0].status == "running"

        store.add_level(result.run_id, 0, result.levels[0], records[0])
        store.add_samples(result.run_id, gpu=result.gpu_samples[:4])
        assert store.get_result(result.run_id).levels == result.levels[:1]

        # storing a level again replaces it rather than doubling its requests
        store.add_level(result.run_id, 0, result.levels[0], records[0])
        assert len(store.get_records(result.run_id, 0)) == len(records[0])

        for index in (1, 2):
            store.add_level(result.run_id, index, result.levels[index], records[index])
        store.add_samples(result.run_id, gpu=result.gpu_samples[4:], server=result.server_samples)
        store.finish_run(result)
        assert store.get_result(result.run_id) == result


def test_finish_keeps_levels_that_were_never_stored(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.begin_run(result)
        store.add_level(result.run_id, 0, result.levels[0], records[0])
        store.finish_run(result)
        back = store.get_result(result.run_id)
        assert back.levels == result.levels
        assert back.gpu_samples == result.gpu_samples
        assert store.get_records_by_level(result.run_id).keys() == {0}


def test_samples_drained_as_the_run_goes_are_stored_once(db):
    """The sampler's drain() at each level's end goes to add_samples; finish_run adds the rest."""
    from fake_nvml import FakeGpu, FakeNvml

    from llm_loadtest.telemetry.nvml import GpuReader
    from llm_loadtest.telemetry.sampler import TelemetrySampler

    nvml = FakeNvml([FakeGpu(), FakeGpu(name="second")])
    result, records = make_run(samples=False)
    running = result.model_copy(update={"levels": [], "status": "running", "finished_at": None})
    sampler = TelemetrySampler(0.02, gpu_reader=GpuReader(nvml))
    everything = []
    with Store.open(db) as store:
        store.begin_run(running)
        sampler.start()
        for index, summary in enumerate(result.levels):
            deadline = time.monotonic() + 10
            while nvml.calls.get("nvmlDeviceGetName", 0) < 6 * (index + 1) and time.monotonic() < deadline:
                time.sleep(0.01)
            store.add_level(result.run_id, index, summary, records[index])
            gpu, server = sampler.drain()
            assert gpu and server == []
            store.add_samples(result.run_id, gpu=gpu, server=server)
            everything += gpu
        time.sleep(0.1)
        rest, _ = sampler.stop()
        everything += rest
        assert rest  # the tail after the last drain
        # the result carries every sample of the run, as the controller assembles it
        store.finish_run(result.model_copy(update={"gpu_samples": everything}))
        back = store.get_result(result.run_id)
    assert back.gpu_samples == everything
    assert len(everything) == nvml.calls["nvmlDeviceGetName"]  # one per reading, none twice


def test_the_same_run_cannot_begin_twice(db):
    result, _ = make_run()
    with Store.open(db) as store:
        store.begin_run(result)
        with pytest.raises(StoreError, match="already stored"):
            store.begin_run(result)


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from storage_samples import make_run
    from llm_loadtest.storage import Store
    result, records = make_run(run_id=sys.argv[2])
    store = Store.open(sys.argv[1])
    store.begin_run(result.model_copy(update={"levels": [], "status": "running"}))
    store.add_level(result.run_id, 0, result.levels[0], records[0])
    store.add_level(result.run_id, 1, result.levels[1], records[1])
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _python(code: str, *args: str, wait: bool = True):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    process = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True)
    if wait:
        process.wait(timeout=120)
    return process


def test_a_killed_writer_leaves_an_aborted_run_with_its_finished_levels(db):
    run_id = "dead0000-0000-4000-8000-000000000000"
    killed = _python(KILLED_WRITER, db, run_id)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.read()
    result, records = make_run(run_id=run_id)
    with Store.open(db) as store:
        back = store.get_result(run_id)
        assert back.status == "aborted"
        assert back.levels == result.levels[:2]
        assert any("ended before the run did" in w for w in back.warnings)
        assert_same_records(store.get_records(run_id), records[0] + records[1])


MID_LEVEL_WRITER = textwrap.dedent(
    """
    import os, signal, sys, time
    from storage_samples import make_run
    from llm_loadtest.model.results import TokenSourceInfo
    from llm_loadtest.storage import Store
    result, records = make_run(run_id=sys.argv[2])
    store = Store.open(sys.argv[1])
    # as a live run begins: who counts the tokens is said at its end
    store.begin_run(result.model_copy(update={"levels": [], "status": "running", "token_source": TokenSourceInfo()}))
    store.add_level(result.run_id, 0, result.levels[0], records[0])
    store.add_requests(result.run_id, 1, records[1][:10])  # the level in progress, batch by batch
    store.add_requests(result.run_id, 1, records[1][10:20])
    print("ready", file=sys.stderr, flush=True)
    if sys.argv[3] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(600)
    """
)


def _cut_level(result, records):
    """What the second level of `make_run` reads as when its process died after 20 requests."""
    return summarize_level(
        records[1][:20], result.config.levels()[1], result.config.goodput, input_len_requested=result.config.input_len
    ).model_copy(update={"partial": True})


def test_requests_of_a_level_in_progress_are_kept_and_replaced_when_it_ends(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.begin_run(result.model_copy(update={"levels": [], "status": "running"}))
        store.add_level(result.run_id, 0, result.levels[0], records[0])
        store.add_requests(result.run_id, 1, records[1][:10])
        store.add_requests(result.run_id, 1, records[1][10:20])
        assert_same_records(store.get_records(result.run_id, 1), records[1][:20])
        live = store.get_result(result.run_id)
        assert live.status == "running"
        assert live.levels == [result.levels[0], _cut_level(result, records)]
        assert store.list_runs()[0].levels == 1  # finished levels only

        store.add_level(result.run_id, 1, result.levels[1], records[1])
        store.add_requests(result.run_id, 1, records[1][:5])  # a batch that comes late is not a double
        assert_same_records(store.get_records(result.run_id, 1), records[1])
        assert store.get_result(result.run_id).levels == result.levels[:2]


def test_a_reader_opened_before_its_writer_died_reads_the_run_aborted(db):
    """The app keeps one store open: a run whose process dies meanwhile must not read `running`."""
    run_id = "dead0000-0000-4000-8000-00000000000a"
    writer = _python(MID_LEVEL_WRITER, db, run_id, "wait", wait=False)
    try:
        assert writer.stderr.readline().strip() == "ready"
        store = Store.open(db)
        assert store.list_runs()[0].status == "running"
    finally:
        writer.kill()
        writer.wait(timeout=30)
    result, records = make_run(run_id=run_id)
    with store:
        [row] = store.list_runs()
        assert row.status == "aborted" and row.levels == 2
        assert store.status_counts() == {"aborted": 1}
        back = store.get_result(run_id)
        assert back.status == "aborted"
        assert back.levels == [result.levels[0], _cut_level(result, records)]
        assert any("level 2 (c=4) cut, summarised from its 20 stored requests" in w for w in back.warnings)
        # from its stored requests: the server's usage for output, our tokenizer for input
        assert (back.token_source.output, back.token_source.input) == ("server", "tokenizer")
        assert_same_records(store.get_records(run_id), records[0] + records[1][:20])


def test_a_read_only_database_still_reads_a_dead_writers_run_aborted(db):
    run_id = "dead0000-0000-4000-8000-00000000000b"
    killed = _python(MID_LEVEL_WRITER, db, run_id, "die")
    assert killed.returncode == -signal.SIGKILL, killed.stderr.read()
    result, records = make_run(run_id=run_id)
    with Store.open(f"sqlite:///file:{db}?mode=ro&uri=true") as store:
        assert [row.status for row in store.list_runs()] == ["aborted"]
        assert store.list_runs(status="aborted") and not store.list_runs(status="running")
        assert store.status_counts() == {"aborted": 1}
        back = store.get_result(run_id)
        assert back.status == "aborted" and back.levels == [result.levels[0], _cut_level(result, records)]
        assert (back.token_source.output, back.token_source.input) == ("server", "tokenizer")
    with sqlite3.connect(db) as raw:  # nothing could be written there
        assert raw.execute("SELECT status FROM run").fetchall() == [("running",)]
    with Store.open(db) as store:  # a store that can write settles it once, for every later reader
        assert store.get_result(run_id).levels == back.levels
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT status FROM run").fetchall() == [("aborted",)]
        assert raw.execute("SELECT level_index FROM level ORDER BY level_index").fetchall() == [(0,), (1,)]


def _as_if_written_elsewhere(db: str, run_id: str, silent: timedelta) -> None:
    """The run's writer on another machine, last heard of `silent` ago."""
    from sqlalchemy import create_engine, text

    engine = create_engine(resolve_database_url(db))
    try:
        with engine.begin() as conn:
            last = (datetime.now(UTC) - silent).replace(tzinfo=None)
            conn.execute(text("UPDATE run SET host = 'another-machine', last_write_at = :t WHERE run_id = :id"), {"t": last, "id": run_id})
    finally:
        engine.dispose()


def test_a_run_of_another_machine_reads_aborted_once_its_writer_has_long_been_silent(db):
    """A shared database: another host's process cannot be looked at, its silence can."""
    (silent, records), (quiet, _) = (
        make_run(run_id="e15e0000-0000-4000-8000-000000000001"),
        make_run(run_id="e15e0000-0000-4000-8000-000000000002"),
    )
    with Store.open(db) as store:
        for result in (silent, quiet):
            store.begin_run(result.model_copy(update={"levels": [], "status": "running"}))
            store.add_level(result.run_id, 0, result.levels[0], records[0])
            store.add_requests(result.run_id, 1, records[1][:20])
    # a request may take its timeout (120 s) and a warm-up 3 of them: 15 minutes is the least
    _as_if_written_elsewhere(db, silent.run_id, timedelta(minutes=20))
    _as_if_written_elsewhere(db, quiet.run_id, timedelta(minutes=5))
    with Store.open(db) as store:
        assert {row.run_id: row.status for row in store.list_runs()} == {silent.run_id: "aborted", quiet.run_id: "running"}
        back = store.get_result(silent.run_id)
        assert back.levels == [silent.levels[0], _cut_level(silent, records)]
        assert any("on another-machine) wrote nothing for 20 min" in w for w in back.warnings)
        # the quiet one writes again: it stays running however long it had been silent
        _as_if_written_elsewhere(db, quiet.run_id, timedelta(minutes=30))
        store.add_requests(quiet.run_id, 1, records[1][20:25])
        assert store.get_result(quiet.run_id).status == "running"


def test_a_running_run_of_a_live_process_is_left_alone(db):
    result, _ = make_run()
    with Store.open(db) as store:
        store.begin_run(result)
    with Store.open(db) as store:
        assert store.get_result(result.run_id).status == "running"


def test_a_run_still_being_written_cannot_be_deleted(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.begin_run(result)
        with pytest.raises(StoreError, match="is still running"):
            store.delete_run(result.run_id)
        store.finish_run(result)  # finished: completed
        store.delete_run(result.run_id)
        assert store.list_runs() == []


def test_a_recycled_pid_is_not_taken_for_the_writer(db):
    result, _ = make_run()
    with Store.open(db) as store:
        store.begin_run(result)
    with sqlite3.connect(db) as raw:  # our own pid, but a process that started long ago
        raw.execute("UPDATE run SET process_started = process_started - 3600")
    with Store.open(db) as store:
        assert store.get_result(result.run_id).status == "aborted"


# -- concurrency ---------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from storage_samples import make_run
    from llm_loadtest.storage import Store
    result, records = make_run(run_id=sys.argv[2], n=int(sys.argv[3]))
    with Store.open(sys.argv[1]) as store:
        print("ready", time.time(), flush=True)
        store.save(result, records)  # its first write waits for the lock the test holds
        print("done", time.time(), flush=True)
    """
)


def test_two_processes_writing_at_once_both_land(db):
    Store.open(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock: both writers must queue behind it
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db, f"proc-{i}", "1500"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    try:
        ready = [float(w.stdout.readline().split()[1]) for w in writers]  # both opened the store
        time.sleep(1.0)  # both are now inside their first write, waiting on the lock
        assert [w.poll() for w in writers] == [None, None]
        assert holder.execute("SELECT count(*) FROM run").fetchone()[0] == 0  # nothing got past the lock
        released = time.time()
    finally:
        holder.rollback()
        holder.close()
    for writer in writers:
        assert writer.wait(timeout=240) == 0, writer.stderr.read()
    done = [float(w.stdout.readline().split()[1]) for w in writers]
    # both were waiting when the lock went, so their writes overlapped in time
    assert max(ready) < released < min(done)
    with Store.open(db) as store:
        assert {row.run_id for row in store.list_runs()} == {"proc-0", "proc-1"}
        for i in range(2):
            result, records = make_run(run_id=f"proc-{i}", n=1500)
            assert_same_records(store.get_records(f"proc-{i}"), [r for level in records for r in level])
            assert store.get_result(f"proc-{i}") == result


def test_two_threads_writing_at_once_both_land(db):
    runs = [make_run(run_id=f"thread-{i}", n=400) for i in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(result, records, shared: Store | None) -> None:
        try:
            start.wait()
            store = shared or Store.open(db)
            store.save(result, records)
            if shared is None:
                store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with Store.open(db) as shared:
        threads = [
            threading.Thread(target=write, args=(*runs[0], shared)),  # one Store shared by threads
            threading.Thread(target=write, args=(*runs[1], None)),  # and a second Store
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        for result, records in runs:
            assert shared.get_result(result.run_id) == result
            assert len(shared.get_records(result.run_id)) == sum(len(r) for r in records)


def test_the_database_is_in_wal_mode(db):
    Store.open(db).close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- damaged, locked, read-only, other versions ---------------------------------------------


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


def test_a_locked_database_is_one_clear_line(db):
    Store.open(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(db, busy_timeout_s=0.2) as store:
            store.list_runs()  # readers are never blocked in WAL mode
            started = time.monotonic()
            with pytest.raises(StoreError) as exc:
                store.begin_run(make_run()[0])
            assert time.monotonic() - started < 10
        assert "locked" in _one_line(exc)
    finally:
        holder.rollback()
        holder.close()


def test_a_corrupt_file_is_one_clear_line(db):
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    Path(db).write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(StoreError) as exc:
        Store.open(db)
    message = _one_line(exc)
    assert "corrupt" in message and db in message


def test_a_read_only_database_reads_but_refuses_writes(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, records)
    with Store.open(f"sqlite:///file:{db}?mode=ro&uri=true") as store:
        assert store.get_result(result.run_id) == result
        with pytest.raises(StoreError) as exc:
            store.begin_run(make_run(run_id="another")[0])
    assert "read-only" in _one_line(exc)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_a_read_only_file_refuses_writes(db):
    Store.open(db).close()
    os.chmod(db, 0o444)
    with pytest.raises(StoreError) as exc:
        with Store.open(db) as store:
            store.begin_run(make_run()[0])
    assert "read-only" in _one_line(exc) or "cannot open" in _one_line(exc)


def test_a_database_from_a_newer_version_is_refused(db):
    Store.open(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError) as exc:
        Store.open(db)
    assert "newer llm-loadtest" in _one_line(exc)


def test_an_older_schema_is_upgraded_in_place(db, monkeypatch):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, records)
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION - 1),))
    steps: list[int] = []
    monkeypatch.setitem(migrations.MIGRATIONS, SCHEMA_VERSION - 1, lambda conn: steps.append(SCHEMA_VERSION - 1))
    with Store.open(db) as store:
        assert store.get_result(result.run_id) == result
    assert steps == [SCHEMA_VERSION - 1]
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)


def _schema_1_blob(record: RequestRecord) -> bytes | None:
    """Chunk times as schema 1 stored them: every gap in 32 bits, else every gap in 64."""
    if not len(record.chunk_times_ns):
        return None
    gaps = np.diff(record.chunk_times_ns, prepend=np.int64(record.t_start_ns))
    if gaps.min() >= 0 and gaps.max() < 2**32:
        return b"\x01" + gaps.astype("<u4").tobytes()
    return b"\x02" + gaps.astype("<i8").tobytes()


def test_a_schema_1_database_is_upgraded_and_its_requests_read_back_exactly(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, records)
    flat = [r for level in records for r in level]
    blobs = [_schema_1_blob(r) for r in flat]
    assert {b[0] for b in blobs if b} == {1, 2}  # both of schema 1's forms are in there
    with sqlite3.connect(db) as raw:
        raw.executemany(
            "UPDATE request SET chunk_times = ? WHERE request_id = ?", [(blob, r.request_id) for blob, r in zip(blobs, flat, strict=True)]
        )
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        raw.execute("UPDATE run SET schema_version = 1")
    with Store.open(db) as store:
        assert_same_records(store.get_records(result.run_id), flat)
        assert store.get_result(result.run_id) == result
        # a run written now, beside the old one, uses the new form
        store.save(*make_run(run_id="new-run"))
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
        codes = {
            row[0]
            for row in raw.execute(
                "SELECT DISTINCT substr(hex(chunk_times), 1, 2) FROM request JOIN run ON run.pk = request.run_pk "
                "WHERE run.run_id = 'new-run' AND chunk_times IS NOT NULL"
            )
        }
    assert codes == {"03", "02"}  # first gap apart; 64-bit gaps only for the stalls


def test_a_schema_2_database_gains_the_search_column_and_keeps_its_runs(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, records)
    with sqlite3.connect(db) as raw:
        raw.execute("ALTER TABLE run DROP COLUMN search")
        raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with Store.open(db) as store:
        assert store.get_result(result.run_id) == result
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
        assert raw.execute("SELECT search FROM run").fetchall() == [(None,)]


def test_a_schema_3_database_gains_the_clock_columns_and_reads_its_requests_as_user_clock(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, records)
    with sqlite3.connect(db) as raw:
        for column in ("t_ready_ns", "clock", "clock_steps"):
            raw.execute(f"ALTER TABLE request DROP COLUMN {column}")
        raw.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with Store.open(db) as store:
        back = store.get_records(result.run_id)
        assert store.get_result(result.run_id) == result
    flat = [r for level in records for r in level]
    assert len(back) == len(flat)
    assert all(r.clock is ClockSource.USER and r.t_ready_ns is None and r.clock_steps == 0 for r in back)
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)


def test_a_schema_4_database_gains_the_workload_columns_and_keeps_its_requests(db):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, records)
    columns = ("input_len_requested", "output_len_requested", "turn", "t_first_answer_ns", "reasoning_tokens")
    with sqlite3.connect(db) as raw:
        for column in columns:
            raw.execute(f"ALTER TABLE request DROP COLUMN {column}")
        raw.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with Store.open(db) as store:
        assert store.get_result(result.run_id) == result
        read = store.get_records(result.run_id)
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
    assert read and all(getattr(r, column) is None for r in read for column in columns)


def test_a_schema_6_database_gains_the_last_write_column_and_its_running_runs_stay_as_they_were(db):
    result, records = make_run()
    other = result.model_copy(update={"run_id": "e15e0000-0000-4000-8000-00000000000f", "levels": [], "status": "running"})
    with Store.open(db) as store:
        store.save(result, records)
        store.begin_run(other)
    with sqlite3.connect(db) as raw:
        raw.execute("ALTER TABLE run DROP COLUMN last_write_at")
        raw.execute("UPDATE run SET host = 'another-machine' WHERE run_id = ?", (other.run_id,))
        raw.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    with Store.open(db) as store:
        assert store.get_result(result.run_id) == result
        # another machine's run of before: no write time to judge it by, so it is left running
        assert store.get_result(other.run_id).status == "running"
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == "7"
        assert raw.execute("SELECT last_write_at FROM run WHERE run_id = ?", (other.run_id,)).fetchone() == (None,)


def test_a_slow_first_token_costs_4_more_bytes_not_4_a_chunk(db):
    records = make_records(20, 0)
    for record in records:  # every first token 5 s late: more than 32 bits of ns
        record.chunk_times_ns = record.chunk_times_ns + 5_000_000_000
        record.t_end_ns += 5_000_000_000
    result, _ = make_run(concurrency=(1,), n=20)
    result.levels[0] = summarize_level(records, result.config.levels()[0], result.config.goodput)
    with Store.open(db) as store:
        store.save(result, [records])
        assert_same_records(store.get_records(result.run_id), records)
    with sqlite3.connect(db) as raw:
        sizes = dict(raw.execute("SELECT request_id, length(chunk_times) FROM request"))
    for record in records:
        n = len(record.chunk_times_ns)
        later = np.diff(record.chunk_times_ns)
        if n and (later.size == 0 or later.max() < 2**32):
            assert sizes[record.request_id] == 1 + 8 + 4 * (n - 1), record.request_id


def test_an_older_schema_without_a_migration_says_what_to_do(db):
    Store.open(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(StoreError) as exc:
        Store.open(db)
    assert "cannot upgrade" in _one_line(exc)


@pytest.mark.parametrize("under", ["", "deeper"])
def test_a_folder_that_cannot_be_made_is_one_clear_line(tmp_path, under):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / under / "x.db" if under else blocker / "x.db"
    for db in (str(target), f"sqlite:///{target}"):
        with pytest.raises(StoreError) as exc:
            Store.open(db)
        message = _one_line(exc)
        assert str(target) in message and "is a file, not a folder" in message
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("column,table", [("summary", "level"), ("config", "run"), ("warnings", "run")])
def test_a_stored_document_that_cannot_be_read_is_one_clear_line(db, column, table):
    result, records = make_run()
    with Store.open(db) as store:
        store.save(result, records)
    with sqlite3.connect(db) as raw:
        raw.execute(f"UPDATE {table} SET {column} = ?", ('{"levels": "not this"' if column != "summary" else '{"x": 1}',))
    with Store.open(db) as store:
        with pytest.raises(StoreError) as exc:
            store.get_result(result.run_id)
    assert "cannot read" in _one_line(exc)


def test_another_programs_tables_are_not_taken_over(db):
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE run (x INTEGER)")
    with pytest.raises(StoreError) as exc:
        Store.open(db)
    assert "not written by llm-loadtest" in _one_line(exc)


# -- finding runs ----------------------------------------------------------------------------


def _three_runs(store: Store) -> None:
    base = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    for i, run_id in enumerate(("aaaa1111-0000", "aaaa2222-0000", "bbbb3333-0000")):
        result, records = make_run(
            run_id=run_id, n=20, started_at=base + timedelta(minutes=i), status=("completed", "failed", "completed")[i], samples=False
        )
        store.save(result, records)


def test_prefixes_resolve_to_one_run(db):
    with Store.open(db) as store:
        _three_runs(store)
        assert store.resolve_run_id("aaaa1") == "aaaa1111-0000"
        assert store.resolve_run_id("bbbb3333-0000") == "bbbb3333-0000"
        with pytest.raises(AmbiguousRunError) as exc:
            store.resolve_run_id("aaaa")
        assert "aaaa1111-0000" in _one_line(exc) and "aaaa2222-0000" in str(exc.value)
        for missing in ("zz", "a_a", "%", ""):
            with pytest.raises(UnknownRunError):
                store.resolve_run_id(missing)


def test_list_runs_newest_first_with_filters(db):
    with Store.open(db) as store:
        _three_runs(store)
        rows = store.list_runs()
        assert [r.run_id for r in rows] == ["bbbb3333-0000", "aaaa2222-0000", "aaaa1111-0000"]
        assert [r.run_id for r in store.list_runs(status="failed")] == ["aaaa2222-0000"]
        assert [r.run_id for r in store.list_runs(limit=1)] == ["bbbb3333-0000"]
        assert len(store.list_runs(search="SIM-MOD")) == 3
        assert [r.run_id for r in store.list_runs(search="aaaa2")] == ["aaaa2222-0000"]
        assert store.list_runs(search="%") == []
        assert store.status_counts() == {"completed": 2, "failed": 1}
        result = store.get_result("bbbb3333-0000")
        row = rows[0]
        assert row.levels == 3 and row.preset == "quick" and row.duration_s == 190
        assert row.best_output_throughput == max(lv.output_throughput for lv in result.levels)
        failed = sum(lv.requests.failed for lv in result.levels)
        assert row.error_rate == failed / sum(lv.requests.total for lv in result.levels)


def test_delete_removes_the_run_and_everything_under_it(db):
    with Store.open(db) as store:
        _three_runs(store)
        store.delete_run("aaaa2222-0000")
        with pytest.raises(UnknownRunError):
            store.get_result("aaaa2222-0000")
        with pytest.raises(UnknownRunError):
            store.delete_run("aaaa2222-0000")
        assert len(store.list_runs()) == 2
    with sqlite3.connect(db) as raw:
        counts = {t: raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("run", "level", "request")}
    assert counts == {"run": 2, "level": 6, "request": 2 * 3 * 20}


# -- no secret lands -------------------------------------------------------------------------


def test_no_secret_reaches_the_database(db):
    result, records = make_run(environment={"python": "3.11", "api_key": FAKE_KEY, "headers": {"Authorization": f"Bearer {FAKE_KEY}"}})
    result.config.extra_body = {"api_key": FAKE_KEY, "temperature": 0}
    # RunConfig refuses credentials in the server URL; a config that has them anyway (built
    # without validation, or by an older version) must still not reach the database
    result.config = result.config.model_copy(update={"server": f"http://user:{FAKE_KEY}@127.0.0.1:8000"})
    with Store.open(db) as store:
        store.save(result, records)
        back = store.get_result(result.run_id)
    assert FAKE_KEY not in back.model_dump_json()
    assert back.config.extra_body == {"api_key": "<redacted>", "temperature": 0}
    assert back.config.server == "http://127.0.0.1:8000"  # read back as RunConfig takes it
    stored = b"".join(p.read_bytes() for p in Path(db).parent.iterdir())
    assert FAKE_KEY.encode() not in stored


# -- where the database lives ------------------------------------------------------------------


def test_database_location_follows_cli_md(monkeypatch, tmp_path):
    xdg = tmp_path / "xdg" / "llm-loadtest" / "benchmarks.db"
    assert resolve_database_url() == f"sqlite:///{xdg}"
    assert xdg.parent.is_dir()  # the default location's folder is made for a first run

    for folder in ("seed", "url", "env-path", "flag"):
        (tmp_path / folder).mkdir()
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "seed" / "bench.db"))
    assert resolve_database_url() == f"sqlite:///{tmp_path}/seed/bench.db"

    monkeypatch.setenv("LLM_LOADTEST_DB", f"sqlite:///{tmp_path}/url/a.db")
    assert resolve_database_url() == f"sqlite:///{tmp_path}/url/a.db"
    monkeypatch.setenv("LLM_LOADTEST_DB", str(tmp_path / "env-path" / "b.db"))
    assert resolve_database_url() == f"sqlite:///{tmp_path}/env-path/b.db"

    assert resolve_database_url(str(tmp_path / "flag" / "c.db")) == f"sqlite:///{tmp_path}/flag/c.db"
    assert resolve_database_url("postgresql://u:p@db.example/bench") == "postgresql://u:p@db.example/bench"
    monkeypatch.chdir(tmp_path)
    assert resolve_database_url("relative.db") == f"sqlite:///{tmp_path}/relative.db"


@pytest.mark.parametrize(
    "where, message",
    [
        ("missing/dir/x.db", "folder {tmp}/missing/dir does not exist"),
        ("a-file/x.db", "{tmp}/a-file is a file, not a folder"),
        ("sqlite:///{tmp}/missing/y.db", "folder {tmp}/missing does not exist"),
    ],
)
def test_a_database_the_user_named_is_never_given_a_new_folder(monkeypatch, tmp_path, where, message):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    db = where.format(tmp=tmp_path)
    with pytest.raises(StoreError, match=message.format(tmp=tmp_path)):
        Store.open(db)
    monkeypatch.setenv("LLM_LOADTEST_DB", db)
    with pytest.raises(StoreError, match=message.format(tmp=tmp_path)):
        Store.open()
    assert not (tmp_path / "missing").exists()


def test_a_reader_never_creates_a_database(tmp_path):
    with pytest.raises(StoreError, match=f"no database at {tmp_path}/new.db"):
        Store.open(str(tmp_path / "new.db"), must_exist=True)
    with pytest.raises(StoreError, match=r"no database at .*benchmarks\.db"):
        Store.open(must_exist=True)  # nor the default one
    assert list(tmp_path.rglob("*.db")) == []


def test_the_default_database_is_created_on_first_open(tmp_path):
    with Store.open() as store:
        assert store.list_runs() == []
    assert (tmp_path / "xdg" / "llm-loadtest" / "benchmarks.db").is_file()


def test_goodput_none_and_empty_levels_round_trip(db):
    result, records = make_run(goodput=None, samples=False)
    result.levels.append(summarize_level([], result.config.levels()[0], GoodputSLO(ttft_ms=1)))
    with Store.open(db) as store:
        store.save(result, records + [[]])
        assert store.get_result(result.run_id) == result


def test_a_runs_notes_are_kept_apart_from_its_warnings_and_a_schema_5_database_gains_them(db):
    result, records = make_run()
    result.notes = ["no NVIDIA GPU; GPU samples skipped"]
    with Store.open(db) as store:
        store.save(result, records)
        assert store.get_result(result.run_id).notes == result.notes
        assert store.get_result(result.run_id).warnings == result.warnings
    with sqlite3.connect(db) as raw:
        raw.execute("ALTER TABLE run DROP COLUMN notes")
        raw.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    with Store.open(db) as store:
        assert store.get_result(result.run_id).notes == []  # a run stored before notes existed
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)


async def test_the_apps_history_turns_a_run_aborted_when_its_writer_dies(db, tmp_path):
    """The app keeps its store open: its history, refreshed while a run is `running`, shows
    the run `aborted` once its process is gone, with the level that process had not finished."""
    from llm_loadtest.tui.app import LoadTestApp
    from llm_loadtest.tui.screens.history import HistoryScreen
    from llm_loadtest.tui.widgets.run_table import RunTable

    run_id = "dead0000-0000-4000-8000-00000000000c"
    writer = _python(MID_LEVEL_WRITER, db, run_id, "wait", wait=False)
    try:
        assert writer.stderr.readline().strip() == "ready"
        with Store.open(db) as store:
            app = LoadTestApp(store=store)
            async with app.run_test(size=(100, 32)) as pilot:
                app.open_history()
                table = None
                while table is None or table.row_count != 1:
                    await pilot.pause(0.05)
                    if isinstance(app.screen, HistoryScreen) and app.screen.query("#runs"):
                        table = app.screen.query_one("#runs", RunTable)
                assert table.get_cell(run_id, "status").plain == "running"
                writer.kill()
                writer.wait(timeout=30)
                deadline = time.monotonic() + 60
                while table.get_cell(run_id, "status").plain != "aborted":
                    assert time.monotonic() < deadline, "the history never showed the run aborted"
                    await pilot.pause(0.1)
                assert app.screen.rows[0].levels == 2
    finally:
        writer.kill()
        writer.wait(timeout=30)
