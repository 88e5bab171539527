"""trtllm-serve, TensorRT-LLM's OpenAI-compatible server: the OpenAI adapter under its name.

It accepts `ignore_eos` and `stream_options.include_usage`, so token counts are the server's.
Its `/metrics` answers iteration statistics as JSON, not Prometheus text (docs/adapters.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from llm_loadtest.adapters.openai import OpenAIAdapter


@dataclass
class TrtllmAdapter(OpenAIAdapter):
    label: ClassVar[str] = "TensorRT-LLM (trtllm-serve)"
