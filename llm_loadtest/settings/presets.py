"""Benchmark presets: TOML files whose keys are RunConfig fields.

Built-ins (quick, standard, stress) ship with the package; a user's own live in
`$XDG_CONFIG_HOME/llm-loadtest/presets/NAME.toml` and win over a built-in of the same name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import tomli_w

from llm_loadtest.model.config import ConfigError, RunConfig
from llm_loadtest.model.workload import as_preset_values

_PRESET_KEYS = set(RunConfig.model_fields) - {"server", "model", "preset"}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    values: dict
    path: Path
    builtin: bool


def builtin_dir() -> Path:
    """Installed wheels carry presets/ as llm_loadtest/_presets; a source checkout has it at the top."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_presets"
    return installed if installed.is_dir() else package.parent / "presets"


def user_dir() -> Path:
    return Path(platformdirs.user_config_dir("llm-loadtest")) / "presets"


def _read(path: Path, builtin: bool) -> Preset:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read preset {path}: {exc}") from None
    name = str(data.pop("name", path.stem))
    description = str(data.pop("description", ""))
    unknown = set(data) - _PRESET_KEYS
    if unknown:
        raise ConfigError(f"preset {path}: unknown key(s) {', '.join(sorted(unknown))}")
    return Preset(name=name, description=description, values=data, path=path, builtin=builtin)


def list_presets() -> list[Preset]:
    """Every preset that can be read; see `read_presets` for the files that cannot."""
    return read_presets()[0]


def read_presets() -> tuple[list[Preset], list[str]]:
    """The presets, and one line for each user file that cannot be read: one broken file in
    the user's folder must not take the built-ins and the user's other presets with it."""
    found: dict[str, Preset] = {}
    broken: list[str] = []
    for folder, builtin in ((builtin_dir(), True), (user_dir(), False)):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                try:
                    preset = _read(path, builtin)
                except ConfigError as exc:
                    broken.append(str(exc))
                    continue
                found[preset.name] = preset
    return list(found.values()), broken


def load_preset(name_or_path: str) -> Preset:
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml":  # a file (a preset's name has no dot)
        if not path.is_file():
            raise ConfigError(f"preset file {name_or_path} does not exist (or is not a file)")
        return _read(path, builtin=False)
    presets, _ = read_presets()
    for preset in presets:
        if preset.name == name_or_path:
            return preset
    if (own := user_dir() / f"{name_or_path}.toml").is_file():
        return _read(own, builtin=False)  # the one asked for cannot be read: say why
    names = ", ".join(p.name for p in presets)
    raise ConfigError(f"unknown preset {name_or_path!r}; choose one of: {names}, or give a .toml path")


def _without_none(values: dict) -> dict:
    """TOML has no null: a setting left unset is left out (a nested table's too)."""
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in values.items() if v is not None}


def save_user_preset(name: str, values: dict, description: str = "") -> Path:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError("a preset name uses letters, digits, '-' and '_' only")
    kept = _without_none({k: v for k, v in as_preset_values(values).items() if k in _PRESET_KEYS})
    folder = user_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(tomli_w.dumps({"name": name, "description": description, **kept}), encoding="utf-8")
    return path
