"""`--log-file`: JSON lines of what happened, for scripts that follow a run.

Events: run_start, level_start, level_end, request_failed (request id, error class and
message), run_end. The config has no secret in it, so neither has the log.

run_start is written once the server answered the pre-flight request, with the model it
resolved (`auto` asks the server); a run that could not start logs only run_failed, marked
`"started": false`, since no run of that id is stored.
"""

from __future__ import annotations

import json
from pathlib import Path

from llm_loadtest.engine.events import EngineEvent, LevelFinished, LevelStarted, RunFailed, RunFinished, RunStarted, WarmupStarted
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.redact import redact
from llm_loadtest.model.results import utc_now


class RunLog:
    def __init__(self, path: Path, run_id: str, config: RunConfig):
        self._file = path.open("a", encoding="utf-8")
        self._run_id = run_id
        self._config = config
        self._started = False

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, RunStarted):
            self._started = True
            config = self._config.model_copy(update={"model": event.model})
            self._write("run_start", config=redact(config.model_dump(mode="json")))
        elif isinstance(event, WarmupStarted):
            self._write("warmup_start", requests=event.requests)
        elif isinstance(event, LevelStarted):
            self._write("level_start", level=event.level_index, label=event.level_label)
        elif isinstance(event, LevelFinished):
            for record in event.records:
                if not record.ok:
                    self._write(
                        "request_failed",
                        level=event.level_index,
                        request_id=record.request_id,
                        error=record.error_class,
                        message=record.error,
                        http_status=record.http_status,
                    )
            self._write("level_end", level=event.level_index, summary=event.summary.model_dump(mode="json"))
        elif isinstance(event, RunFinished):
            self._write("run_end", status=event.result.status, warnings=event.result.warnings, notes=event.result.notes)
            self.close()  # a run's last event
        elif isinstance(event, RunFailed):
            self._write("run_failed", message=event.message, exit_code=event.exit_code, started=self._started)
            if not self._started:  # no run_end follows a run that never started
                self.close()

    def _write(self, kind: str, **fields) -> None:
        line = {"event": kind, "time": utc_now().isoformat().replace("+00:00", "Z"), "run_id": self._run_id, **fields}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
