"""`llm-loadtest run` (and `demo`): build a RunConfig from flags and presets, then run it
headless or in the app."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from llm_loadtest.adapters.registry import DEFAULT_ADAPTER, adapter_names
from llm_loadtest.cli import COMMANDS, MAX_REGRESSION_HELP, CliError, percent_limit, require_terminal
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.settings.build import SETTING_NAMES, build_config, set_by_files
from llm_loadtest.settings.env import env_settings
from llm_loadtest.settings.presets import load_preset

if TYPE_CHECKING:
    from llm_loadtest.cli.run_options import RunOptions

IN_MEMORY_DB = "sqlite://"

METRICS_NOTE = (
    "Metrics follow vLLM's bench serve: TTFT = first content chunk - send; TPOT = (E2E - TTFT) / "
    "(output tokens - 1); ITL = gaps between content chunks (also per token); goodput counts a "
    "request good when every SLO holds with strict '<', failed requests in the total."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help=COMMANDS["run"].help, epilog=METRICS_NOTE)
    add_run_options(run)
    run.set_defaults(handler=handle_run)

    demo = subparsers.add_parser("demo", help=COMMANDS["demo"].help)
    demo.add_argument("--headless", action="store_true", help="no app: progress on stderr, summary on stdout")
    demo.add_argument("--preset", default="quick")
    demo.add_argument("--output", "-o", help="write the result JSON here")
    demo.add_argument("--db", help="results database (path or SQLAlchemy URL)")
    demo.add_argument("--no-save", action="store_true", help="do not store the run")
    demo.set_defaults(handler=handle_demo)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    # Defaults are None so that a preset's value stands unless a flag is given.
    add = parser.add_argument
    add("--server", "-s", help="base URL, e.g. http://localhost:8000 (env LLM_LOADTEST_SERVER)")
    add("--model", "-m", help="model name; auto asks the server (/v1/models, or Triton's repository index) (env LLM_LOADTEST_MODEL)")
    add("--adapter", choices=adapter_names(), help=f"server API (default {DEFAULT_ADAPTER})")
    add("--endpoint", choices=["chat", "completions"], help="chat (/v1/chat/completions) or completions")
    add("--concurrency", "-c", help="comma-separated levels, run one after another (default 1)")
    add(
        "--request-rate",
        help="open-loop arrivals per second (inf: all at once, capped by --max-concurrency); comma list for several levels",
    )
    add("--burstiness", help="gamma shape of arrivals (1 = Poisson)")
    add("--max-concurrency", help="cap on requests in flight in rate mode")
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--num-prompts", "-n", help="requests per level (default 100)")
    count.add_argument("--duration", "-d", help="seconds per level (time mode)")
    add("--input-len", help="prompt tokens: N, normal:MEAN:STD or uniform:LOW:HIGH, drawn per request with --seed (default 256)")
    add("--output-len", help="max_tokens asked for, EOS ignored where supported: N, normal:MEAN:STD or uniform:LOW:HIGH (default 128)")
    workload = parser.add_argument_group("workload (see docs/cli.md)")
    workload.add_argument("--dataset", help="prompts from a file, offline: JSONL (prompt or messages), ShareGPT JSON, or text")
    workload.add_argument("--dataset-min-input", metavar="TOKENS", help="leave out dataset prompts shorter than this")
    workload.add_argument("--dataset-max-input", metavar="TOKENS", help="leave out dataset prompts longer than this")
    workload.add_argument("--shared-prefix", metavar="TOKENS", help="a system prompt of TOKENS shared within each group")
    workload.add_argument("--prefix-groups", metavar="G", help="groups sharing a prefix, requests dealt in turn (default 1)")
    workload.add_argument("--turns", help="multi-turn chats: each turn carries the conversation so far (default 1)")
    workload.add_argument("--trace", help="replay a JSONL trace's arrival times and lengths (Mooncake-style)")
    workload.add_argument("--trace-speed", help="replay the trace this many times faster (default 1)")
    add("--stream", action=argparse.BooleanOptionalAction, default=None, help="stream responses (default on)")
    add("--warmup", help="warm-up requests before the first level (default 3)")
    add("--timeout", help="seconds per request (default 120)")
    add("--api-key", help="sent as Authorization: Bearer (env LLM_LOADTEST_API_KEY, then OPENAI_API_KEY)")
    add("--goodput", help="SLOs in ms, e.g. ttft:500,tpot:50,e2e:5000")
    add("--fail-under-goodput", type=float, metavar="PERCENT", help="exit 1 when a level's goodput is below this")
    add("--baseline", metavar="RUN_ID", help="a stored run to check this one against (the regression gate)")
    add("--max-regression", type=percent_limit, metavar="PERCENT", help=MAX_REGRESSION_HELP + " (default 10, with --baseline)")
    add("--preset", help="quick, standard, stress, a user preset name or a .toml path")
    add("--tokenizer", help="tiktoken:cl100k_base (default) or a Hugging Face tokenizer.json / folder")
    add("--seed", help="prompt and arrival randomness (default 0)")
    add(
        "--ray",
        metavar="ADDRESS",
        help="run the workers as Ray actors on this cluster (auto, local, or ray://HOST:PORT; extra [ray]); --workers defaults to its CPUs",
    )
    add("--workers", help="client processes that share each level, for loads one process cannot read in time (default 1)")
    add("--extra-body", help="JSON object merged into every request body")
    add("--output", "-o", help="write the result JSON here")
    add("--log-file", help="JSON lines: run and level start/end, each failed request")
    add("--db", help="results database (path or SQLAlchemy URL)")
    add("--no-save", action="store_true", help="do not store the run")
    add("--headless", action="store_true", help="no app: progress on stderr, summary on stdout")
    add("--in-process", action="store_true", help=argparse.SUPPRESS)
    add("--metrics-url", help="Prometheus /metrics to scrape (default: the server's)")
    add("--gpu-interval", type=positive_seconds, default=1.0, help="seconds between GPU / server samples (default 1)")
    add("--no-gpu", action="store_true", help="do not sample local GPUs")
    add("--prometheus-port", type=int, metavar="PORT", help="serve our live figures for Prometheus on this port during the run")
    add("--prometheus-host", default="127.0.0.1", metavar="HOST", help="address for --prometheus-port (default 127.0.0.1)")
    add("--pushgateway", metavar="URL", help="push each level's figures to this Prometheus Pushgateway when it ends")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text!r})")
    return value


def flag_label(field: str) -> str:
    """How the CLI names a RunConfig field in an error: its flag."""
    return "--" + field.replace("_", "-")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Preset values, then flags (each flag's dest is its RunConfig or workload field); the
    workload's files are read; ConfigError naming the flag."""
    from llm_loadtest.engine.workload_files import resolve_config

    raw = {name: value for name, value in vars(args).items() if name in SETTING_NAMES}
    try:
        preset = load_preset(args.preset) if args.preset else None
        config = build_config(raw, preset)
        _refuse_what_the_files_set(args, config)
        return resolve_config(config)
    except ConfigError as exc:
        raise ConfigError(exc.labelled(flag_label)) from None


