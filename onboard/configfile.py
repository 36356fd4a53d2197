"""Writing a new configuration file (the guided first start, `onboard sandbox join`).

Apart from config.py, which reads and validates with pydantic: writing needs neither pydantic nor a TOML
library, only the few value types a configuration holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from onboard.toml_text import toml_value


def render_config(values: dict[str, Any]) -> str:
    lines = ["# onboard configuration, written by the guided first start. Every key: config.example.toml.",
             ""]
    for key, value in values.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {toml_value(value)}")
    for key, value in values.items():
        if isinstance(value, dict) and value:
            lines += ["", f"[{key}]"] + [f"{k} = {toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def write_config(path: Path, values: dict[str, Any]) -> None:
    """Write a new configuration file, 0600 from the first byte, in a 0700 directory; never over one."""
    from onboard.errors import ConfigError
    from onboard.paths import ensure_private_dir

    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists already; onboard does not overwrite it.",
                          "Edit it, or pass --config FILE.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(render_config(values))
