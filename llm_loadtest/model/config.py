"""The benchmark configuration: one validated model shared by the CLI, the app and the engine.

It never holds a secret: the API key travels beside it (see `engine.controller`), so that
anything that serialises a config (the database, JSON, logs) cannot leak the key.
"""

from __future__ import annotations

import math
from typing import Literal, overload
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.levels import level_label
from llm_loadtest.model.workload import Workload, sync_lengths

DEFAULT_TOKENIZER = "tiktoken:cl100k_base"


class GoodputSLO(BaseModel):
    """Thresholds in milliseconds; a request is good when every given one holds with `<`."""

    model_config = ConfigDict(extra="forbid")

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def is_empty(self) -> bool:
        return self.ttft_ms is None and self.tpot_ms is None and self.e2e_ms is None


MAX_WORKERS = 64


def server_url(value: str) -> str:
    """The server's root URL, checked: `http://host:8000`, also from the `.../v1` base URL that
    OpenAI clients take (the adapters add the API's paths). ValueError says what is wrong."""
    text = value.strip()
    if not text:
        raise ValueError("server URL is empty; give one, e.g. http://127.0.0.1:8000")
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"server URL must start with http:// or https:// (got {text!r})")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # "Invalid IPv6 URL" alone does not say which value
        raise ValueError(f"server URL cannot be read: {exc} (got {text!r})") from None
    if "@" in parts.netloc:
        # it would be written into every result; keys travel apart from the config
        raise ValueError("put no user:password in the server URL; give the API key on its own (env LLM_LOADTEST_API_KEY)")
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"server URL has a bad port (got {text!r})") from None
    if not host:
        raise ValueError(f"server URL names no host (got {text!r}); give one, e.g. http://127.0.0.1:8000")
    if parts.query or parts.fragment:
        raise ValueError(f"server URL must be a base URL, without ?query or #fragment (got {text!r})")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1").rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class RunConfig(BaseModel):
    """What to run. Field names are those of docs/results.md's `config` object."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    server: str
    model: str
    adapter: str = "openai"  # a name in adapters.registry, which refuses any other
    endpoint: Literal["chat", "completions"] = "chat"
    concurrency: list[int] = Field(default_factory=lambda: [1])
    request_rate: list[float] | None = None
    burstiness: float = 1.0
    max_concurrency: int | None = None
    num_prompts: int | None = 100
    duration: float | None = None
    input_len: int = 256
    output_len: int = 128
    stream: bool = True
    warmup: int = 3
    timeout: float = 120.0
    goodput: GoodputSLO | None = None
    tokenizer: str = DEFAULT_TOKENIZER
    seed: int = 0
    preset: str | None = None
    extra_body: dict | None = None
    ignore_eos: bool = True
    workers: int = 1  # client processes that share each level (engine.pool)
    ray: str | None = None  # a Ray cluster's address (or auto / local): the workers run as its actors
    # what is sent; input_len / output_len above are its lengths' nominal values
    workload: Workload = Field(default_factory=Workload)

    @model_validator(mode="before")
    @classmethod
    def _lengths_as_specs(cls, data):
        return sync_lengths(dict(data)) if isinstance(data, dict) else data

    @field_validator("server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return server_url(value)

    @field_validator("concurrency")
    @classmethod
    def _positive_levels(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one concurrency level")
        if any(level < 1 for level in value):
            raise ValueError("concurrency levels must be positive integers, e.g. 1,10,50")
        return value

    @field_validator("request_rate")
    @classmethod
    def _positive_rates(cls, value: list[float] | None) -> list[float] | None:
        # inf sends a level's requests all at once (as vLLM's bench serve), capped by max_concurrency
        if value is not None and (not value or any(not rate > 0 for rate in value)):
            raise ValueError("request rates must be positive numbers or inf, e.g. 2,5.5,inf")
        return value

    @field_serializer("request_rate", when_used="json")
    def _rates_as_json(self, value: list[float] | None) -> list[float | str] | None:
        return None if value is None else [json_rate(rate) for rate in value]

    @field_validator("num_prompts", "input_len", "output_len", "max_concurrency")
    @classmethod
    def _positive_integer(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be a positive integer")
        return value

    @field_validator("duration", "timeout")
    @classmethod
    def _positive_seconds(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < math.inf:
            raise ValueError("must be a positive number of seconds")
        return value

    @field_validator("warmup")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("burstiness")
    @classmethod
    def _positive_shape(cls, value: float) -> float:
        if not 0 < value < math.inf:
            raise ValueError("must be a positive number (1 = Poisson)")
        return value

    @field_validator("workers")
    @classmethod
    def _workers_in_range(cls, value: int) -> int:
        if not 1 <= value <= MAX_WORKERS:
            raise ValueError(f"must be 1 to {MAX_WORKERS} client processes")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.duration is None and self.num_prompts is None:
            raise ConfigError("give a number of requests or a duration per level", field="num_prompts")
        if self.duration is not None and self.request_rate is not None and any(math.isinf(rate) for rate in self.request_rate):
            raise ConfigError(
                "inf sends a level's requests all at once: give a number of requests per level, not a duration", field="request_rate"
            )
        self.workload.check()
        for name in ("input_len", "output_len"):
            if getattr(self.workload, name) is None:  # a plain setting on the nested model: no re-validation
                setattr(self.workload, name, f"fixed:{getattr(self, name)}")
        if self.workload.trace is not None and self.request_rate is not None:
            raise ConfigError("a trace keeps its own pace: give --trace-speed, not request rates", field="trace")
        if self.workload.turns > 1 and self.request_rate is not None:
            raise ConfigError("multi-turn sessions run side by side: use concurrency levels, not request rates", field="turns")
        return self

    @property
    def open_loop(self) -> bool:
        return self.request_rate is not None

    def levels(self) -> list[LevelSpec]:
        if self.workload.trace_rate is not None:  # a trace: one level at the trace's own pace
            return [LevelSpec(concurrency=self.max_concurrency, request_rate=round(self.workload.trace_rate, 3))]
        if self.request_rate is not None:
            return [LevelSpec(concurrency=self.max_concurrency, request_rate=rate) for rate in self.request_rate]
        return [LevelSpec(concurrency=level, request_rate=None) for level in self.concurrency]


class LevelSpec(BaseModel):
    """One load level: a closed-loop concurrency, or an open-loop rate (optionally capped)."""

    model_config = ConfigDict(frozen=True)

    concurrency: int | None
    request_rate: float | None

    @property
    def label(self) -> str:
        return level_label(self.concurrency, self.request_rate)


@overload
def json_rate(rate: float) -> float | str: ...
@overload
def json_rate(rate: float | None) -> float | str | None: ...
def json_rate(rate: float | None) -> float | str | None:
    """A rate as JSON holds it: "inf" (as vLLM's bench serve writes it), since JSON has no infinity."""
    return "inf" if rate is not None and math.isinf(rate) else rate


def config_error(exc: ValidationError) -> ConfigError:
    """The first problem of a ValidationError as a ConfigError naming its field."""
    first = exc.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):
        return cause
    loc = [part for part in first.get("loc", ()) if isinstance(part, str)]
    message = str(first.get("msg", exc)).removeprefix("Value error, ")
    return ConfigError(message, field=loc[0] if loc else None)