def _refuse_what_the_files_set(args: argparse.Namespace, config: RunConfig) -> None:
    """A trace sets its arrivals, request count and prompt lengths, a dataset its prompts'
    lengths: a flag that would set them too is refused, not silently ignored."""
    settings = set_by_files(config.workload)
    given = [flag_label(name) for name in settings if getattr(args, name, None) is not None]
    if not given:
        return
    if config.workload.trace is not None:
        raise ConfigError(
            f"a trace sets its own arrivals, request count and prompt lengths: drop {', '.join(given)} "
            "(cap the requests in flight with --max-concurrency, replay faster with --trace-speed, "
            "or only its first seconds with --duration)",
            field="trace",
        )
    raise ConfigError(
        f"a dataset's prompts have their own lengths: drop {', '.join(given)} "
        "(--dataset-min-input / --dataset-max-input keep only the prompts within those lengths)",
        field="dataset",
    )


def api_key_from(args: argparse.Namespace) -> str | None:
    return args.api_key or env_settings().api_key


def handle_run(args: argparse.Namespace) -> int:
    if args.ray is not None and args.workers is None:  # one worker per CPU the cluster offers
        from llm_loadtest.engine.ray_workers import connect
        from llm_loadtest.model.config import MAX_WORKERS

        args.workers = min(connect(args.ray).cpus, MAX_WORKERS)
    config = config_from_args(args)
    if args.fail_under_goodput is not None and config.goodput is None:
        raise CliError("--fail-under-goodput needs --goodput SLOs, e.g. --goodput ttft:500")
    if args.max_regression is not None and args.baseline is None:
        raise CliError("--max-regression needs --baseline RUN_ID, the stored run to compare with")
    api_key = api_key_from(args)

    options = run_options_from_args(args)
    if args.baseline is not None:
        options.baseline = baseline_for(config, args.baseline, args.db)
        if args.max_regression is not None:
            options.max_regression = args.max_regression
    return _run(config, api_key, options, headless=args.headless)


