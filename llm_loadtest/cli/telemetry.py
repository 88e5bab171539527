"""`llm-loadtest info` and `llm-loadtest gpu`: the machine, its libraries and its GPUs."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from typing import TextIO

from llm_loadtest import __version__
from llm_loadtest.cli import COMMANDS, CliError
from llm_loadtest.model.errors import ExitCode, LoadtestError
from llm_loadtest.telemetry.nvml import GpuError, GpuReader, GpuReading, GpuUnavailable

LIBRARIES = ("httpx", "aiohttp", "numpy", "pydantic", "textual", "sqlmodel", "tiktoken")

# Seams for tests: a stand-in NVML reader, and a sleep that can raise KeyboardInterrupt.
make_reader: Callable[[], GpuReader] = GpuReader
sleep: Callable[[float], None] = time.sleep

_CLEAR = "\x1b[H\x1b[2J"


def register(subparsers: argparse._SubParsersAction) -> None:
    info = subparsers.add_parser(
        "info",
        help=COMMANDS["info"].help,
        description="Print the versions that matter when comparing results, and the GPUs.",
    )
    info.add_argument("--json", action="store_true", help="one JSON object, the same keys as the table")
    info.set_defaults(handler=run_info)

    gpu = subparsers.add_parser(
        "gpu",
        help=COMMANDS["gpu"].help,
        description="Per NVIDIA GPU: name, memory used/total, utilisation, temperature, power.",
    )
    gpu.add_argument("--watch", action="store_true", help="refresh until Ctrl+C")
    gpu.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between refreshes with --watch (default 1)",
    )
    gpu.add_argument("--json", action="store_true", help="a JSON list, one object per GPU (the fields of docs/results.md's gpu_samples)")
    gpu.set_defaults(handler=run_gpu)


# -- info -------------------------------------------------------------------------------


def _version_of(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _fmt_num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _info_rows(reader: GpuReader) -> list[tuple[str, str]]:
    rows = [
        ("llm-loadtest", __version__),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()}, {platform.system()} {platform.machine()})"),
    ]
    rows += [(name, _version_of(name)) for name in LIBRARIES]
    rows.append(("nvidia-ml-py", _version_of("nvidia-ml-py")))
    # `info` describes the machine; a failing NVML is part of that description, not an error
    readings: list[GpuReading] = []
    gpus_note = None
    try:
        readings = reader.read()
    except GpuUnavailable as exc:
        gpus_note = str(exc)
    except GpuError as exc:
        gpus_note = f"unreadable: {exc}"
    # asked even when no GPU was read: a driver whose NVML sees no device still has a version
    try:
        rows.append(("NVIDIA driver", reader.driver_version()))
    except GpuUnavailable:
        pass  # no library or no driver: nothing to show beyond the GPUs line
    except GpuError as exc:
        rows.append(("NVIDIA driver", f"unreadable: {exc}"))
    if gpus_note is not None:
        rows.append(("GPUs", gpus_note))
    for r in readings:
        rows.append((f"GPU {r.index}", f"{r.name}, {_fmt_num(r.mem_total_mb, ' MiB')}"))
    return rows


def run_info(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    reader = make_reader()
    try:
        rows = _info_rows(reader)
    finally:
        reader.close()
    if getattr(args, "json", False):
        print(json.dumps(dict(rows), indent=2), file=out)
        return ExitCode.OK
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=out)
    return ExitCode.OK


# -- gpu --------------------------------------------------------------------------------

_HEADERS = ("GPU", "NAME", "MEMORY", "UTIL", "TEMP", "POWER")


def _memory_cell(r: GpuReading) -> str:
    if r.mem_used_mb is None or r.mem_total_mb is None:
        return "n/a"
    pct = r.mem_percent
    pct_text = f" ({pct:.0f} %)" if pct is not None else ""
    return f"{r.mem_used_mb:.0f} / {r.mem_total_mb:.0f} MiB{pct_text}"


def _power_cell(r: GpuReading) -> str:
    if r.power_w is None and r.power_limit_w is None:
        return "n/a"
    return f"{_fmt_num(r.power_w)} / {_fmt_num(r.power_limit_w)} W"


def gpu_table(readings: list[GpuReading]) -> list[str]:
    """The `gpu` table as lines, columns padded to their widest cell."""
    rows = [_HEADERS] + [
        (
            str(r.index),
            r.name,
            _memory_cell(r),
            _fmt_num(r.util_percent, " %"),
            _fmt_num(r.temp_c, " °C"),
            _power_cell(r),
        )
        for r in readings
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def gpu_json(readings: list[GpuReading]) -> list[dict]:
    """The readings with the names a result's gpu_samples use, and each GPU's name."""
    return [{"name": r.name, **r.to_sample(t=0.0).model_dump(exclude={"t"})} for r in readings]


def _read(reader: GpuReader) -> list[GpuReading]:
    """Readings; no GPU or NVML failing is one line and exit 1 (`gpu` has nothing to show)."""
    try:
        return reader.read()
    except (GpuUnavailable, GpuError) as exc:  # GpuUnavailable's message says why there is no GPU
        raise LoadtestError(str(exc)) from exc


def run_gpu(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    interval = getattr(args, "interval", 1.0)
    watch = getattr(args, "watch", False)
    if not interval > 0:
        raise CliError("--interval must be a positive number of seconds, e.g. --interval 1")
    reader = make_reader()
    try:
        readings = _read(reader)
        if getattr(args, "json", False):
            print(json.dumps(gpu_json(readings), indent=2), file=out)
            return ExitCode.OK
        if not watch:
            print("\n".join(gpu_table(readings)), file=out)
            return ExitCode.OK
        return _watch(reader, readings, interval, out)
    finally:
        reader.close()


def _watch(reader: GpuReader, readings: list[GpuReading], interval: float, out: TextIO) -> int:
    clear = _CLEAR if out.isatty() else ""
    try:
        while True:
            stamp = datetime.now().strftime("%H:%M:%S")
            table = "\n".join(gpu_table(readings))
            print(f"{clear}{stamp}  every {interval:g} s, Ctrl+C to stop\n{table}", file=out, flush=True)
            sleep(interval)
            readings = _read(reader)
    except KeyboardInterrupt:
        # Ctrl+C is how --watch is meant to end
        print(file=out)
        return ExitCode.OK
