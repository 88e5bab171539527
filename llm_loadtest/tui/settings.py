"""The app's own remembered choices, in the XDG config folder: the theme and the keymap.

`$XDG_CONFIG_HOME/llm-loadtest/tui.toml`. Never holds a secret. A broken or unwritable file is
not an error: the app falls back to the defaults and carries on.

Every key binding of the app has an id (`scope.action`: `app.quit`, `result.export`,
`live.abort`, …); a `[keymap]` table gives some of them other keys, as Textual's
`App.set_keymap` takes them:

    [keymap]
    "result.export" = "x"
    "app.quit" = "ctrl+q,ctrl+c"
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
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
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys, comma-separated

    @classmethod
    def load(cls, path: Path | None = None) -> UISettings:
        path = path or settings_path()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return cls()
        theme = data.get("theme")
        keymap = data.get("keymap")
        return cls(
            theme=theme if theme in (DARK_THEME, LIGHT_THEME) else DARK_THEME,
            # what is not a binding id naming keys is left out, not an error
            keymap={k: v.replace(" ", "") for k, v in keymap.items() if isinstance(v, str) and v.strip()}
            if isinstance(keymap, dict)
            else {},
        )

    def save(self, path: Path | None = None) -> bool:
        path = path or settings_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(tomli_w.dumps(asdict(self)), encoding="utf-8")
        except OSError:
            return False
        return True
