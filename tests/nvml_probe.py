"""Whether this machine has NVIDIA's library at all, told apart from our code (for the
telemetry tests that expect a GPU, or expect none)."""

from __future__ import annotations

import ctypes


def nvml_library_loads() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True
