"""A stand-in for pynvml with the functions `GpuReader` calls, for machines without a GPU.

It behaves like NVML where tests rely on it: nothing works before `nvmlInit` or after the
last `nvmlShutdown` (Uninitialized), a bad index is InvalidArgument, and every failure is a
real `pynvml.NVMLError` subclass built from NVML's own return code. Tests (ours, and the
engine's or the app's that want GPU samples) pass it as `GpuReader(FakeNvml(...))`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 1024 * 1024

NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
DRIVER_NOT_LOADED = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
LIBRARY_NOT_FOUND = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
FUNCTION_NOT_FOUND = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
NO_PERMISSION = pynvml.NVML_ERROR_NO_PERMISSION
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST
UNKNOWN = pynvml.NVML_ERROR_UNKNOWN


@dataclass
class FakeGpu:
    """One device. `errors` maps an NVML function name to the error code it raises."""

    name: str = "NVIDIA H100 80GB HBM3"
    mem_used_mb: int = 1024
    mem_total_mb: int = 81559
    util_percent: int = 45
    temp_c: int = 38
    power_mw: int = 120_500
    power_limit_mw: int = 700_000
    pids: list[int] = field(default_factory=list)  # compute processes on this GPU
    errors: dict[str, int] = field(default_factory=dict)


class FakeNvml:
    """pynvml's call surface over a list of `FakeGpu`s.

    `errors` maps a function name (e.g. "nvmlInit", "nvmlDeviceGetMemoryInfo") to an NVML
    error code raised on every call, for all devices. `calls` counts calls by name.
    """

    NVMLError = pynvml.NVMLError

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        *,
        driver_version: str = "550.54.15",
        errors: dict[str, int] | None = None,
    ) -> None:
        self.gpus = list(gpus) if gpus is not None else [FakeGpu()]
        self.driver_version = driver_version
        self.errors = dict(errors or {})
        self.calls: dict[str, int] = {}
        self._refcount = 0

    # -- helpers ---------------------------------------------------------------------

    def _enter(self, fn: str, gpu: FakeGpu | None = None, *, needs_init: bool = True) -> None:
        self.calls[fn] = self.calls.get(fn, 0) + 1
        if fn in self.errors:
            raise pynvml.NVMLError(self.errors[fn])
        if needs_init and self._refcount == 0:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        if gpu is not None and fn in gpu.errors:
            raise pynvml.NVMLError(gpu.errors[fn])

    def _gpu(self, handle: Any) -> FakeGpu:
        if not isinstance(handle, FakeGpu):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return handle

    @property
    def initialised(self) -> bool:
        return self._refcount > 0

    # -- pynvml's functions ----------------------------------------------------------

    def nvmlInit(self) -> None:
        self._enter("nvmlInit", needs_init=False)
        self._refcount += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self._refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: Any) -> str:
        gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetName", gpu)
        return gpu.name

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> SimpleNamespace:
        gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetMemoryInfo", gpu)
        used, total = gpu.mem_used_mb * MIB, gpu.mem_total_mb * MIB
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> SimpleNamespace:
        gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetUtilizationRates", gpu)
        return SimpleNamespace(gpu=gpu.util_percent, memory=0)

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetTemperature", gpu)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.temp_c

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetPowerUsage", gpu)
        return gpu.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetEnforcedPowerLimit", gpu)
        return gpu.power_limit_mw

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[SimpleNamespace]:
        gpu = self._gpu(handle)
        self._enter("nvmlDeviceGetComputeRunningProcesses", gpu)
        return [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in gpu.pids]
