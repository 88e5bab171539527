"""The app's own remembered choices (only the theme for now), in the XDG config folder.

`$XDG_CONFIG_HOME/llm-loadtest/tui.toml`. Never holds a secret. A broken or unwritable file is
not an error: the app falls back to the defaults and carries on.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs
import tomli_w

DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"


def settings_path() -> Path:
    return Path(platformdirs.user_config_dir("llm-loadtest")) / "tui.toml"


@dataclass
class UISettings:
    theme: str = DARK_THEME

    @classmethod
    def load(cls, path: Path | None = None) -> UISettings:
        path = path or settings_path()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return cls()
        theme = data.get("theme")
        return cls(theme=theme if theme in (DARK_THEME, LIGHT_THEME) else DARK_THEME)

    def save(self, path: Path | None = None) -> bool:
        path = path or settings_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(tomli_w.dumps(asdict(self)), encoding="utf-8")
        except OSError:
            return False
        return True
