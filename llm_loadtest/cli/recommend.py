"""`llm-loadtest recommend`: the capacity search and the replicas / GPUs a peak load needs.

It takes `run`'s workload flags; the load itself (concurrency, rate, request count) is the
search's to choose.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llm_loadtest.cli import CliError
from llm_loadtest.cli.run import METRICS_NOTE, add_run_options, api_key_from, config_from_args
from llm_loadtest.model.config import ConfigError, RunConfig, parse_goodput
from llm_loadtest.model.search import SearchTarget

EXIT_ANSWERED, EXIT_CANNOT_MEET, EXIT_INTERRUPTED = 0, 1, 130
DEFAULT_MIN_REQUESTS = 50
DEFAULT_MIN_SECONDS = 10.0
DEFAULT_MAX_PROBES = 24
# `run` flags that set the load, which the search chooses itself
LOAD_FLAGS = {
    "concurrency": "--concurrency",
    "request_rate": "--request-rate",
    "num_prompts": "--num-prompts",
    "duration": "--duration",
    "max_concurrency": "--max-concurrency",
    "fail_under_goodput": "--fail-under-goodput",
    "baseline": "--baseline",
    "max_regression": "--max-regression",
}

DESCRIPTION = (
    "Find the largest load the server holds while --goodput-target percent of requests meet the "
    "--goodput SLOs: grow the concurrency (or rate) geometrically until the target fails, bisect, "
    "and confirm both ends of the bracket; then say how many replicas / GPUs the peak needs."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help="capacity search: how many users one replica holds, and the GPUs a peak needs",
        description=DESCRIPTION,
        epilog=METRICS_NOTE,
    )
    add_run_options(parser)
    add = parser.add_argument
    peak = parser.add_mutually_exclusive_group()
    peak.add_argument("--peak-concurrency", type=_positive_int, metavar="N", help="concurrent users to serve at the peak")
    peak.add_argument("--peak-rate", type=_positive_float, metavar="RPS", help="the same question in open-loop arrivals per second")
    add("--goodput-target", type=_percent, default=95.0, metavar="PCT", help="share of requests that must meet the SLOs (default 95)")
    add("--gpus", type=_positive_int, metavar="N", help="GPUs one replica of the server uses (default: read from NVML when local)")
    add("--gpu-name", metavar="NAME", help="their name, e.g. H100 (with --gpus)")
    add("--isl-osl", metavar="I/O,...", help="workload shapes to search, e.g. 128/128,512/256 (prompt/output tokens)")
    add(
        "--probe-requests",
        type=_positive_int,
        default=DEFAULT_MIN_REQUESTS,
        metavar="N",
        help=f"fewest requests per probe (default {DEFAULT_MIN_REQUESTS}; at least 3 per user too)",
    )
    add(
        "--probe-seconds",
        type=_positive_float,
        default=DEFAULT_MIN_SECONDS,
        metavar="S",
        help=f"fewest seconds per probe at the expected rate (default {DEFAULT_MIN_SECONDS:g})",
    )
    add(
        "--max-probes",
        type=_positive_int,
        default=DEFAULT_MAX_PROBES,
        metavar="N",
        help=f"give up after N probes (default {DEFAULT_MAX_PROBES})",
    )
    parser.set_defaults(handler=handle_recommend)


def handle_recommend(args: argparse.Namespace) -> int:
    config, target = search_from_args(args)
    from llm_loadtest.cli.run_options import RunOptions

    options = RunOptions(
        output=Path(args.output) if args.output else None,
        log_file=Path(args.log_file) if args.log_file else None,
        db=args.db,
        save=not args.no_save,
        in_process=args.in_process,
        metrics_url=args.metrics_url,
        gpu=not args.no_gpu,
        telemetry_interval_s=args.gpu_interval,
    )
    options.check_files()
    from llm_loadtest.cli.recommend_headless import recommend_headless

    return recommend_headless(config, target, api_key_from(args), options, gpus=(args.gpus, args.gpu_name))


def search_from_args(args: argparse.Namespace) -> tuple[RunConfig, SearchTarget]:
    """The base workload and what to search for; one-line errors (exit 2) for anything wrong."""
    if not args.goodput:
        raise CliError("recommend needs the SLOs that make a request good: --goodput ttft:MS,tpot:MS (e.g. --goodput ttft:500,tpot:50)", 2)
    given = [flag for name, flag in LOAD_FLAGS.items() if getattr(args, name, None) is not None]
    if given:
        raise CliError(
            f"recommend chooses the load itself: drop {', '.join(given)} (size probes with --probe-requests / --probe-seconds)", 2
        )
    if args.peak_concurrency is None and args.peak_rate is None:
        raise CliError("recommend needs the peak to plan for: --peak-concurrency N (users) or --peak-rate RPS", 2)
    if args.gpu_name and not args.gpus:
        raise CliError("--gpu-name needs --gpus N, the GPUs one replica uses", 2)
    try:
        slo = parse_goodput(args.goodput)
        shapes = parse_shapes(args.isl_osl) if args.isl_osl else []
        config = config_from_args(args)
    except ConfigError as exc:
        raise CliError(str(exc), 2) from None
    if shapes:
        config = config.model_copy(update={"input_len": shapes[0][0], "output_len": shapes[0][1]})
    target = SearchTarget(
        mode="concurrency" if args.peak_concurrency is not None else "rate",
        slo=slo,
        goodput_percent=args.goodput_target,
        peak_concurrency=args.peak_concurrency,
        peak_rate=args.peak_rate,
        min_requests=args.probe_requests,
        min_seconds=args.probe_seconds,
        max_probes=args.max_probes,
        shapes=shapes or [(config.input_len, config.output_len)],
    )
    return config, target


def parse_shapes(text: str) -> list[tuple[int, int]]:
    """`128/128,512/256` -> [(128, 128), (512, 256)]."""
    shapes = []
    for part in text.split(","):
        if not part.strip():
            continue
        prompt, sep, output = part.partition("/")
        try:
            shape = (int(prompt), int(output))
        except ValueError:
            shape = (0, 0)
        if not sep or min(shape) < 1:
            raise ConfigError(f"--isl-osl takes PROMPT/OUTPUT token pairs, e.g. 128/128,512/256 (cannot read {part.strip()!r})")
        shapes.append(shape)
    if not shapes:
        raise ConfigError("--isl-osl takes PROMPT/OUTPUT token pairs, e.g. 128/128,512/256")
    return shapes


def exit_code_for(result) -> int:
    """0 answered; 1 the target cannot be met at all; 130 interrupted (docs/cli.md)."""
    answer = result.search.answer if result.search is not None else None
    if result.status == "aborted" or (answer is not None and answer.stop == "interrupted"):
        return EXIT_INTERRUPTED
    if answer is None or answer.holds is None:
        return EXIT_CANNOT_MEET
    return EXIT_ANSWERED


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        value = -1.0
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be a percentage above 0, at most 100 (got {text!r})")
    return value
