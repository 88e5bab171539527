"""New benchmark: a preset, the target, the load, and Start.

Validation is the CLI's: the form hands its inputs to the same builder (`settings.build`) and
shows its first error, naming the field by its label; Start stays disabled until it is valid.
The API key is masked, comes from the environment by default, and is never saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select, Static

from llm_loadtest.adapters import connection
from llm_loadtest.adapters.registry import DEFAULT_ADAPTER, adapter_choices, adapter_class
from llm_loadtest.model.config import GoodputSLO, RunConfig
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.settings.build import DATASET_SETS, TRACE_SETS, build_config, set_by_files
from llm_loadtest.tui.screens.app_screen import AppScreen
from llm_loadtest.tui.screens.dialogs import PickDialog, PromptDialog
from llm_loadtest.tui.widgets.workload_fields import LABELS as WORKLOAD_LABELS
from llm_loadtest.tui.widgets.workload_fields import WorkloadFields

ENDPOINTS = [("chat  /v1/chat/completions", "chat"), ("completions  /v1/completions", "completions")]
LOAD_MODES = [("Concurrency levels", "concurrency"), ("Request rate (open loop)", "rate")]
STOP_MODES = [("Requests per level", "count"), ("Seconds per level", "duration")]

# RunConfig fields the form has no widget for; kept from the preset / initial config.
HIDDEN_FIELDS = ("tokenizer", "seed", "extra_body", "ignore_eos")

# The fields a workload file may set itself (settings.build): disabled while it does.
FILE_SET_FIELDS = tuple(dict.fromkeys(TRACE_SETS + DATASET_SETS))

# How an error names a field: by the label the form shows beside it.
LABELS = {
    "server": "Server URL",
    "model": "Model",
    "adapter": "Adapter",
    "endpoint": "Endpoint",
    "input_len": "Input tokens",
    "output_len": "Output tokens",
    "stream": "Streaming",
    "concurrency": "Concurrency",
    "request_rate": "Rates (req/s)",
    "burstiness": "Burstiness",
    "max_concurrency": "Max concurrency",
    "num_prompts": "Requests/level",
    "duration": "Seconds/level",
    "warmup": "Warm-up requests",
    "timeout": "Timeout (s)",
    "workers": "Client processes",
    "goodput": "Goodput SLO",
    "preset": "Preset",
}


def field_label(field: str) -> str:
    return LABELS.get(field) or WORKLOAD_LABELS.get(field) or field.replace("_", " ")


def _default(name: str) -> Any:
    return RunConfig.model_fields[name].get_default(call_default_factory=True)


def _list_text(values: list | None) -> str:
    if not values:
        return ""
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def _goodput_text(goodput: GoodputSLO | dict | None) -> str:
    if goodput is None:
        return ""
    data = goodput.model_dump() if isinstance(goodput, GoodputSLO) else dict(goodput)
    parts = [f"{name}:{data.get(f'{name}_ms'):g}" for name in ("ttft", "tpot", "e2e") if data.get(f"{name}_ms") is not None]
    return ",".join(parts)


class Field(Horizontal):
    """A label beside its input, one line high."""

    def __init__(self, label: str, *children, id: str | None = None, classes: str = "") -> None:
        super().__init__(Label(label, classes="field-label"), *children, id=id, classes=f"field {classes}".strip())


class FileSetField(Field):
    """A field a workload file may set itself; while it does, a hint beside it says so."""

    def __init__(self, label: str, input: Input, classes: str = "") -> None:
        super().__init__(label, input, Static("", id=f"{input.id}-set-by", classes="set-by-hint"), classes=classes)


class Form(VerticalScroll):
    """The form's scrolling part. When it shrinks (an error line shows below it), the field
    being edited stays in view instead of scrolling away under the line."""

    def on_resize(self, event: events.Resize) -> None:
        focused = self.screen.focused
        if focused is not None and self in focused.ancestors:
            self.call_after_refresh(focused.scroll_visible, animate=False)


class NewBenchmarkScreen(AppScreen):
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True, id="new.start"),
        Binding("ctrl+t", "test_connection", "Test", priority=True, id="new.test-connection"),
        Binding("ctrl+l", "fill_models", "Models", priority=True, id="new.fill-models"),
        Binding("ctrl+o", "save_preset", "Save preset", priority=True, id="new.save-preset"),
        Binding("ctrl+f", "find_capacity", "Capacity", priority=True, id="new.find-capacity"),
    ]

    def __init__(self, initial: RunConfig | None = None) -> None:
        super().__init__()
        self.initial = initial
        self._hidden: dict[str, Any] = {}
        self._presets: dict[str, Any] = {}
        self.config: RunConfig | None = None
        self.error: str | None = None

    # --- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Form(id="form"):
            yield Field(LABELS["preset"], Select([], id="preset", compact=True, prompt="custom (no preset)"))
            with Horizontal(id="columns"):
                with Vertical(classes="column"):
                    yield Label("Target", classes="section-title")
                    yield Field(LABELS["server"], Input(placeholder="e.g. http://127.0.0.1:8000", id="server", compact=True))
                    yield Field(
                        LABELS["model"],
                        Input(placeholder="model name (ctrl+l lists the server's)", id="model", compact=True),
                        Button("List", id="fill-models", compact=True),
                    )
                    yield Field("API key", Input(password=True, placeholder="none (env LLM_LOADTEST_API_KEY)", id="api-key", compact=True))
                    yield Field(
                        LABELS["adapter"], Select(adapter_choices(), value=DEFAULT_ADAPTER, allow_blank=False, id="adapter", compact=True)
                    )
                    yield Field(LABELS["endpoint"], Select(ENDPOINTS, value="chat", allow_blank=False, id="endpoint", compact=True))
                    yield Label("Requests", classes="section-title")
                    lengths = "N, normal:MEAN:STD or uniform:LOW:HIGH"
                    yield FileSetField(LABELS["input_len"], Input(placeholder=lengths, id="input-len", compact=True))
                    yield Field(LABELS["output_len"], Input(placeholder=lengths, id="output-len", compact=True))
                    yield Field(LABELS["stream"], Checkbox("stream tokens (SSE)", value=True, id="stream", compact=True))
                with Vertical(classes="column"):
                    yield Label("Load", classes="section-title")
                    yield Field("Load pattern", Select(LOAD_MODES, value="concurrency", allow_blank=False, id="load-mode", compact=True))
                    yield FileSetField(LABELS["concurrency"], Input(placeholder="1,10,50", id="concurrency", compact=True), "closed-loop")
                    yield FileSetField(LABELS["request_rate"], Input(placeholder="2,5.5", id="request-rate", compact=True), "open-loop")
                    yield FileSetField(
                        LABELS["burstiness"], Input(type="number", placeholder="1 = Poisson", id="burstiness", compact=True), "open-loop"
                    )
                    yield Field(
                        LABELS["max_concurrency"],
                        Input(type="integer", placeholder="no cap", id="max-concurrency", compact=True),
                        id="max-concurrency-field",
                    )
                    yield Field("Level ends after", Select(STOP_MODES, value="count", allow_blank=False, id="stop-mode", compact=True))
                    yield FileSetField(LABELS["num_prompts"], Input(type="integer", id="num-prompts", compact=True), "count-mode")
                    yield Field(LABELS["duration"], Input(type="number", id="duration", compact=True), classes="duration-mode")
                    yield Field(LABELS["warmup"], Input(type="integer", id="warmup", compact=True))
                    yield Field(LABELS["timeout"], Input(type="number", id="timeout", compact=True))
                    yield Field(
                        LABELS["workers"],
                        Input(type="integer", placeholder="1 (more for hundreds of fast streams)", id="workers", compact=True),
                    )
                    yield Field(LABELS["goodput"], Input(placeholder="ttft:500,tpot:50,e2e:5000 (ms)", id="goodput", compact=True))
            yield WorkloadFields(Field, id="workload")
        yield Static("", id="validation", classes="error-line")
        yield Static("", id="probe-result", classes="hint")
        with Horizontal(id="buttons"):
            yield Button("Test connection", id="test", compact=True)
            yield Button("Save as preset", id="save-preset", compact=True)
            yield Button("Start ▶", id="start", variant="success", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "New benchmark"
        self._load_presets()
        self._fill_defaults()
        if self.initial is not None:
            self._fill_from_config(self.initial)
        elif "quick" in self._presets:
            preset = self.query_one("#preset", Select)
            with preset.prevent(Select.Changed):
                preset.value = "quick"
            self._apply_preset("quick")
        if self.initial is None and self.host.recent_target is not None:
            server, model = self.host.recent_target
            self.query_one("#server", Input).value = server
            self.query_one("#model", Input).value = model
        key = self.host.default_api_key()
        if key:
            self.query_one("#api-key", Input).value = key
        self._update_modes()
        self.validate_form()
        self.query_one("#server", Input).focus()

    # --- presets -------------------------------------------------------------------------
    def _load_presets(self, select: str | None = None) -> None:
        try:
            from llm_loadtest.settings.presets import list_presets

            presets = list_presets()
        except Exception as exc:  # noqa: BLE001 - a broken user preset must not close the form
            self.notify(f"presets: {exc}", severity="warning")
            presets = []
        self._presets = {p.name: p for p in presets}
        options = []
        for p in presets:
            who = "" if getattr(p, "builtin", True) else " (yours)"
            options.append((f"{p.name}{who} — {p.description}" if p.description else f"{p.name}{who}", p.name))
        widget = self.query_one("#preset", Select)
        widget.set_options(options)
        if select is not None and select in self._presets:
            with widget.prevent(Select.Changed):
                widget.value = select

    def _fill_defaults(self) -> None:
        self._set_values({name: _default(name) for name in RunConfig.model_fields if name not in ("server", "model", "preset")})

    def _apply_preset(self, name: str) -> None:
        preset = self._presets.get(name)
        if preset is None:
            return
        self._fill_defaults()
        self._set_values(dict(preset.values))
        self._update_modes()
        self.validate_form()

    def _fill_from_config(self, config: RunConfig) -> None:
        values = config.model_dump()
        self.query_one("#server", Input).value = config.server
        self.query_one("#model", Input).value = config.model
        if config.preset and config.preset in self._presets:
            preset = self.query_one("#preset", Select)
            with preset.prevent(Select.Changed):
                preset.value = config.preset
        self._set_values(values)

    def _set_values(self, values: dict[str, Any]) -> None:
        with self.prevent(Select.Changed, Input.Changed, Checkbox.Changed):
            self._set_values_quietly(values)

    def _set_values_quietly(self, values: dict[str, Any]) -> None:
        def set_input(widget_id: str, text: str) -> None:
            self.query_one(f"#{widget_id}", Input).value = text

        for name, value in values.items():
            if name in HIDDEN_FIELDS:
                self._hidden[name] = value
            elif name == "concurrency":
                set_input("concurrency", _list_text(value))
            elif name == "request_rate":
                set_input("request-rate", _list_text(value))
                self.query_one("#load-mode", Select).value = "rate" if value else "concurrency"
            elif name == "num_prompts":
                set_input("num-prompts", "" if value is None else str(value))
            elif name == "duration":
                set_input("duration", "" if value is None else f"{value:g}")
                self.query_one("#stop-mode", Select).value = "duration" if value else "count"
            elif name in ("input_len", "output_len", "warmup", "max_concurrency", "workers"):
                set_input(name.replace("_", "-"), "" if value is None else str(value))
            elif name in ("burstiness", "timeout"):
                set_input(name, "" if value is None else f"{value:g}")
            elif name == "goodput":
                set_input("goodput", _goodput_text(value))
            elif name == "workload":
                self.query_one(WorkloadFields).fill(value)
                for length in ("input_len", "output_len"):  # a drawn length shows as its spec
                    spec = (value or {}).get(length) if isinstance(value, dict) else getattr(value, length, None)
                    if spec and not str(spec).startswith("fixed:"):
                        set_input(length.replace("_", "-"), str(spec))
            elif name == "stream":
                self.query_one("#stream", Checkbox).value = bool(value)
            elif name in ("adapter", "endpoint"):
                self.query_one(f"#{name}", Select).value = value

    # --- reading the form ----------------------------------------------------------------
    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def raw_values(self) -> dict[str, Any]:
        """The form as raw values keyed by RunConfig field, for the shared builder. A field the
        workload's file sets is not given (disabled, it keeps its text for when the file goes)."""
        workload = self.query_one(WorkloadFields).raw()
        raw: dict[str, Any] = dict(self._hidden)
        raw.update(
            server=self._text("server"),
            model=self._text("model"),
            adapter=self.query_one("#adapter", Select).value,
            endpoint=self.query_one("#endpoint", Select).value,
            stream=self.query_one("#stream", Checkbox).value,
            input_len=self._text("input-len"),
            output_len=self._text("output-len"),
            warmup=self._text("warmup"),
            timeout=self._text("timeout"),
            workers=self._text("workers") or None,  # empty: one process
            goodput=self._text("goodput"),
        )
        if self.query_one("#load-mode", Select).value == "rate":
            raw.update(request_rate=self._text("request-rate"), burstiness=self._text("burstiness") or None)  # empty: Poisson
        else:
            raw["concurrency"] = self._text("concurrency")
        if self._caps_in_flight(workload):
            raw["max_concurrency"] = self._text("max-concurrency")
        if self.query_one("#stop-mode", Select).value == "duration":
            raw["duration"] = self._text("duration")
        else:
            raw["num_prompts"] = self._text("num-prompts")
        preset = self.query_one("#preset", Select).value
        raw["preset"] = preset if isinstance(preset, str) else None
        raw.update(workload)
        for name in set_by_files(workload):
            raw.pop(name, None)
        return raw

    def _caps_in_flight(self, workload: dict[str, Any]) -> bool:
        """Max concurrency caps request-rate levels or a trace's replay."""
        return self.query_one("#load-mode", Select).value == "rate" or workload.get("trace") is not None

    def build_config(self) -> RunConfig:
        """The form as a RunConfig, or ConfigError with one line that names the field by its label."""
        try:
            return build_config(self.raw_values())
        except ConfigError as exc:
            raise ConfigError(exc.labelled(field_label)) from None

    def validate_form(self) -> bool:
        try:
            self.config = self.build_config()
            self.error = None
        except ConfigError as exc:
            self.config = None
            self.error = str(exc)
        line = self.query_one("#validation", Static)
        line.update(self.error or "")
        line.display = self.error is not None
        self.query_one("#start", Button).disabled = self.config is None
        self.query_one("#save-preset", Button).disabled = self.config is None
        return self.config is not None

    def _update_modes(self) -> None:
        rate = self.query_one("#load-mode", Select).value == "rate"
        duration = self.query_one("#stop-mode", Select).value == "duration"
        for widget in self.query(".open-loop"):
            widget.display = rate
        for widget in self.query(".closed-loop"):
            widget.display = not rate
        for widget in self.query(".duration-mode"):
            widget.display = duration
        for widget in self.query(".count-mode"):
            widget.display = not duration
        workload = self.query_one(WorkloadFields).raw()
        self.query_one("#max-concurrency-field").display = self._caps_in_flight(workload)
        set_by = set_by_files(workload)
        for name in FILE_SET_FIELDS:
            widget_id = name.replace("_", "-")
            self.query_one(f"#{widget_id}", Input).disabled = name in set_by
            hint = self.query_one(f"#{widget_id}-set-by", Static)
            hint.update(f"set by the {set_by[name]}" if name in set_by else "")
            hint.display = name in set_by
        # an adapter with a path of its own (Triton's generate) takes no OpenAI endpoint
        self.query_one("#endpoint", Select).disabled = not adapter_class(str(self.query_one("#adapter", Select).value)).endpoints

    # --- reacting ------------------------------------------------------------------------
    @on(Select.Changed, "#preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._apply_preset(event.value)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        self._update_modes()
        self.validate_form()

    @on(Input.Changed, "#dataset, #trace")
    def _workload_file_changed(self, event: Input.Changed) -> None:
        self._update_modes()

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Any) -> None:
        self.validate_form()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions: dict[str | None, Callable[[], object]] = {
            "start": self.action_start,
            "test": self.action_test_connection,
            "fill-models": self.action_fill_models,
            "save-preset": self.action_save_preset,
        }
        actions[event.button.id]()

    def _api_key(self) -> str | None:
        return self.query_one("#api-key", Input).value.strip() or None

    # --- actions -------------------------------------------------------------------------
    def action_start(self) -> None:
        if not self.validate_form():
            self.notify(self.error or "the form is not valid", severity="error")
            return
        assert self.config is not None
        self.host.open_live_run(self.config, self._api_key())

    def action_find_capacity(self) -> None:
        if not self.validate_form():
            self.notify(self.error or "the form is not valid", severity="error")
            return
        assert self.config is not None
        self.host.ask_capacity(self.config, self._api_key())

    def action_test_connection(self) -> None:
        server = self._text("server")
        self._show_probe("testing the connection…", ok=None)
        self._probe(server, str(self.query_one("#adapter", Select).value))

    @work(exclusive=True, group="probe")
    async def _probe(self, server: str, adapter: str) -> None:
        result = await connection.check_connection(adapter, server, self._api_key())
        self._show_probe(result.message, ok=result.ok)

    def _show_probe(self, message: str, ok: bool | None) -> None:
        line = self.query_one("#probe-result", Static)
        line.set_classes("ok-line" if ok else "error-line" if ok is False else "hint")
        line.update(message)

    def action_fill_models(self) -> None:
        self._show_probe("asking the server for its models…", ok=None)
        self._fill_models(self._text("server"), str(self.query_one("#adapter", Select).value))

    @work(exclusive=True, group="probe")
    async def _fill_models(self, server: str, adapter: str) -> None:
        result = await connection.list_models(adapter, server, self._api_key())
        if not result.ok:
            self._show_probe(result.message, ok=False)
            return
        self._show_probe(result.message, ok=True)
        if len(result.models) == 1:
            self._set_model(result.models[0])
        else:
            self.app.push_screen(PickDialog("Choose a model", result.models), self._set_model)

    def _set_model(self, model: str | None) -> None:
        if model:
            self.query_one("#model", Input).value = model

    def action_save_preset(self) -> None:
        if not self.validate_form():
            self.notify(self.error or "the form is not valid", severity="error")
            return
        current = self.query_one("#preset", Select).value
        suggestion = current if isinstance(current, str) and current in self._presets and not self._presets[current].builtin else ""
        self.app.push_screen(
            PromptDialog("Save these settings as a preset named:", value=suggestion, placeholder="my-preset"), self._save_preset
        )

    def _save_preset(self, name: str | None) -> None:
        if not name or self.config is None:
            return
        from llm_loadtest.settings.presets import save_user_preset

        values = self.config.model_dump(mode="json", exclude={"server", "model", "preset"})
        try:
            path = save_user_preset(name, values, description="saved from the app")
        except (ConfigError, OSError) as exc:
            self.notify(str(exc), severity="error")
            return
        self._load_presets(select=name)
        self.notify(f"preset {name!r} saved to {path}")
