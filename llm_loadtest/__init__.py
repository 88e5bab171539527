"""llm-loadtest: a terminal-first load tester for LLM serving servers."""

__version__ = "0.1.0"