def run_options_from_args(args: argparse.Namespace) -> RunOptions:
    """What `run`'s flags say to do around the engine (`recommend` takes the same)."""
    from llm_loadtest.cli.run_options import RunOptions

    return RunOptions(
        output=Path(args.output) if args.output else None,
        log_file=Path(args.log_file) if args.log_file else None,
        db=args.db,
        save=not args.no_save,
        in_process=args.in_process,
        fail_under_goodput=args.fail_under_goodput,
        metrics_url=_http_url("--metrics-url", args.metrics_url, "http://127.0.0.1:8000/metrics"),
        gpu=not args.no_gpu,
        telemetry_interval_s=args.gpu_interval,
        prometheus_port=args.prometheus_port,
        prometheus_host=args.prometheus_host,
        pushgateway=_http_url("--pushgateway", args.pushgateway, "http://127.0.0.1:9091"),
    )


def _http_url(flag: str, text: str | None, example: str) -> str | None:
    """A URL flag checked now, not found wrong at the end of the run (a note or a warning)."""
    if text is None:
        return None
    try:
        parts = urlsplit(text.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        raise CliError(f"{flag}: cannot read {text!r} as a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise CliError(f"{flag}: give an http:// or https:// URL with a host, e.g. {example} (got {text!r})")
    return text.strip()


def baseline_for(config: RunConfig, run_id: str, db: str | None):
    """The stored run to gate against, checked before the run, so that a baseline that cannot
    serve costs no run (and an empty `--baseline "$UNSET"` never turns the gate off)."""
    from llm_loadtest.cli.store import open_store
    from llm_loadtest.report.regression import planned_keys, shared_levels, workload_differences

    if not run_id.strip():
        raise CliError("--baseline needs a run id (see `llm-loadtest history`)")
    with open_store(db) as store:  # a reader's open: no database is created
        baseline = store.get_result(store.resolve_run_id(run_id))
    short = baseline.run_id[:8]
    if baseline.status != "completed":
        raise CliError(f"--baseline {short}: that run is {baseline.status}; compare with a completed run")
    if differences := workload_differences(baseline.config, config):
        raise CliError(f"--baseline {short}: a different workload ({', '.join(differences)}); compare like with like")
    if not shared_levels(baseline, planned_keys(config)):
        ran = ", ".join(level.label for level in baseline.levels) or "none"
        raise CliError(f"--baseline {short}: that run has no level with this run's load (it ran: {ran})")
    return baseline


def _run(config: RunConfig, api_key: str | None, options: RunOptions, *, headless: bool) -> int:
    if headless:
        from llm_loadtest.cli.headless import run_headless

        return run_headless(config, api_key, options)
    from llm_loadtest.cli.run_options import AppRuns
    from llm_loadtest.tui.app import run_app

    options.check_files()
    store = options.open_store()  # before the app opens: a database that cannot be used is exit 2
    runs = AppRuns(options)
    try:
        require_terminal("add --headless to run without one")
        # the app always keeps a store for its screens; with --no-save it lives in memory
        code = run_app(
            initial_config=config,
            api_key=api_key,
            db=IN_MEMORY_DB,
            store=store,
            start_live=True,
            controller_factory=runs.controller,
            gate=options.gate_misses,
        )
    finally:
        if store is not None:
            store.close()
    return runs.finish(code)


def handle_demo(args: argparse.Namespace) -> int:
    from llm_loadtest.simulator.process import SimulatorProcess

    preset = load_preset(args.preset)
    # fast enough to finish in seconds, slow enough to look like a real server
    with SimulatorProcess(ttft_ms=30, itl_ms=4, max_seqs=64) as simulator:
        config = build_config({"server": simulator.url, "model": "auto"}, preset)
        print(f"llm-loadtest demo: simulator at {simulator.url}, preset {preset.name}", file=sys.stderr)
        from llm_loadtest.cli.run_options import RunOptions

        options = RunOptions(output=Path(args.output) if args.output else None, db=args.db, save=not args.no_save, gpu=False)
        return _run(config, None, options, headless=args.headless)
