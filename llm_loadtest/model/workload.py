"""What is sent, beyond the load: lengths (fixed or drawn), a dataset or a trace, shared
prefixes, multi-turn chats. It is part of every result (docs/results.md `config.workload`),
so that two runs are compared only when they sent the same kind of requests.

Pure: the files themselves are read by `engine.workload_files`; here are the settings, their
one-line errors, and the seeded length draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from llm_loadtest.model.errors import ConfigError

# a normal draw is clipped to MEAN ± NORMAL_CLIP_SIGMAS × STD (and to 1 token at least)
NORMAL_CLIP_SIGMAS = 3.0
MAX_LENGTH = 1_000_000
MAX_TURNS = 100

LengthKind = Literal["fixed", "normal", "uniform"]


@dataclass(frozen=True, slots=True)
class LengthDist:
    """A token length: fixed, normal(MEAN, STD) clipped, or uniform integers LOW..HIGH."""

    kind: LengthKind
    a: float  # the value, the mean or the low bound
    b: float = 0.0  # the standard deviation or the high bound

    @property
    def spec(self) -> str:
        if self.kind == "fixed":
            return f"fixed:{self.a:g}"
        return f"{self.kind}:{self.a:g}:{self.b:g}"

    @property
    def nominal(self) -> int:
        """The length the distribution is centred on (what a fixed run of the same size asks)."""
        if self.kind == "uniform":
            return round((self.a + self.b) / 2)
        return round(self.a)

    @property
    def bounds(self) -> tuple[int, int]:
        """The clip: no draw falls outside."""
        if self.kind == "fixed":
            return int(self.a), int(self.a)
        if self.kind == "uniform":
            return int(self.a), int(self.b)
        low = max(1, math.ceil(self.a - NORMAL_CLIP_SIGMAS * self.b))
        return low, max(low, math.floor(self.a + NORMAL_CLIP_SIGMAS * self.b))

    def draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`count` lengths (int64), seeded by `rng`, each within `bounds`."""
        low, high = self.bounds
        if self.kind == "fixed":
            return np.full(count, low, dtype=np.int64)
        if self.kind == "uniform":
            return rng.integers(low, high + 1, size=count, dtype=np.int64)
        return np.clip(np.rint(rng.normal(self.a, self.b, size=count)), low, high).astype(np.int64)


def parse_length(text: str | int, field: str | None = None) -> LengthDist:
    """`256`, `fixed:256`, `normal:MEAN:STD` or `uniform:LOW:HIGH`; ConfigError naming `field`."""
    usage = f"takes a number of tokens, normal:MEAN:STD or uniform:LOW:HIGH (got {text!r})"
    if isinstance(text, int) and not isinstance(text, bool):
        parts = ["fixed", str(text)]
    else:
        parts = [part.strip() for part in str(text).strip().split(":")]
        if len(parts) == 1:
            parts = ["fixed", *parts]
    kind, *numbers = parts
    kind = kind.lower()
    arity = {"fixed": 1, "normal": 2, "uniform": 2}.get(kind)
    if arity is None or len(numbers) != arity:
        raise ConfigError(usage, field=field)
    try:
        values = [float(n) for n in numbers]
    except ValueError:
        raise ConfigError(usage, field=field) from None
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(usage, field=field)
    if kind == "fixed":
        if values[0] != int(values[0]) or not 1 <= values[0] <= MAX_LENGTH:
            raise ConfigError(f"must be a positive integer (got {text!r})", field=field)
        return LengthDist("fixed", int(values[0]))
    if kind == "normal":
        mean, std = values
        if not 1 <= mean <= MAX_LENGTH or std < 0:
            raise ConfigError(f"normal:MEAN:STD needs MEAN of 1 or more and STD of 0 or more (got {text!r})", field=field)
        return LengthDist("normal", mean, std)
    low, high = values
    if low != int(low) or high != int(high) or not 1 <= low <= high <= MAX_LENGTH:
        raise ConfigError(f"uniform:LOW:HIGH needs integers 1 <= LOW <= HIGH (got {text!r})", field=field)
    return LengthDist("uniform", int(low), int(high))


