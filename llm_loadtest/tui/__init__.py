"""The Textual app (`llm-loadtest` with no arguments); see `tui.app.run_app`."""
