"""The result JSON, exactly as docs/results.md promises it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from llm_loadtest.model.redact import redact
from llm_loadtest.model.results import RunResult


def to_json_text(result: RunResult) -> str:
    return json.dumps(redact(result.to_json_dict()), indent=2) + "\n"


def to_json(result: RunResult, path: str | Path | IO[str]) -> None:
    text = to_json_text(result)
    if hasattr(path, "write"):
        path.write(text)
        return
    Path(path).write_text(text, encoding="utf-8")
