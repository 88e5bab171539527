"""Small modal dialogs shared by the screens: confirm, ask for a name, pick from a list, export."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, RadioButton, RadioSet


class ConfirmDialog(ModalScreen[bool]):
    """Yes / no. Enter or y confirms, escape or n cancels."""

    BINDINGS = [
        Binding("escape,n", "dismiss(False)", "No", id="confirm.no"),
        Binding("y", "dismiss(True)", "Yes", id="confirm.yes"),
    ]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No", danger: bool = True) -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class PromptDialog(ModalScreen[str | None]):
    """Ask for one line of text."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="prompt.cancel")]

    def __init__(self, question: str, *, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-question")
            yield Input(self.value, placeholder=self.placeholder, id="answer")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        value = self.query_one("#answer", Input).value.strip()
        self.dismiss((value or None) if event.button.id == "ok" else None)


class PickDialog(ModalScreen[str | None]):
    """Choose one string from a list."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="pick.cancel")]

    def __init__(self, title: str, choices: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-question")
            yield OptionList(*self.choices, id="choices")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[event.option_index])


EXPORT_FORMATS = ("csv", "xlsx", "json")


class FormatChoice(RadioSet):
    """The export formats, chosen with the arrows alone (the highlighted one is the one chosen);
    enter exports."""

    BINDINGS = [
        Binding("left,up", "choose(-1)", "Previous format", show=False, id="export.format-previous"),
        Binding("right,down", "choose(1)", "Next format", show=False, id="export.format-next"),
        Binding("enter", "screen.export", "Export", show=False, id="export.submit"),
    ]

    def action_choose(self, step: int) -> None:
        if step > 0:
            self.action_next_button()
        else:
            self.action_previous_button()
        self.action_toggle_button()


class ExportDialog(ModalScreen[tuple[str, Path] | None]):
    """A format (focused: the arrows choose it) and a file name; enter exports from either."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="export.cancel")]
    KEYS_HINT = "←→ format  ·  tab file name  ·  enter export  ·  esc cancel"

    def __init__(self, stem: str, folder: Path | None = None) -> None:
        super().__init__()
        self.stem = stem
        self.folder = folder or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export this run", classes="dialog-question")
            with FormatChoice(id="format"):
                for index, name in enumerate(EXPORT_FORMATS):
                    yield RadioButton(name.upper(), value=index == 0, id=f"fmt-{name}")
            yield Input(str(self.folder / f"{self.stem}.csv"), id="path")
            yield Label(self.KEYS_HINT, id="export-keys", classes="hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", id="export", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#format", FormatChoice).focus()

    def action_export(self) -> None:
        self._finish()

    def _format(self) -> str:
        pressed = self.query_one("#format", RadioSet).pressed_button
        return pressed.id.removeprefix("fmt-") if pressed and pressed.id else "csv"

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        path_input = self.query_one("#path", Input)
        path = Path(path_input.value or f"{self.stem}.csv")
        path_input.value = str(path.with_suffix(f".{self._format()}"))

    def _finish(self) -> None:
        value = self.query_one("#path", Input).value.strip()
        if not value:
            self.notify("give a file name", severity="warning")
            return
        self.dismiss((self._format(), Path(value).expanduser()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export":
            self._finish()
        else:
            self.dismiss(None)
