"""The simulator's settings: one frozen value shared by the CLI, the server and the scheduler."""

from __future__ import annotations

from dataclasses import dataclass

MAX_MODEL_LEN = 8192
APIS = ("openai", "triton")
# the tokenize endpoints an OpenAI server may offer (simulator.tokenize_api)
TOKENIZE_FORMS = ("vllm", "llama-server", "llama-cpp-python", "lmdeploy", "none")


class OptionsError(ValueError):
    """A bad setting; the message names the flag and says what it accepts."""


@dataclass(frozen=True, slots=True)
class SimOptions:
    model: str = "sim-model"
    ttft_ms: float = 50.0
    prefill_us_per_token: float = 20.0
    itl_ms: float = 20.0
    step_us_per_seq: float = 50.0
    max_seqs: int = 256
    tokens_per_chunk: int = 1
    seed: int = 0
    api_key: str | None = None
    chunk_log: str | None = None
    max_model_len: int = MAX_MODEL_LEN
    fail_rate_500: float = 0.0
    fail_rate_429: float = 0.0
    drop_rate: float = 0.0
    stall_rate: float = 0.0
    stall_s: float = 5.0
    malformed_rate: float = 0.0
    error_event_rate: float = 0.0
    reject_stream_options: bool = False
    no_usage: bool = False
    # which tokenize endpoint an OpenAI server offers (simulator.tokenize_api)
    tokenize: str = "vllm"
    # answer an empty 400 to an X-Request-Id that is not a UUID, as llama-cpp-python does
    strict_request_id: bool = False
    # which API is served: OpenAI's /v1, or Triton's generate extension (/v2)
    api: str = "openai"
    triton_cumulative: bool = False
    triton_not_ready: bool = False
    # a reasoning model: the first K tokens of each chat answer come as `reasoning_content`
    reasoning_tokens: int = 0
    no_prefix_cache: bool = False

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "prefill_us_per_token", "itl_ms", "step_us_per_seq", "stall_s"):
            if getattr(self, name) < 0:
                raise OptionsError(f"--{_flag(name)} must be 0 or more")
        if self.reasoning_tokens < 0:
            raise OptionsError("--reasoning-tokens must be 0 or more")
        for name in ("max_seqs", "tokens_per_chunk", "max_model_len"):
            if getattr(self, name) < 1:
                raise OptionsError(f"--{_flag(name)} must be a positive integer")
        rates = self.fault_rates()
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise OptionsError(f"--{_flag(name)} must be a probability between 0 and 1")
        # Faults are drawn from one uniform number per request, so they must fit in [0, 1].
        if sum(rates.values()) > 1.0 + 1e-9:
            raise OptionsError("the fault rates together must not exceed 1")
        if not self.model:
            raise OptionsError("--model must not be empty")
        if self.tokenize not in TOKENIZE_FORMS:
            raise OptionsError(f"--tokenize must be one of {', '.join(TOKENIZE_FORMS)}")
        if self.api not in APIS:
            raise OptionsError(f"--api must be one of {', '.join(APIS)}")
        for name in ("triton_cumulative", "triton_not_ready"):
            if getattr(self, name) and self.api != "triton":
                raise OptionsError(f"--{_flag(name)} needs --api triton")

    def fault_rates(self) -> dict[str, float]:
        return {
            "fail_rate_500": self.fail_rate_500,
            "fail_rate_429": self.fail_rate_429,
            "drop_rate": self.drop_rate,
            "stall_rate": self.stall_rate,
            "malformed_rate": self.malformed_rate,
            "error_event_rate": self.error_event_rate,
        }


def _flag(name: str) -> str:
    return name.replace("_", "-")
