"""What `run` does around the engine, headless or in the app: the controller's telemetry
settings, `--log-file`, `--output` and docs/cli.md's exit codes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llm_loadtest.cli import CliError
from llm_loadtest.cli.run_log import RunLog
from llm_loadtest.engine.events import EngineEvent, RunFailed, RunFinished
from llm_loadtest.export.json_export import to_json_text
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode
from llm_loadtest.model.results import RunResult
from llm_loadtest.report.gates import goodput_misses, regression_misses, run_failures
from llm_loadtest.report.regression import regression_check

if TYPE_CHECKING:
    from llm_loadtest.engine.controller import RunController
    from llm_loadtest.engine.protocols import RunStore
    from llm_loadtest.publish.prometheus import PrometheusPublisher
    from llm_loadtest.storage.store import Store

DEFAULT_MAX_REGRESSION = 10.0  # percent


@dataclass
class RunOptions:
    output: Path | None = None
    log_file: Path | None = None
    db: str | None = None
    save: bool = True
    in_process: bool = False
    fail_under_goodput: float | None = None
    metrics_url: str | None = None
    gpu: bool = True
    telemetry_interval_s: float = 1.0
    baseline: RunResult | None = None  # the regression gate's, when --baseline is given
    max_regression: float = DEFAULT_MAX_REGRESSION
    prometheus_port: int | None = None
    prometheus_host: str = "127.0.0.1"
    pushgateway: str | None = None
    _publisher: PrometheusPublisher | None = None

    def open_store(self) -> Store | None:
        """The database the run is stored in (None with --no-save); a StoreError (exit 2) when
        it cannot be opened, so that a run is never made that cannot be kept."""
        if not self.save:
            return None
        from llm_loadtest.storage.store import Store

        return Store.open(self.db)

    def check_files(self) -> None:
        """Find out before the run, not after it, that a file cannot be written."""
        _check_writable(self.output, "--output")
        _check_writable(self.log_file, "--log-file")
        self.publisher()  # a port that is taken is found before the run

    def controller(self, config: RunConfig, *, api_key: str | None = None, store: RunStore | None = None) -> RunController:
        """A controller with the telemetry settings, writing `--log-file` (lines carry the run id)."""
        from llm_loadtest.engine.controller import RunController

        controller = RunController(
            config,
            api_key=api_key,
            store=store,
            in_process=self.in_process,
            gpu=self.gpu,
            telemetry_interval_s=self.telemetry_interval_s,
            metrics_url=self.metrics_url,
        )
        if self.log_file:
            controller.subscribe(RunLog(self.log_file, controller.run_id, config))
        if (publisher := self.publisher()) is not None:
            controller.subscribe(publisher.listener(config, controller.run_id))
        return controller

    def publisher(self) -> PrometheusPublisher | None:
        """Our figures for Prometheus, one endpoint for every run of this process."""
        if self.prometheus_port is not None and not 0 <= self.prometheus_port <= 65535:
            raise CliError(f"--prometheus-port must be 0 to 65535 (got {self.prometheus_port})")
        if self._publisher is None and (self.prometheus_port is not None or self.pushgateway):
            from llm_loadtest.publish.prometheus import PrometheusPublisher

            try:
                self._publisher = PrometheusPublisher(port=self.prometheus_port, host=self.prometheus_host, pushgateway=self.pushgateway)
            except OSError as exc:
                raise CliError(f"--prometheus-port {self.prometheus_port}: {exc.strerror or exc}") from None
        return self._publisher

    def finish(self, result: RunResult, *, terminated: bool = False) -> int:
        """Check the gates (each miss one line on stderr), write `--output` and return the run's
        exit code (an aborted run's says which signal stopped it: SIGTERM's when `terminated`)."""
        code = ExitCode.of_status(result.status, terminated=terminated)
        if self.baseline is not None and result.status == "completed":
            from llm_loadtest.cli.store_views import regression_table

            check = regression_check(self.baseline, result, self.max_regression)
            print(regression_table(check, self.baseline.run_id, self.max_regression))
            if not check.changes:  # a gate that checked nothing must not pass
                code = code or ExitCode.CONFIG
        for line in self.gate_misses(result):
            print(f"llm-loadtest: {line}", file=sys.stderr)
            code = code or ExitCode.FAILED
        if self.output:
            try:
                write_atomically(self.output, to_json_text(result))
            except OSError as exc:
                print(f"llm-loadtest: error: cannot write --output {self.output}: {exc.strerror or exc}", file=sys.stderr)
                return code or ExitCode.CONFIG
        return code

    def gate_misses(self, result: RunResult) -> list[str]:
        """What the goodput floor and the regression gate say about a completed run, a line per
        miss; for a failed one, why it failed (every exit 1 says why on stderr)."""
        if result.status == "failed":
            return run_failures(result)
        if result.status != "completed":
            return []
        misses = goodput_misses(result, self.fail_under_goodput) if self.fail_under_goodput is not None else []
        if self.baseline is not None:
            check = regression_check(self.baseline, result, self.max_regression)
            misses += regression_misses(check, self.baseline.run_id, self.max_regression)
        return misses


class AppRuns:
    """The options applied to the runs of one app session; `--output` and the exit code are
    those of the last run, as the app's own exit code is."""

    def __init__(self, options: RunOptions):
        self.options = options
        self._last: RunResult | None = None

    def controller(self, config: RunConfig, *, api_key: str | None = None, store: RunStore | None = None) -> RunController:
        """The app's controller factory."""
        controller = self.options.controller(config, api_key=api_key, store=store)
        controller.subscribe(self._remember)
        return controller

    def _remember(self, event: EngineEvent) -> None:
        if isinstance(event, RunFinished):
            self._last = event.result
        elif isinstance(event, RunFailed):
            self._last = None

    def finish(self, app_exit_code: int) -> int:
        if self._last is None:
            return app_exit_code
        return self.options.finish(self._last, terminated=app_exit_code == ExitCode.TERMINATED)


def _check_writable(path: Path | None, flag: str) -> None:
    if path is None:
        return
    existed = path.exists()
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder")
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    if not existed:
        path.unlink()


def write_atomically(path: Path, text: str) -> None:
    """A reader never sees half a file, and an old file survives a failed write."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
