"""`llm-loadtest recommend`: the capacity search and the replicas / GPUs a peak load needs.

It takes `run`'s workload flags; the load itself (concurrency, rate, request count) is the
search's to choose.
"""

from __future__ import annotations

import argparse

from llm_loadtest.capacity.gpus import flag_gpus
from llm_loadtest.capacity.recommend import exit_code_for, shape_config
from llm_loadtest.capacity.target import DEFAULT_MAX_PROBES, DEFAULT_MIN_REQUESTS, DEFAULT_MIN_SECONDS, make_target, parse_shapes
from llm_loadtest.cli import COMMANDS, CliError, require_terminal
from llm_loadtest.cli.run import IN_MEMORY_DB, METRICS_NOTE, add_run_options, api_key_from, config_from_args, run_options_from_args
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError, ExitCode
from llm_loadtest.model.search import SearchTarget

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
    "trace": "--trace",  # a trace arrives at its own pace
}

DESCRIPTION = (
    "Find the largest load the server holds while --goodput-target percent of requests meet the "
    "--goodput SLOs: grow the concurrency (or rate) geometrically until the target fails, bisect, "
    "and confirm both ends of the bracket; then say how many replicas / GPUs the peak needs."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recommend",
        help=COMMANDS["recommend"].help,
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
    options = run_options_from_args(args)
    options.check_files()
    if args.headless:
        from llm_loadtest.cli.recommend_headless import recommend_headless

        return recommend_headless(config, target, api_key_from(args), options, gpus=(args.gpus, args.gpu_name))
    require_terminal("add --headless to search without one")
    return recommend_in_app(config, target, api_key_from(args), options, flag_gpus(args.gpus, args.gpu_name))


def recommend_in_app(config: RunConfig, target: SearchTarget, api_key: str | None, options, gpus) -> int:
    from llm_loadtest.cli.run_options import write_atomically
    from llm_loadtest.export.json_export import to_json_text
    from llm_loadtest.tui.app import LoadTestApp

    store = options.open_store()  # before the app opens: a database that cannot be used is exit 2
    # the app keeps a store for its screens; with --no-save it lives in memory
    app = LoadTestApp(
        store=store,
        db=IN_MEMORY_DB,
        initial_config=config,
        api_key=api_key,
        controller_factory=options.controller,
        yield_cpu=True,
        capacity=(target, gpus),
    )
    try:
        app.run()
    finally:
        if store is not None:
            store.close()
    result = app.capacity_result
    if result is None:
        return ExitCode.INTERRUPTED
    if options.output:
        write_atomically(options.output, to_json_text(result))
    return exit_code_for(result)


def search_from_args(args: argparse.Namespace) -> tuple[RunConfig, SearchTarget]:
    """The base workload and what to search for; one-line errors (exit 2) for anything wrong."""
    given = [flag for name, flag in LOAD_FLAGS.items() if getattr(args, name, None) is not None]
    try:
        if not given and args.gpu_name and not args.gpus:
            raise ConfigError("--gpu-name needs --gpus N, the GPUs one replica uses")
        target = make_target(
            goodput=args.goodput,
            peak_concurrency=args.peak_concurrency,
            peak_rate=args.peak_rate,
            goodput_percent=args.goodput_target,
            shapes=parse_shapes(args.isl_osl) if args.isl_osl else [],
            min_requests=args.probe_requests,
            min_seconds=args.probe_seconds,
            max_probes=args.max_probes,
        )
        if given:
            raise ConfigError(
                f"recommend chooses the load itself: drop {', '.join(given)} (size probes with --probe-requests / --probe-seconds)"
            )
        config = config_from_args(args)
        if config.workload.turns > 1 and args.peak_rate is not None:
            raise ConfigError("--turns runs chats side by side: search with --peak-concurrency, not --peak-rate")
        if target.shapes and config.workload.dataset is not None:
            raise ConfigError(
                "--isl-osl: a dataset's prompts have their own lengths: drop it (--output-len serves the items that name none)"
            )
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if target.shapes:
        config = shape_config(config, target.shapes[0])
    else:
        target.shapes = [(config.input_len, config.output_len)]
    return config, target


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
