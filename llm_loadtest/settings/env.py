"""The environment variables docs/cli.md names, read here and nowhere else.

`LLM_LOADTEST_SERVER`, `LLM_LOADTEST_MODEL`, `LLM_LOADTEST_API_KEY` (then `OPENAI_API_KEY`, as
OpenAI clients read it), `LLM_LOADTEST_DB` (a path or an SQLAlchemy URL) and `DATABASE_PATH`
(a path only), and `LLM_LOADTEST_USER_CLOCK` (1: time requests by this process's clock, not the
kernel's stamps, to compare the two as bench/ does). An empty or blank variable counts as unset.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnvSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_LOADTEST_", env_ignore_empty=True, extra="ignore")

    server: str | None = None
    model: str | None = None
    api_key: str | None = Field(default=None, validation_alias=AliasChoices("LLM_LOADTEST_API_KEY", "OPENAI_API_KEY"), repr=False)
    db: str | None = None
    database_path: str | None = Field(default=None, validation_alias="DATABASE_PATH")
    user_clock: bool = False

    @field_validator("*")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value


def env_settings() -> EnvSettings:
    """The environment as it is now (read afresh: tests and long sessions change it)."""
    return EnvSettings()
