"""The commands on stored runs: history, show (with goodput re-analysis), delete, export, compare.

A unique start of a run id is enough everywhere; an unknown or ambiguous id is one line on
stderr and exit 2, like every other mistake in what was typed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from llm_loadtest.cli import COMMANDS, MAX_REGRESSION_HELP, CliError, percent_limit
from llm_loadtest.cli.store_views import compare_table, history_table, regression_json, regression_table, run_json, slo_text
from llm_loadtest.cli.summary_table import result_report
from llm_loadtest.model.config import GoodputSLO
from llm_loadtest.model.errors import ConfigError, ExitCode
from llm_loadtest.model.results import RunResult
from llm_loadtest.report.gates import regression_misses
from llm_loadtest.report.regression import regression_check, workload_differences
from llm_loadtest.settings.parse import goodput_slo

if TYPE_CHECKING:
    from llm_loadtest.storage import Store

STATUSES = ("running", "completed", "failed", "aborted")
FORMATS = ("csv", "xlsx", "json")
MAX_COMPARE = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
RUN_JSON_HELP = "as show --json writes it, without the gpu_samples and server_samples series"
DB_HELP = "results database: a path or an SQLAlchemy URL (default: env LLM_LOADTEST_DB, DATABASE_PATH, then the XDG data folder)"


def register(subparsers: argparse._SubParsersAction) -> None:
    history = subparsers.add_parser("history", help=COMMANDS["history"].help)
    history.add_argument("--status", choices=STATUSES, help="only runs with this status")
    history.add_argument("--limit", type=_positive_int, help="at most this many runs")
    history.add_argument("--search", help="only runs whose id, server, model or preset contains this")
    history.add_argument("--json", action="store_true", help=f"a JSON list of the runs, each {RUN_JSON_HELP}")
    history.set_defaults(handler=handle_history)

    show = subparsers.add_parser("show", help=COMMANDS["show"].help)
    show.add_argument("run_id", metavar="RUN_ID", help="a run id, or a unique start of one")
    show.add_argument("--json", action="store_true", help="the result JSON (docs/results.md) instead of a table")
    show.add_argument(
        "--goodput",
        metavar="SLO",
        help="recompute goodput from the stored requests with these SLOs (ms), e.g. ttft:300,tpot:40",
    )
    show.set_defaults(handler=handle_show)

    remove = subparsers.add_parser("delete", help=COMMANDS["delete"].help)
    remove.add_argument("run_id", metavar="RUN_ID")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    remove.set_defaults(handler=handle_delete)

    export = subparsers.add_parser("export", help=COMMANDS["export"].help)
    export.add_argument("run_id", metavar="RUN_ID")
    export.add_argument("--format", "-f", choices=FORMATS, help="default: from the file name's extension")
    export.add_argument("--output", "-o", required=True, metavar="FILE", help="the file to write ('-': stdout, csv/json)")
    rows = export.add_mutually_exclusive_group()
    rows.add_argument("--requests", action="store_true", help="csv: one row per request instead of per level")
    rows.add_argument(
        "--samples",
        choices=("gpu", "server"),
        help="csv: one row per GPU or server sample instead of per level (t: seconds since the run started)",
    )
    export.set_defaults(handler=handle_export)

    compare = subparsers.add_parser("compare", help=COMMANDS["compare"].help)
    compare.add_argument("run_ids", metavar="RUN_ID", nargs="+")
    compare.add_argument("--json", action="store_true", help=f'{{"runs": [each {RUN_JSON_HELP}], "regression": [a check per run]}}')
    compare.add_argument(
        "--max-regression", type=percent_limit, metavar="PERCENT", help=MAX_REGRESSION_HELP + "; the first run is the baseline"
    )
    compare.set_defaults(handler=handle_compare)

    for parser in (history, show, remove, export, compare):
        parser.add_argument("--db", help=DB_HELP)


def handle_history(args: argparse.Namespace) -> int:
    with open_store(args.db) as store:
        rows = store.list_runs(status=args.status, search=args.search, limit=args.limit)
        if args.json:
            print(json.dumps([run_json(store.get_result(row.run_id)) for row in rows], indent=2))
            return ExitCode.OK
        counts = store.status_counts()
        print(history_table(rows, counts, store.where))
    return ExitCode.OK


def handle_show(args: argparse.Namespace) -> int:
    slo = _slo(args.goodput.strip()) if args.goodput else None
    note = None
    with open_store(args.db) as store:
        run_id = store.resolve_run_id(args.run_id)
        result = store.get_result(run_id)
        if slo is not None:
            result, note = reanalyse(store, result, slo)
            if result.search is not None:  # a recommend run: its answer under these SLOs
                from llm_loadtest.capacity.recommend import rederive

                result = result.model_copy(update={"search": rederive(result)})
    if args.json:
        from llm_loadtest.export import to_json_text

        sys.stdout.write(to_json_text(result))
        return ExitCode.OK
    if note:
        # said once, on top, rather than again among the warnings
        print(note + "\n")
        result = result.model_copy(update={"warnings": [w for w in result.warnings if w != note]})
    print(result_report(result))
    if result.search is not None:  # a recommend run: its probes and answer
        from llm_loadtest.report.capacity import search_report

        print("\n" + search_report(result))
    return ExitCode.OK


def reanalyse(store: Store, result: RunResult, slo: GoodputSLO) -> tuple[RunResult, str]:
    """The stored result with goodput and per-SLO counts recomputed under `slo`; nothing re-run."""
    from llm_loadtest.metrics import recompute_goodput

    by_level = store.get_records_by_level(result.run_id)
    levels = []
    missing = 0
    for index, level in enumerate(result.levels):
        records = by_level.get(index, [])
        if not records and level.requests.total:
            missing += 1  # a summary stored without its requests cannot be re-analysed
            levels.append(level)
            continue
        levels.append(level.model_copy(update={"goodput": recompute_goodput(records, slo, level.duration_s)}))
    before = slo_text(result.config.goodput)
    line = f"goodput recomputed from the stored requests with {slo_text(slo)} (stored with: {before})"
    warnings = list(result.warnings) + [line]
    if missing:
        warnings.append(f"{missing} level(s) have no stored requests; their goodput is the stored one")
        line += f"; {missing} level(s) without stored requests keep the stored goodput"
    updated = result.model_copy(
        update={"levels": levels, "config": result.config.model_copy(update={"goodput": slo}), "warnings": warnings}
    )
    return updated, line


def handle_delete(args: argparse.Namespace) -> int:
    with open_store(args.db) as store:
        run_id = store.resolve_run_id(args.run_id)
        if not args.yes and not _confirm(store, run_id):
            print("nothing deleted", file=sys.stderr)
            return ExitCode.FAILED
        store.delete_run(run_id)
    print(f"deleted run {run_id}")
    return ExitCode.OK


def handle_export(args: argparse.Namespace) -> int:
    fmt = args.format or _format_from_name(args.output)
    to_stdout = args.output == "-"
    if to_stdout and fmt == "xlsx":
        raise CliError("xlsx cannot go to stdout; give a file name with -o")
    if args.requests and fmt == "json":
        raise CliError("--requests is for csv (xlsx always has a Requests sheet; JSON follows docs/results.md)")
    if args.samples and fmt != "csv":
        raise CliError("--samples is for csv (xlsx has GPU and Server sheets; JSON has gpu_samples and server_samples)")
    if not to_stdout:
        path = Path(args.output)
        if path.is_dir() or not path.parent.exists():
            raise CliError(f"-o {args.output}: not a file in an existing folder")
    from llm_loadtest.export import export_records, write_export

    with open_store(args.db) as store:
        run_id = store.resolve_run_id(args.run_id)
        result = store.get_result(run_id)
        records = export_records(store, run_id, fmt, requests=args.requests)
    target = sys.stdout if to_stdout else args.output
    existed = to_stdout or Path(args.output).exists()
    try:
        write_export(result, fmt, target, records, samples=args.samples)
    except Exception as exc:  # noqa: BLE001 - whatever breaks an export is one line, not a traceback
        if not existed:
            with suppress(OSError):
                Path(args.output).unlink(missing_ok=True)  # no half-written file left behind
        raise CliError(_export_failure(args.output, fmt, exc)) from None
    if not to_stdout:
        what = f"{args.samples} samples of run {run_id}" if args.samples else f"run {run_id}"
        print(f"wrote {what} as {fmt} to {args.output}", file=sys.stderr)
    if args.samples and not (result.gpu_samples if args.samples == "gpu" else result.server_samples):
        print(f"run {run_id} has no {args.samples} samples: the file holds the header only", file=sys.stderr)
    return ExitCode.OK


def _export_failure(output: str, fmt: str, exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot write {output}: {exc.strerror or exc}"
    # one line, and nothing a terminal would take as a command (an error text may hold ESC)
    detail = " ".join(_CONTROL.sub(" ", str(exc)).split())[:300] or type(exc).__name__
    return f"export as {fmt} to {output} failed: {type(exc).__name__}: {detail}"


def handle_compare(args: argparse.Namespace) -> int:
    if not 2 <= len(args.run_ids) <= MAX_COMPARE:
        raise CliError(f"compare takes 2 to {MAX_COMPARE} run ids (got {len(args.run_ids)})")
    with open_store(args.db) as store:
        results = [store.get_result(store.resolve_run_id(prefix)) for prefix in args.run_ids]
    checks = []
    if args.max_regression is not None:  # every pair can be checked, or nothing is printed
        baseline = results[0]
        for result in results[1:]:
            if differences := workload_differences(baseline.config, result.config):
                raise CliError(f"runs {baseline.run_id[:8]} and {result.run_id[:8]} ran different workloads ({', '.join(differences)})")
            check = regression_check(baseline, result, args.max_regression)
            if not check.changes:
                raise CliError(
                    f"runs {baseline.run_id[:8]} and {result.run_id[:8]} have no figure to compare (no shared level, or it failed)"
                )
            checks.append((result, check))
    if args.json:
        regression = [regression_json(check, results[0].run_id, result.run_id, args.max_regression) for result, check in checks]
        print(json.dumps({"runs": [run_json(result) for result in results], "regression": regression}, indent=2))
    else:
        print(compare_table(results))
        for result, check in checks:
            print(f"\nrun {result.run_id[:8]}: " + regression_table(check, results[0].run_id, args.max_regression))
    for result, check in checks:
        for line in regression_misses(check, results[0].run_id, args.max_regression):
            print(f"llm-loadtest: run {result.run_id[:8]}: {line}", file=sys.stderr)
    return ExitCode.FAILED if any(check.regressed for _, check in checks) else ExitCode.OK


@contextmanager
def open_store(db: str | None) -> Iterator[Store]:
    # imported here: the database stack is not paid for by every other command's start-up
    from llm_loadtest.storage import Store

    # a reader never creates a database; a StoreError is a LoadtestError: one line, exit 2
    store = Store.open(db, must_exist=True)
    try:
        yield store
    finally:
        store.close()


def _slo(text: str) -> GoodputSLO:
    try:
        return goodput_slo(text)
    except ConfigError as exc:
        raise ConfigError(f"--goodput: {exc.reason}") from None


def _format_from_name(name: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise CliError(f"cannot tell the format from {name!r}; add --format csv, xlsx or json")


def _confirm(store: Store, run_id: str) -> bool:
    if not sys.stdin.isatty():
        raise CliError(f"delete run {run_id}: add --yes to delete without a terminal to confirm on")
    result = store.get_result(run_id)
    prompt = f"delete run {run_id} ({result.status}, {result.config.model} on {result.config.server}, {len(result.levels)} levels)? [y/N] "
    try:
        answer = input(prompt)
    except EOFError:  # Ctrl+D: no answer is a no
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})")
    return value
