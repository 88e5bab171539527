"""Where results last: the SQL store (SQLite by default, any SQLAlchemy URL) and its location."""

from llm_loadtest.storage.errors import AmbiguousRunError, StoreError, UnknownRunError
from llm_loadtest.storage.location import resolve_database_url
from llm_loadtest.storage.store import RunRow, Store

__all__ = ["AmbiguousRunError", "RunRow", "Store", "StoreError", "UnknownRunError", "resolve_database_url"]
