"""The simulator's command line: `llm-loadtest simulate` and `python -m llm_loadtest.simulator`
read the very same flags from here."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from llm_loadtest.model.errors import ConfigError
from llm_loadtest.simulator.options import TOKENIZE_FORMS

if TYPE_CHECKING:
    from llm_loadtest.simulator.options import SimOptions


DESCRIPTION = (
    "An OpenAI-compatible server (vLLM-like), or Triton's generate extension with --api triton, "
    "that simulates continuous batching, with seeded fault injection and a per-request truth log. "
    "Prints one line 'llm-loadtest simulator listening on http://HOST:PORT' when ready."
)


def add_options(parser: argparse.ArgumentParser) -> None:
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    server.add_argument("--model", default="sim-model", help="the one model name served (default sim-model)")
    server.add_argument("--api-key", default=None, help="demand 'Authorization: Bearer KEY' on /v1/*")
    server.add_argument("--seed", type=int, default=0, help="seeds output words and fault decisions (default 0)")
    server.add_argument("--max-model-len", type=int, default=8192, help="prompt + max_tokens limit (default 8192)")
    server.add_argument("--chunk-log", default=None, metavar="PATH", help="write one JSON line per finished request")
    server.add_argument(
        "--api",
        choices=["openai", "triton"],
        default="openai",
        help="openai (/v1, vLLM-like, default) or triton (Triton's generate extension under /v2)",
    )
    server.add_argument("--triton-cumulative", action="store_true", help="with --api triton: stream the text so far, not deltas")
    server.add_argument(
        "--reasoning-tokens",
        type=int,
        default=0,
        metavar="K",
        help="a reasoning model: the first K tokens of each chat answer stream as reasoning_content (default 0)",
    )
    server.add_argument(
        "--no-prefix-cache", action="store_true", help="no prefix cache (by default cached prompt blocks of 16 tokens skip prefill)"
    )
    server.add_argument("--triton-not-ready", action="store_true", help="with --api triton: the model's ready endpoint answers 400")

    timing = parser.add_argument_group("timing model")
    timing.add_argument("--ttft-ms", type=float, default=50.0, help="fixed time to first token (default 50)")
    timing.add_argument("--prefill-us-per-token", type=float, default=20.0, help="prefill cost per prompt token (default 20)")
    timing.add_argument("--itl-ms", type=float, default=20.0, help="fixed part of a decode step (default 20)")
    timing.add_argument("--step-us-per-seq", type=float, default=50.0, help="decode step cost per running sequence (default 50)")
    timing.add_argument("--max-seqs", type=int, default=256, help="running batch size; the rest wait (default 256)")
    timing.add_argument(
        "--tokens-per-chunk", type=int, default=1, help="tokens per streamed chunk, as with speculative decoding (default 1)"
    )

    faults = parser.add_argument_group("faults (probability per request)")
    faults.add_argument("--fail-rate-500", type=float, default=0.0, help="answer HTTP 500 at once")
    faults.add_argument("--fail-rate-429", type=float, default=0.0, help="answer HTTP 429 at once")
    faults.add_argument("--drop-rate", type=float, default=0.0, help="cut the connection after about half the tokens")
    faults.add_argument("--stall-rate", type=float, default=0.0, help="pause the stream after about half the tokens")
    faults.add_argument("--stall-s", type=float, default=5.0, help="length of a stall in seconds (default 5)")
    faults.add_argument("--malformed-rate", type=float, default=0.0, help="send one 'data: {not json' event mid-stream, then go on")
    faults.add_argument(
        "--error-event-rate",
        type=float,
        default=0.0,
        help="send one error event ('data: {\"error\": ...}') after about half the tokens, then end the stream",
    )
    faults.add_argument("--reject-stream-options", action="store_true", help="answer 400 to requests that carry stream_options")
    faults.add_argument("--no-usage", action="store_true", help="never send usage (as llama.cpp's server)")
    faults.add_argument(
        "--tokenize",
        choices=TOKENIZE_FORMS,
        default="vllm",
        help="the tokenize endpoint offered: vLLM's /tokenize (default, SGLang's too), llama-server's /tokenize, "
        "llama-cpp-python's /extras/tokenize, LMDeploy's /v1/encode, or none (as Ollama)",
    )
    faults.add_argument(
        "--strict-request-id", action="store_true", help="answer an empty 400 to an X-Request-Id that is not a UUID (as llama-cpp-python)"
    )


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """Every SimOptions field is the flag of its name (add_options declares them all)."""
    from dataclasses import fields

    from llm_loadtest.simulator.options import OptionsError, SimOptions

    try:
        return SimOptions(**{field.name: getattr(args, field.name) for field in fields(SimOptions)})
    except OptionsError as exc:
        raise ConfigError(str(exc)) from None


def handle(args: argparse.Namespace) -> int:
    # Imported here: building the parser for other commands must not load aiohttp and tiktoken.
    from llm_loadtest.simulator.server import run

    if not 0 <= args.port <= 65535:
        raise ConfigError("--port must be between 0 and 65535")
    return run(options_from_args(args), host=args.host, port=args.port)
