"""TOML text for the few value types an onboard configuration holds, without a TOML library.

Both writers of a configuration use it: onboard.configfile (the guided first start, `onboard sandbox
join`) and the sandbox, which hands its trainees a configuration. A leaf with no onboard import, so that
the sandbox may use it too (see the sandbox contract in pyproject.toml).
"""

from __future__ import annotations

import json
import re
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def toml_key(key: str) -> str:
    """A bare key where TOML allows one, else a quoted one."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
