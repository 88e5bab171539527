"""Opening an SQLAlchemy engine the way the store needs it.

SQLite gets WAL (readers never block the writer, and a killed writer loses nothing that was
committed), a busy timeout (two runs writing at once wait for each other instead of failing),
and transactions we begin ourselves: a write transaction takes the write lock up front
(`BEGIN IMMEDIATE`), because a deferred one that later wants to write can fail at once
with "database is locked" instead of waiting.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

_BEGIN_OPTION = "llm_loadtest_sqlite_begin"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def describe_url(url: str) -> str:
    """How messages name the database: the file, or the URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        return database if database not in ("", ":memory:") else "(in-memory SQLite)"
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, busy_timeout_s: float) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    kwargs: dict = {"connect_args": {"timeout": busy_timeout_s, "check_same_thread": False}}
    database = parsed.database or ""
    if database in ("", ":memory:"):
        # one shared connection, or every checkout would see a fresh empty database
        kwargs["poolclass"] = StaticPool
    if database.startswith("file:"):
        kwargs["connect_args"]["uri"] = True
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        if is_sqlite(engine):
            conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    # One snapshot for a whole read, so a result never mixes two states of a live run.
    with engine.connect() as conn, conn.begin():
        yield conn


def _on_sqlite_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # The driver's own implicit BEGIN would defeat BEGIN IMMEDIATE; `_on_sqlite_begin` emits it.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            # Read-only or locked right now: reads still work, and a write says why it cannot.
            pass
        # In WAL mode NORMAL survives a killed process; only a power cut may lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())
