"""The database tables (SQLModel), written with generic types so that any SQLAlchemy URL works.

Decisions, and why:
- A run has an integer surrogate key (`pk`) beside its uuid (`run_id`): every request row and
  its index carry the run, and 4 bytes beat 36 over a 100,000-request run.
- JSON documents (config, environment, summaries) are plain text, so every backend stores
  them alike; the few figures that lists and sorting need are real columns beside them.
- Per-chunk arrival times and token counts are binary blobs (see `codec`), never a row per
  chunk: a 128-token stream costs a few hundred bytes, not 128 rows.
- Nanosecond clocks need 64 bits (`BigInteger`); on SQLite the primary keys stay `INTEGER`
  so that they remain the rowid and cost no extra index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlmodel import Field, SQLModel

# Bump with a migration in `migrations.py` whenever a table or a blob format changes.
# 2: chunk times keep the first gap (the TTFT) in a 64-bit header of its own (see `codec`).
# 3: a run's capacity search (`recommend`), a JSON document in `run.search`.
# 4: a request's t_ready_ns, clock (kernel | user) and clock_steps.
# 5: a request's workload: the lengths asked for, its turn, answer arrival, reasoning tokens.
# 6: a run's notes (facts about the environment), apart from its warnings.
# 7: run.last_write_at, so that a dead run of another host can be told from a live one.
SCHEMA_VERSION = 7

# BIGINT is not a rowid alias on SQLite; everywhere else it is the safe width for a key.
_KEY = BigInteger().with_variant(Integer(), "sqlite")


def _pk() -> Column:
    return Column(_KEY, primary_key=True, autoincrement=True)


def _run_fk() -> Column:
    return Column(_KEY, ForeignKey("run.pk"), nullable=False)


class MetaTable(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(sa_column=Column(String(64), primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))


class RunTable(SQLModel, table=True):
    __tablename__ = "run"

    pk: int | None = Field(default=None, sa_column=_pk())
    run_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    # naive UTC on every backend (see store._to_db_time)
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False, index=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=False)))
    # copied out of `config` for `history` and its search
    server: str = Field(sa_column=Column(String(2048), nullable=False))
    model: str = Field(sa_column=Column(String(512), nullable=False))
    preset: str | None = Field(default=None, sa_column=Column(String(512)))
    config: str = Field(sa_column=Column(Text, nullable=False))
    environment: str = Field(sa_column=Column(Text, nullable=False))
    token_source: str = Field(sa_column=Column(Text, nullable=False))
    warnings: str = Field(sa_column=Column(Text, nullable=False))
    notes: str | None = Field(default=None, sa_column=Column(Text))
    # a `recommend` run's search (target, probes, answer); NULL for other runs
    search: str | None = Field(default=None, sa_column=Column(Text))
    # who writes the run: a run left `running` by a process that is gone is `aborted`
    pid: int | None = Field(default=None, sa_column=Column(Integer))
    host: str | None = Field(default=None, sa_column=Column(String(255)))
    # the writer's process start time, so that a recycled pid is not taken for the writer
    process_started: float | None = Field(default=None, sa_column=Column(Float))
    # when the writer last wrote (its clock, naive UTC): a reader on another host, which cannot
    # see the process, takes a run whose writer has long been silent for ended
    last_write_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=False)))
    schema_version: int = Field(sa_column=Column(Integer, nullable=False))


class LevelTable(SQLModel, table=True):
    __tablename__ = "level"
    __table_args__ = (UniqueConstraint("run_pk", "level_index", name="uq_level_run_index"),)

    pk: int | None = Field(default=None, sa_column=_pk())
    run_pk: int = Field(sa_column=_run_fk())
    level_index: int = Field(sa_column=Column(Integer, nullable=False))
    concurrency: int | None = Field(default=None, sa_column=Column(Integer))
    request_rate: float | None = Field(default=None, sa_column=Column(Float))
    requests_total: int = Field(sa_column=Column(Integer, nullable=False))
    requests_failed: int = Field(sa_column=Column(Integer, nullable=False))
    output_throughput: float | None = Field(default=None, sa_column=Column(Float))
    error_rate: float | None = Field(default=None, sa_column=Column(Float))
    goodput_percent: float | None = Field(default=None, sa_column=Column(Float))
    summary: str = Field(sa_column=Column(Text, nullable=False))


class RequestTable(SQLModel, table=True):
    __tablename__ = "request"
    __table_args__ = (Index("ix_request_run_level", "run_pk", "level_index"),)

    pk: int | None = Field(default=None, sa_column=_pk())
    run_pk: int = Field(sa_column=_run_fk())
    level_index: int = Field(sa_column=Column(Integer, nullable=False))
    request_id: str = Field(sa_column=Column(String(128), nullable=False))
    t_start_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    t_end_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    t_scheduled_ns: int | None = Field(default=None, sa_column=Column(BigInteger))
    t_ready_ns: int | None = Field(default=None, sa_column=Column(BigInteger))
    clock: str | None = Field(default=None, sa_column=Column(String(8)))
    clock_steps: int | None = Field(default=None, sa_column=Column(Integer))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))
    http_status: int | None = Field(default=None, sa_column=Column(Integer))
    error: str | None = Field(default=None, sa_column=Column(Text))
    output_tokens: int | None = Field(default=None, sa_column=Column(Integer))
    input_tokens: int | None = Field(default=None, sa_column=Column(Integer))
    output_token_source: str | None = Field(default=None, sa_column=Column(String(16)))
    input_token_source: str | None = Field(default=None, sa_column=Column(String(16)))
    connect_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    stream: bool = Field(sa_column=Column(Boolean, nullable=False))
    reasoning_chunks: int = Field(sa_column=Column(Integer, nullable=False))
    chunk_times: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    chunk_tokens: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    # the workload's, per request (schema 4; NULL in older rows and where they do not apply)
    input_len_requested: int | None = Field(default=None, sa_column=Column(Integer))
    output_len_requested: int | None = Field(default=None, sa_column=Column(Integer))
    turn: int | None = Field(default=None, sa_column=Column(Integer))
    t_first_answer_ns: int | None = Field(default=None, sa_column=Column(BigInteger))
    reasoning_tokens: int | None = Field(default=None, sa_column=Column(Integer))


class GpuSampleTable(SQLModel, table=True):
    __tablename__ = "gpu_sample"

    pk: int | None = Field(default=None, sa_column=_pk())
    run_pk: int = Field(sa_column=Column(_KEY, ForeignKey("run.pk"), nullable=False, index=True))
    t: float = Field(sa_column=Column(Float, nullable=False))
    gpu: int = Field(sa_column=Column(Integer, nullable=False))
    util: float | None = Field(default=None, sa_column=Column(Float))
    mem_used_mb: float | None = Field(default=None, sa_column=Column(Float))
    mem_total_mb: float | None = Field(default=None, sa_column=Column(Float))
    temp_c: float | None = Field(default=None, sa_column=Column(Float))
    power_w: float | None = Field(default=None, sa_column=Column(Float))
    power_limit_w: float | None = Field(default=None, sa_column=Column(Float))
    # fields a later GpuSample gains, kept as JSON until they earn a column
    extra: str | None = Field(default=None, sa_column=Column(Text))


class ServerSampleTable(SQLModel, table=True):
    __tablename__ = "server_sample"

    pk: int | None = Field(default=None, sa_column=_pk())
    run_pk: int = Field(sa_column=Column(_KEY, ForeignKey("run.pk"), nullable=False, index=True))
    t: float = Field(sa_column=Column(Float, nullable=False))
    running: float | None = Field(default=None, sa_column=Column(Float))
    waiting: float | None = Field(default=None, sa_column=Column(Float))
    kv_cache_usage: float | None = Field(default=None, sa_column=Column(Float))
    prefix_cache_hit_rate: float | None = Field(default=None, sa_column=Column(Float))
    extra: str | None = Field(default=None, sa_column=Column(Text))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table SQLModel made for a table model (its `__table__`, which SQLModel's types leave out)."""
    table = inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


TABLES = [
    table_of(MetaTable),
    table_of(RunTable),
    table_of(LevelTable),
    table_of(RequestTable),
    table_of(GpuSampleTable),
    table_of(ServerSampleTable),
]
