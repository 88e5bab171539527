"""The base of the app's full screens: `host` is the app, its own attributes typed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from textual.binding import Binding
from textual.screen import Screen

if TYPE_CHECKING:
    from llm_loadtest.tui.app import LoadTestApp


class AppScreen(Screen):
    @property
    def host(self) -> LoadTestApp:
        """The app this screen runs in (Textual types `self.app` as any App)."""
        return cast("LoadTestApp", self.app)


def tab_bindings(screen: str, titles: Sequence[str]) -> list[Binding]:
    """Keys 1, 2, … open the screen's tabs in order (its `action_tab(index)`); each binding's id,
    which the keymap settings name, is `screen.tab-title`."""
    return [Binding(str(n + 1), f"tab({n})", title, show=False, id=f"{screen}.tab-{title.lower()}") for n, title in enumerate(titles)]
