"""Find capacity: the search runs live (each probe a point of goodput against load, with the
target line and the bracket), and its answer becomes the headline, the Pareto chart beside.

The screen draws from a `SearchState`; the search itself runs in this loop, its probes in
the engine's child process like any run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from llm_loadtest.capacity.gpus import flag_gpus
from llm_loadtest.capacity.live import SearchState
from llm_loadtest.capacity.probes import load_of
from llm_loadtest.capacity.recommend import exit_code_for
from llm_loadtest.capacity.target import DEFAULT_MIN_REQUESTS, DEFAULT_MIN_SECONDS, make_target
from llm_loadtest.model.config import ConfigError, GoodputSLO, RunConfig
from llm_loadtest.model.results import RunResult
from llm_loadtest.model.search import GpuCount, SearchRecord, SearchTarget
from llm_loadtest.report.capacity import answer_lines, pareto_points
from llm_loadtest.tui import formatting as fmt
from llm_loadtest.tui.screens.app_screen import AppScreen
from llm_loadtest.tui.widgets.charts import Chart, Series

if TYPE_CHECKING:
    from llm_loadtest.capacity.search import CapacitySearch

TICK_S = 0.25
DEFAULT_PEAK_USERS = 100


def slo_text(slo: GoodputSLO | None) -> str:
    if slo is None:
        return ""
    return ",".join(f"{name}:{value:g}" for name in ("ttft", "tpot", "e2e") if (value := getattr(slo, f"{name}_ms")) is not None)


class CapacityDialog(ModalScreen[tuple[SearchTarget, GpuCount | None] | None]):
    """The question: SLOs, the peak in users, the goodput target, and (optionally) the GPUs of one replica."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="capacity-question.cancel")]

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="capacity-dialog"):
            yield Label("Find capacity: the most users this server holds within the SLOs", classes="dialog-question")
            for key, label, value, placeholder in (
                ("slo", "SLOs (ms)", slo_text(self.config.goodput) or "ttft:500,tpot:50", "ttft:500,tpot:50"),
                ("peak", "Peak users", str(DEFAULT_PEAK_USERS), "users to serve at the peak"),
                ("target", "Goodput target %", "95", "share of requests within the SLOs"),
                ("gpus", "GPUs a replica", "", "e.g. 2 H100 (blank: NVML, else replicas)"),
                ("requests", "Probe requests ≥", str(DEFAULT_MIN_REQUESTS), "fewest requests per probe"),
                ("seconds", "Probe seconds ≥", f"{DEFAULT_MIN_SECONDS:g}", "fewest seconds per probe"),
            ):
                with Horizontal(classes="capacity-field"):
                    yield Label(label, classes="capacity-label")
                    yield Input(value, placeholder=placeholder, id=f"cap-{key}")
            yield Static("", id="cap-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Search", id="search", variant="primary")
                yield Button("Cancel", id="cancel")

    def _value(self, key: str) -> str:
        return self.query_one(f"#cap-{key}", Input).value.strip()

    def question(self) -> tuple[SearchTarget, GpuCount | None]:
        """The dialog's answer, or ConfigError with one line to show."""
        try:
            peak, requests = int(self._value("peak")), int(self._value("requests"))
            percent, seconds = float(self._value("target").rstrip("%")), float(self._value("seconds"))
        except ValueError:
            raise ConfigError("peak users and probe requests are whole numbers; the target and probe seconds numbers") from None
        if min(peak, requests) < 1 or not seconds > 0:
            raise ConfigError("peak users, probe requests and probe seconds must be above 0")
        gpus = None
        if text := self._value("gpus"):
            count, _, name = text.partition(" ")
            if not count.isdigit() or int(count) < 1:
                raise ConfigError("GPUs a replica: a count, then optionally a name, e.g. 2 H100")
            gpus = flag_gpus(int(count), name.strip() or None)
        shapes = [(self.config.input_len, self.config.output_len)]
        target = make_target(
            goodput=self._value("slo"),
            peak_concurrency=peak,
            goodput_percent=percent,
            shapes=shapes,
            min_requests=requests,
            min_seconds=seconds,
        )
        return target, gpus

    def _finish(self) -> None:
        try:
            self.dismiss(self.question())
        except ConfigError as exc:
            self.query_one("#cap-error", Static).update(Text(str(exc), style="red"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "search":
            self._finish()
        else:
            self.dismiss(None)


class CapacityScreen(AppScreen):
    BINDINGS = [
        Binding("escape", "app.back", "Back", id="capacity.back"),
        Binding("s", "stop", "Stop search", id="capacity.stop"),
        Binding("r", "open_result", "Probes as a run", id="capacity.open-result"),
    ]

    def __init__(self, config: RunConfig, target: SearchTarget, *, api_key: str | None = None, gpus: GpuCount | None = None) -> None:
        super().__init__()
        self.config = config
        self.target = target
        self.api_key = api_key
        self.gpus = gpus
        self.state = SearchState(target)
        self.search: CapacitySearch | None = None
        self._drawn = -1

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="capacity"):
            yield Static(self._title(), id="cap-title")
            yield Static("", id="cap-status")
            yield Static("", id="cap-answer")
            with Horizontal(classes="pair"):
                yield Chart("goodput % by load", y_max=105.0, id="cap-goodput")
                yield Chart("Pareto: tok/s per user by tok/s per GPU", id="cap-pareto")
        yield Footer()

    def _title(self) -> Text:
        t = self.target
        peak = f"{t.peak_concurrency} users" if t.mode == "concurrency" else f"{t.peak_rate:g} req/s"
        text = Text()
        text.append(self.config.model, style="bold")
        text.append(f" @ {fmt.host(self.config.server)}", style="dim")
        text.append(f"  ·  SLO {slo_text(t.slo)} · target {t.goodput_percent:g} % · peak {peak}")
        return text

    def on_mount(self) -> None:
        self.sub_title = "Find capacity"
        self.query_one("#cap-answer", Static).display = False
        self.set_interval(TICK_S, self._draw)
        self._run()

    @work(exclusive=True, group="capacity")
    async def _run(self) -> None:
        from llm_loadtest.capacity.gpus import serving_gpus
        from llm_loadtest.capacity.search import CapacitySearch

        gpus, note = self.gpus, None
        if gpus is None:
            gpus, note = serving_gpus(self.config.server)
        self.search = search = CapacitySearch(
            self.config,
            self.target,
            make_controller=lambda config: self.host.controller_factory(config, api_key=self.api_key),
            store=self.host.store,
            gpus=gpus,
            gpu_note=note,
        )
        search.subscribe(self.state.take)
        try:
            result = await search.run()
            self.host.capacity_result = result
            self.host.run_exit_code = exit_code_for(result)
        except Exception as exc:  # noqa: BLE001 - the server unreachable, and anything else: shown, not raised
            self.state.failure = str(exc) or type(exc).__name__
            self.state.changes += 1
        self._draw()

    # --- drawing ---------------------------------------------------------------------------
    def _draw(self) -> None:
        if self.state.changes == self._drawn:
            return
        self._drawn = self.state.changes
        self.query_one("#cap-status", Static).update(self.state.status_line())
        self._draw_goodput()
        self._draw_pareto()
        if self.state.result is not None:
            self._draw_answer(self.state.result)

    def _draw_goodput(self) -> None:
        probes = [(p, p.goodput_percent) for p in self.state.probes if p.goodput_percent is not None]
        load = [load_of(p) for p, _ in probes]
        met = [(x, percent) for x, (p, percent) in zip(load, probes) if p.passed]
        missed = [(x, percent) for x, (p, percent) in zip(load, probes) if not p.passed]
        high = max(load, default=1.0)
        series = [Series(f"target {self.target.goodput_percent:g} %", [0.0, high], [self.target.goodput_percent] * 2, "gold3", "line")]
        for label, points, style in (("meets", met, "green3"), ("misses", missed, "red")):
            if points:
                series.append(Series(label, [x for x, _ in points], [y for _, y in points], style, "points"))
        self.query_one("#cap-goodput", Chart).set_series(series, x_limits=(0.0, high * 1.05))

    def _draw_answer(self, result: RunResult) -> None:
        record = result.search
        answer = self.query_one("#cap-answer", Static)
        lines = answer_lines(record.answer) if record is not None and record.answer is not None else ["no answer"]
        text = Text(lines[0], style="bold")
        for line in lines[1:3]:
            text.append("\n" + line)
        answer.update(text)
        answer.display = True

    def _draw_pareto(self) -> None:
        """Every probe so far; the frontier among them (per GPU once the answer knows the GPUs)."""
        result = self.state.result
        record = (
            result.search
            if result is not None and result.search is not None
            else SearchRecord(target=self.target, probes=self.state.probes)
        )
        points, unit = pareto_points(record)
        known = [p for p in points if p.per_gpu is not None and p.per_user is not None]
        frontier = sorted((p for p in known if p.frontier), key=lambda p: p.per_gpu or 0.0)
        pareto = self.query_one("#cap-pareto", Chart)
        pareto.border_title = f"Pareto: tok/s per user by {unit}"
        pareto.set_series(
            [
                Series("probes", [p.per_gpu for p in known], [p.per_user for p in known], "dodger_blue1", "points"),
                Series("frontier", [p.per_gpu for p in frontier], [p.per_user for p in frontier], "green3", "linepoints"),
            ]
        )

    # --- actions --------------------------------------------------------------------------
    def action_stop(self) -> None:
        if self.search is not None and not self.state.done:
            self.search.abort()
            self.notify("stopping after the probe in flight; finished probes are kept")

    def action_open_result(self) -> None:
        if self.state.result is None:
            self.notify("the search is still running", severity="warning")
            return
        self.host.open_result(self.state.result.run_id)
