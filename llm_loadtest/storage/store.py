"""The results store: every run, its levels, requests and samples, in one SQL database.

Writes follow a run as it happens, so that a run killed at any moment keeps what it had
measured: the run row is written `running` when the run starts, the requests of the level in
progress in batches as they finish (about every second), each level (its summary and every
request, replacing the batches) in one transaction when it finishes, and the final status at
the end. A run left `running` by a process that is gone is told apart from a live one by
every read (`list_runs`, `get_result`, `status_counts`): it reads `aborted`, and a level its
process did not finish reads as a `partial` level summarised from its stored requests. Where
the database can be written, that is stored too, once.

Every method opens its own connection, so one Store may be shared by threads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, RowMapping, and_, delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from llm_loadtest import metrics
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.records import RequestRecord
from llm_loadtest.model.redact import redact, without_userinfo
from llm_loadtest.model.results import (
    GpuSample,
    LevelSummary,
    RunResult,
    ServerSample,
    TokenSourceInfo,
    utc_now,
)
from llm_loadtest.model.search import SearchRecord
from llm_loadtest.storage import codec, liveness
from llm_loadtest.storage.database import describe_url, make_engine, read_transaction, write_transaction
from llm_loadtest.storage.errors import AmbiguousRunError, StoreError, UnknownRunError, describe
from llm_loadtest.storage.location import resolve_database_url
from llm_loadtest.storage.migrations import ensure_schema
from llm_loadtest.storage.schema import (
    SCHEMA_VERSION,
    GpuSampleTable,
    LevelTable,
    RequestTable,
    RunTable,
    ServerSampleTable,
    table_of,
)

DEFAULT_BUSY_TIMEOUT_S = 30.0

_RUN = table_of(RunTable)
_LEVEL = table_of(LevelTable)
_REQUEST = table_of(RequestTable)
_GPU = table_of(GpuSampleTable)
_SERVER = table_of(ServerSampleTable)
_GPU_COLUMNS = ("t", "gpu", "util", "mem_used_mb", "mem_total_mb", "temp_c", "power_w", "power_limit_w")
_SERVER_COLUMNS = ("t", "running", "waiting", "kv_cache_usage", "prefix_cache_hit_rate")
# bound how many rows one INSERT statement carries, to keep driver memory flat
_INSERT_BATCH = 20_000


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of `history`."""

    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    server: str
    model: str
    preset: str | None
    levels: int
    best_output_throughput: float | None
    error_rate: float | None

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class Store:
    """Open with `Store.open(db)`; `db` is a path or an SQLAlchemy URL (None: docs/cli.md's order)."""

    def __init__(self, engine: Engine, where: str, busy_timeout_s: float):
        self._engine = engine
        self.where = where
        self._busy_timeout_s = busy_timeout_s

    @classmethod
    def open(cls, db: str | None = None, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, must_exist: bool = False) -> Store:
        """`must_exist`: a reader's open, which never creates a database (see `location`)."""
        url = resolve_database_url(db, must_exist=must_exist)
        where = describe_url(url)
        try:
            engine = make_engine(url, busy_timeout_s)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open database {where}: {exc}") from exc
        store = cls(engine, where, busy_timeout_s)
        try:
            with store._guard():
                ensure_schema(engine, where)
            store._settle_orphans()
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writing a run as it happens -------------------------------------------------------

    def begin_run(self, result: RunResult) -> None:
        """Write the run row as `running`, owned by this process."""
        config = redact(result.config.model_dump(mode="json"))
        pid, process_started = liveness.this_process()
        row = {
            "run_id": result.run_id,
            "status": "running",
            "started_at": _to_db_time(result.started_at),
            "finished_at": None,
            "server": config["server"],
            "model": config["model"],
            "preset": config.get("preset"),
            "config": _dumps(config),
            "environment": _dumps(redact(result.environment)),
            "token_source": _dumps(result.token_source.model_dump(mode="json")),
            "warnings": _dumps(list(result.warnings)),
            "notes": _dumps(list(result.notes)),
            "search": _search(result),
            "pid": pid,
            "host": liveness.this_host(),
            "process_started": process_started,
            "last_write_at": _to_db_time(utc_now()),
            "schema_version": SCHEMA_VERSION,
        }
        with self._write() as conn:
            if conn.execute(select(_RUN.c.pk).where(_RUN.c.run_id == result.run_id)).first() is not None:
                raise StoreError(f"run {result.run_id} is already stored in {self.where}")
            conn.execute(_RUN.insert().values(**row))

    def add_level(self, run_id: str, level_index: int, summary: LevelSummary, records: Sequence[RequestRecord]) -> None:
        """Store one finished level and its requests in one transaction (again: replaces it)."""
        with self._write() as conn:
            run_pk = self._written_run_pk(conn, run_id)
            self._replace_level(conn, run_pk, level_index, summary)
            self._insert_requests(conn, codec.rows_for_level(records, run_pk, level_index))

    def add_requests(self, run_id: str, level_index: int, records: Sequence[RequestRecord]) -> None:
        """Append finished requests of a level still running (`add_level` replaces them at its
        end); ignored once the level is stored, so a late batch never doubles a request."""
        if not records:
            return
        with self._write() as conn:
            run_pk = self._written_run_pk(conn, run_id)
            if self._stored_levels(conn, run_pk) & {level_index}:
                return
            self._insert_requests(conn, codec.rows_for_level(records, run_pk, level_index))

    def add_samples(self, run_id: str, gpu: Sequence[GpuSample] = (), server: Sequence[ServerSample] = ()) -> None:
        """Append telemetry samples; call as often as they come (e.g. with each batch of
        `TelemetrySampler.drain()`). `finish_run` then adds only the result's later samples."""
        if not gpu and not server:
            return
        with self._write() as conn:
            run_pk = self._written_run_pk(conn, run_id)
            self._insert_samples(conn, run_pk, gpu, server)

    def finish_run(self, result: RunResult) -> None:
        """Final status and what the run learnt on the way (a capacity search's configuration is
        only known at its end: the loads it probed); levels never stored are added."""
        status = result.status if result.status != "running" else "completed"
        values = {
            "status": status,
            "config": _dumps(redact(result.config.model_dump(mode="json"))),
            "finished_at": _to_db_time(result.finished_at or utc_now()),
            "environment": _dumps(redact(result.environment)),
            "token_source": _dumps(result.token_source.model_dump(mode="json")),
            "warnings": _dumps(list(result.warnings)),
            "notes": _dumps(list(result.notes)),
            "search": _search(result),
        }
        with self._write() as conn:
            run_pk = self._run_pk(conn, result.run_id)
            conn.execute(update(_RUN).where(_RUN.c.pk == run_pk).values(**values))
            stored = self._stored_levels(conn, run_pk)
            for index, summary in enumerate(result.levels):
                if index not in stored:
                    self._replace_level(conn, run_pk, index, summary)
            # samples stored as the run went (each batch of the sampler's drain()) are kept;
            # the result's samples after the last stored one are added
            gpu_after = self._last_sample_t(conn, _GPU, run_pk)
            server_after = self._last_sample_t(conn, _SERVER, run_pk)
            self._insert_samples(
                conn,
                run_pk,
                [s for s in result.gpu_samples if gpu_after is None or s.t > gpu_after],
                [s for s in result.server_samples if server_after is None or s.t > server_after],
            )

    def save(
        self,
        result: RunResult,
        records: Mapping[int, Sequence[RequestRecord]] | Sequence[Sequence[RequestRecord]] | None = None,
    ) -> None:
        """Store a whole finished run at once (an import, a test, a run not stored live)."""
        self.begin_run(result)
        by_level = _records_by_level(records)
        for index, summary in enumerate(result.levels):
            self.add_level(result.run_id, index, summary, by_level.get(index, ()))
        self.add_samples(result.run_id, result.gpu_samples, result.server_samples)
        self.finish_run(result)

    # -- reading ---------------------------------------------------------------------------

    def get_result(self, run_id: str) -> RunResult:
        """The run as stored; a level that was still running when it was read (or when its
        process was killed) is summarised from the requests stored so far, `partial`."""
        orphans = self._settle_orphans()
        with self._read() as conn:
            run = conn.execute(select(_RUN).where(_RUN.c.run_id == run_id)).mappings().first()
            if run is None:
                raise UnknownRunError(f"no run {run_id!r} in {self.where}")
            config = _config(json.loads(run["config"]), run_id)
            levels = conn.execute(
                select(_LEVEL.c.level_index, _LEVEL.c.summary).where(_LEVEL.c.run_pk == run["pk"]).order_by(_LEVEL.c.level_index)
            ).all()
            by_index = {row.level_index: LevelSummary.model_validate_json(row.summary) for row in levels}
            by_index.update(self._cut_levels(conn, run["pk"], config))
            gpu = [_sample(GpuSample, row) for row in self._sample_rows(conn, _GPU, run["pk"])]
            server = [_sample(ServerSample, row) for row in self._sample_rows(conn, _SERVER, run["pk"])]
            token_source = TokenSourceInfo.model_validate(json.loads(run["token_source"]))
            if run["pk"] in orphans:  # left unsettled by a read-only database
                token_source = self._token_source(conn, run["pk"], token_source)
            return RunResult(
                run_id=run["run_id"],
                status="aborted" if run["pk"] in orphans else run["status"],
                started_at=_from_db_time(run["started_at"]),
                finished_at=_from_db_time(run["finished_at"]) if run["finished_at"] is not None else None,
                config=config,
                token_source=token_source,
                environment=json.loads(run["environment"]),
                levels=[by_index[index] for index in sorted(by_index)],
                gpu_samples=gpu,
                server_samples=server,
                warnings=json.loads(run["warnings"]),
                notes=json.loads(run["notes"]) if run["notes"] else [],
                search=SearchRecord.model_validate_json(run["search"]) if run["search"] else None,
            )

    def get_records(self, run_id: str, level_index: int | None = None) -> list[RequestRecord]:
        """The measured requests, in the order they were stored (warm-up is never stored)."""
        return [record for _, record in self._iter_records(run_id, level_index)]

    def get_records_by_level(self, run_id: str) -> dict[int, list[RequestRecord]]:
        by_level: dict[int, list[RequestRecord]] = {}
        for index, record in self._iter_records(run_id, None):
            by_level.setdefault(index, []).append(record)
        return by_level

    def list_runs(self, *, status: str | None = None, search: str | None = None, limit: int | None = None) -> list[RunRow]:
        """Newest first. `search` matches a part of the id, server, model or preset."""
        orphans = self._settle_orphans()
        levels = (
            select(
                _LEVEL.c.run_pk,
                func.count().label("n"),
                func.max(_LEVEL.c.output_throughput).label("best"),
                func.sum(_LEVEL.c.requests_failed).label("failed"),
                func.sum(_LEVEL.c.requests_total).label("total"),
            )
            .group_by(_LEVEL.c.run_pk)
            .subquery()
        )
        query = select(
            _RUN.c.pk,
            _RUN.c.run_id,
            _RUN.c.status,
            _RUN.c.started_at,
            _RUN.c.finished_at,
            _RUN.c.server,
            _RUN.c.model,
            _RUN.c.preset,
            levels.c.n,
            levels.c.best,
            levels.c.failed,
            levels.c.total,
        ).outerjoin(levels, levels.c.run_pk == _RUN.c.pk)
        if status:
            # orphans that a read-only database could not mark still read `running` in SQL
            wanted = {status, "running"} if status == "aborted" and orphans else {status}
            query = query.where(_RUN.c.status.in_(wanted))
        if search:
            pattern = f"%{_escape_like(search.lower())}%"
            query = query.where(
                or_(
                    *(
                        func.lower(column).like(pattern, escape="\\")
                        for column in (_RUN.c.run_id, _RUN.c.server, _RUN.c.model, _RUN.c.preset)
                    )
                )
            )
        query = query.order_by(_RUN.c.started_at.desc(), _RUN.c.pk.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        runs = [
            RunRow(
                run_id=row.run_id,
                status="aborted" if row.pk in orphans else row.status,
                started_at=_from_db_time(row.started_at),
                finished_at=_from_db_time(row.finished_at) if row.finished_at is not None else None,
                server=row.server,
                model=row.model,
                preset=row.preset,
                levels=int(row.n or 0),
                best_output_throughput=row.best,
                error_rate=(row.failed / row.total) if row.total else None,
            )
            for row in rows
        ]
        return [run for run in runs if not status or run.status == status]

    def status_counts(self) -> dict[str, int]:
        orphans = self._settle_orphans()
        with self._read() as conn:
            rows = conn.execute(select(_RUN.c.status, func.count()).group_by(_RUN.c.status)).all()
        counts = {status: int(count) for status, count in rows}
        if orphans:  # left `running` by a read-only database
            counts["running"] -= len(orphans)
            counts["aborted"] = counts.get("aborted", 0) + len(orphans)
            counts = {status: count for status, count in counts.items() if count}
        return counts

    def resolve_run_id(self, prefix: str) -> str:
        """The one run whose id is `prefix` or starts with it."""
        prefix = prefix.strip()
        if not prefix:
            raise UnknownRunError("give a run id (or a unique start of one); `llm-loadtest history` lists them")
        with self._read() as conn:
            exact = conn.execute(select(_RUN.c.run_id).where(_RUN.c.run_id == prefix)).scalar_one_or_none()
            if exact is not None:
                return exact
            matches = (
                conn.execute(
                    select(_RUN.c.run_id)
                    .where(_RUN.c.run_id.like(f"{_escape_like(prefix)}%", escape="\\"))
                    .order_by(_RUN.c.started_at.desc())
                    .limit(4)
                )
                .scalars()
                .all()
            )
        if not matches:
            raise UnknownRunError(f"no run id starts with {prefix!r} in {self.where}; `llm-loadtest history` lists them")
        if len(matches) > 1:
            shown = ", ".join(matches[:3]) + (", ..." if len(matches) > 3 else "")
            raise AmbiguousRunError(f"run id {prefix!r} is ambiguous ({shown}); give more characters")
        return matches[0]

    def delete_run(self, run_id: str) -> None:
        """Delete a run and all under it; a run still being written is refused (its writer
        would go on storing levels of a run that no longer exists)."""
        with self._read() as conn:
            run = conn.execute(
                select(_RUN.c.status, _RUN.c.pid, _RUN.c.host, _RUN.c.process_started).where(_RUN.c.run_id == run_id)
            ).first()
        if run is not None and run.status == "running" and not liveness.writer_is_gone(run.pid, run.host, run.process_started):
            raise StoreError(f"run {run_id[:8]} is still running (pid {run.pid} on {run.host}); stop it before deleting it")
        with self._write() as conn:
            run_pk = self._run_pk(conn, run_id)
            for table in (_REQUEST, _LEVEL, _GPU, _SERVER):
                conn.execute(delete(table).where(table.c.run_pk == run_pk))
            conn.execute(delete(_RUN).where(_RUN.c.pk == run_pk))

    # -- internals -------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise describe(exc, self.where, self._busy_timeout_s) from exc
        except codec.CodecError as exc:
            raise StoreError(f"database {self.where}: {exc}; it was written by a newer llm-loadtest or is damaged") from exc
        except (ValidationError, json.JSONDecodeError) as exc:
            # a stored document (summary, config, samples) this version cannot read
            raise StoreError(
                f"database {self.where} holds a run this llm-loadtest cannot read ({type(exc).__name__}); "
                "it was written by a newer llm-loadtest or is damaged"
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._guard(), write_transaction(self._engine) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._guard(), read_transaction(self._engine) as conn:
            yield conn

    def _run_pk(self, conn: Connection, run_id: str) -> int:
        pk = conn.execute(select(_RUN.c.pk).where(_RUN.c.run_id == run_id)).scalar_one_or_none()
        if pk is None:
            raise UnknownRunError(f"no run {run_id!r} in {self.where}")
        return int(pk)

    def _written_run_pk(self, conn: Connection, run_id: str) -> int:
        """The run's key, noting that its writer is writing now (see `_settle_orphans`)."""
        run_pk = self._run_pk(conn, run_id)
        conn.execute(update(_RUN).where(_RUN.c.pk == run_pk).values(last_write_at=_to_db_time(utc_now())))
        return run_pk

    def _replace_level(self, conn: Connection, run_pk: int, index: int, summary: LevelSummary) -> None:
        where = and_(_LEVEL.c.run_pk == run_pk, _LEVEL.c.level_index == index)
        conn.execute(delete(_REQUEST).where(_REQUEST.c.run_pk == run_pk, _REQUEST.c.level_index == index))
        conn.execute(delete(_LEVEL).where(where))
        self._insert_level(conn, run_pk, index, summary)

    def _insert_level(self, conn: Connection, run_pk: int, index: int, summary: LevelSummary) -> None:
        conn.execute(
            _LEVEL.insert().values(
                run_pk=run_pk,
                level_index=index,
                concurrency=summary.concurrency,
                request_rate=summary.request_rate,
                requests_total=summary.requests.total,
                requests_failed=summary.requests.failed,
                output_throughput=summary.output_throughput,
                error_rate=summary.error_rate,
                goodput_percent=summary.goodput.percent if summary.goodput else None,
                summary=summary.model_dump_json(),
            )
        )

    def _insert_requests(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), _INSERT_BATCH):
            conn.execute(_REQUEST.insert(), rows[start : start + _INSERT_BATCH])

    def _stored_levels(self, conn: Connection, run_pk: int) -> set[int]:
        return set(conn.execute(select(_LEVEL.c.level_index).where(_LEVEL.c.run_pk == run_pk)).scalars())

    def _cut_levels(self, conn: Connection, run_pk: int, config: RunConfig) -> dict[int, LevelSummary]:
        """Levels with stored requests but no summary (still running, or their process was
        killed), summarised from those requests and marked `partial`."""
        with_requests = set(conn.execute(select(_REQUEST.c.level_index).where(_REQUEST.c.run_pk == run_pk).distinct()).scalars())
        specs = config.levels()
        cut: dict[int, LevelSummary] = {}
        for index in sorted(with_requests - self._stored_levels(conn, run_pk)):
            if index >= len(specs):
                continue  # a configuration this version reads differently: nothing to pair it with
            records = codec.records_from_rows(self._request_rows(conn, run_pk, index))
            summary = metrics.summarize_level(records, specs[index], config.goodput, input_len_requested=config.input_len)
            cut[index] = summary.model_copy(update={"partial": True})
        return cut

    def _request_rows(self, conn: Connection, run_pk: int, level_index: int | None) -> list[RowMapping]:
        columns = [_REQUEST.c[name] for name in codec.RECORD_COLUMNS]
        query = select(_REQUEST.c.level_index, *columns).where(_REQUEST.c.run_pk == run_pk)
        if level_index is not None:
            query = query.where(_REQUEST.c.level_index == level_index)
        return list(conn.execute(query.order_by(_REQUEST.c.level_index, _REQUEST.c.pk)).mappings().all())

    def _insert_samples(self, conn: Connection, run_pk: int, gpu: Sequence[GpuSample], server: Sequence[ServerSample]) -> None:
        if gpu:
            conn.execute(_GPU.insert(), [_sample_row(s, run_pk, _GPU_COLUMNS) for s in gpu])
        if server:
            conn.execute(_SERVER.insert(), [_sample_row(s, run_pk, _SERVER_COLUMNS) for s in server])

    def _last_sample_t(self, conn: Connection, table: Any, run_pk: int) -> float | None:
        return conn.execute(select(func.max(table.c.t)).where(table.c.run_pk == run_pk)).scalar_one_or_none()

    def _sample_rows(self, conn: Connection, table: Any, run_pk: int) -> list[RowMapping]:
        return list(conn.execute(select(table).where(table.c.run_pk == run_pk).order_by(table.c.pk)).mappings())

    def _iter_records(self, run_id: str, level_index: int | None) -> Iterator[tuple[int, RequestRecord]]:
        with self._read() as conn:
            rows = self._request_rows(conn, self._run_pk(conn, run_id), level_index)
        yield from zip((row["level_index"] for row in rows), codec.records_from_rows(rows), strict=True)

    def _settle_orphans(self) -> set[int]:
        """The `running` runs whose writing process is gone (their pks): each is marked
        `aborted`, and a level it did not finish is stored as a `partial` level summarised
        from its stored requests. A database that cannot be written is left as it is; the
        readers still tell these runs apart by the pks returned.

        A writer on this host is gone when its process is (pid and start time). One on another
        host (a shared database) cannot be seen from here: it is taken as gone when it has
        written nothing for longer than a live run can be silent (see `liveness`)."""
        with self._read() as conn:
            running = conn.execute(
                select(_RUN.c.pk, _RUN.c.pid, _RUN.c.host, _RUN.c.process_started, _RUN.c.last_write_at, _RUN.c.config).where(
                    _RUN.c.status == "running"
                )
            ).all()
        now = utc_now()
        orphans = {row.pk: reason for row in running if (reason := self._why_gone(row, now)) is not None}
        if not orphans:
            return set()
        try:
            with self._write() as conn:
                for pk, reason in orphans.items():
                    self._mark_aborted(conn, pk, reason)
        except StoreError:
            # A read-only or busy database can still be read; the next writable read marks them.
            return set(orphans)
        return set()

    def _why_gone(self, row: Any, now: datetime) -> str | None:
        """Why the writer of this `running` run is taken as gone, or None while it may be alive."""
        who = f"the process that ran it (pid {row.pid} on {row.host})"
        if row.host == liveness.this_host():
            return f"{who} ended before the run did" if liveness.writer_is_gone(row.pid, row.host, row.process_started) else None
        if row.last_write_at is None:
            return None  # written by a version that kept no write times: nothing to judge by
        config = json.loads(row.config)
        silent_s = (now - _from_db_time(row.last_write_at)).total_seconds()
        if not liveness.silent_too_long(silent_s, config.get("timeout"), config.get("warmup")):
            return None
        return f"{who} wrote nothing for {silent_s / 60:.0f} min, longer than a live run can be silent: taken as ended"

    def _mark_aborted(self, conn: Connection, run_pk: int, reason: str) -> None:
        claimed = conn.execute(update(_RUN).where(_RUN.c.pk == run_pk, _RUN.c.status == "running").values(status="aborted"))
        if claimed.rowcount != 1:
            return  # another reader settled it first
        run = conn.execute(select(_RUN.c.run_id, _RUN.c.config, _RUN.c.warnings, _RUN.c.token_source).where(_RUN.c.pk == run_pk)).one()
        cut = self._cut_levels(conn, run_pk, _config(json.loads(run.config), run.run_id))
        for index, summary in cut.items():
            self._insert_level(conn, run_pk, index, summary)
        kept = f"{len(self._stored_levels(conn, run_pk)) - len(cut)} finished levels kept"
        for index, summary in cut.items():
            kept += f"; level {index + 1} ({summary.label}) cut, summarised from its {summary.requests.total} stored requests"
        warnings = json.loads(run.warnings) + [f"{reason}; marked aborted at {utc_now().isoformat()}, {kept}"]
        token_source = self._token_source(conn, run_pk, TokenSourceInfo.model_validate(json.loads(run.token_source)))
        conn.execute(
            update(_RUN)
            .where(_RUN.c.pk == run_pk)
            .values(warnings=_dumps(warnings), token_source=_dumps(token_source.model_dump(mode="json")))
        )

    def _token_source(self, conn: Connection, run_pk: int, stored: TokenSourceInfo) -> TokenSourceInfo:
        """Who counted the tokens of a run whose process died before saying it (at its end):
        from its stored successful requests."""
        if stored.output is not None or stored.input is not None:
            return stored

        def source(column: Any) -> str | None:
            query = select(column).where(_REQUEST.c.run_pk == run_pk, _REQUEST.c.outcome == "success", column.is_not(None)).distinct()
            values = set(conn.execute(query).scalars())
            return values.pop() if len(values) == 1 else ("mixed" if values else None)

        return stored.model_copy(update={"output": source(_REQUEST.c.output_token_source), "input": source(_REQUEST.c.input_token_source)})


def _records_by_level(
    records: Mapping[int, Sequence[RequestRecord]] | Sequence[Sequence[RequestRecord]] | None,
) -> Mapping[int, Sequence[RequestRecord]]:
    if records is None:
        return {}
    if isinstance(records, Mapping):
        return records
    return dict(enumerate(records))


def _config(data: dict, run_id: str) -> RunConfig:
    if isinstance(data.get("server"), str):
        # stored before RunConfig refused credentials in the URL: the (redacted) user goes
        data["server"] = without_userinfo(data["server"])
    try:
        return RunConfig.model_validate(data)
    except ValidationError:
        # A config written by a later version may carry fields this one does not know.
        known = {key: value for key, value in data.items() if key in RunConfig.model_fields}
        try:
            return RunConfig.model_validate(known)
        except ValidationError as exc:
            raise StoreError(f"run {run_id} has a configuration this llm-loadtest cannot read ({exc.error_count()} errors)") from exc


def _sample_row(sample: GpuSample | ServerSample, run_pk: int, columns: tuple[str, ...]) -> dict[str, Any]:
    data = sample.model_dump(mode="json")
    row = {name: data.pop(name, None) for name in columns}
    extra = {key: value for key, value in data.items() if value is not None}
    row["run_pk"] = run_pk
    row["extra"] = _dumps(extra) if extra else None
    return row


def _sample(model: type[GpuSample] | type[ServerSample], row: RowMapping) -> Any:
    data = {key: value for key, value in row.items() if key not in ("pk", "run_pk", "extra")}
    if row["extra"]:
        data.update(json.loads(row["extra"]))
    return model.model_validate(data)


def _search(result: RunResult) -> str | None:
    return result.search.model_dump_json() if result.search is not None else None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _to_db_time(value: datetime) -> datetime:
    # Stored as naive UTC: SQLite keeps no zone, and every backend then agrees.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _from_db_time(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
