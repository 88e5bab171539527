"""`llm-loadtest info` and `llm-loadtest gpu`, through the stand-in NVML and for real."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

import pytest
from cli_helpers import headless
from fake_nvml import (
    DRIVER_NOT_LOADED,
    GPU_IS_LOST,
    LIBRARY_NOT_FOUND,
    NOT_SUPPORTED,
    UNKNOWN,
    FakeGpu,
    FakeNvml,
)
from nvml_probe import nvml_library_loads

from llm_loadtest.cli import COMMAND_MODULES
from llm_loadtest.cli import telemetry as cli
from llm_loadtest.model.errors import LoadtestError
from llm_loadtest.model.results import GpuSample
from llm_loadtest.telemetry.nvml import GpuReader


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Parse with only this module's commands and handle CliError as `cli.main` does.

    The full parser also loads the other commands' modules, which these tests do not need.
    """
    parser = argparse.ArgumentParser(prog="llm-loadtest")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except LoadtestError as exc:
        print(f"llm-loadtest: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def use_nvml(monkeypatch: pytest.MonkeyPatch):
    def install(nvml: FakeNvml) -> FakeNvml:
        monkeypatch.setattr(cli, "make_reader", lambda: GpuReader(nvml))
        return nvml

    return install


def test_gpu_table(use_nvml, capsys) -> None:
    use_nvml(FakeNvml([FakeGpu(), FakeGpu(name="NVIDIA L4", util_percent=3, mem_used_mb=0, mem_total_mb=23034)]))
    code, out, err = run_cli(["gpu"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["GPU", "NAME", "MEMORY", "UTIL", "TEMP", "POWER"]
    assert "NVIDIA H100 80GB HBM3" in lines[1]
    assert "1024 / 81559 MiB (1 %)" in lines[1]
    assert "45 %" in lines[1] and "38 °C" in lines[1] and "120 / 700 W" in lines[1]
    assert "NVIDIA L4" in lines[2] and "0 / 23034 MiB (0 %)" in lines[2]


def test_gpu_not_supported_fields_show_na(use_nvml, capsys) -> None:
    use_nvml(
        FakeNvml(
            [
                FakeGpu(
                    errors={
                        "nvmlDeviceGetUtilizationRates": NOT_SUPPORTED,
                        "nvmlDeviceGetPowerUsage": NOT_SUPPORTED,
                        "nvmlDeviceGetEnforcedPowerLimit": NOT_SUPPORTED,
                        "nvmlDeviceGetTemperature": NOT_SUPPORTED,
                    }
                )
            ]
        )
    )
    code, out, _ = run_cli(["gpu"], capsys)
    assert code == 0
    row = out.splitlines()[1]
    assert row.count("n/a") == 3  # util, temp, power
    assert "1024 / 81559 MiB" in row


@pytest.mark.parametrize("code", [LIBRARY_NOT_FOUND, DRIVER_NOT_LOADED])
def test_gpu_without_a_gpu_is_one_line_and_exit_1(use_nvml, capsys, code) -> None:
    use_nvml(FakeNvml(errors={"nvmlInit": code}))
    for argv in (["gpu"], ["gpu", "--json"], ["gpu", "--watch"]):
        rc, out, err = run_cli(argv, capsys)
        assert rc == 1 and out == ""
        assert len(err.splitlines()) == 1 and err.startswith("llm-loadtest: error: no NVIDIA GPU")


def test_gpu_with_zero_devices(use_nvml, capsys) -> None:
    use_nvml(FakeNvml(gpus=[]))
    rc, out, err = run_cli(["gpu"], capsys)
    assert rc == 1 and out == "" and err.startswith("llm-loadtest: error: no NVIDIA GPU") and len(err.splitlines()) == 1


def test_gpu_and_info_as_json(use_nvml, capsys) -> None:
    use_nvml(FakeNvml([FakeGpu(), FakeGpu(name="NVIDIA L4", util_percent=3, mem_used_mb=0, mem_total_mb=23034)]))
    rc, out, err = run_cli(["gpu", "--json"], capsys)
    assert rc == 0 and err == ""
    first, second = json.loads(out)
    assert first["name"] == "NVIDIA H100 80GB HBM3" and first["gpu"] == 0 and first["mem_used_mb"] == 1024
    assert second == {**second, "name": "NVIDIA L4", "gpu": 1, "util": 3, "mem_used_mb": 0, "mem_total_mb": 23034}
    assert set(first) == {"name"} | set(GpuSample.model_fields) - {"t"}  # a result's gpu_samples fields
    rc, out, _ = run_cli(["info", "--json"], capsys)
    info = json.loads(out)
    assert rc == 0 and info["llm-loadtest"] == "0.1.0" and info["GPU 1"] == "NVIDIA L4, 23034 MiB" and "NVIDIA driver" in info


def test_gpu_with_nvml_failing_is_one_line_and_exit_1(use_nvml, capsys) -> None:
    use_nvml(FakeNvml([FakeGpu(errors={"nvmlDeviceGetMemoryInfo": GPU_IS_LOST})]))
    rc, out, err = run_cli(["gpu"], capsys)
    assert rc == 1 and out == ""
    assert err.splitlines() == ["llm-loadtest: error: NVML error: GPU is lost"]


def test_gpu_watch_refreshes_until_ctrl_c(use_nvml, capsys, monkeypatch) -> None:
    nvml = use_nvml(FakeNvml([FakeGpu(util_percent=10)]))
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        nvml.gpus[0].util_percent += 10
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "sleep", fake_sleep)
    rc, out, err = run_cli(["gpu", "--watch", "--interval", "0.5"], capsys)
    assert rc == 0 and err == ""
    assert sleeps == [0.5, 0.5, 0.5]
    assert out.count("Ctrl+C to stop") == 3
    assert "10 %" in out and "20 %" in out and "30 %" in out
    assert "Traceback" not in out
    assert not nvml.initialised  # shut down after Ctrl+C


def test_gpu_watch_nvml_failing_midway_exits_1(use_nvml, capsys, monkeypatch) -> None:
    nvml = use_nvml(FakeNvml())

    def fail_next(seconds: float) -> None:
        nvml.gpus[0].errors["nvmlDeviceGetTemperature"] = UNKNOWN

    monkeypatch.setattr(cli, "sleep", fail_next)
    rc, out, err = run_cli(["gpu", "--watch"], capsys)
    assert rc == 1
    assert err.strip() == "llm-loadtest: error: NVML error: Unknown Error"


@pytest.mark.parametrize("interval", ["0", "-1"])
def test_gpu_bad_interval_is_a_usage_error(use_nvml, capsys, interval) -> None:
    use_nvml(FakeNvml())
    rc, _, err = run_cli(["gpu", "--watch", "--interval", interval], capsys)
    assert rc == 2 and "--interval" in err


def test_info_lists_versions_driver_and_gpus(use_nvml, capsys) -> None:
    use_nvml(FakeNvml([FakeGpu(), FakeGpu(name="NVIDIA H100 80GB HBM3")]))
    rc, out, err = run_cli(["info"], capsys)
    assert rc == 0 and err == ""
    # "key<padding>value", the padding at least two spaces so keys may hold one
    rows = {k.strip(): v.strip() for k, v in (line.split("  ", 1) for line in out.splitlines())}
    for key in ("llm-loadtest", "Python", *cli.LIBRARIES, "NVIDIA driver", "GPU 0", "GPU 1"):
        assert key in rows, key
    assert rows["llm-loadtest"] == "0.1.0"
    assert rows["NVIDIA driver"] == "550.54.15"
    assert rows["GPU 1"] == "NVIDIA H100 80GB HBM3, 81559 MiB"


@pytest.mark.parametrize("code", [LIBRARY_NOT_FOUND, DRIVER_NOT_LOADED])
def test_info_without_a_gpu_says_so_and_prints_the_rest(use_nvml, capsys, code) -> None:
    use_nvml(FakeNvml(errors={"nvmlInit": code}))
    rc, out, _ = run_cli(["info"], capsys)
    assert rc == 0
    gpu_lines = [line for line in out.splitlines() if "GPU" in line]
    assert len(gpu_lines) == 1 and "no NVIDIA GPU" in gpu_lines[0]
    assert "httpx" in out and "numpy" in out and "Python" in out


def _info(out: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (line.split("  ", 1) for line in out.splitlines())}


def test_info_with_nvml_failing_still_exits_0(use_nvml, capsys) -> None:
    use_nvml(FakeNvml(errors={"nvmlSystemGetDriverVersion": UNKNOWN}))
    rc, out, _ = run_cli(["info"], capsys)
    rows = _info(out)
    assert rc == 0 and rows["NVIDIA driver"] == "unreadable: NVML error: Unknown Error" and "httpx" in rows
    assert rows["GPU 0"] == "NVIDIA H100 80GB HBM3, 81559 MiB"  # the GPUs still read


def test_info_shows_the_driver_when_nvml_finds_no_device(use_nvml, capsys) -> None:
    nvml = use_nvml(FakeNvml(gpus=[], driver_version="535.183.01"))
    rc, out, err = run_cli(["info"], capsys)
    rows = _info(out)
    assert rc == 0 and err == ""
    assert rows["NVIDIA driver"] == "535.183.01"
    assert rows["GPUs"] == "no NVIDIA GPU: NVML found no device"
    assert not any(key.startswith("GPU ") for key in rows)
    assert not nvml.initialised  # shut down after


def test_info_with_a_failing_device_still_shows_the_driver(use_nvml, capsys) -> None:
    use_nvml(FakeNvml([FakeGpu(errors={"nvmlDeviceGetMemoryInfo": GPU_IS_LOST})]))
    rc, out, _ = run_cli(["info"], capsys)
    rows = _info(out)
    assert rc == 0 and rows["NVIDIA driver"] == "550.54.15"
    assert rows["GPUs"] == "unreadable: NVML error: GPU is lost"


def test_info_reports_a_missing_library(monkeypatch, use_nvml, capsys) -> None:
    use_nvml(FakeNvml())
    monkeypatch.setattr(cli, "LIBRARIES", ("httpx", "surely-not-installed-pkg"))
    _, out, _ = run_cli(["info"], capsys)
    assert "surely-not-installed-pkg  not installed" in out


# -- the real command, real NVML ---------------------------------------------------------


def _whole_cli_importable() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in COMMAND_MODULES)


NO_LIBRARY = "no NVIDIA GPU: the NVML library (libnvidia-ml) was not found"
no_nvml_here = pytest.mark.skipif(nvml_library_loads(), reason="this machine has the NVML library")


def _check_without_nvml(command: str, rc: int, out: str, err: str) -> None:
    """What a machine without libnvidia-ml (this one) must print."""
    if command == "gpu":
        assert rc == 1 and out == "" and err == f"llm-loadtest: error: {NO_LIBRARY}\n"
    else:
        assert rc == 0 and err == ""
        rows = {k.strip(): v.strip() for k, v in (line.split("  ", 1) for line in out.splitlines())}
        assert rows["GPUs"] == NO_LIBRARY and "NVIDIA driver" not in rows
        assert rows["llm-loadtest"] == "0.1.0" and all(name in rows for name in cli.LIBRARIES)


@no_nvml_here
@pytest.mark.parametrize("command", ["gpu", "info"])
def test_real_command_in_process(command, capsys) -> None:
    rc, out, err = run_cli([command], capsys)
    _check_without_nvml(command, rc, out, err)


@no_nvml_here
@pytest.mark.skipif(not _whole_cli_importable(), reason="the other sub-commands are not in the tree yet")
@pytest.mark.parametrize("command", ["gpu", "info"])
def test_real_command_end_to_end(command) -> None:
    done = subprocess.run([sys.executable, "-m", "llm_loadtest", command], capture_output=True, text=True, timeout=60)
    _check_without_nvml(command, done.returncode, done.stdout, done.stderr)


def test_no_gpu_is_a_note_of_the_result_not_a_warning(simulator, tmp_path, capsys) -> None:
    import json

    from llm_loadtest.cli import main
    from llm_loadtest.telemetry.sampler import NOTE_NO_GPU

    if nvml_library_loads():
        pytest.skip("this machine has an NVIDIA GPU: its samples are taken")
    sim = simulator(ttft_ms=5, itl_ms=1)
    out = tmp_path / "result.json"
    code = main(headless(sim.url, "-n", "3", "--warmup", "0", "--no-save", "-o", str(out)))
    assert code == 0
    document = json.loads(out.read_text())
    assert NOTE_NO_GPU in document["notes"]
    assert not any("GPU" in warning for warning in document["warnings"])
    assert f"note: {NOTE_NO_GPU}" in capsys.readouterr().out
