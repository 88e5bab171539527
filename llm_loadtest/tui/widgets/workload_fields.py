"""The New benchmark form's Workload section: a dataset or a trace (each file checked as its
path is typed), a shared prefix and its groups, and multi-turn chats (docs/workloads.md).

It only arranges inputs and reads them back as the shared builder's raw values; the checks
are engine.workload_files', the same the command line runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from llm_loadtest.model.errors import ConfigError

# workload setting -> (input id, label, placeholder, input type)
InputKind = Literal["integer", "number", "text"]  # what Input(type=...) accepts

INPUTS: dict[str, tuple[str, str, str, InputKind]] = {
    "dataset": ("dataset", "Dataset", "none: synthetic prompts (JSONL, ShareGPT JSON or text)", "text"),
    "shared_prefix": ("shared-prefix", "Shared prefix", "tokens of a shared system prompt (none)", "integer"),
    "prefix_groups": ("prefix-groups", "Prefix groups", "1", "integer"),
    "turns": ("turns", "Turns", "1 (more: multi-turn chats)", "integer"),
    "trace": ("trace", "Trace", "none (JSONL: timestamp, input_length, output_length)", "text"),
    "trace_speed": ("trace-speed", "Trace speed", "1 (2 replays twice as fast)", "number"),
}
LABELS = {name: label for name, (_, label, _, _) in INPUTS.items()}
_FILES = {"dataset": "--dataset", "trace": "--trace"}


class WorkloadFields(Vertical):
    """`field(label, input)` lays out one labelled input, as the rest of the form does."""

    def __init__(self, field: Callable[..., Widget], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._field = field

    def compose(self) -> ComposeResult:
        yield Label("Workload", classes="section-title")
        for name, (input_id, label, placeholder, kind) in INPUTS.items():
            yield self._field(label, Input(placeholder=placeholder, type=kind, id=input_id, compact=True))
            if name in _FILES:
                yield Static("", id=f"{input_id}-check", classes="hint")

    def raw(self) -> dict[str, Any]:
        """The settings as the builder takes them; an empty input is not given (None)."""
        return {name: self.query_one(f"#{input_id}", Input).value.strip() or None for name, (input_id, *_) in INPUTS.items()}

    def fill(self, workload: Any) -> None:
        """Show a configuration's (or a preset's) workload settings; defaults stay empty."""
        values = workload.model_dump() if hasattr(workload, "model_dump") else dict(workload or {})
        defaults = {"prefix_groups": 1, "turns": 1, "trace_speed": 1.0}
        for name, (input_id, *_) in INPUTS.items():
            value = values.get(name)
            shown = "" if value is None or value == defaults.get(name) else f"{value:g}" if isinstance(value, float) else str(value)
            self.query_one(f"#{input_id}", Input).value = shown

    @on(Input.Changed, "#dataset, #trace")
    def _file_changed(self, event: Input.Changed) -> None:
        name = "dataset" if event.input.id == "dataset" else "trace"
        self._check_file(name, event.value.strip())

    @work(thread=True, exclusive=True, group="workload-file")
    def _check_file(self, name: str, path: str) -> None:
        """Read the file as a run would (off the app's loop: a dataset may be large)."""
        text = "" if not path else _file_summary(name, path)
        self.app.call_from_thread(self._show_check, name, text)

    def _show_check(self, name: str, text: str) -> None:
        line = self.query_one(f"#{INPUTS[name][0]}-check", Static)
        line.update(text)
        line.display = bool(text)


def _file_summary(name: str, path: str) -> str:
    """`1,204 prompts` / `3,000 requests over 60 s`, or the file's first problem."""
    from llm_loadtest.engine.workload_files import read_dataset, read_trace

    try:
        if name == "dataset":
            return f"{len(read_dataset(path).items):,} prompts"
        entries = read_trace(path).items
    except ConfigError as exc:
        return exc.reason
    span_s = (entries[-1].timestamp_ms - entries[0].timestamp_ms) / 1000
    return f"{len(entries):,} requests over {span_s:g} s"
