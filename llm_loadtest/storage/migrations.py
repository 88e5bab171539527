"""Creating the schema, and upgrading a database written by an older llm-loadtest.

The version lives in the `meta` table. A database from a newer version is refused with a
message rather than half-read: its rows may mean things this version does not know.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select, text

from llm_loadtest.storage.database import read_transaction, write_transaction
from llm_loadtest.storage.errors import StoreError
from llm_loadtest.storage.schema import SCHEMA_VERSION, TABLES, MetaTable, table_of

VERSION_KEY = "schema_version"
_META = table_of(MetaTable)
_OUR_TABLES = {table.name for table in TABLES}


def _first_gap_apart(conn: Connection) -> None:
    """1 -> 2: new chunk-time blobs keep their first gap in a 64-bit header (codec's code 3),
    so that a TTFT over 4.29 s no longer widens every gap of its request to 64 bits. The blobs
    of schema 1 (codes 1 and 2) stay as they are: this version reads them too. The version
    moves on so that an older llm-loadtest refuses the database instead of failing on a row."""


def _search_column(conn: Connection) -> None:
    """2 -> 3: runs carry a capacity search (`recommend`); older runs have none (NULL)."""
    if "search" not in {column["name"] for column in inspect(conn).get_columns("run")}:
        conn.execute(text("ALTER TABLE run ADD COLUMN search TEXT"))


def _clock_columns(conn: Connection) -> None:
    """3 -> 4: requests carry when the load pattern wanted them sent (t_ready_ns), their clock
    (kernel | user) and the wall-clock steps they saw; older requests have none of them (NULL:
    read as the user clock they had, no step seen)."""
    _add_request_columns(conn, (("t_ready_ns", "BIGINT"), ("clock", "VARCHAR(8)"), ("clock_steps", "INTEGER")))


def _workload_columns(conn: Connection) -> None:
    """4 -> 5: requests carry their workload figures (lengths asked for, turn, first answer
    chunk, reasoning tokens); older rows have none (NULL)."""
    _add_request_columns(
        conn,
        (
            ("input_len_requested", "INTEGER"),
            ("output_len_requested", "INTEGER"),
            ("turn", "INTEGER"),
            ("t_first_answer_ns", "BIGINT"),
            ("reasoning_tokens", "INTEGER"),
        ),
    )


def _last_write_column(conn: Connection) -> None:
    """6 -> 7: runs carry when their writer last wrote; older runs have none (NULL: a reader on
    another host leaves them as they are)."""
    if "last_write_at" not in {column["name"] for column in inspect(conn).get_columns("run")}:
        conn.execute(text("ALTER TABLE run ADD COLUMN last_write_at TIMESTAMP"))


def _add_request_columns(conn: Connection, columns: tuple[tuple[str, str], ...]) -> None:
    present = {column["name"] for column in inspect(conn).get_columns("request")}
    for name, kind in columns:
        if name not in present:
            conn.execute(text(f"ALTER TABLE request ADD COLUMN {name} {kind}"))


def _notes_column(conn: Connection) -> None:
    """5 -> 6: runs keep their notes apart from their warnings; older runs have them among
    the warnings (NULL here)."""
    if "notes" not in {column["name"] for column in inspect(conn).get_columns("run")}:
        conn.execute(text("ALTER TABLE run ADD COLUMN notes TEXT"))


# MIGRATIONS[n] upgrades a database from schema n to n + 1, inside one transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _first_gap_apart,
    2: _search_column,
    3: _clock_columns,
    4: _workload_columns,
    5: _notes_column,
    6: _last_write_column,
}


def ensure_schema(engine: Engine, where: str) -> None:
    """Create or upgrade the schema; a database already current is only read."""
    with read_transaction(engine) as conn:
        if _current_version(conn, where) == SCHEMA_VERSION and _missing_tables(conn) == set():
            return
    with write_transaction(engine) as conn:
        # Checked again under the write lock: another process may have just done it.
        version = _current_version(conn, where)
        if version is None:
            _create_tables(conn)
            conn.execute(_META.insert().values(key=VERSION_KEY, value=str(SCHEMA_VERSION)))
            return
        _upgrade(conn, version, where)
        _create_tables(conn)


def _create_tables(conn: Connection) -> None:
    MetaTable.metadata.create_all(conn, tables=TABLES, checkfirst=True)


def _current_version(conn: Connection, where: str) -> int | None:
    tables = set(inspect(conn).get_table_names())
    if "meta" not in tables:
        if tables & _OUR_TABLES:
            raise StoreError(
                f"database {where} has tables named like llm-loadtest's but no schema version; "
                "it was not written by llm-loadtest: use another --db"
            )
        return None
    value = conn.execute(select(_META.c.value).where(_META.c.key == VERSION_KEY)).scalar_one_or_none()
    try:
        version = int(value) if value is not None else None
    except ValueError:
        version = None
    if version is None:
        raise StoreError(f"database {where} has no readable schema version; it is damaged or not llm-loadtest's: use another --db")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database {where} was written by a newer llm-loadtest (schema {version}, this one reads "
            f"up to {SCHEMA_VERSION}); upgrade with `pip install -U llm-loadtest` or use another --db"
        )
    return version


def _missing_tables(conn: Connection) -> set[str]:
    return _OUR_TABLES - set(inspect(conn).get_table_names())


def _upgrade(conn: Connection, version: int, where: str) -> None:
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise StoreError(
                f"database {where} uses schema {version}, which this llm-loadtest cannot upgrade to "
                f"{SCHEMA_VERSION}; export its runs with the version that wrote it, then use a new --db"
            )
        step(conn)
        version += 1
        conn.execute(_META.update().where(_META.c.key == VERSION_KEY).values(value=str(version)))
