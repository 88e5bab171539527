"""The environment variables docs/cli.md names, read here and nowhere else.

`LLM_LOADTEST_SERVER`, `LLM_LOADTEST_MODEL`, `LLM_LOADTEST_API_KEY` (then `OPENAI_API_KEY`, as
OpenAI clients read it), `LLM_LOADTEST_DB` (a path or an SQLAlchemy URL) and `DATABASE_PATH`
(a path only), and `LLM_LOADTEST_USER_CLOCK` (1: time requests by this process's clock, not the
kernel's stamps, to compare the two as bench/ does). An empty or blank variable counts as unset.
Names are matched without regard to case.

A plain pydantic model read from `os.environ`, not a settings library: the engine process reads
this at its start, and a settings library's import would cost it more than the rest of this.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, field_validator

# each field, and the variables it is read from: the first one set wins
VARIABLES: dict[str, tuple[str, ...]] = {
    "server": ("LLM_LOADTEST_SERVER",),
    "model": ("LLM_LOADTEST_MODEL",),
    "api_key": ("LLM_LOADTEST_API_KEY", "OPENAI_API_KEY"),
    "db": ("LLM_LOADTEST_DB",),
    "database_path": ("DATABASE_PATH",),
    "user_clock": ("LLM_LOADTEST_USER_CLOCK",),
}


class EnvSettings(BaseModel):
    server: str | None = None
    model: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    db: str | None = None
    database_path: str | None = None
    user_clock: bool = False

    @field_validator("*")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value


def env_settings() -> EnvSettings:
    """The environment as it is now (read afresh: tests and long sessions change it)."""
    environ = {name.upper(): value for name, value in os.environ.items()}
    values = {}
    for field, names in VARIABLES.items():
        # an empty variable is unset: the next one is read
        value = next((environ[name] for name in names if environ.get(name)), None)
        if value is not None:
            values[field] = value
    return EnvSettings.model_validate(values)
