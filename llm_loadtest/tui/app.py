"""The Textual app: dashboard, new benchmark, live run, result view, history, compare.

Screens arrange widgets and react to messages; figures come from the engine's events and the
store, never from arithmetic here.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from llm_loadtest.engine.events import EngineEvent, RunFinished
from llm_loadtest.engine.priority import yield_cpu_to_engine
from llm_loadtest.engine.protocols import ControllerFactory, RunControl, RunStore
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ExitCode
from llm_loadtest.model.results import RunResult
from llm_loadtest.model.search import GpuCount, SearchTarget
from llm_loadtest.settings.env import env_settings
from llm_loadtest.tui.settings import DARK_THEME, LIGHT_THEME, UISettings, settings_path

if TYPE_CHECKING:
    from llm_loadtest.storage.store import Store


def default_controller_factory(config: RunConfig, *, api_key: str | None = None, store: RunStore | None = None) -> RunControl:
    from llm_loadtest.engine.controller import RunController

    return RunController(config, api_key=api_key, store=store)


class LoadTestApp(App[int]):
    """`llm-loadtest` with no arguments."""

    TITLE = "llm-loadtest"
    # one stylesheet per screen, each scoped by its screen's type; loaded once, up front
    CSS_PATH = [
        "app.tcss",
        "widgets/widgets.tcss",
        "screens/dashboard.tcss",
        "screens/new_benchmark.tcss",
        "screens/live_run.tcss",
        "screens/result_view.tcss",
        "screens/history.tcss",
        "screens/compare.tcss",
        "screens/capacity.tcss",
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    BINDINGS = [
        Binding("escape", "back", "Back", show=False, id="app.back"),
        Binding("f2", "toggle_theme", "Dark/light", show=False, id="app.toggle-theme"),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
    ]

    def __init__(
        self,
        *,
        store: Store | None = None,
        db: str | None = None,
        initial_config: RunConfig | None = None,
        api_key: str | None = None,
        start_live: bool = False,
        controller_factory: ControllerFactory | None = None,
        settings_file: Path | None = None,
        yield_cpu: bool = False,
        capacity: tuple[SearchTarget, GpuCount | None] | None = None,
        gate: Callable[[RunResult], list[str]] | None = None,
    ) -> None:
        self._settings_file = settings_file or settings_path()
        self.settings = UISettings.load(self._settings_file)
        super().__init__()
        self.set_keymap(self.settings.keymap)  # the user's keys for bindings, by binding id
        self._store = store
        self._db = db
        self.initial_config = initial_config
        # the server (and model) last benchmarked here: a new form starts on it (the demo's simulator)
        self.recent_target: tuple[str, str] | None = (initial_config.server, initial_config.model) if initial_config else None
        self.api_key = api_key
        self.start_live = start_live
        self.controller_factory: ControllerFactory = controller_factory or default_controller_factory
        if gate is not None:
            self.controller_factory = self._gated(self.controller_factory, gate)
        self.run_exit_code = 0
        self.terminated = False  # SIGTERM came: the process exits 143 whatever the run's status
        self.theme = self.settings.theme
        self._yield_cpu = yield_cpu
        self.capacity = capacity  # `recommend` without --headless: the search opens at once
        self.capacity_result: RunResult | None = None  # the last search's, for `recommend -o`

    def _gated(self, factory: ControllerFactory, gate: Callable[[RunResult], list[str]]) -> ControllerFactory:
        """Controllers whose finished run is checked by `gate` (`run`'s --fail-under-goodput and
        --baseline): each miss is said, as the command line says it on stderr."""

        def tell(event: EngineEvent) -> None:
            if isinstance(event, RunFinished):
                for line in gate(event.result):
                    self.notify(line, title="Gate missed", severity="error", timeout=30)

        def make(config: RunConfig, *, api_key: str | None = None, store: RunStore | None = None) -> RunControl:
            controller = factory(config, api_key=api_key, store=store)
            controller.subscribe(tell)
            return controller

        return make

    def on_load(self) -> None:
        if self._yield_cpu:
            # drawing gives way to the engine's child (and a server on this machine) when the
            # cores are busy, so that a chart frame never delays a timestamp
            yield_cpu_to_engine()

    # --- services ------------------------------------------------------------------------
    @property
    def store(self) -> Store | None:
        """The results database, opened on first use; None (with a notice) when it cannot be."""
        if self._store is None:
            from llm_loadtest.storage.store import Store

            try:
                self._store = Store.open(self._db)
            except Exception as exc:  # noqa: BLE001 - shown to the user, the app stays usable
                self.notify(f"cannot open the results database: {exc}", severity="error", timeout=10)
                return None
        return self._store

    def default_api_key(self) -> str | None:
        return self.api_key or env_settings().api_key

    # --- screens -------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        from llm_loadtest.tui.screens.dashboard import DashboardScreen

        return DashboardScreen()

    def on_mount(self) -> None:
        self._catch_sigterm(True)
        if self.initial_config is not None and self.capacity is not None:
            self.open_capacity(self.initial_config, self.default_api_key(), *self.capacity)
        elif self.initial_config is not None and self.start_live:
            self.open_live_run(self.initial_config, self.default_api_key())
        elif self.initial_config is not None:
            self.open_new_benchmark(self.initial_config)

    def open_new_benchmark(self, config: RunConfig | None = None) -> None:
        from llm_loadtest.tui.screens.new_benchmark import NewBenchmarkScreen

        self.push_screen(NewBenchmarkScreen(initial=config))

    def open_live_run(self, config: RunConfig, api_key: str | None) -> None:
        from llm_loadtest.tui.screens.live_run import LiveRunScreen

        self.recent_target = (config.server, config.model)
        self.push_screen(LiveRunScreen(config, api_key=api_key))

    def open_capacity(self, config: RunConfig, api_key: str | None, target: SearchTarget, gpus: GpuCount | None = None) -> None:
        from llm_loadtest.tui.screens.capacity import CapacityScreen

        self.push_screen(CapacityScreen(config, target, api_key=api_key, gpus=gpus))

    def ask_capacity(self, config: RunConfig, api_key: str | None) -> None:
        """The new benchmark screen's Find capacity: ask the question, then search."""
        from llm_loadtest.tui.screens.capacity import CapacityDialog

        def answered(question: tuple[SearchTarget, GpuCount | None] | None) -> None:
            if question is not None:
                self.open_capacity(config, api_key, *question)

        self.push_screen(CapacityDialog(config), answered)

    def open_result(self, run_id: str) -> None:
        from llm_loadtest.tui.screens.result_view import ResultScreen

        self.push_screen(ResultScreen(run_id))

    def open_history(self) -> None:
        from llm_loadtest.tui.screens.history import HistoryScreen

        self.push_screen(HistoryScreen())

    def open_compare(self, run_ids: Iterable[str] = ()) -> None:
        from llm_loadtest.tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(list(run_ids)))

    # --- actions -------------------------------------------------------------------------
    async def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def on_unmount(self) -> None:
        self._catch_sigterm(False)

    def _catch_sigterm(self, catch: bool) -> None:
        """SIGTERM (CI, Docker, systemd, `timeout`) ends a run as Ctrl+C does, keeping what it measured."""
        try:
            loop = asyncio.get_running_loop()
            if catch:
                loop.add_signal_handler(signal.SIGTERM, self.terminate)
            else:
                loop.remove_signal_handler(signal.SIGTERM)
        except (RuntimeError, ValueError, NotImplementedError):  # not the main thread, or no signals here
            pass

    def terminate(self) -> None:
        """Abort the run in progress without asking (it is kept and saved), then exit 143."""
        from llm_loadtest.tui.screens.live_run import LiveRunScreen

        self.terminated = True
        running = [s for s in self.screen_stack if isinstance(s, LiveRunScreen) and s.in_flight]
        if running:
            self.notify("terminated (SIGTERM): stopping the run; what was measured is being saved…")
            running[0].abort(then_quit=True)
        else:
            self.exit(ExitCode.TERMINATED)

    async def action_quit(self) -> None:
        """ctrl+q: while a run is going, ask first, then abort it (keeping what it measured)."""
        from llm_loadtest.tui.screens.dialogs import ConfirmDialog
        from llm_loadtest.tui.screens.live_run import LiveRunScreen

        running = [s for s in self.screen_stack if isinstance(s, LiveRunScreen) and s.in_flight]
        if not running:
            self.exit(self.run_exit_code)
            return
        if isinstance(self.screen, ConfirmDialog):
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.notify("stopping the run; what was measured is being saved…")
                running[0].abort(then_quit=True)

        self.push_screen(
            ConfirmDialog("A run is in progress. Abort it and quit? What it measured so far is kept.", yes="Abort and quit", no="Stay"),
            confirmed,
        )

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.theme == DARK_THEME else DARK_THEME

    def watch_theme(self, theme_name: str) -> None:
        if theme_name in (DARK_THEME, LIGHT_THEME) and theme_name != self.settings.theme:
            self.settings.theme = theme_name
            self.settings.save(self._settings_file)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("New benchmark", "Configure and start a benchmark", self.open_new_benchmark)
        yield SystemCommand("History", "All stored runs", self.open_history)
        yield SystemCommand("Compare runs", "Put up to 5 runs side by side", self.open_compare)
        yield SystemCommand("Dark / light", "Toggle the dark and light themes (remembered)", self.action_toggle_theme)
        yield from super().get_system_commands(screen)


def run_app(
    *,
    initial_config: RunConfig | None = None,
    api_key: str | None = None,
    db: str | None = None,
    store: Store | None = None,
    start_live: bool = False,
    controller_factory: ControllerFactory | None = None,
    capacity: tuple[SearchTarget, GpuCount | None] | None = None,
    gate: Callable[[RunResult], list[str]] | None = None,
) -> int:
    """Open the app; returns the process exit code (that of the last run, if any)."""
    app = LoadTestApp(
        store=store,
        initial_config=initial_config,
        api_key=api_key,
        db=db,
        start_live=start_live,
        controller_factory=controller_factory,
        yield_cpu=True,
        capacity=capacity,
        gate=gate,
    )
    result = app.run()
    if app.terminated:
        return ExitCode.TERMINATED
    return result if isinstance(result, int) else app.run_exit_code
