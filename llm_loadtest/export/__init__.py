"""Exports of a stored or fresh run: JSON (docs/results.md), CSV (levels or requests), XLSX."""

from llm_loadtest.export.csv_export import to_csv
from llm_loadtest.export.json_export import to_json, to_json_text
from llm_loadtest.export.run_export import EXPORT_FORMATS, export_records, write_export
from llm_loadtest.export.xlsx_export import to_xlsx

__all__ = ["EXPORT_FORMATS", "export_records", "to_csv", "to_json", "to_json_text", "to_xlsx", "write_export"]
