"""What to search for, from the command line's flags or the app's dialog alike."""

from __future__ import annotations

from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.search import SearchTarget
from llm_loadtest.settings.parse import goodput_slo

DEFAULT_GOODPUT_PERCENT = 95.0
DEFAULT_MIN_REQUESTS = 50
DEFAULT_MIN_SECONDS = 10.0
DEFAULT_MAX_PROBES = 24


def make_target(
    *,
    goodput: str | None,
    peak_concurrency: int | None = None,
    peak_rate: float | None = None,
    goodput_percent: float = DEFAULT_GOODPUT_PERCENT,
    shapes: list[tuple[int, int]],
    min_requests: int = DEFAULT_MIN_REQUESTS,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    max_probes: int = DEFAULT_MAX_PROBES,
) -> SearchTarget:
    """One-line ConfigError for anything missing or wrong."""
    if not goodput or not goodput.strip():
        raise ConfigError("recommend needs the SLOs that make a request good: --goodput ttft:MS,tpot:MS (e.g. --goodput ttft:500,tpot:50)")
    if peak_concurrency is None and peak_rate is None:
        raise ConfigError("recommend needs the peak to plan for: --peak-concurrency N (users) or --peak-rate RPS")
    if not 0 < goodput_percent <= 100:
        raise ConfigError("--goodput-target must be a percentage above 0, at most 100")
    try:
        slo = goodput_slo(goodput.strip())
    except ConfigError as exc:
        raise ConfigError(f"--goodput: {exc.reason}") from None
    return SearchTarget(
        mode="concurrency" if peak_concurrency is not None else "rate",
        slo=slo,
        goodput_percent=goodput_percent,
        peak_concurrency=peak_concurrency,
        peak_rate=peak_rate,
        min_requests=min_requests,
        min_seconds=min_seconds,
        max_probes=max_probes,
        shapes=shapes,
    )


def parse_shapes(text: str) -> list[tuple[int, int]]:
    """`128/128,512/256` -> [(128, 128), (512, 256)]."""
    shapes = []
    for part in text.split(","):
        if not part.strip():
            continue
        prompt, sep, output = part.partition("/")
        try:
            shape = (int(prompt), int(output))
        except ValueError:
            shape = (0, 0)
        if not sep or min(shape) < 1:
            raise ConfigError(f"--isl-osl takes PROMPT/OUTPUT token pairs, e.g. 128/128,512/256 (cannot read {part.strip()!r})")
        shapes.append(shape)
    if not shapes:
        raise ConfigError("--isl-osl takes PROMPT/OUTPUT token pairs, e.g. 128/128,512/256")
    return shapes