class Workload(BaseModel):
    """docs/results.md `config.workload`; `input_len` / `output_len` are length specs
    (`fixed:256`, `normal:MEAN:STD`, `uniform:LOW:HIGH`) kept in step with RunConfig's
    numbers by RunConfig itself."""

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = None  # the file as given
    dataset_sha256: str | None = None
    dataset_min_input: int | None = None
    dataset_max_input: int | None = None
    input_len: str | None = None
    output_len: str | None = None
    shared_prefix: int | None = None  # tokens of a system prompt shared within each group
    prefix_groups: int = 1
    turns: int = 1
    trace: str | None = None
    trace_sha256: str | None = None
    trace_speed: float = 1.0
    # the trace's own mean arrival rate (requests / s) times trace_speed: its level's load
    trace_rate: float | None = None

    def check(self) -> None:
        """One ConfigError for settings that cannot go together."""
        for name in ("input_len", "output_len"):
            if getattr(self, name) is not None:
                parse_length(getattr(self, name), name)
        if self.shared_prefix is not None and self.shared_prefix < 1:
            raise ConfigError("must be a positive number of tokens", field="shared_prefix")
        if self.prefix_groups < 1:
            raise ConfigError("must be a positive integer", field="prefix_groups")
        if self.prefix_groups > 1 and self.shared_prefix is None:
            raise ConfigError("needs a shared prefix (--shared-prefix TOKENS)", field="prefix_groups")
        if not 1 <= self.turns <= MAX_TURNS:
            raise ConfigError(f"must be 1 to {MAX_TURNS}", field="turns")
        for name in ("dataset_min_input", "dataset_max_input"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError("must be a positive number of tokens", field=name)
            if value is not None and self.dataset is None:
                raise ConfigError("needs a dataset (--dataset PATH)", field=name)
        if self.dataset_min_input and self.dataset_max_input and self.dataset_min_input > self.dataset_max_input:
            raise ConfigError("must not exceed the dataset's maximum input", field="dataset_min_input")
        if not self.trace_speed > 0 or not math.isfinite(self.trace_speed):
            raise ConfigError("must be a positive number (2 replays twice as fast)", field="trace_speed")
        if self.trace is not None and self.dataset is not None:
            raise ConfigError("give a dataset or a trace, not both (a JSONL dataset with timestamps is a trace)", field="trace")
        if self.trace is not None and self.turns > 1:
            raise ConfigError("multi-turn chats do not go with a trace (a trace's requests are its own)", field="turns")

    @property
    def uses_files(self) -> bool:
        """The prompts come from a dataset or a trace, not from --input-len."""
        return self.dataset is not None or self.trace is not None

    def lengths(self) -> tuple[LengthDist, LengthDist]:
        return parse_length(self.input_len or "fixed:256", "input_len"), parse_length(self.output_len or "fixed:128", "output_len")

    def label(self) -> str:
        """One line for summaries and tables: what kind of requests were sent."""
        if self.dataset:
            parts = [f"dataset {self.dataset}", f"output {self.output_len} where an item gives none"]
        elif self.trace:
            parts = [f"trace {self.trace} x{self.trace_speed:g}"]
        else:
            parts = ["synthetic", f"input {self.input_len}", f"output {self.output_len}"]
        if self.shared_prefix:
            parts.append(f"shared prefix {self.shared_prefix} tokens x {self.prefix_groups} group(s)")
        if self.turns > 1:
            parts.append(f"{self.turns} turns")
        return ", ".join(parts)

    def identity(self) -> dict:
        """What makes two workloads the same: everything but where the files lay."""
        return self.model_dump(exclude={"dataset", "trace"})


def sync_lengths(data: dict) -> dict:
    """RunConfig's `input_len` / `output_len` may be given as specs (`normal:256:32`, from a
    flag or a preset): the number becomes the spec's nominal length and the spec goes to the
    workload. A number alone makes the workload's spec `fixed:N`, unless the workload already
    holds a spec centred on that number (a stored config read back)."""
    workload = data.get("workload")
    if isinstance(workload, BaseModel):
        workload = workload.model_dump()
    workload = dict(workload or {})
    for name in ("input_len", "output_len"):
        value = data.get(name)
        if value is None:
            if workload.get(name) is None:
                continue
            dist = parse_length(workload[name], name)
            data[name] = dist.nominal
            continue
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            dist = parse_length(value, name)
            held = workload.get(name)
            if isinstance(value, int) and held is not None:
                kept = parse_length(held, name)
                if kept.nominal == value:
                    dist = kept
            data[name] = dist.nominal
            workload[name] = dist.spec
    # an instance, not a dict: on assignment pydantic takes the other fields as they are
    data["workload"] = Workload.model_validate(workload)
    return data


# flag -> Workload field, for the builders of a configuration (CLI flags, the app's form)
WORKLOAD_FLAGS = {
    "dataset": "dataset",
    "dataset_min_input": "dataset_min_input",
    "dataset_max_input": "dataset_max_input",
    "shared_prefix": "shared_prefix",
    "prefix_groups": "prefix_groups",
    "turns": "turns",
    "trace": "trace",
    "trace_speed": "trace_speed",
}


def apply_workload_flags(values: dict, flags: dict) -> None:
    """Merge the workload settings given (None: not given) into a configuration's values,
    over what a preset's `workload` table said. Lengths stay RunConfig's `input_len` /
    `output_len`, which take specs (`normal:256:32`) too."""
    given = {field: flags[flag] for flag, field in WORKLOAD_FLAGS.items() if flags.get(flag) is not None}
    if not given:
        return
    workload = values.get("workload") or {}
    if isinstance(workload, BaseModel):
        workload = workload.model_dump()
    if "dataset" in given or "trace" in given:  # a new file: the preset's file's digest no longer holds
        workload = {k: v for k, v in workload.items() if k not in ("dataset_sha256", "trace_sha256", "trace_rate")}
    values["workload"] = {**workload, **given}


# found again from the files when a preset is run: never stored in one
_DERIVED = ("dataset_sha256", "trace_sha256", "trace_rate")


def as_preset_values(values: dict) -> dict:
    """A configuration's values as a preset keeps them: drawn lengths as their specs
    (`input_len = "normal:256:32"`), and a `workload` table of only the settings that differ
    from the defaults (TOML has no null; files' digests are taken again at each run)."""
    values = dict(values)
    workload = values.pop("workload", None)
    if isinstance(workload, BaseModel):
        workload = workload.model_dump(mode="json")
    if not workload:
        return values
    defaults = Workload().model_dump(mode="json")
    for name in ("input_len", "output_len"):
        spec = workload.get(name)
        if spec and not spec.startswith("fixed:"):
            values[name] = spec
    table = {
        k: v for k, v in workload.items() if k not in ("input_len", "output_len", *_DERIVED) and v is not None and v != defaults.get(k)
    }
    if table:
        values["workload"] = table
    return values
