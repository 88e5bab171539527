"""The base of the app's full screens: `host` is the app, its own attributes typed."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from llm_loadtest.tui.app import LoadTestApp


class AppScreen(Screen):
    @property
    def host(self) -> LoadTestApp:
        """The app this screen runs in (Textual types `self.app` as any App)."""
        return cast("LoadTestApp", self.app)
