"""Small titled figure cards (dashboard counts, result summary)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class Card(Static):
    """A figure with its title in the border and an optional note after it."""

    def __init__(self, title: str, value: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(value, id=id, classes=classes)
        self.border_title = title

    def show(self, value: str, note: str = "", style: str = "") -> None:
        """The value in bold; the note (where it was measured, say) beside it, or below it
        when the card row is two lines high."""
        text = Text(value, style=style)
        if note:
            text.append("\n" if self.has_class("two-line") else " ")
            text.append(note, style="not bold dim")
        self.update(text)


class CardRow(Horizontal):
    def __init__(self, cards: list[tuple[str, str]], *, two_line: bool = False, id: str | None = None) -> None:
        """`cards` is a list of (id, title)."""
        super().__init__(id=id)
        self._specs = cards
        self._two_line = two_line
        if two_line:
            self.add_class("two-line")

    def compose(self) -> ComposeResult:
        for card_id, title in self._specs:
            yield Card(title, id=card_id, classes="two-line" if self._two_line else "")
