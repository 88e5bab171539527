"""Text as a user types it (a flag, a form input) to a RunConfig field's value.

Each parser takes stripped, non-empty text and returns the value, or raises ConfigError with
a reason that names no front end ("must be a whole number"); the builder adds the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

from llm_loadtest.model.config import GoodputSLO
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.workload import parse_length

SLO_NAMES = ("ttft", "tpot", "e2e")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"must be a whole number (got {text!r})") from None


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"must be a number (got {text!r})")
    return value


def boolean(text: str) -> bool:
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    raise ConfigError(f"must be yes or no (got {text!r})")


def positive_int_list(text: str) -> list[int]:
    """`1,10,50`."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"must be comma-separated positive integers, e.g. 1,10,50 (got {text!r})")
    return values


def rate_list(text: str) -> list[float]:
    """`2,5.5,inf`: requests per second; inf sends a level's requests all at once."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(not v > 0 for v in values):
        raise ConfigError(f"must be comma-separated positive numbers or inf, e.g. 2,5.5,inf (got {text!r})")
    return values


def goodput_slo(text: str) -> GoodputSLO:
    """`ttft:500,tpot:50,e2e:5000` (milliseconds, any subset)."""
    thresholds: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        name = name.strip().lower()
        if not sep or name not in SLO_NAMES:
            raise ConfigError(f"takes ttft:MS,tpot:MS,e2e:MS (any subset); cannot read {part.strip()!r}")
        try:
            threshold = float(value)
        except ValueError:
            raise ConfigError(f"threshold for {name} must be a number of milliseconds (got {value.strip()!r})") from None
        if not 0 < threshold < math.inf:
            raise ConfigError(f"threshold for {name} must be a positive number of milliseconds")
        thresholds[f"{name}_ms"] = threshold
    if not thresholds:
        raise ConfigError("takes ttft:MS,tpot:MS,e2e:MS (any subset)")
    return GoodputSLO(**thresholds)


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ConfigError('must be a JSON object, e.g. {"temperature": 0}')
    return value


def length_spec(text: str) -> str:
    """`256`, `normal:MEAN:STD` or `uniform:LOW:HIGH` (checked here, kept as text: RunConfig
    makes the number its nominal length and the spec its workload's)."""
    parse_length(text)  # the builder names the field
    return text
