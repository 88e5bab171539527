"""The one way a RunConfig is made from what a user gave: the CLI's flags and the app's form
both call `build_config`.

Raw values are keyed by RunConfig field name, or by the name of a workload setting (dataset,
turns, ...: `model.workload.WORKLOAD_FLAGS`). Text (a flag, a form input) is parsed here; a
value of another type (a checkbox's bool, a preset's list) is taken as it is. None means "not
given": the preset's value, then the default, stands. Empty text means "given, empty": an
optional field is cleared, any other is an error. Every error is a ConfigError naming the
field, which each front end labels its own way (`--input-len`, "Input tokens").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from llm_loadtest.model.config import RunConfig, config_error
from llm_loadtest.model.errors import ConfigError
from llm_loadtest.model.workload import WORKLOAD_FLAGS, apply_workload_flags
from llm_loadtest.settings import parse
from llm_loadtest.settings.env import EnvSettings, env_settings
from llm_loadtest.settings.presets import Preset

# How each field's text is read; a field not named here takes its text as it is.
PARSERS: dict[str, Callable[[str], Any]] = {
    "concurrency": parse.positive_int_list,
    "request_rate": parse.rate_list,
    "burstiness": parse.number,
    "max_concurrency": parse.whole_number,
    "num_prompts": parse.whole_number,
    "duration": parse.number,
    "input_len": parse.length_spec,
    "output_len": parse.length_spec,
    "stream": parse.boolean,
    "warmup": parse.whole_number,
    "timeout": parse.number,
    "goodput": parse.goodput_slo,
    "seed": parse.whole_number,
    "workers": parse.whole_number,
    "extra_body": parse.json_object,
    "ignore_eos": parse.boolean,
    # the workload's
    "dataset_min_input": parse.whole_number,
    "dataset_max_input": parse.whole_number,
    "shared_prefix": parse.whole_number,
    "prefix_groups": parse.whole_number,
    "turns": parse.whole_number,
    "trace_speed": parse.number,
}

# Fields that empty text clears (to None) rather than refuses.
OPTIONAL = frozenset({"max_concurrency", "goodput", "extra_body", "preset"})

# The settings a front end gives one by one: RunConfig's fields, with the workload's settings
# instead of the workload itself.
SETTING_NAMES = frozenset(set(RunConfig.model_fields) - {"workload", "preset"} | set(WORKLOAD_FLAGS))

# What a workload file sets for itself (docs/workloads.md): a value given for it would be
# ignored, so the CLI refuses its flag, the app disables its field, and a preset's value gives
# way to the default rather than contradict the file in the stored configuration.
TRACE_SETS = ("concurrency", "request_rate", "burstiness", "num_prompts", "input_len")
DATASET_SETS = ("input_len",)

# What to say when a field the run cannot go without is missing.
REQUIRED = {
    "server": "give the server's base URL, e.g. http://localhost:8000",
    "model": "give the model name (auto asks the server)",
}


def build_config(raw: Mapping[str, Any], preset: Preset | None = None, *, env: EnvSettings | None = None) -> RunConfig:
    """Preset, then the raw values; the server and model fall back to the environment."""
    env = env if env is not None else env_settings()
    values: dict[str, Any] = {}
    if preset is not None:
        values.update(preset.values)
        values["preset"] = preset.name
    given = {name: parse_field(name, value) for name, value in raw.items() if value is not None}
    workload = {name: given.pop(name) for name in list(given) if name in WORKLOAD_FLAGS and name not in RunConfig.model_fields}
    values.update(given)
    apply_workload_flags(values, workload)
    _one_way_to_end_a_level(given, values)
    _leave_to_the_files(values)
    for name, fallback in (("server", env.server), ("model", env.model)):
        if values.get(name) is None and name not in given:
            values[name] = fallback
        if not values.get(name):
            raise ConfigError(REQUIRED[name], field=name)
    try:
        config = RunConfig(**values)
    except ValidationError as exc:
        raise config_error(exc) from None
    if config.max_concurrency is not None and not config.open_loop and config.workload.trace is None:
        # it would be ignored: a closed-loop level's concurrency is its own cap
        raise ConfigError("caps the requests in flight of --request-rate levels or a --trace; give one of them", field="max_concurrency")
    return config


def parse_field(name: str, value: Any) -> Any:
    """One raw value as the field takes it; ConfigError (naming the field) when it cannot be."""
    if name not in RunConfig.model_fields and name not in WORKLOAD_FLAGS:
        raise ConfigError("is not a setting of a run", field=name)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text and name in OPTIONAL:
        return None
    if not text and name in REQUIRED:
        raise ConfigError(REQUIRED[name], field=name)
    parser = PARSERS.get(name)
    if parser is None:
        return text
    try:
        return parser(text)
    except ConfigError as exc:
        raise ConfigError(exc.reason, field=name) from None


def set_by_files(workload: Any) -> dict[str, str]:
    """The settings a workload's file sets itself, each with the file's kind ("trace",
    "dataset"); `workload` is a Workload, its dict, or a front end's raw workload values."""
    workload = _as_dict(workload)
    if workload.get("trace"):
        return dict.fromkeys(TRACE_SETS, "trace")
    if workload.get("dataset"):
        return dict.fromkeys(DATASET_SETS, "dataset")
    return {}


def _leave_to_the_files(values: dict[str, Any]) -> None:
    """The defaults stand for what the workload's file sets: a preset's concurrency levels or
    prompt length would only contradict it. A trace's request count is its number of entries,
    filled in when the file is read (engine.workload_files.resolve_config); a duration still
    cuts the trace."""
    settings = set_by_files(values.get("workload"))
    for name in settings:
        if name != "num_prompts" or values.get("duration") is None:
            values.pop(name, None)
    if "input_len" in settings and values.get("workload"):  # a stored config's spec too
        values["workload"] = {k: v for k, v in _as_dict(values["workload"]).items() if k != "input_len"}


def _as_dict(workload: Any) -> dict[str, Any]:
    return workload.model_dump() if isinstance(workload, BaseModel) else dict(workload or {})


def _one_way_to_end_a_level(given: dict[str, Any], values: dict[str, Any]) -> None:
    """A level ends after a count or after a duration: the one given replaces the preset's other."""
    duration, count = given.get("duration"), given.get("num_prompts")
    if duration is not None and count is not None:
        raise ConfigError("give a number of requests or a duration per level, not both", field="duration")
    if duration is not None:
        values["num_prompts"] = None
    elif count is not None:
        values["duration"] = None
