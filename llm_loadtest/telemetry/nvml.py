"""The one boundary around NVML (nvidia-ml-py, module `pynvml`).

Everything else in llm-loadtest reads GPUs through `GpuReader`, so tests can hand it a
stand-in with pynvml's call surface, and every NVML error is turned into one of two
exceptions here: `GpuUnavailable` (no library, no driver, no device: a normal situation on
a laptop or a client machine) and `GpuError` (NVML is there but failing: worth an exit 1).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from llm_loadtest.model.results import GpuSample

try:
    import pynvml as _pynvml
except ImportError:  # the package is a dependency, but a broken install must not crash `info`
    _pynvml = None

_T = TypeVar("_T")

# NVML return codes (nvml.h). Kept here rather than read from pynvml so that the mapping
# still works when pynvml itself cannot be imported.
_ERROR_NOT_SUPPORTED = 3
_ERROR_DRIVER_NOT_LOADED = 9
_ERROR_LIBRARY_NOT_FOUND = 12
_ERROR_FUNCTION_NOT_FOUND = 13
# A field that this GPU or driver cannot report (MIG slices have no utilisation, some boards
# no power reading, an old driver lacks a function): shown as "n/a", not an error.
_FIELD_MISSING_CODES = {_ERROR_NOT_SUPPORTED, _ERROR_FUNCTION_NOT_FOUND}

_TEMPERATURE_GPU = 0  # NVML_TEMPERATURE_GPU
_MIB = 1024 * 1024  # NVML reports bytes; nvidia-smi's "MiB" is what users compare with


class GpuUnavailable(Exception):
    """No NVIDIA GPU can be read here: no NVML library, no driver, or no device."""


class GpuError(Exception):
    """NVML is present but failed; the message is NVML's own."""


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one moment. A field is None when NVML says the GPU cannot report it."""

    index: int
    name: str
    mem_used_mb: float | None
    mem_total_mb: float | None
    util_percent: float | None
    temp_c: float | None
    power_w: float | None
    power_limit_w: float | None

    @property
    def mem_percent(self) -> float | None:
        if self.mem_used_mb is None or not self.mem_total_mb:
            return None
        return 100.0 * self.mem_used_mb / self.mem_total_mb

    def to_sample(self, t: float) -> GpuSample:
        return GpuSample(
            t=t,
            gpu=self.index,
            util=self.util_percent,
            mem_used_mb=self.mem_used_mb,
            mem_total_mb=self.mem_total_mb,
            temp_c=self.temp_c,
            power_w=self.power_w,
            power_limit_w=self.power_limit_w,
        )


def _error_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def _is_nvml_error(exc: BaseException) -> bool:
    if _pynvml is not None and isinstance(exc, _pynvml.NVMLError):
        return True
    # a stand-in without pynvml installed still raises objects carrying an NVML code
    return type(exc).__name__.startswith("NVMLError")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _text(value: Any) -> str:
    # older nvidia-ml-py releases return bytes for strings
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class GpuReader:
    """Reads every visible NVIDIA GPU through NVML.

    `nvml` is the pynvml module, or a stand-in with the same functions (tests). NVML is
    initialised on first use and shut down by `close()`; the reader may be shared by
    threads (NVML itself is thread-safe; the lock guards our own init state).
    """

    def __init__(self, nvml: ModuleType | Any | None = None) -> None:
        self._nvml = nvml if nvml is not None else _pynvml
        self._lock = threading.Lock()
        self._initialised = False
        self._count = 0

    # -- lifecycle -------------------------------------------------------------------

    def _ensure_init(self) -> None:
        with self._lock:
            if self._initialised:
                return
            if self._nvml is None:
                raise GpuUnavailable("no NVIDIA GPU: nvidia-ml-py (pynvml) is not installed")
            self._call(self._nvml.nvmlInit)
            self._initialised = True
            try:
                self._count = int(self._call(self._nvml.nvmlDeviceGetCount))
            except (GpuUnavailable, GpuError):
                self._shutdown_locked()
                raise

    def close(self) -> None:
        with self._lock:
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        if not self._initialised:
            return
        self._initialised = False
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down must never be what fails a command
            pass

    def __enter__(self) -> GpuReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- queries ---------------------------------------------------------------------

    def available(self) -> bool:
        """True when at least one GPU can be read. NVML failing raises `GpuError`."""
        try:
            self._ensure_init()
        except GpuUnavailable:
            return False
        return self._count > 0

    def device_count(self) -> int:
        self._ensure_init()
        return self._count

    def driver_version(self) -> str:
        self._ensure_init()
        return _text(self._call(self._nvml.nvmlSystemGetDriverVersion))

    def read(self) -> list[GpuReading]:
        """One reading per GPU. Raises `GpuUnavailable` when there is none."""
        self._ensure_init()
        if self._count == 0:
            raise GpuUnavailable("no NVIDIA GPU: NVML found no device")
        return [self._read_one(i) for i in range(self._count)]

    def process_ids(self, index: int) -> set[int] | None:
        """Pids of the compute processes on GPU `index`; None when NVML cannot say (an old
        driver, or a container that hides other processes)."""
        self._ensure_init()
        handle = self._call(self._nvml.nvmlDeviceGetHandleByIndex, index)
        processes = self._field(self._nvml.nvmlDeviceGetComputeRunningProcesses, handle)
        return None if processes is None else {int(p.pid) for p in processes}

    def _read_one(self, index: int) -> GpuReading:
        nvml = self._nvml
        handle = self._call(nvml.nvmlDeviceGetHandleByIndex, index)
        name = self._field(nvml.nvmlDeviceGetName, handle)
        memory = self._field(nvml.nvmlDeviceGetMemoryInfo, handle)
        util = self._field(nvml.nvmlDeviceGetUtilizationRates, handle)
        temp = self._field(nvml.nvmlDeviceGetTemperature, handle, _TEMPERATURE_GPU)
        power_mw = self._field(nvml.nvmlDeviceGetPowerUsage, handle)
        limit_mw = self._field(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        return GpuReading(
            index=index,
            name=_text(name) if name is not None else f"GPU {index}",
            mem_used_mb=memory.used / _MIB if memory is not None else None,
            mem_total_mb=memory.total / _MIB if memory is not None else None,
            util_percent=float(util.gpu) if util is not None else None,
            temp_c=float(temp) if temp is not None else None,
            power_w=power_mw / 1000.0 if power_mw is not None else None,
            power_limit_w=limit_mw / 1000.0 if limit_mw is not None else None,
        )

    # -- error mapping ---------------------------------------------------------------

    def _field(self, fn: Callable[..., _T], *args: Any) -> _T | None:
        """Call an NVML getter whose absence on this GPU is not an error."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - mapped below, re-raised otherwise
            if _is_nvml_error(exc) and _error_code(exc) in _FIELD_MISSING_CODES:
                return None
            raise self._map(exc) from exc

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - mapped below
            raise self._map(exc) from exc

    @staticmethod
    def _map(exc: BaseException) -> Exception:
        if not _is_nvml_error(exc):
            return GpuError(f"NVML call failed: {_describe(exc)}")
        code = _error_code(exc)
        if code == _ERROR_LIBRARY_NOT_FOUND:
            return GpuUnavailable("no NVIDIA GPU: the NVML library (libnvidia-ml) was not found")
        if code == _ERROR_DRIVER_NOT_LOADED:
            return GpuUnavailable("no NVIDIA GPU: the NVIDIA driver is not loaded")
        return GpuError(f"NVML error: {_describe(exc)}")
