"""Where the results database lives (docs/cli.md, "Where results live").

Order: `--db` > `LLM_LOADTEST_DB` (an SQLAlchemy URL or a path) > `DATABASE_PATH` (a path)
> `$XDG_DATA_HOME/llm-loadtest/benchmarks.db`. The folder of an SQLite file is created when
missing, so that a first run on a fresh machine just works.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from llm_loadtest.storage.errors import StoreError

APP_NAME = "llm-loadtest"
DEFAULT_FILENAME = "benchmarks.db"


def default_database_path() -> Path:
    # platformdirs honours $XDG_DATA_HOME on Linux and falls back to ~/.local/share.
    return platformdirs.user_data_path(APP_NAME) / DEFAULT_FILENAME


def resolve_database_url(db: str | None = None) -> str:
    """The SQLAlchemy URL of the results database; SQLite folders are created.

    A folder that cannot be created (a file in the way, no permission) is a one-line StoreError.
    """
    candidates = (
        (db, True),
        (os.environ.get("LLM_LOADTEST_DB"), True),
        (os.environ.get("DATABASE_PATH"), False),
    )
    for value, may_be_url in candidates:
        if value and value.strip():
            return _to_url(value.strip(), may_be_url)
    return _sqlite_url(default_database_path())


def is_url(value: str) -> bool:
    # A Windows path (C:\...) has a colon but never "://".
    if "://" not in value:
        return False
    try:
        make_url(value)
    except ArgumentError:
        return False
    return True


def sqlite_file(url: str | URL) -> Path | None:
    """The file behind an SQLite URL, or None (another database, or in memory)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _to_url(value: str, may_be_url: bool) -> str:
    if may_be_url and is_url(value):
        path = sqlite_file(value)
        if path is not None:
            _make_folder(path.expanduser())
        return value
    return _sqlite_url(Path(value))


def _sqlite_url(path: Path) -> str:
    path = path.expanduser().absolute()
    _make_folder(path)
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def _make_folder(database: Path) -> None:
    """Create the folder of an SQLite file, or say in one line why it cannot be."""
    folder = database.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = exc.filename or folder
        if isinstance(exc, FileExistsError):
            reason = f"{blocker} is a file, not a folder"
        elif isinstance(exc, NotADirectoryError):
            reason = f"a part of {blocker} is a file, not a folder"
        else:
            reason = f"{blocker}: {exc.strerror or type(exc).__name__}"
        raise StoreError(f"cannot create the folder of database {database} ({reason}); choose another --db") from exc
