"""Small asynchronous checks the New benchmark form offers: list models, test the connection.

UI plumbing only; the engine does its own preflight before a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

PROBE_TIMEOUT_S = 5.0


@dataclass
class ProbeResult:
    ok: bool
    message: str
    models: list[str] = field(default_factory=list)


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _models_from(payload: object) -> list[str]:
    """OpenAI's `{"data": [{"id": ...}]}`; Ollama's `{"models": [{"name": ...}]}` as a fallback."""
    if not isinstance(payload, dict):
        return []
    items = payload.get("data")
    if not isinstance(items, list):
        items = payload.get("models")
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = item.get("id") or item.get("name") or item.get("model")
            if name:
                names.append(str(name))
        elif isinstance(item, str):
            names.append(item)
    return names


async def probe(server: str, api_key: str | None = None, adapter: str = "openai", timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Reach the server once and say what it serves."""
    server = server.strip().rstrip("/")
    if not server.startswith(("http://", "https://")):
        return ProbeResult(False, "the server URL must start with http:// or https://")
    path = "/v2/health/ready" if adapter in ("triton", "trtllm") else "/v1/models"
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=timeout, headers=_headers(api_key)) as client:
            response = await client.get(server + path)
    except httpx.TimeoutException:
        return ProbeResult(False, f"no answer from {server} within {timeout:g} s")
    except httpx.HTTPError as exc:
        return ProbeResult(False, f"cannot reach {server}: {exc.__class__.__name__}: {exc}".rstrip(": "))
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code in (401, 403):
        return ProbeResult(False, f"{server} refused the API key (HTTP {response.status_code})")
    if response.status_code >= 400:
        return ProbeResult(False, f"{server}{path} answered HTTP {response.status_code}")
    models: list[str] = []
    if path == "/v1/models":
        try:
            models = _models_from(response.json())
        except ValueError:
            models = []
    served = f"; models: {', '.join(models[:3])}{' …' if len(models) > 3 else ''}" if models else ""
    return ProbeResult(True, f"connected to {server} in {elapsed_ms:.0f} ms{served}", models)


async def list_models(server: str, api_key: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    result = await probe(server, api_key, "openai", timeout)
    if result.ok and not result.models:
        return ProbeResult(False, f"{server} lists no model at /v1/models")
    return result
