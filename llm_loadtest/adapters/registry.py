"""The adapters by name: the one place that lists them (docs/adapters.md says how to add one).

Each adapter class carries what the rest of the program asks of a server kind: its label in
the app's form, the endpoints it offers, its readiness check and model listing. Where its
server's Prometheus metrics usually are is listed here (`METRICS_PORTS`), so that the parent
side of a run (telemetry) finds them without importing an adapter. The CLI's `--adapter`
choices and the app's list come from here. Classes are imported when first asked for, so that
`--help`, and the process that runs no requests, load no HTTP client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.results import TokenSourceInfo

if TYPE_CHECKING:
    from llm_loadtest.adapters.http import HttpAdapter

DEFAULT_ADAPTER = "openai"

# name -> "module:Class"; the first is the default
ADAPTERS: dict[str, str] = {
    "openai": "llm_loadtest.adapters.openai:OpenAIAdapter",
    "triton": "llm_loadtest.adapters.triton:TritonAdapter",
    "trtllm": "llm_loadtest.adapters.trtllm:TrtllmAdapter",
}

# The adapters whose servers serve Prometheus metrics on a port of their own (Triton's is
# 8002); every other server's are at {server}/metrics.
METRICS_PORTS: dict[str, int] = {"triton": 8002}


def adapter_names() -> list[str]:
    return list(ADAPTERS)


def adapter_class(name: str) -> type[HttpAdapter]:
    """The class registered as `name`; ConfigError (exit 2) naming the known ones otherwise."""
    module, _, attribute = _registered(name).partition(":")
    return getattr(import_module(module), attribute)


def _registered(name: str) -> str:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ConfigError(f"unknown adapter {name!r}; give one of: {', '.join(ADAPTERS)}") from None


def adapter_choices() -> list[tuple[str, str]]:
    """(label, name) of every adapter, for a form's list."""
    return [(adapter_class(name).label, name) for name in ADAPTERS]


def make_adapter(config: RunConfig, api_key: str | None) -> HttpAdapter:
    return adapter_class(config.adapter)(
        server=config.server,
        model=config.model,
        endpoint=config.endpoint,
        stream=config.stream,
        output_len=config.output_len,
        api_key=api_key,
        ignore_eos=config.ignore_eos,
        extra_body=config.extra_body,
    )


def metrics_url(config: RunConfig) -> str:
    """Where the server's Prometheus metrics usually are, by its adapter (ConfigError for an
    unknown one)."""
    _registered(config.adapter)
    port = METRICS_PORTS.get(config.adapter)
    if port is None:
        return config.server.rstrip("/") + "/metrics"
    parts = urlsplit(config.server)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return urlunsplit((parts.scheme, f"{host}:{port}", "/metrics", "", ""))


def tokenizer_warning(config: RunConfig, token_source: TokenSourceInfo) -> str | None:
    """A warning for the result when tiktoken counted some tokens: it is no model's own.

    Only for the figures it counted: when the server counted both (its usage, or its tokenize
    endpoint), the local tokenizer only shaped the prompts and no warning is due.
    """
    if not config.tokenizer.startswith("tiktoken:"):
        return None
    counted = [
        what for what, source in (("output", token_source.output), ("input", token_source.input)) if source in ("tokenizer", "mixed")
    ]
    if not counted:
        return None
    why = "the server sent no usage" + (" and no tokenize endpoint of it answered" if "output" in counted else "")
    return (
        f"{' and '.join(counted)} token counts come from {config.tokenizer}, not the model's own tokenizer ({why}): "
        "give --tokenizer PATH (the model's Hugging Face tokenizer.json or folder) for exact token counts and prompt lengths"
    )
