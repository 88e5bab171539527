"""Store failures as one line that says what happened and what to do about it."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from llm_loadtest.model.errors import ExitCode, LoadtestError


class StoreError(LoadtestError):
    """A database problem, or a run that cannot be found; the message is a single line."""

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))


class UnknownRunError(StoreError):
    pass


class AmbiguousRunError(StoreError):
    pass


def describe(exc: BaseException, where: str, busy_timeout_s: float) -> StoreError:
    """A StoreError for a driver exception; `where` names the database (no password)."""
    detail = _first_line(exc)
    text = detail.lower()
    if "locked" in text or "busy" in text:
        return StoreError(
            f"database {where} is locked by another process (waited {busy_timeout_s:g} s); try again when it is done, or use another --db"
        )
    if "readonly" in text or "read-only" in text or "read only" in text:
        return StoreError(f"database {where} is read-only; make it writable or use another --db")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(f"database {where} is corrupt or not an llm-loadtest database ({detail}); move it away or use another --db")
    if "unable to open" in text:
        return StoreError(f"cannot open database {where} ({detail}); check the path and its permissions, or use another --db")
    return StoreError(f"database {where}: {detail}")


def _first_line(exc: BaseException) -> str:
    # The driver's own message, without SQLAlchemy's statement and parameters dump.
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    elif isinstance(exc, SQLAlchemyError) and exc.__cause__ is not None:
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
