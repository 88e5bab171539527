"""How many GPUs serve the model: the local GPUs that run the server's processes, when the
server listens on this machine and NVML can tell which process is on which GPU."""

from __future__ import annotations

import socket
from collections import Counter
from urllib.parse import urlsplit

import psutil

from llm_loadtest.model.search import GpuCount
from llm_loadtest.telemetry.nvml import GpuError, GpuReader, GpuUnavailable

LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def flag_gpus(count: int | None, name: str | None) -> GpuCount | None:
    return GpuCount(count=count, name=name, source="flags") if count else None


def serving_gpus(server_url: str, reader: GpuReader | None = None) -> tuple[GpuCount | None, str | None]:
    """The GPUs whose compute processes include the process listening on the server's port
    (or one of its children: vLLM and SGLang run their workers as children), with a note
    saying why none was found."""
    parts = urlsplit(server_url)
    if (parts.hostname or "") not in LOOPBACK | {socket.gethostname()}:
        return None, "the server is not on this machine, so its GPUs cannot be read here"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    pids = _server_process_tree(port)
    if not pids:
        return None, f"no process of this user listens on port {port}, so its GPUs cannot be told"
    reader = reader or GpuReader()
    try:
        with reader:
            if not reader.available():
                return None, "no NVIDIA GPU on this machine"
            used: list[str] = []
            for reading in reader.read():
                on_gpu = reader.process_ids(reading.index)
                if on_gpu and on_gpu & pids:
                    used.append(reading.name)
    except (GpuUnavailable, GpuError) as exc:
        return None, str(exc)
    if not used:
        return None, "none of the local GPUs runs the server's process (a container hides it?)"
    name, _ = Counter(used).most_common(1)[0]
    return GpuCount(count=len(used), name=name, source="nvml", note=f"{len(used)} local GPU(s) run the server's processes"), None


def _server_process_tree(port: int) -> set[int]:
    try:
        listening = {
            c.pid
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
        }
    except (psutil.AccessDenied, OSError):
        return set()
    tree = set(listening)
    for pid in listening:
        try:
            tree.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            continue
    return tree
