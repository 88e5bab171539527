"""Where the results database lives (docs/cli.md, "Where results live").

Order: `--db` > `LLM_LOADTEST_DB` (an SQLAlchemy URL or a path) > `DATABASE_PATH` (a path)
> `$XDG_DATA_HOME/llm-loadtest/benchmarks.db`. Only the default location's folder is
created when missing, so that a first run on a fresh machine just works; a database the user
named must be in a folder that exists (a typo is not silently made into a new folder). A
reader (`must_exist`) never creates a database: a file that is not there is an error.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from llm_loadtest.settings.env import env_settings
from llm_loadtest.storage.errors import StoreError

APP_NAME = "llm-loadtest"
DEFAULT_FILENAME = "benchmarks.db"


def default_database_path() -> Path:
    # platformdirs honours $XDG_DATA_HOME on Linux and falls back to ~/.local/share.
    return platformdirs.user_data_path(APP_NAME) / DEFAULT_FILENAME


def resolve_database_url(db: str | None = None, *, must_exist: bool = False) -> str:
    """The SQLAlchemy URL of the results database, or a one-line StoreError saying why it
    cannot be there (a missing folder, a file in the way; with `must_exist`, no database yet)."""
    env = env_settings()
    candidates = ((db, True), (env.db, True), (env.database_path, False))
    for value, may_be_url in candidates:
        if value and value.strip():
            url = _to_url(value.strip(), may_be_url)
            break
    else:
        path = default_database_path()
        if not must_exist:
            _make_folder(path)
        url = _sqlite_url(path)
    file = sqlite_file(url)
    if file is not None:
        _check_place(file.expanduser(), must_exist)
    return url


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
        return value
    return _sqlite_url(Path(value))


def _sqlite_url(path: Path) -> str:
    path = path.expanduser().absolute()
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def _check_place(database: Path, must_exist: bool) -> None:
    if database.is_dir():
        raise StoreError(f"database {database} is a folder; give a file path with --db")
    folder = database.parent
    if must_exist and not database.exists():
        reason = _folder_problem(folder) or "nothing has been stored there"
        raise StoreError(f"no database at {database}: {reason} (check --db, LLM_LOADTEST_DB, DATABASE_PATH)")
    if problem := _folder_problem(folder):
        raise StoreError(f"cannot create database {database}: {problem}; choose another --db or create the folder")


def _folder_problem(folder: Path) -> str | None:
    if folder.is_dir():
        return None
    blocker = next((part for part in (folder, *folder.parents) if part.exists()), folder)
    return f"folder {folder} does not exist" if blocker.is_dir() else f"{blocker} is a file, not a folder"


def _make_folder(database: Path) -> None:
    """Create the folder of the default database, or say in one line why it cannot be."""
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
