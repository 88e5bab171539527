"""GpuReader through a stand-in with pynvml's surface and pynvml's own error classes."""

from __future__ import annotations

import glob
import re

import pynvml
import pytest
from fake_nvml import (
    DRIVER_NOT_LOADED,
    FUNCTION_NOT_FOUND,
    GPU_IS_LOST,
    LIBRARY_NOT_FOUND,
    NO_PERMISSION,
    NOT_SUPPORTED,
    FakeGpu,
    FakeNvml,
)
from nvml_probe import nvml_library_loads

from llm_loadtest.telemetry.nvml import GpuError, GpuReader, GpuUnavailable


def test_reads_every_gpu_in_mib_and_watts() -> None:
    nvml = FakeNvml(
        [
            FakeGpu(),
            FakeGpu(
                name="NVIDIA L4", mem_used_mb=512, mem_total_mb=23034, util_percent=7, temp_c=51, power_mw=27_250, power_limit_mw=72_000
            ),
        ]
    )
    reader = GpuReader(nvml)
    assert reader.available()
    assert reader.driver_version() == "550.54.15"
    first, second = reader.read()
    assert (first.index, first.name) == (0, "NVIDIA H100 80GB HBM3")
    assert (first.mem_used_mb, first.mem_total_mb) == (1024.0, 81559.0)
    assert first.mem_percent == pytest.approx(100 * 1024 / 81559)
    assert (first.util_percent, first.temp_c, first.power_w, first.power_limit_w) == (45, 38, 120.5, 700)
    assert (second.index, second.name, second.power_w, second.power_limit_w) == (1, "NVIDIA L4", 27.25, 72)

    sample = second.to_sample(1.5)
    assert sample.model_dump() == {
        "t": 1.5,
        "gpu": 1,
        "util": 7.0,
        "mem_used_mb": 512.0,
        "mem_total_mb": 23034.0,
        "temp_c": 51.0,
        "power_w": 27.25,
        "power_limit_w": 72.0,
    }


def test_not_supported_fields_are_none_not_errors() -> None:
    # a MIG slice: no utilisation, no power reading; an old driver lacks a function
    gpu = FakeGpu(
        errors={
            "nvmlDeviceGetUtilizationRates": NOT_SUPPORTED,
            "nvmlDeviceGetPowerUsage": NOT_SUPPORTED,
            "nvmlDeviceGetEnforcedPowerLimit": FUNCTION_NOT_FOUND,
        }
    )
    (reading,) = GpuReader(FakeNvml([gpu])).read()
    assert reading.util_percent is None
    assert reading.power_w is None and reading.power_limit_w is None
    assert reading.mem_used_mb == 1024.0 and reading.temp_c == 38.0
    sample = reading.to_sample(0.0)
    assert sample.util is None and sample.power_w is None


@pytest.mark.parametrize(
    ("code", "words"),
    [(LIBRARY_NOT_FOUND, "library"), (DRIVER_NOT_LOADED, "driver is not loaded")],
)
def test_no_library_or_no_driver_is_unavailable(code: int, words: str) -> None:
    reader = GpuReader(FakeNvml(errors={"nvmlInit": code}))
    assert reader.available() is False
    with pytest.raises(GpuUnavailable, match=words):
        reader.read()
    with pytest.raises(GpuUnavailable):
        reader.driver_version()
    reader.close()  # nothing to shut down, and no error


def test_zero_devices_is_unavailable() -> None:
    nvml = FakeNvml(gpus=[])
    reader = GpuReader(nvml)
    assert reader.available() is False
    with pytest.raises(GpuUnavailable, match="no device"):
        reader.read()
    reader.close()
    assert not nvml.initialised


def test_a_failing_nvml_is_an_error_with_nvmls_message() -> None:
    reader = GpuReader(FakeNvml([FakeGpu(errors={"nvmlDeviceGetMemoryInfo": GPU_IS_LOST})]))
    assert reader.available()  # init worked; reading is what fails
    with pytest.raises(GpuError, match="GPU is lost") as info:
        reader.read()
    assert isinstance(info.value.__cause__, pynvml.NVMLError_GpuIsLost)


def test_generic_nvml_error_at_init_is_an_error_not_no_gpu() -> None:
    reader = GpuReader(FakeNvml(errors={"nvmlInit": NO_PERMISSION}))
    with pytest.raises(GpuError, match="Insufficient Permissions"):
        reader.available()
    with pytest.raises(GpuError):
        reader.read()


def test_base_nvml_error_with_unmapped_code_is_an_error() -> None:
    class Odd:
        def nvmlInit(self) -> None:
            raise pynvml.NVMLError(999)  # a code this nvidia-ml-py release does not know

    with pytest.raises(GpuError):
        GpuReader(Odd()).read()


def test_count_failing_after_init_shuts_nvml_down() -> None:
    nvml = FakeNvml(errors={"nvmlDeviceGetCount": pynvml.NVML_ERROR_UNKNOWN})
    with pytest.raises(GpuError, match="Unknown Error"):
        GpuReader(nvml).read()
    assert not nvml.initialised


def test_initialises_once_and_shuts_down_on_close() -> None:
    nvml = FakeNvml()
    with GpuReader(nvml) as reader:
        reader.read()
        reader.read()
        reader.driver_version()
    assert nvml.calls["nvmlInit"] == 1
    assert nvml.calls["nvmlShutdown"] == 1
    assert not nvml.initialised


def test_readings_follow_the_device() -> None:
    gpu = FakeGpu(util_percent=10)
    reader = GpuReader(FakeNvml([gpu]))
    assert reader.read()[0].util_percent == 10
    gpu.util_percent = 99
    assert reader.read()[0].util_percent == 99


HAS_NVML = nvml_library_loads()
NO_LIBRARY = "no NVIDIA GPU: the NVML library (libnvidia-ml) was not found"


@pytest.mark.skipif(HAS_NVML, reason="this machine has the NVML library")
def test_the_real_nvml_without_the_library() -> None:
    """The real pynvml on a machine without libnvidia-ml (this one): unavailable, said so."""
    with GpuReader() as reader:
        assert reader.available() is False
        with pytest.raises(GpuUnavailable) as info:
            reader.read()
        assert str(info.value) == NO_LIBRARY
        with pytest.raises(GpuUnavailable, match="libnvidia-ml"):
            reader.driver_version()
        with pytest.raises(GpuUnavailable, match="libnvidia-ml"):
            reader.device_count()


@pytest.mark.skipif(not HAS_NVML, reason="no NVML library here")
def test_the_real_nvml_with_the_library() -> None:
    """A machine with libnvidia-ml: its devices (/dev/nvidiaN) are read, or there are none."""
    devices = glob.glob("/dev/nvidia[0-9]*")
    with GpuReader() as reader:
        if not devices:
            assert reader.available() is False
            with pytest.raises(GpuUnavailable):
                reader.read()
            return
        readings = reader.read()
        assert len(readings) == len(devices)
        assert all(r.name and r.mem_total_mb and r.mem_total_mb > 0 for r in readings)
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", reader.driver_version())
