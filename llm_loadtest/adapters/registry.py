"""Which adapter serves a configuration."""

from __future__ import annotations

from llm_loadtest.adapters.base import Adapter
from llm_loadtest.adapters.openai import OpenAIAdapter
from llm_loadtest.model.config import RunConfig

# What each adapter speaks (docs/adapters.md has the details):
# - openai: OpenAI's /v1 API (vLLM, SGLang, Ollama, LMDeploy, llama.cpp).
# - trtllm: trtllm-serve, TensorRT-LLM's OpenAI-compatible server; the OpenAI adapter with
#   its defaults: chat or completions, `ignore_eos` and `stream_options.include_usage` are
#   accepted, so token counts come from the server's usage.
# - triton: Triton Inference Server's generate extension (TensorRT-LLM's ensemble or
#   tensorrt_llm_bls models, vLLM and Python backends); no usage, the tokenizer counts.


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
    if config.adapter == "triton":
        from llm_loadtest.adapters.triton import TritonAdapter

        return TritonAdapter(**common)
    raise ValueError(f"unknown adapter {config.adapter!r}")


def tokenizer_warning(config: RunConfig, token_source=None) -> str | None:
    """A warning for the result when tiktoken counted tokens for a server that is not OpenAI's.

    `token_source` is the result's TokenSourceInfo (output / input: server, server_tokenize,
    tokenizer, mixed): when the server counted both, the local tokenizer only shaped the
    prompts and no warning is due.
    """
    if config.adapter == "openai" or not config.tokenizer.startswith("tiktoken:"):
        return None
    if token_source is not None and {token_source.output, token_source.input} <= {"server", "server_tokenize"}:
        return None
    return (
        f"token counts come from {config.tokenizer}, not the model's own tokenizer (the {config.adapter} "
        "server sent no usage): give --tokenizer PATH (the model's Hugging Face tokenizer.json or "
        "folder) for exact token counts and prompt lengths"
    )
