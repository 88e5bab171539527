"""Which adapter serves a configuration."""

from __future__ import annotations

from llm_loadtest.adapters.base import Adapter
from llm_loadtest.adapters.openai import OpenAIAdapter
from llm_loadtest.config import RunConfig


def make_adapter(config: RunConfig, api_key: str | None) -> Adapter:
    common = dict(
        server=config.server,
        model=config.model,
        stream=config.stream,
        output_len=config.output_len,
        api_key=api_key,
        ignore_eos=config.ignore_eos,
        extra_body=config.extra_body,
    )
    if config.adapter in ("openai", "trtllm"):
        return OpenAIAdapter(endpoint=config.endpoint, name=config.adapter, **common)
    raise ValueError(f"unknown adapter {config.adapter!r}")
