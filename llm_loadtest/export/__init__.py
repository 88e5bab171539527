"""Exports of a stored or fresh run: JSON (docs/results.md), CSV (levels or requests), XLSX.

Each name is imported from its module when first asked for, so that writing a run's JSON
never loads the spreadsheet library.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "to_csv": "csv_export",
    "to_json": "json_export",
    "to_json_text": "json_export",
    "EXPORT_FORMATS": "run_export",
    "export_records": "run_export",
    "write_export": "run_export",
    "to_xlsx": "xlsx_export",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
